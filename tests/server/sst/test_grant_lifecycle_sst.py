"""Issue 12, "one consistent grant lifecycle", on the SST side -- over real HTTP (the app
served on 127.0.0.1, a robot ASP with requests, the customer through the portal's pages),
on SQLite and PostgreSQL:

* eligibility up front: RateInformation says which rates can be chosen now, and why not and
  from when; an ineligible target is refused with 409 before any passcode is sent;
* open rate changes end with their grant, are told to the customer and the ASP, block no
  new request under the new grant, and the portal says where they stand in plain words;
* ``.../UsageSummary/{id}?SST=BillComparison`` (concept design 11.5) is the comparison.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.storage.models import (
    Authorization,
    OutboxMessage,
    RateChangeRequestRecord,
    RetailCustomer,
    UsageSummary,
)
from parallel import serve
from sqlalchemy import func, select
from sst_world import Granted, SstWorld

import espi_sst
from espi_sst.model import sst

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TOU_C = "USCA-PGPG-0100-0000"
E_ELEC = "USCA-PGPG-0505-0000"


@pytest.fixture
def base(world: SstWorld) -> Iterator[str]:
    with serve(world.app) as url:
        yield url


def _get(base: str, granted: Granted, path: str) -> requests.Response:
    return requests.get(base + granted.url(path), headers=granted.headers, timeout=30)


def _post_change(base: str, granted: Granted, rin: str, key: str) -> requests.Response:
    return requests.post(
        base + granted.url("/RateChangeRequest"),
        json={"targetRin": rin},
        headers={**granted.headers, "Idempotency-Key": key},
        timeout=30,
    )


def _content(answer: requests.Response, kind: type) -> Any:
    assert answer.status_code == 200, answer.text
    (found,) = [
        c for e in espi_sst.parse(answer.content).entries for c in e.contents if isinstance(c, kind)
    ]
    return found


def _password(world: SstWorld, username: str) -> str:
    return next(c.password for c in world.data.customers if c.username == username)


def _signed_in(base: str, world: SstWorld, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/portal/login", timeout=30)
    signed = browser.post(
        f"{base}/portal/login",
        data={
            "username": username,
            "password": _password(world, username),
            "csrf_token": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
        },
        allow_redirects=False,
        timeout=30,
    )
    assert signed.status_code == 302, signed.text
    return browser


def _revoke_in_portal(base: str, browser: requests.Session, authorization: str) -> str:
    page = browser.get(f"{base}/portal/authorizations", timeout=30)
    done = browser.post(
        f"{base}/portal/authorizations/revoke",
        data={"csrf_token": CSRF.search(page.text).group(1), "authorization": authorization},  # type: ignore[union-attr]
        allow_redirects=False,
        timeout=30,
    )
    assert done.status_code == 302, done.text
    return browser.get(f"{base}/portal/authorizations", timeout=30).text


# ---- eligibility up front ---------------------------------------------------------------


def test_rate_information_says_which_rates_can_be_chosen_now_and_from_when(
    world: SstWorld, base: str
) -> None:
    alex, casey = world.grant("alex"), world.grant("casey")
    rates = _content(_get(base, alex, "/RateInformation"), sst.RateInformation)
    by_code = {r.tariff_code: r.availability for r in rates.eligible_rate}
    assert by_code["E-TOU-C"].reason is sst.RejectionReason.alreadyOnRate
    held = by_code["E-ELEC"]
    assert held.selectable_now is False
    assert held.reason is sst.RejectionReason.twelveMonthRestriction
    assert held.available_from is not None and held.available_from > time.time()
    assert "possible from" in held.message
    choices = _content(_get(base, casey, "/RateInformation"), sst.RateInformation)
    casey_by_code = {r.tariff_code: r.availability for r in choices.eligible_rate}
    assert casey_by_code["E-TOU-C"] == sst.ChangeAvailability(selectable_now=True)
    assert casey_by_code["E-1"].reason is sst.RejectionReason.alreadyOnRate


def test_a_target_under_the_twelve_month_rule_is_a_409_before_any_passcode(
    world: SstWorld, base: str
) -> None:
    alex = world.grant("alex")
    rates = _content(_get(base, alex, "/RateInformation"), sst.RateInformation)
    (elec,) = [r for r in rates.eligible_rate if r.tariff_code == "E-ELEC"]
    refused = _post_change(base, alex, E_ELEC, "k-alex")
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "twelve_month_restriction"
    assert body["rejection_reason"] == "twelveMonthRestriction"
    assert int(body["available_from"]) == elec.availability.available_from
    assert "possible from" in body["error_description"]
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(RateChangeRequestRecord)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # no e-mail


# ---- open rate changes end with their grant -------------------------------------------------


def test_the_authorizations_page_names_the_channel_the_code_went_by(
    world: SstWorld, base: str
) -> None:
    """A customer who chose text messages (issue 13) is not told to look in their e-mail."""
    with world.session() as s:
        casey = s.scalar(select(RetailCustomer).where(RetailCustomer.username == "casey"))
        assert casey is not None
        casey.phone, casey.passcode_channel = "+14155550142", "sms"
        s.commit()
    grant = world.grant("casey")
    opened = _post_change(base, grant, TOU_C, "k-sms")
    assert opened.status_code == 202, opened.text
    page = _signed_in(base, world, "casey").get(f"{base}/portal/authorizations", timeout=30).text
    assert "waiting for the confirmation code we texted you" in page
    assert "e-mailed you" not in page


def test_an_open_rate_change_ends_with_its_grant_and_blocks_no_new_one(
    world: SstWorld, base: str
) -> None:
    first = world.grant("casey")
    opened = _post_change(base, first, TOU_C, "k-1")
    assert opened.status_code == 202, opened.text
    rid = opened.headers["Location"].rsplit("/", 1)[1]
    browser = _signed_in(base, world, "casey")
    page = browser.get(f"{base}/portal/authorizations", timeout=30).text
    assert "waiting for the confirmation code we e-mailed you" in page
    assert "awaitingConfirmation" not in page and rid not in page

    page = _revoke_in_portal(base, browser, first.authorization_uuid)

    assert "cancelled: the permission ended before you confirmed it" in page
    assert "awaitingConfirmation" not in page and rid not in page
    with world.session() as s:
        record = world.request_row(s, rid)
        assert record.status == "cancelled" and record.otp_hash is None
        assert "revoked_by_customer" in (record.rejection_message or "")
        mails = world.mails(s, "casey.nguyen@example.com")
        cancelled = [m for m in mails if "was cancelled" in m.payload["subject"]]
        assert len(cancelled) == 1
        assert "Your rate does not change" in open_payload(world.app, cancelled[0])["text"]
        told_asp = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "asp_notification")
        ).all()
        naming = [
            m for m in told_asp if any(rid in u for u in open_payload(world.app, m)["resources"])
        ]
        assert len(naming) == 2  # requested, then cancelled with its grant
    # A new grant asks again at once: the cancelled request holds no slot.
    second = world.grant("casey")
    again = _post_change(base, second, TOU_C, "k-2")
    assert again.status_code == 202, again.text


def test_a_confirmed_rate_change_goes_on_when_the_grant_ends(world: SstWorld, base: str) -> None:
    """The customer gave the code: that decision is theirs, and reaches billing."""
    granted = world.grant("casey")
    opened = _post_change(base, granted, TOU_C, "k-1")
    rid = opened.headers["Location"].rsplit("/", 1)[1]
    with world.session() as s:
        s.execute(
            RateChangeRequestRecord.__table__.update()
            .where(RateChangeRequestRecord.uuid == rid)
            .values(status="confirmed", otp_hash=None)
        )
        s.commit()
    _revoke_in_portal(base, _signed_in(base, world, "casey"), granted.authorization_uuid)
    with world.session() as s:
        assert world.request_row(s, rid).status == "confirmed"
        grant = s.scalar(
            select(Authorization).where(Authorization.uuid == granted.authorization_uuid)
        )
        assert grant is not None and grant.ended_reason == "revoked_by_customer"


# ---- UsageSummary/{id}?SST=BillComparison (concept design 11.5) -----------------------------


def test_the_literal_usage_summary_form_returns_the_bill_comparison(
    world: SstWorld, base: str
) -> None:
    casey = world.grant("casey")
    with world.session() as s:
        point = world.point(s, casey.usage_points["electric"])
        summary = s.scalar(select(UsageSummary.uuid).where(UsageSummary.usage_point_id == point.id))
    assert summary is not None
    answer = _get(base, casey, f"/UsageSummary/{summary}?SST=BillComparison")
    comparison = _content(answer, sst.BillComparison)
    listed = _content(_get(base, casey, "/UsageSummary?SST=BillComparison"), sst.BillComparison)
    assert comparison == listed and comparison.rate_estimate
    plain = _get(base, casey, f"/UsageSummary/{summary}")
    assert plain.status_code == 200 and b"BillComparison" not in plain.content
    for path in (f"/UsageSummary/{summary}?SST=RateCompare", "/UsageSummary?SST=billcomparison"):
        unknown = _get(base, casey, path)
        assert unknown.status_code == 400, unknown.text
        assert unknown.json()["parameter"] == "SST"
        assert "SST=BillComparison" in unknown.json()["error_description"]
    other = _get(
        base, casey, "/UsageSummary/00000000-0000-4000-8000-000000000000?SST=BillComparison"
    )
    assert other.status_code == 404
