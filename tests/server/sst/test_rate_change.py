"""Rate change (1623(c)(1)(D)): request, Class 2 passcode, asynchronous decision, notifications,
audit -- over the resource API and the real worker, on SQLite and PostgreSQL.

Time moves by passing ``now`` to ``Worker.run_once`` (decisions, effective dates) or by
ageing rows (passcode expiry); the HTTP requests use the real clock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from espi_sst_server.outbox.queue import backoff_seconds, open_payload
from espi_sst_server.sst.catalog import TariffTableCatalog
from espi_sst_server.storage.models import (
    Application,
    AuditEvent,
    OutboxMessage,
    RateChangeRequestRecord,
    ScheduledRateChange,
    Tariff,
)
from espi_sst_server.worker import Worker
from sqlalchemy import func, select, update
from sst_world import FB, Granted, SstWorld

import espi_sst
from espi_sst.model import sst

HERE = Path(__file__).parent


# ---- helpers --------------------------------------------------------------------------------


def post_change(
    world: SstWorld, granted: Granted, target: dict[str, str], key: str | None = "key-1"
) -> Any:
    headers = dict(granted.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return world.client.post(granted.url("/RateChangeRequest"), json=target, headers=headers)


def request_of(response: Any) -> sst.RateChangeRequest:
    (found,) = [
        c
        for e in espi_sst.parse(response.data).entries
        for c in e.contents
        if isinstance(c, sst.RateChangeRequest)
    ]
    return found


def rid_of(response: Any) -> str:
    return str(response.headers["Location"]).rsplit("/", 1)[1]


def passcode(world: SstWorld, email: str) -> str:
    """The code in the newest passcode e-mail to ``email`` (what the customer reads)."""
    with world.session() as s:
        mails = [x for x in world.mails(s, email) if "confirm" in x.payload["subject"]]
    text = open_payload(world.app, mails[-1])["text"]
    line = next(line for line in text.splitlines() if "confirmation code is" in line)
    return line.rsplit(" ", 1)[1]


def confirm(world: SstWorld, granted: Granted, rid: str, code: str) -> Any:
    return world.client.post(
        granted.url(f"/RateChangeRequest/{rid}/Confirmation"),
        json={"code": code},
        headers=granted.headers,
    )


def status_of(world: SstWorld, granted: Granted, rid: str) -> sst.RateChangeRequest:
    response = world.client.get(granted.url(f"/RateChangeRequest/{rid}"), headers=granted.headers)
    assert response.status_code == 200, response.data
    assert espi_sst.validate(response.data) == []
    return request_of(response)


def requested_and_confirmed(
    world: SstWorld, username: str, target: dict[str, str]
) -> tuple[Granted, str]:
    granted = world.grant(username)
    response = post_change(world, granted, target)
    assert response.status_code == 202, response.data
    rid = rid_of(response)
    assert confirm(world, granted, rid, passcode(world, _email(username))).status_code == 200
    return granted, rid


def _email(username: str) -> str:
    return {
        "alex": "alex.rivera@example.com",
        "blake": "blake.chen@example.com",
        "casey": "casey.nguyen@example.com",
        "dana": "dana.okafor@example.com",
    }[username]


def audit_actions(world: SstWorld, rid: str) -> list[str]:
    with world.session() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject == f"rate_change_request:{rid}")
                .order_by(AuditEvent.id)
            )
        )


# ---- creating: scope, idempotency, validation -----------------------------------------------


def test_post_answers_202_with_location_and_awaits_the_passcode(world: SstWorld) -> None:
    casey = world.grant("casey")
    response = post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"})
    assert response.status_code == 202
    assert response.headers["Location"].endswith(f"/RateChangeRequest/{rid_of(response)}")
    assert espi_sst.validate(response.data) == []
    found = request_of(response)
    assert found.status is sst.RateChangeStatus.awaitingConfirmation
    assert found.target_tariff_code == "E-TOU-C"
    assert found.confirmation_expires_at is not None
    with world.session() as s:
        row = world.request_row(s, rid_of(response))
        code = passcode(world, _email("casey"))
        assert row.otp_hash is not None and row.otp_hash.startswith("$argon2")
        assert code not in row.otp_hash and len(code) == 6


def test_same_idempotency_key_returns_the_same_request(world: SstWorld) -> None:
    casey = world.grant("casey")
    first = post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}, key="k-42")
    again = post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}, key="k-42")
    assert again.status_code == 202 and again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(RateChangeRequestRecord)) == 1
        assert len(world.mails(s, _email("casey"))) == 1  # one passcode, not two
    other = post_change(world, casey, {"targetRin": "USCA-PGPG-0505-0000"}, key="k-42")
    assert other.status_code == 422 and other.json["error"] == "idempotency_key_reused"
    busy = post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}, key="k-43")
    assert busy.status_code == 409 and busy.json["error"] == "request_in_progress"


@pytest.mark.parametrize(
    ("target", "key", "status", "error"),
    [
        ({"targetRin": "USCA-PGPG-0100-0000"}, None, 400, "idempotency_key_required"),
        ({}, "k", 400, "invalid_request"),
        ({"targetRin": "not-a-rin"}, "k", 400, "invalid_request"),
        ({"targetRin": "USCA-PGPG-9999-0000"}, "k", 422, "unknown_rate"),
        (
            {"targetRin": "USCA-PGPG-0100-0000", "targetTariffCode": "E-1"},
            "k",
            422,
            "invalid_request",
        ),
    ],
)
def test_bad_requests_are_refused_with_what_to_fix(
    world: SstWorld, target: dict[str, str], key: str | None, status: int, error: str
) -> None:
    casey = world.grant("casey")
    response = post_change(world, casey, target, key=key)
    assert response.status_code == status
    assert response.json["error"] == error and response.json["error_description"]
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(RateChangeRequestRecord)) == 0


def test_no_rate_change_without_its_scope(world: SstWorld) -> None:
    casey = world.grant("casey", f"{FB} usage billing sst:rin sst:bill_comparison")
    response = post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"})
    assert response.status_code == 403 and response.json["error"] == "insufficient_scope"
    listing = world.client.get(casey.url("/RateChangeRequest"), headers=casey.headers)
    assert listing.status_code == 403


def test_form_encoded_body_and_wrong_media_type(world: SstWorld) -> None:
    casey = world.grant("casey")
    headers = {**casey.headers, "Idempotency-Key": "f-1"}
    ok = world.client.post(
        casey.url("/RateChangeRequest"), data={"targetTariffCode": "E-TOU-C"}, headers=headers
    )
    assert ok.status_code == 202
    xml = world.client.post(
        casey.url("/RateChangeRequest"),
        data=b"<x/>",
        headers={**headers, "Content-Type": "text/plain", "Idempotency-Key": "f-2"},
    )
    assert xml.status_code == 415


# ---- the passcode ----------------------------------------------------------------------------


def test_wrong_codes_count_down_then_reject(world: SstWorld) -> None:
    casey = world.grant("casey")
    rid = rid_of(post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}))
    right = passcode(world, _email("casey"))
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = confirm(world, casey, rid, wrong)
        assert response.status_code == 422 and response.json["attempts_left"] == str(left)
    final = confirm(world, casey, rid, wrong)
    assert final.status_code == 409
    found = status_of(world, casey, rid)
    assert found.status is sst.RateChangeStatus.rejected
    assert found.rejection_reason is sst.RejectionReason.confirmationFailed
    assert confirm(world, casey, rid, right).status_code == 409  # the right code is too late
    assert audit_actions(world, rid).count("rate_change_confirmation_failed") == 5


def test_expired_passcode_expires_the_request(world: SstWorld) -> None:
    casey = world.grant("casey")
    rid = rid_of(post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}))
    code = passcode(world, _email("casey"))
    with world.session() as s:
        s.execute(
            update(RateChangeRequestRecord)
            .where(RateChangeRequestRecord.uuid == rid)
            .values(otp_expires_at=int(time.time()) - 1)
        )
        s.commit()
    response = confirm(world, casey, rid, code)
    assert response.status_code == 409 and "expired" in response.json["error_description"]
    assert status_of(world, casey, rid).status is sst.RateChangeStatus.expired


def test_worker_expires_unconfirmed_requests(world: SstWorld) -> None:
    casey = world.grant("casey")
    rid = rid_of(post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}))
    Worker(world.app).run_once(now=int(time.time()) + 601)
    assert status_of(world, casey, rid).status is sst.RateChangeStatus.expired


def test_withdraw_before_submission_only(world: SstWorld) -> None:
    casey = world.grant("casey")
    rid = rid_of(post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}))
    gone = world.client.delete(casey.url(f"/RateChangeRequest/{rid}"), headers=casey.headers)
    assert gone.status_code == 200 and request_of(gone).status is sst.RateChangeStatus.cancelled
    again = world.client.delete(casey.url(f"/RateChangeRequest/{rid}"), headers=casey.headers)
    assert again.status_code == 409


def test_another_grant_cannot_see_or_confirm_the_request(world: SstWorld) -> None:
    casey = world.grant("casey")
    rid = rid_of(post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}))
    other = world.grant("casey")  # the same customer's grant to the ASP, another subscription
    assert (
        world.client.get(other.url(f"/RateChangeRequest/{rid}"), headers=other.headers).status_code
        == 404
    )
    assert confirm(world, other, rid, passcode(world, _email("casey"))).status_code == 404


# ---- the decision --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "target", "error"),
    [
        ("casey", "USCA-PGPG-0010-0000", "already_on_rate"),  # E-1: the current rate
        ("blake", "USCA-XXPE-0440-0000", "already_on_rate"),  # the current generation rate
        ("blake", "USCA-XXPE-0445-0000", "generation_product_belongs_to_cca"),
        ("blake", "USCA-PGPG-0505-0000", "lse_switch_not_allowed"),  # PG&E mirror of PCE's
        ("casey", "USCA-PGXX-0100-0000", "lse_switch_not_allowed"),  # delivery-only, bundled
        ("blake", "USCA-PGXX-0520-0000", "not_eligible"),  # EV2-A: no EV
        ("dana", "USCA-PGPG-0010-0000", "not_eligible"),  # solar: no E-1
    ],
)
def test_ineligible_targets_are_refused_before_any_passcode(
    world: SstWorld, username: str, target: str, error: str
) -> None:
    """Issue 11, item 18; issue 12: billing would refuse these; the customer must get no
    passcode, and the ASP a 409 with the reason billing would give."""
    granted = world.grant(username)
    response = post_change(world, granted, {"targetRin": target})
    assert response.status_code == 409, response.data
    assert response.json["error"] == error
    assert response.json["rejection_reason"] in {r.value for r in sst.RejectionReason}
    described = response.json["error_description"]
    assert "may change to now: USCA-" in described and target not in described.split("now: ")[1]
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(RateChangeRequestRecord)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # no mail
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize(
    ("username", "target", "change", "reason"),
    [
        # The second line: the service agreement changed after the request was accepted
        # (a voluntary change recorded meanwhile, the rate or the premise changed).
        (
            "casey",
            "USCA-PGPG-0100-0000",
            {"last_voluntary_change_at": "recent"},
            sst.RejectionReason.twelveMonthRestriction,
        ),
        ("casey", "USCA-PGPG-0100-0000", {"tariff": "E-TOU-C"}, sst.RejectionReason.alreadyOnRate),
        # Alex's last change made long enough ago, then the heat pump gone: E-ELEC closes.
        ("alex", "USCA-PGPG-0505-0000", {"features": []}, sst.RejectionReason.notEligible),
    ],
)
def test_billing_refuses_with_the_reason(
    world: SstWorld,
    username: str,
    target: str,
    change: dict[str, Any],
    reason: sst.RejectionReason,
) -> None:
    with world.session() as s:  # no 12-month restriction at the request (issue 12: up front)
        for point in world.customer_points(s, username):
            point.last_voluntary_change_at = None
        s.commit()
    granted, rid = requested_and_confirmed(world, username, {"targetRin": target})
    with world.session() as s:
        point = world.point(s, granted.usage_points["electric"])
        if "tariff" in change:
            point.tariff = s.scalar(select(Tariff).where(Tariff.code == change["tariff"]))
        if "features" in change:
            point.features = change["features"]
        if "last_voluntary_change_at" in change:
            point.last_voluntary_change_at = int(time.time()) - 86400
        s.commit()
    report = Worker(world.app).run_once()
    assert report.decided == 1
    found = status_of(world, granted, rid)
    assert found.status is sst.RateChangeStatus.rejected
    assert found.rejection_reason is reason and found.rejection_message
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(ScheduledRateChange)) == 0


def test_accepted_change_takes_effect_next_cycle_exactly_once(world: SstWorld) -> None:
    casey, rid = requested_and_confirmed(world, "casey", {"targetRin": "USCA-PGPG-0100-0000"})
    assert status_of(world, casey, rid).status is sst.RateChangeStatus.confirmed
    worker = Worker(world.app)
    worker.run_once()
    found = status_of(world, casey, rid)
    assert found.status is sst.RateChangeStatus.accepted
    assert found.effective_date is not None and found.effective_date > time.time()
    assert found.effective_date - time.time() <= 31 * 86400
    with world.session() as s:
        point = world.point(s, casey.usage_points["electric"])
        assert point.tariff is not None and point.tariff.code == "E-1"  # not before the date
        assert datetime_day(found.effective_date, point) == point.read_day
    for _ in range(2):  # the date comes; a second pass changes nothing more
        worker.run_once(now=found.effective_date + 60)
    with world.session() as s:
        point = world.point(s, casey.usage_points["electric"])
        assert point.tariff is not None and point.tariff.code == "E-TOU-C"
        assert point.rate_effective_date == found.effective_date
        assert point.last_voluntary_change_at == found.effective_date
        (scheduled,) = s.scalars(select(ScheduledRateChange)).all()
        assert scheduled.applied_at is not None
    assert audit_actions(world, rid) == [
        "rate_change_requested",
        "rate_change_confirmed",
        "rate_change_submitted",
        "rate_change_accepted",
        "rate_change_applied",
    ]
    with world.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.subject == f"rate_change_request:{rid}")
        ).all()
        assert all(e.at > 0 and e.actor for e in events)
        assert events[0].actor == "client:demo-energy-insights"
    # The customer hears the outcome by e-mail.
    with world.session() as s:
        subjects = [x.payload["subject"] for x in world.mails(s, _email("casey"))]
    assert any("your rate change request" in subject for subject in subjects)


def datetime_day(epoch: int, point: Any) -> int:
    from datetime import datetime

    from espi_sst_server.storage.zones import zone_of

    return datetime.fromtimestamp(epoch, zone_of(point.local_time)).day


# ---- restarts: no loss, no double application ------------------------------------------------


def run_worker_process(
    world: SstWorld, *, backend: str, now: int
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ESPI_DATABASE_URL": world.url,
        "ESPI_SECRET_KEY": "test",
        "ESPI_ISSUER": "http://127.0.0.1:5999",
        "ESPI_BILLING_BACKEND": backend,
        "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-m", "espi_sst.cli", "worker", "--once", "--now", str(now)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_worker_killed_inside_billing_resumes_without_double_application(
    world: SstWorld, tmp_path: Path
) -> None:
    casey, rid = requested_and_confirmed(world, "casey", {"targetRin": "USCA-PGPG-0100-0000"})
    marker = tmp_path / "crashed-once"
    os.environ["ESPI_TEST_CRASH_MARKER"] = str(marker)
    try:
        now = int(time.time())
        crashed = run_worker_process(world, backend="crashing_backend:crash_once", now=now)
        assert crashed.returncode == 70, crashed.stderr  # died inside submit, after scheduling
        assert marker.exists()
        with world.session() as s:
            row = world.request_row(s, rid)
            assert row.status == "submitted" and row.lease_until is not None
            assert s.scalar(select(func.count()).select_from(ScheduledRateChange)) == 0
        # Restarted before the lease ends: the claim is still the dead worker's, nothing moves.
        early = run_worker_process(world, backend="crashing_backend:crash_once", now=now + 5)
        assert early.returncode == 0, early.stderr
        with world.session() as s:
            assert world.request_row(s, rid).status == "submitted"
        lease = int(world.app.config["WORKER_LEASE_SECONDS"])
        resumed = run_worker_process(
            world, backend="crashing_backend:crash_once", now=now + lease + 1
        )
        assert resumed.returncode == 0, resumed.stderr
    finally:
        os.environ.pop("ESPI_TEST_CRASH_MARKER", None)
    found = status_of(world, casey, rid)
    assert found.status is sst.RateChangeStatus.accepted
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(ScheduledRateChange)) == 1
        assert world.request_row(s, rid).processing_attempts == 2
    Worker(world.app).run_once(now=found.effective_date + 1)
    Worker(world.app).run_once(now=found.effective_date + 2)
    assert audit_actions(world, rid).count("rate_change_applied") == 1


def test_billing_system_down_is_retried_after_the_lease(world: SstWorld) -> None:
    casey, rid = requested_and_confirmed(world, "casey", {"targetRin": "USCA-PGPG-0100-0000"})
    world.app.config["BILLING_BACKEND"] = "crashing_backend:always_down"
    sys.path.insert(0, str(HERE))
    try:
        report = Worker(world.app).run_once()
        assert report.errors == 1 and report.decided == 0
        assert status_of(world, casey, rid).status is sst.RateChangeStatus.submitted
        assert "rate_change_submission_failed" in audit_actions(world, rid)
    finally:
        world.app.config["BILLING_BACKEND"] = None
        sys.path.remove(str(HERE))
    lease = int(world.app.config["WORKER_LEASE_SECONDS"])
    Worker(world.app).run_once(now=int(time.time()) + lease + 1)
    assert status_of(world, casey, rid).status is sst.RateChangeStatus.accepted


def test_billing_system_down_for_good_is_given_up_and_everyone_told(world: SstWorld) -> None:
    assert world.app.config["BILLING_MAX_ATTEMPTS"] == 10  # the default
    delivered = collect_mail(world)
    casey, rid = requested_and_confirmed(world, "casey", {"targetRin": "USCA-PGPG-0100-0000"})
    lease = int(world.app.config["WORKER_LEASE_SECONDS"])
    start = int(time.time())
    world.app.config.update(BILLING_BACKEND="crashing_backend:always_down", BILLING_MAX_ATTEMPTS=3)
    sys.path.insert(0, str(HERE))
    try:
        for attempt in (1, 2, 3):
            report = Worker(world.app).run_once(now=start + (attempt - 1) * (lease + 1))
            assert report.errors == 1, attempt
            found = status_of(world, casey, rid)
            if attempt < 3:
                assert found.status is sst.RateChangeStatus.submitted, attempt
        assert report.decided == 1
        # Given up: nothing is submitted again, however long the billing system stays down.
        report = Worker(world.app).run_once(now=start + 10 * (lease + 1))
        assert report.errors == 0 and report.decided == 0
    finally:
        world.app.config.update(BILLING_BACKEND=None, BILLING_MAX_ATTEMPTS=10)
        sys.path.remove(str(HERE))
    found = status_of(world, casey, rid)
    assert found.status is sst.RateChangeStatus.rejected
    assert found.rejection_reason is sst.RejectionReason.other
    assert found.rejection_message == (
        "the billing system could not process the request; ask the utility"
    )
    actions = audit_actions(world, rid)
    assert actions.count("rate_change_submission_failed") == 3
    assert actions[-2:] == ["rate_change_gave_up", "rate_change_rejected"]
    with world.session() as s:
        assert world.request_row(s, rid).processing_attempts == 3
        gave_up = s.scalar(select(AuditEvent).where(AuditEvent.action == "rate_change_gave_up"))
        assert gave_up is not None and gave_up.actor == "system" and gave_up.detail
        assert gave_up.detail["attempts"] == 3
        assert "billing system unreachable" in gave_up.detail["error"]
        told = [
            m
            for m in world.mails(s, _email("casey"))
            if "rate change request" in m.payload["subject"]
        ]
        assert len(told) == 1 and told[0].sent_at is not None
    (outcome,) = [m for m in delivered if "rate change request" in str(m["Subject"])]
    assert "could not process the request" in outcome.get_content()
    with world.session() as s:
        notices = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "asp_notification")
        ).all()
        assert len(notices) == 4  # requested, confirmed, submitted, rejected


class _CatalogWithoutTou(TariffTableCatalog):
    """A utility's own catalog: it no longer offers E-TOU-C by RIN, whatever the table says."""

    def tariff_by_rin(self, rin: str) -> Any:
        return None if rin == "USCA-PGPG-0100-0000" else super().tariff_by_rin(rin)


