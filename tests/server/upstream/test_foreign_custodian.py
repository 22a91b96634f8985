"""The foreign custodian (``foreign_custodian.py``) behaves as the custodian it imitates.

Everything over real HTTP on 127.0.0.1: the code flow and the ESPI token response, its
documents read by ``espi_sst.parse`` in both recorded shapes (PG&E's ``ns1``/``ns0``
prefixes and the GBA sandbox's default Atom namespace, checked in the raw bytes), RFC 7662
answers with the standard members only (and no endpoint in the "none" mode), revocation at
the portal and by RFC 7009, and the refusals a bolt-on's probe relies on (401/403/404).
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from foreign_custodian import ForeignCustodian, ForeignCustomer, running_foreign_custodian

import espi_sst
from espi_sst.model.enums import AuthorizationStatus
from espi_sst.model.espi import IntervalBlock, UsagePoint, UsageSummary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from demo_process import CustomerBrowser  # noqa: E402

SCOPE = (
    "FB=1_3_4_5_8_13_14_15_18_19_31_32_35_37_38_39_40;IntervalDuration=3600;"
    "BlockDuration=Daily;HistoryLength=34128000"
)
ASP, SECRET, CALLBACK = "asp-7731", "asp-secret", "https://asp.example.com/pge/callback"
PUBLIC_ASP, PUBLIC_CALLBACK = "asp-mobile", "https://asp.example.com/app/callback"
BOLT_ON, BOLT_ON_SECRET = "sst-bolt-on", "bolt-on-secret"
STANDARD_MEMBERS = {"active", "scope", "client_id", "exp", "iat", "sub", "token_type"}
NOW = int(datetime(2025, 3, 20, 12, tzinfo=UTC).timestamp())


def _registered(custodian: ForeignCustodian) -> ForeignCustodian:
    custodian.register_client(ASP, SECRET, [CALLBACK], SCOPE)
    custodian.register_client(PUBLIC_ASP, None, [PUBLIC_CALLBACK], SCOPE)
    custodian.register_resource_server(BOLT_ON, BOLT_ON_SECRET)
    return custodian


@pytest.fixture(scope="module")
def pge() -> Iterator[ForeignCustodian]:
    with running_foreign_custodian(now=NOW) as custodian:
        yield _registered(custodian)


@pytest.fixture(scope="module")
def gba() -> Iterator[ForeignCustodian]:
    with running_foreign_custodian(shape="gba", introspection="none", now=NOW) as custodian:
        yield _registered(custodian)


def authorize_url(custodian: ForeignCustodian, **overrides: str) -> str:
    query = {
        "response_type": "code",
        "client_id": ASP,
        "redirect_uri": CALLBACK,
        "scope": SCOPE,
        "state": "st-1",
        **overrides,
    }
    return f"{custodian.public_base}/oauth/authorize?{urlencode(query)}"


def code_of(callback: str) -> str:
    query = parse_qs(urlsplit(callback).query)
    assert query["state"] == ["st-1"], callback
    return query["code"][0]


def token_for(custodian: ForeignCustodian, customer: ForeignCustomer) -> dict[str, Any]:
    """The ASP's code flow: the customer signs in and allows; the ASP redeems the code."""
    callback = custodian.sign_in_and_allow(authorize_url(custodian), customer)
    assert callback.startswith(CALLBACK + "?")
    answer = requests.post(
        f"{custodian.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code_of(callback),
            "redirect_uri": CALLBACK,
        },
        auth=(ASP, SECRET),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def get(url: str, token: str | None, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, params=params, timeout=30)


def introspect(custodian: ForeignCustodian, token: str) -> requests.Response:
    return requests.post(
        f"{custodian.url}/oauth/introspect",
        data={"token": token},
        auth=(BOLT_ON, BOLT_ON_SECRET),
        timeout=10,
    )


def subscription_id(token: dict[str, Any]) -> str:
    return str(token["resourceURI"]).rsplit("/", 1)[1]


