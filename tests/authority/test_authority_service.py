"""The central authority through HTTP (issue 20): an ASP signs up with the link the mail sink
caught, signs in with password + TOTP, submits its registration once; the authority's staff
approve and suspend it, each decision audited and published as a new signed list that
verifies with the published key set (Authlib); entities report back and forward complaints
with their own bearer tokens."""

from __future__ import annotations

import base64
import json
import re
import time
import warnings
from typing import Any

import pyotp
import pytest
import requests
from authority_world import ENTITY_TOKENS, STAFF_PASSWORD, LiveAuthority
from espi_sst_server.authority.models import Decision, Publication, StaffUser, StatusChange
from sqlalchemy import select

PASSWORD = "asp staff password 99"
PDF = ("attestation.pdf", b"%PDF-1.4 attested\n%%EOF", "application/pdf")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _post_form(
    browser: requests.Session, url: str, data: dict[str, Any], **kwargs: Any
) -> requests.Response:
    data = {**data, "csrf_token": _csrf(browser.get(url).text)}
    return browser.post(url, data=data, allow_redirects=False, timeout=10, **kwargs)


def _sign_up(authority: LiveAuthority, email: str) -> tuple[requests.Session, str]:
    """A browser signed up, its e-mail confirmed through the sink's link; the TOTP secret."""
    browser = requests.Session()
    answer = _post_form(
        browser,
        f"{authority.url}/sign-up",
        {"organisation": "Acme Energy Apps", "email": email, "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', answer.text)
    assert secret
    (message,) = authority.sink.messages(to=email)
    link = re.search(r"(http://\S+/verify\?token=\S+)", message.text)
    assert link and link.group(1).startswith(authority.url)
    # before the link is opened, the right password and code are not enough
    refused = _sign_in(authority, browser, email, PASSWORD, pyotp.TOTP(secret.group(1)).now())
    assert refused.status_code == 403 and "confirm your e-mail" in refused.text
    confirmed = browser.get(link.group(1), timeout=10)
    assert confirmed.status_code == 200 and 'id="verified"' in confirmed.text
    tampered = browser.get(link.group(1)[:-3] + "xyz", timeout=10)
    assert tampered.status_code == 400 and "not one the authority sent" in tampered.text
    return browser, secret.group(1)


def _sign_in(
    authority: LiveAuthority, browser: requests.Session, email: str, password: str, code: str
) -> requests.Response:
    return _post_form(
        browser, f"{authority.url}/sign-in", {"email": email, "password": password, "code": code}
    )


def _wrong_code(secret: str) -> str:
    """A six-digit code that is none of the codes accepted now (one step of drift either way)."""
    totp = pyotp.TOTP(secret)
    right = {totp.at(time.time() + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222") if c not in right)


def _staff_browser(authority: LiveAuthority) -> requests.Session:
    browser = requests.Session()
    answer = _sign_in(
        authority,
        browser,
        authority.staff_email,
        STAFF_PASSWORD,
        pyotp.TOTP(authority.staff_totp_secret).now(),
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/staff")
    return browser


REGISTRATION = {
    "legal_entity": "Acme Energy Apps, Inc.",
    "software_id": "acme-energy-app",
    "software_name": "Acme Energy",
    "contact_technical": "tech@acme.example",
    "contact_business": "biz@acme.example",
    "redirect_uris": "https://acme.example/callback",
    "notify_uri": "https://acme.example/notify",
    "asp_class": "rate-change",
    "terms_version": "2026-01",
    "attest_us_data_storage": "yes",
    "attest_ccpa_cpra": "yes",
    "attest_covered_entity": "yes",
    "attest_terms_acceptance": "yes",
}
DOCUMENTS = {
    f"document_{c}": PDF
    for c in ("us_data_storage", "ccpa_cpra", "covered_entity", "terms_acceptance")
}


def _submit(
    authority: LiveAuthority,
    browser: requests.Session,
    files: dict[str, Any] | None = None,
    **changes: str,
) -> requests.Response:
    return _post_form(
        browser,
        f"{authority.url}/registration",
        {**REGISTRATION, **changes},
        files=DOCUMENTS if files is None else files,
    )


def _signed_in_asp(authority: LiveAuthority, email: str = "ops@acme.example") -> requests.Session:
    browser, secret = _sign_up(authority, email)
    answer = _sign_in(authority, browser, email, PASSWORD, pyotp.TOTP(secret).now())
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/registration")
    return browser


def _decide(
    authority: LiveAuthority,
    staff: requests.Session,
    registration_id: str,
    action: str,
    reason: str,
) -> requests.Response:
    url = f"{authority.url}/staff/registrations/{registration_id}"
    token = _csrf(staff.get(url, timeout=10).text)
    return staff.post(
        f"{url}/decision",
        data={"action": action, "reason": reason, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )


def _verified_payload(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Authlib verifies the compact JWS with the published key set (raises if it does not)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib.jose announces its move to joserfc
        from authlib.jose import JsonWebKey, JsonWebSignature

        keys = JsonWebKey.import_key_set(jwks)
        verified = JsonWebSignature(algorithms=["ES256"]).deserialize_compact(
            token, lambda header, _payload: keys.find_by_kid(header["kid"])
        )
    return dict(verified["header"]), json.loads(verified["payload"])


def test_sign_in_needs_the_confirmed_address_the_password_and_the_current_totp_code(
    live_authority: LiveAuthority,
) -> None:
    browser, secret = _sign_up(live_authority, "first@acme.example")
    wrong = _sign_in(live_authority, browser, "first@acme.example", PASSWORD, _wrong_code(secret))
    assert wrong.status_code == 401 and "authenticator code not right" in wrong.text
    assert browser.get(f"{live_authority.url}/registration", timeout=10).status_code == 401
    bad_password = _sign_in(
        live_authority, browser, "first@acme.example", "not the password!", pyotp.TOTP(secret).now()
    )
    assert bad_password.status_code == 401
    right = _sign_in(
        live_authority, browser, "first@acme.example", PASSWORD, pyotp.TOTP(secret).now()
    )
    assert right.status_code == 303
    assert browser.get(f"{live_authority.url}/registration", timeout=10).status_code == 200
    # an ASP's staff cannot reach the authority's queue
    assert browser.get(f"{live_authority.url}/staff", timeout=10).status_code == 403


def test_an_unconfirmed_sign_up_gives_way_to_the_addresses_owner(
    live_authority: LiveAuthority,
) -> None:
    """Someone who signs up first with another's address and never confirms cannot hold it:
    the owner's own sign-up replaces it, and the first sign-up's link (which reached the
    owner's mailbox) confirms nothing.  A confirmed address is never given away."""
    url, email = live_authority.url, "ops@owner.example"

    def link_of(message: Any) -> str:
        found = re.search(r"(http://\S+/verify\?token=\S+)", message.text)
        assert found
        return found.group(1)

    squatter = requests.Session()
    first = _post_form(
        squatter,
        f"{url}/sign-up",
        {"organisation": "Squatter Ltd", "email": email, "password": "squatter password 1"},
    )
    assert first.status_code == 200, first.text
    squatter_secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', first.text).group(1)
    (first_mail,) = live_authority.sink.messages(to=email)

    owner = requests.Session()
    second = _post_form(
        owner, f"{url}/sign-up", {"organisation": "Owner Inc", "email": email, "password": PASSWORD}
    )
    assert second.status_code == 200, second.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', second.text).group(1)
    newest, earlier = live_authority.sink.messages(to=email)
    assert link_of(earlier) == link_of(first_mail) != link_of(newest)

    stale = owner.get(link_of(first_mail), timeout=10)
    assert stale.status_code == 400 and "earlier sign-up" in stale.text
    assert owner.get(link_of(newest), timeout=10).status_code == 200
    assert (
        _sign_in(live_authority, owner, email, PASSWORD, pyotp.TOTP(secret).now()).status_code
        == 303
    )
    refused = _sign_in(
        live_authority,
        squatter,
        email,
        "squatter password 1",
        pyotp.TOTP(squatter_secret).now(),
    )
    assert refused.status_code == 401
    with live_authority.sessions() as session:
        assert session.scalars(select(StaffUser.email).where(StaffUser.email == email)).all() == [
            email
        ]

    taken = _post_form(
        requests.Session(),
        f"{url}/sign-up",
        {"organisation": "Late Squatter", "email": email, "password": "squatter password 2"},
    )
    assert taken.status_code == 400 and "already has an account" in taken.text


def test_a_submission_is_refused_with_the_field_named(live_authority: LiveAuthority) -> None:
    browser = _signed_in_asp(live_authority)
    for uri in ("https://127.0.0.1/callback", "https://localhost/callback", "https://10.1.2.3/cb"):
        answer = _submit(live_authority, browser, redirect_uris=uri)
        assert answer.status_code == 400
        assert "redirect_uris:" in answer.text and uri in answer.text
    plain = _submit(live_authority, browser, notify_uri="http://acme.example/notify")
    assert plain.status_code == 400 and "notify_uri:" in plain.text and "https" in plain.text
    # every entity needs a notify URI (ESPI ThirdPartyNotifyUri) and would refuse the ASP
    # at its sync: refused here, where the ASP can fix it
    none = _submit(live_authority, browser, notify_uri="  ")
    assert none.status_code == 400 and "notify_uri:" in none.text
    assert "ThirdPartyNotifyUri" in none.text
    unattested = {k: v for k, v in REGISTRATION.items() if k != "attest_ccpa_cpra"}
    answer = _post_form(browser, f"{live_authority.url}/registration", unattested, files=DOCUMENTS)
    assert answer.status_code == 400 and "attest_ccpa_cpra:" in answer.text
    too_big = {
        **DOCUMENTS,
        "document_ccpa_cpra": ("big.pdf", b"%PDF" + b"x" * 5000, "application/pdf"),
    }
    answer = _submit(live_authority, browser, files=too_big)
    assert answer.status_code == 400 and "document_ccpa_cpra:" in answer.text
    wrong_type = {**DOCUMENTS, "document_covered_entity": ("x.html", b"<html>", "text/html")}
    answer = _submit(live_authority, browser, files=wrong_type)
    assert answer.status_code == 400 and "PDF, PNG or JPEG" in answer.text
    old_terms = _submit(live_authority, browser, terms_version="2025-01")
    assert old_terms.status_code == 400 and "terms_version:" in old_terms.text
    # nothing was stored: the page still offers an empty form
    assert 'id="status"' not in browser.get(f"{live_authority.url}/registration", timeout=10).text


def test_approval_and_suspension_publish_signed_lists_and_are_audited(
    live_authority: LiveAuthority,
) -> None:
    url = live_authority.url
    assert requests.get(f"{url}/registry", timeout=10).status_code == 404  # nothing published
    browser = _signed_in_asp(live_authority)
    assert _submit(live_authority, browser).status_code == 303
    # edited while pending: the documents already attached are kept
    assert (
        _submit(live_authority, browser, files={}, software_name="Acme Energy Pro").status_code
        == 303
    )
    page = browser.get(f"{url}/registration", timeout=10).text
    assert 'id="status">pending<' in page and "resubmitted" in page
    asp_token = _csrf(page)

    staff = _staff_browser(live_authority)
    queue = staff.get(f"{url}/staff", timeout=10).text
    registration_id = re.search(r'/staff/registrations/(\d+)">acme-energy-app<', queue).group(1)
    detail = staff.get(f"{url}/staff/registrations/{registration_id}", timeout=10).text
    assert detail.count("attestation.pdf") == 4
    no_reason = _decide(live_authority, staff, registration_id, "approve", "  ")
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    too_long = _decide(live_authority, staff, registration_id, "approve", "x" * 257)
    assert too_long.status_code == 400 and "at most 256 characters" in too_long.text
    assert (
        _decide(live_authority, staff, registration_id, "approve", "meets 6.4.3").status_code == 303
    )

    jwks = requests.get(f"{url}/.well-known/jwks.json", timeout=10).json()
    first = requests.get(f"{url}/registry", timeout=10)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/jose"
    header, payload = _verified_payload(first.text, jwks)
    assert header["alg"] == "ES256" and header["typ"] == "espi-sst-asp-registry+jws"
    assert header["kid"] == jwks["keys"][0]["kid"]
    assert payload["format"] == "espi-sst-asp-registry/2" and payload["issuer"] == url
    assert payload["sequence"] == 1 and payload["terms_version"] == "2026-01"
    assert payload["published"] < payload["expires"]
    (asp,) = payload["asps"]
    assert asp == {
        "software_id": "acme-energy-app",
        "name": "Acme Energy Pro",
        "legal_entity": "Acme Energy Apps, Inc.",
        "status": "qualified",
        "reason": None,
        "asp_class": "rate-change",
        "terms_version": "2026-01",
        "contacts": [
            {"role": "technical", "email": "tech@acme.example"},
            {"role": "business", "email": "biz@acme.example"},
        ],
        "redirect_uris": ["https://acme.example/callback"],
        "notify_uri": "https://acme.example/notify",
        "client_ids": {},
    }
    # the ETag of the same list answers 304; the ASP can no longer edit its qualified registration
    again = requests.get(
        f"{url}/registry", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and again.text == ""
    page = browser.get(f"{url}/registration", timeout=10).text
    assert 'id="status">qualified<' in page and "Submit the registration" not in page
    late = browser.post(
        f"{url}/registration", data={**REGISTRATION, "csrf_token": asp_token}, timeout=10
    )
    assert late.status_code == 400 and "only while pending" in late.text

    # a tampered list does not verify with the published keys
    head, body, signature = first.text.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["asps"][0]["redirect_uris"] = ["https://attacker.example/cb"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Exception, match="signature"):
        _verified_payload(f"{head}.{forged}.{signature}", jwks)

    assert (
        _decide(live_authority, staff, registration_id, "suspend", "complaints upheld").status_code
        == 303
    )
    second = requests.get(
        f"{url}/registry", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    _, payload = _verified_payload(second.text, jwks)
    assert payload["sequence"] == 2
    assert payload["asps"][0]["status"] == "suspended"
    assert payload["asps"][0]["reason"] == "complaints upheld"
    refused = _decide(live_authority, staff, registration_id, "reject", "too late")
    assert refused.status_code == 400 and "suspended" in refused.text

    with live_authority.sessions() as session:
        decisions = session.execute(
            select(Decision, StaffUser)
            .join(StaffUser, StaffUser.id == Decision.by_user_id)
            .order_by(Decision.id)
        ).all()
        assert [
            (d.action, d.reason, d.publication_sequence, who.email) for d, who in decisions
        ] == [
            ("approve", "meets 6.4.3", 1, "reviewer@authority.example"),
            ("suspend", "complaints upheld", 2, "reviewer@authority.example"),
        ]
        assert all(d.at > 0 for d, _ in decisions)
        history = session.scalars(select(StatusChange.status).order_by(StatusChange.id)).all()
        assert history == ["pending", "pending", "qualified", "suspended"]
    queue = staff.get(f"{url}/staff", timeout=10).text
    assert "complaints upheld" in queue and "meets 6.4.3" in queue


def test_reports_and_complaints_are_stored_with_the_entity_token_and_refused_without(
    live_authority: LiveAuthority,
) -> None:
    url = live_authority.url
    report = {
        "entity": "PGE",
        "sequence": 1,
        "results": [
            {
                "software_id": "acme-energy-app",
                "action": "created",
                "client_id": "pge-c-1",
                "error": None,
            }
        ],
    }
    complaint = {
        "entity": "PGE",
        "reference": "C-42",
        "software_id": "acme-energy-app",
        "category": "unauthorised use",
        "text": "They shared my data",
        "filed_at": "2026-05-01T10:00:00Z",
    }
    for path, body in (("/registry/reports", report), ("/complaints", complaint)):
        assert requests.post(f"{url}{path}", json=body, timeout=10).status_code == 401
        wrong = requests.post(
            f"{url}{path}", json=body, headers={"Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
        as_sce = {"Authorization": f"Bearer {ENTITY_TOKENS['SCE']}"}
        assert (
            requests.post(f"{url}{path}", json=body, headers=as_sce, timeout=10).status_code == 403
        )
        as_pge = {"Authorization": f"Bearer {ENTITY_TOKENS['PGE']}"}
        assert (
            requests.post(f"{url}{path}", json=body, headers=as_pge, timeout=10).status_code == 202
        )
    as_pge = {"Authorization": f"Bearer {ENTITY_TOKENS['PGE']}"}
    bad = requests.post(
        f"{url}/registry/reports",
        json={**report, "results": [{"action": "exploded"}]},
        headers=as_pge,
        timeout=10,
    )
    assert bad.status_code == 400 and "results[0].action" in bad.json()["error_description"]
    queue = _staff_browser(live_authority).get(f"{url}/staff", timeout=10).text
    assert "pge-c-1" in queue and "They shared my data" in queue and "C-42" in queue


def test_a_list_past_half_its_lifetime_is_republished_with_the_next_sequence(
    live_authority: LiveAuthority,
) -> None:
    url = live_authority.url
    browser = _signed_in_asp(live_authority)
    assert _submit(live_authority, browser).status_code == 303
    staff = _staff_browser(live_authority)
    assert _decide(live_authority, staff, "1", "approve", "meets 6.4.3").status_code == 303
    first = requests.get(f"{url}/registry", timeout=10)
    with live_authority.sessions() as session:  # published four days ago, expires in three
        publication = session.get(Publication, 1)
        publication.published_at -= 4 * 86400
        publication.expires_at -= 4 * 86400
        session.commit()
    jwks = requests.get(f"{url}/.well-known/jwks.json", timeout=10).json()
    again = requests.get(
        f"{url}/registry", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 200
    _, payload = _verified_payload(again.text, jwks)
    _, before = _verified_payload(first.text, jwks)
    assert payload["sequence"] == 2 and payload["asps"] == before["asps"]
    assert payload["expires"] >= before["expires"]  # a full lifetime from now, not from then
    assert again.headers["ETag"] != first.headers["ETag"]


def test_five_failed_sign_ins_lock_the_account_even_for_the_right_code(
    live_authority: LiveAuthority,
) -> None:
    browser = requests.Session()
    staff, secret = live_authority.staff_email, live_authority.staff_totp_secret
    for _ in range(5):
        wrong = _sign_in(live_authority, browser, staff, STAFF_PASSWORD, _wrong_code(secret))
        assert wrong.status_code == 401
    right = _sign_in(live_authority, browser, staff, STAFF_PASSWORD, pyotp.TOTP(secret).now())
    assert right.status_code == 429 and "too many failed sign-ins" in right.text