def test_the_target_rin_is_resolved_by_the_utility_catalog(world: SstWorld) -> None:
    world.app.config["RATE_CATALOG"] = _CatalogWithoutTou
    casey = world.grant("casey")
    refused = post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}, key="c-1")
    assert refused.status_code == 422 and refused.json["error"] == "unknown_rate"
    by_code = post_change(world, casey, {"targetTariffCode": "E-TOU-C"}, key="c-2")
    assert by_code.status_code == 202  # codes are still looked up in the tariff table
    assert str(request_of(by_code).target_rin) == "USCA-PGPG-0100-0000"


# ---- the ASP hears of every step --------------------------------------------------------------


class Receiver:
    """The ASP's notify endpoint: a real HTTP server on 127.0.0.1 recording BatchList POSTs."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.fail = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.fail:
                    self.send_response(503)
                else:
                    outer.bodies.append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def resources(self) -> list[list[str]]:
        return [_batch_list_resources(body) for body in self.bodies]


def _batch_list_resources(body: bytes) -> list[str]:
    from lxml import etree

    root = etree.fromstring(body)
    assert root.tag == "{http://naesb.org/espi}BatchList"
    return [r.text for r in root.findall("{http://naesb.org/espi}resources")]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_asp_is_notified_of_every_status_change_and_retried_with_backoff(
    world: SstWorld, receiver: Receiver
) -> None:
    world.app.config["NOTIFY_ALLOW_LOOPBACK"] = True  # the receiver is on 127.0.0.1
    with world.session() as s:
        s.execute(
            update(Application)
            .where(Application.client_id == "demo-energy-insights")
            .values(notify_uri=receiver.url)
        )
        s.commit()
    receiver.fail = True
    casey, rid = requested_and_confirmed(world, "casey", {"targetRin": "USCA-PGPG-0100-0000"})
    now = int(time.time())
    Worker(world.app).run_once(now=now)  # decides; every notification fails once
    with world.session() as s:
        pending = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "asp_notification")
        ).all()
        assert len(pending) == 4  # requested, confirmed, submitted, accepted
        assert all(x.sent_at is None for x in pending)
        # The endpoint failed once; its other notifications were deferred, not tried.
        assert sorted(x.attempts for x in pending) == [0, 0, 0, 1]
        assert all(x.next_attempt_at >= now + backoff_seconds(1) for x in pending)
        assert ["503" in (x.last_error or "") for x in pending].count(True) == 1
    receiver.fail = False
    Worker(world.app).run_once(now=now + 5)  # not due yet
    assert receiver.bodies == []
    Worker(world.app).run_once(now=now + backoff_seconds(1) + 1)
    lists = receiver.resources()
    assert len(lists) == 4
    expected = f"http://127.0.0.1:5999{casey.url(f'/RateChangeRequest/{rid}')}"
    assert all(resources == [expected] for resources in lists)
    assert backoff_seconds(2) == 2 * backoff_seconds(1) and backoff_seconds(30) == 3600


def test_batch_list_is_the_espi_element() -> None:
    from espi_sst_server.outbox.queue import batch_list_xml

    body = batch_list_xml(["https://u.example/a", "https://u.example/b"])
    assert _batch_list_resources(body) == ["https://u.example/a", "https://u.example/b"]
    assert espi_sst.validate(body, profile="official") == []


def test_passcode_guessing_is_rate_limited_per_request(sst_database: tuple[str, Any]) -> None:
    from sst_world import make_world

    url, data = sst_database
    limited = make_world(
        url, data, RATELIMIT_ENABLED=True, OTP_RATE_LIMIT="3 per minute", OTP_MAX_ATTEMPTS=50
    )
    try:
        casey = limited.grant("casey")
        rid = rid_of(post_change(limited, casey, {"targetRin": "USCA-PGPG-0100-0000"}))
        answers = [confirm(limited, casey, rid, "999999").status_code for _ in range(4)]
        assert answers[:3] == [422, 422, 422] and answers[3] == 429
        blocked = confirm(limited, casey, rid, passcode(limited, _email("casey")))
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert blocked.json["error"] == "too_many_requests"
    finally:
        limited.app.extensions["espi_sst_db"].engine.dispose()


def collect_mail(world: SstWorld) -> list[Any]:
    """The world's e-mail goes to a list (the messages the customer would receive)."""
    delivered: list[Any] = []

    class Collecting:
        def send(self, message: Any) -> None:
            delivered.append(message)

    world.app.config["NOTIFIER"] = lambda app: Collecting()
    world.app.extensions.pop("espi_sst_notifier", None)
    return delivered


def broken_notifier(app: Any) -> Any:
    class Broken:
        def send(self, message: Any) -> None:
            raise KeyError("a notifier that breaks its contract")

    return Broken()


def test_a_notifier_that_raises_anything_is_retried_and_counted(world: SstWorld) -> None:
    world.app.config["NOTIFIER"] = broken_notifier
    world.app.extensions.pop("espi_sst_notifier", None)
    casey = world.grant("casey")
    assert post_change(world, casey, {"targetRin": "USCA-PGPG-0100-0000"}).status_code == 202
    now = int(time.time())
    Worker(world.app).run_once(now=now)
    with world.session() as s:
        (mail,) = world.mails(s, _email("casey"))
        assert mail.sent_at is None and mail.attempts == 1
        assert "KeyError" in (mail.last_error or "")
        assert mail.next_attempt_at == now + backoff_seconds(1)