# ---- the code flow and the ESPI token response ------------------------------------------
@pytest.mark.parametrize("shape", ["pge", "gba"])
def test_code_flow_gives_an_espi_token_whose_resource_uri_feed_has_the_customers_points(
    shape: str, request: pytest.FixtureRequest
) -> None:
    custodian: ForeignCustodian = request.getfixturevalue(shape)
    maria = custodian.customers[0]
    token = token_for(custodian, maria)

    assert set(token) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "resourceURI",
        "authorizationURI",
    }
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert token["scope"] == SCOPE
    assert re.fullmatch(r"[0-9a-f]{32}", token["access_token"])  # opaque: no JWT, no SST
    sid = subscription_id(token)
    assert sid.isdigit() and custodian.subscription_of(token["access_token"]) == sid
    assert token["resourceURI"] == f"{custodian.resource_base}/Batch/Subscription/{sid}"
    assert re.fullmatch(
        rf"{re.escape(custodian.resource_base)}/Authorization/\d+", token["authorizationURI"]
    )

    started = time.perf_counter()
    feed = get(token["resourceURI"], token["access_token"])
    elapsed = time.perf_counter() - started
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith(
        "application/atom+xml"
    )
    assert elapsed < 5, f"the subscription feed took {elapsed:.2f} s"
    document = espi_sst.parse(feed.content)
    assert document.warnings == []
    points = [
        next(link.href for link in e.links if link.rel == "self").rsplit("/", 1)[1]
        for e in document.entries
        if isinstance(e.contents[0], UsagePoint)
    ]
    assert sorted(points) == sorted(maria.usage_points)
    counts = document.resource_counts()
    assert counts["UsageSummary"] == 13 * len(maria.usage_points)
    assert counts["ReadingType"] == counts["LocalTimeParameters"] == 1
    readings = list(document.interval_readings())
    assert {r.duration for r in readings} == {3600} and {r.unit for r in readings} == {"Wh"}
    assert all(50 < r.value < 6000 for r in readings)  # Wh per hour: a household's
    assert min(r.start for r in readings) <= NOW - 395 * 86400  # 13 months of history
    assert max(r.start for r in readings) < NOW  # nothing from the future


def test_the_customer_browser_of_the_demo_tests_walks_the_custodians_portal(
    pge: ForeignCustodian,
) -> None:
    ken = pge.customers[1]
    browser = CustomerBrowser(
        pge.url,
        {
            "username": ken.username,
            "password": ken.password,
            "usage_points": list(ken.usage_points),
        },
    )
    callback = browser.approve(authorize_url(pge))
    answer = requests.post(
        f"{pge.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code_of(callback),
            "redirect_uri": CALLBACK,
        },
        auth=(ASP, SECRET),
        timeout=10,
    )
    token = answer.json()["access_token"]
    assert get(answer.json()["resourceURI"], token).status_code == 200
    assert browser.revoke_all() == 1  # the customer stops sharing at the custodian's portal
    assert get(answer.json()["resourceURI"], token).status_code == 401


def test_public_clients_need_pkce(pge: ForeignCustodian) -> None:
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    without = requests.get(
        authorize_url(pge, client_id=PUBLIC_ASP, redirect_uri=PUBLIC_CALLBACK),
        allow_redirects=False,
        timeout=10,
    )
    assert without.status_code == 302 and "error=invalid_request" in without.headers["Location"]
    url = authorize_url(
        pge,
        client_id=PUBLIC_ASP,
        redirect_uri=PUBLIC_CALLBACK,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    code = code_of(pge.sign_in_and_allow(url, pge.customers[1]))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": PUBLIC_CALLBACK,
        "client_id": PUBLIC_ASP,
    }
    wrong = requests.post(
        f"{pge.url}/oauth/token", data={**form, "code_verifier": "x" * 50}, timeout=10
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = code_of(pge.sign_in_and_allow(url, pge.customers[1]))
    right = requests.post(
        f"{pge.url}/oauth/token", data={**form, "code": code, "code_verifier": verifier}, timeout=10
    )
    assert right.status_code == 200 and right.json()["resourceURI"].startswith(pge.resource_base)


def test_authorize_refuses_unknown_clients_redirects_and_scopes(pge: ForeignCustodian) -> None:
    for bad in ({"client_id": "nobody"}, {"redirect_uri": CALLBACK + "/other"}):
        page = requests.get(authorize_url(pge, **bad), allow_redirects=False, timeout=10)
        assert page.status_code == 400 and "Location" not in page.headers
    scoped = requests.get(
        authorize_url(pge, scope="FB=1_3;sst:rin"), allow_redirects=False, timeout=10
    )
    assert scoped.status_code == 302
    assert parse_qs(urlsplit(scoped.headers["Location"]).query)["error"] == ["invalid_scope"]


def test_refresh_tokens_rotate(pge: ForeignCustodian) -> None:
    token = token_for(pge, pge.customers[1])
    form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    fresh = requests.post(f"{pge.url}/oauth/token", data=form, auth=(ASP, SECRET), timeout=10)
    assert fresh.status_code == 200
    assert fresh.json()["resourceURI"] == token["resourceURI"]
    assert fresh.json()["refresh_token"] != token["refresh_token"]
    again = requests.post(f"{pge.url}/oauth/token", data=form, auth=(ASP, SECRET), timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


# ---- the shapes in the bytes -------------------------------------------------------------
def test_pge_shape_usage_summary_and_interval_block_keep_ns0_and_ns1(pge: ForeignCustodian) -> None:
    maria = pge.customers[0]
    token = token_for(pge, maria)
    point = f"{pge.resource_base}/Subscription/{subscription_id(token)}/UsagePoint/{maria.usage_points[1]}"
    summaries = get(f"{point}/UsageSummary", token["access_token"])
    assert summaries.status_code == 200
    raw = summaries.content
    assert raw.startswith(
        b'<ns1:feed xmlns:ns0="http://naesb.org/espi" xmlns:ns1="http://www.w3.org/2005/Atom">'
    )
    assert b'<ns0:UsageSummary xmlns:ns0="http://naesb.org/espi">' in raw
    assert (
        b'<ns1:id xsi:type="ns1:idType" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        in raw
    )
    assert b'xmlns="http://www.w3.org/2005/Atom"' not in raw and b"espi:" not in raw
    assert espi_sst.validate(raw) == []
    document = espi_sst.parse(raw)
    bills = document.resources(UsageSummary)
    assert len(bills) == 13
    assert all(b.overall_consumption_last_period.uom == 72 for b in bills)
    assert all(b.bill_last_period > 0 and b.billing_period.duration >= 27 * 86400 for b in bills)
    # PG&E's ids: the period end in milliseconds, thousands-separated
    one = re.search(rb'href="([^"]*/UsageSummary/[0-9,]+)" rel="self"', raw)
    assert one and b"," in one.group(1)
    entry = get(one.group(1).decode(), token["access_token"])
    assert entry.status_code == 200 and entry.content.startswith(
        b'<ns1:entry xmlns:ns1="http://www.w3.org/2005/Atom">'
    )
    assert len(espi_sst.parse(entry.content).resources(UsageSummary)) == 1

    readings = re.search(
        rb'href="([^"]*/MeterReading/[^"/]+)" rel="self"',
        get(f"{point}/MeterReading", token["access_token"]).content,
    )
    assert readings
    blocks = get(readings.group(1).decode() + "/IntervalBlock", token["access_token"])
    assert blocks.status_code == 200
    assert b"<ns0:IntervalBlock>" in blocks.content and b"<ns0:IntervalReading>" in blocks.content
    parsed = espi_sst.parse(blocks.content)
    assert len(parsed.resources(IntervalBlock)) >= 395


def test_gba_shape_uses_the_default_atom_namespace_and_espi_prefix(gba: ForeignCustodian) -> None:
    token = token_for(gba, gba.customers[1])
    feed = get(token["resourceURI"], token["access_token"]).content
    assert feed.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b'<feed xmlns="http://www.w3.org/2005/Atom"' in feed
    assert b'<entry xmlns:espi="http://naesb.org/espi" xmlns="http://www.w3.org/2005/Atom">' in feed
    assert b"<espi:IntervalBlock>" in feed and b"<espi:UsageSummary>" in feed
    assert b"ns0:" not in feed and b"ns1:" not in feed
    document = espi_sst.parse(feed)
    assert (
        len(document.resources(UsageSummary)) == 13
        and len(list(document.interval_readings())) > 9000
    )


def test_authorization_and_application_information_entries(pge: ForeignCustodian) -> None:
    token = token_for(pge, pge.customers[1])
    entry = get(token["authorizationURI"], token["access_token"])
    assert entry.status_code == 200 and b"<ns0:Authorization xmlns:ns0=" in entry.content
    assert espi_sst.validate(entry.content) == []
    (authorization,) = espi_sst.parse(entry.content).entries[0].contents
    assert authorization.scope == SCOPE and authorization.status == AuthorizationStatus.Active
    assert authorization.resource_uri == token["resourceURI"]
    assert authorization.authorization_uri == token["authorizationURI"]

    asp = requests.post(
        f"{pge.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(ASP, SECRET),
        timeout=10,
    ).json()
    assert re.fullmatch(rf"{re.escape(pge.resource_base)}/Batch/Bulk/\d+", asp["resourceURI"])
    assert "refresh_token" not in asp and asp["scope"] == SCOPE
    (own,) = (
        espi_sst.parse(get(asp["authorizationURI"], asp["access_token"]).content)
        .entries[0]
        .contents
    )
    assert own.resource_uri == asp["resourceURI"]
    listing = get(f"{pge.resource_base}/Authorization", asp["access_token"])
    assert listing.status_code == 200 and token["authorizationURI"].encode() in listing.content
    application_uri = pge.application_information_uri(ASP)
    info = get(application_uri, asp["access_token"])
    assert info.status_code == 200
    assert espi_sst.validate(info.content) == []  # schema-valid ESPI, as PG&E's is
    (application,) = espi_sst.parse(info.content).entries[0].contents
    assert application.client_id == ASP and application.data_custodian_id == "PGE"
    assert application.authorization_server_token_endpoint == f"{pge.public_base}/oauth/token"
    assert application.registration_client_uri == application_uri
    assert get(application_uri, token["access_token"]).status_code == 403
    status = get(f"{pge.resource_base}/ReadServiceStatus", token["access_token"])
    assert status.status_code == 200 and espi_sst.parse(status.content).entries[0].contents


# ---- introspection -------------------------------------------------------------------------
def test_introspection_answers_the_standard_members_only(pge: ForeignCustodian) -> None:
    ken = pge.customers[1]
    token = token_for(pge, ken)
    answer = introspect(pge, token["access_token"])
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == STANDARD_MEMBERS
    assert body["active"] is True and body["sub"] == ken.subject and body["client_id"] == ASP
    assert (
        body["scope"] == SCOPE
        and body["exp"] - body["iat"] == 3600
        and body["token_type"] == "Bearer"
    )
    assert introspect(pge, "no-such-token").json() == {"active": False}
    assert introspect(pge, token["refresh_token"]).json() == {"active": False}
    anonymous = requests.post(
        f"{pge.url}/oauth/introspect", data={"token": token["access_token"]}, timeout=10
    )
    assert anonymous.status_code == 401
    stranger = requests.post(
        f"{pge.url}/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(ASP, SECRET),
        timeout=10,
    )  # a client, not a resource server
    assert stranger.status_code == 401
    metadata = requests.get(f"{pge.url}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == pge.issuer
    assert metadata["introspection_endpoint"] == f"{pge.issuer}/oauth/introspect"
    assert metadata["token_endpoint"] == f"{pge.issuer}/oauth/token"
    assert metadata["revocation_endpoint"] == f"{pge.issuer}/oauth/revoke"
    assert SCOPE in metadata["scopes_supported"]


def test_without_introspection_there_is_no_endpoint(gba: ForeignCustodian) -> None:
    token = token_for(gba, gba.customers[1])
    assert introspect(gba, token["access_token"]).status_code == 404
    metadata = requests.get(f"{gba.url}/.well-known/oauth-authorization-server", timeout=10).json()
    assert "introspection_endpoint" not in metadata and metadata["issuer"] == gba.issuer


# ---- revocation and refusals ---------------------------------------------------------------
def test_revoking_the_subscription_kills_all_its_tokens_at_once(pge: ForeignCustodian) -> None:
    ken = pge.customers[1]
    first, other = token_for(pge, ken), token_for(pge, ken)
    refreshed = requests.post(
        f"{pge.url}/oauth/token",
        auth=(ASP, SECRET),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    ).json()
    assert get(first["resourceURI"], refreshed["access_token"]).status_code == 200

    pge.revoke_subscription(subscription_id(first))
    for access in (first["access_token"], refreshed["access_token"]):
        refused = get(first["resourceURI"], access)
        assert refused.status_code == 401
        assert 'Bearer error="invalid_token"' in refused.headers["WWW-Authenticate"]
        assert introspect(pge, access).json() == {"active": False}
    again = requests.post(
        f"{pge.url}/oauth/token",
        auth=(ASP, SECRET),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
    )
    assert again.status_code == 400
    assert get(other["resourceURI"], other["access_token"]).status_code == 200  # another consent


def test_rfc7009_revocation(pge: ForeignCustodian) -> None:
    token = token_for(pge, pge.customers[1])
    done = requests.post(
        f"{pge.url}/oauth/revoke",
        data={"token": token["access_token"]},
        auth=(ASP, SECRET),
        timeout=10,
    )
    assert done.status_code == 200
    assert get(token["resourceURI"], token["access_token"]).status_code == 401
    second = token_for(pge, pge.customers[1])
    requests.post(
        f"{pge.url}/oauth/revoke",
        auth=(ASP, SECRET),
        timeout=10,
        data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
    )
    assert get(second["resourceURI"], second["access_token"]).status_code == 401  # its grant's too


def test_missing_unknown_and_expired_tokens_are_401(pge: ForeignCustodian) -> None:
    token = token_for(pge, pge.customers[1])
    for bearer in (None, "0" * 32):
        refused = get(token["resourceURI"], bearer)
        assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]
    pge.expire_token(token["access_token"])
    assert get(token["resourceURI"], token["access_token"]).status_code == 401
    assert introspect(pge, token["access_token"]).json() == {"active": False}


def test_other_subscriptions_are_403_and_unknown_points_404(pge: ForeignCustodian) -> None:
    maria, ken = pge.customers
    hers, his = token_for(pge, maria), token_for(pge, ken)
    her_points = f"{pge.resource_base}/Subscription/{subscription_id(hers)}/UsagePoint"
    assert get(f"{her_points}/{maria.usage_points[0]}", hers["access_token"]).status_code == 200
    assert get(f"{her_points}/{maria.usage_points[0]}", his["access_token"]).status_code == 403
    assert get(hers["resourceURI"], his["access_token"]).status_code == 403
    assert get(hers["authorizationURI"], his["access_token"]).status_code == 403
    assert get(f"{her_points}/{ken.usage_points[0]}", hers["access_token"]).status_code == 404
    assert get(f"{her_points}/9999999999", hers["access_token"]).status_code == 404
    assert (
        get(
            f"{her_points}/{maria.usage_points[0]}/MeterReading/nope", hers["access_token"]
        ).status_code
        == 404
    )
    asp = requests.post(
        f"{pge.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(ASP, SECRET),
        timeout=10,
    ).json()["access_token"]
    assert get(hers["resourceURI"], asp).status_code == 403
    assert get(f"{her_points}/{maria.usage_points[0]}", asp).status_code == 403
    assert ("GET", urlsplit(her_points).path + f"/{maria.usage_points[0]}", asp) in pge.requests


def test_published_min_and_max_bound_the_interval_blocks(pge: ForeignCustodian) -> None:
    token = token_for(pge, pge.customers[1])
    low, high = "2025-01-01T00:00:00-08:00", "2025-02-01T00:00:00-08:00"
    feed = get(
        token["resourceURI"], token["access_token"], **{"published-min": low, "published-max": high}
    )
    assert feed.status_code == 200
    document = espi_sst.parse(feed.content)
    starts = sorted(b.interval.start for b in document.resources(IntervalBlock))
    assert len(starts) == 31
    assert starts[0] == datetime.fromisoformat(low).timestamp()
    assert starts[-1] == datetime.fromisoformat(high).timestamp() - 86400
    assert len(document.resources(UsageSummary)) == 13  # the bounds are for IntervalBlocks
    alone = get(
        token["resourceURI"], token["access_token"], **{"published-min": "2025-03-18T00:00:00Z"}
    )
    assert len(espi_sst.parse(alone.content).resources(IntervalBlock)) == 2  # Mar 18 and 19 (local)
    bad = get(token["resourceURI"], token["access_token"], **{"published-min": "yesterday"})
    assert bad.status_code == 400 and "published-min" in bad.text


def test_a_gateway_public_base_is_what_hrefs_and_tokens_use() -> None:
    public = "http://127.0.0.1:9/SST/v1/PGE"
    with running_foreign_custodian(public_base=public, now=NOW) as custodian:
        _registered(custodian)
        assert custodian.issuer == public and custodian.url.endswith("/GreenButtonConnect")
        callback = custodian.sign_in_and_allow(
            authorize_url(custodian).replace(public, custodian.url), custodian.customers[1]
        )
        token = requests.post(
            f"{custodian.url}/oauth/token",
            auth=(ASP, SECRET),
            timeout=10,
            data={
                "grant_type": "authorization_code",
                "code": code_of(callback),
                "redirect_uri": CALLBACK,
            },
        ).json()
        assert token["resourceURI"].startswith(f"{public}/espi/1_1/resource/Batch/Subscription/")
        internal = token["resourceURI"].replace(public, custodian.url)
        feed = get(internal, token["access_token"]).content
        hrefs = set(re.findall(rb'href="([^"]+)"', feed))
        assert hrefs and all(h.startswith(public.encode()) for h in hrefs)
