"""Rate-change races (issue 11, items 3, 14, 15): real parallel requests on real sockets
against SQLite and PostgreSQL, asserting the invariants -- one open request per service
agreement, one request per Idempotency-Key, an exact passcode attempt counter, no 500s.

Rate limits are off in the world (``RATELIMIT_ENABLED`` false), so what is tested is the
database's counting, not Flask-Limiter's per-request limit in front of it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests
from espi_sst_server.storage.models import AuditEvent, OutboxMessage, RateChangeRequestRecord
from parallel import serve, together
from sqlalchemy import func, select
from sst_world import Granted, SstWorld
from test_rate_change import _email, audit_actions, passcode, post_change, rid_of, status_of

from espi_sst.model import sst

TOU_C = {"targetRin": "USCA-PGPG-0100-0000"}


def _post(base: str, granted: Granted, key: str) -> requests.Response:
    return requests.post(
        base + granted.url("/RateChangeRequest"),
        json=TOU_C,
        headers={**granted.headers, "Idempotency-Key": key},
        timeout=60,
    )


def _confirm(base: str, granted: Granted, rid: str, code: str) -> requests.Response:
    return requests.post(
        base + granted.url(f"/RateChangeRequest/{rid}/Confirmation"),
        json={"code": code},
        headers=granted.headers,
        timeout=60,
    )


def _count(world: SstWorld, model: Any, *where: Any) -> int:
    with world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _passcode_mails(world: SstWorld, email: str) -> int:
    with world.session() as s:
        return len([m for m in world.mails(s, email) if "confirm" in m.payload["subject"]])


# ---- item 14: one open request per service agreement, held by the database ---------------------


def test_parallel_posts_with_different_keys_open_exactly_one_request(world: SstWorld) -> None:
    casey = world.grant("casey")
    with serve(world.app) as base:
        answers = together(4, lambda i: _post(base, casey, f"key-{i}"))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {202: 1, 409: 3}, [(a.status_code, a.text) for a in answers]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {r["error"] for r in refused} == {"request_in_progress"}
    assert _count(world, RateChangeRequestRecord) == 1
    assert _passcode_mails(world, _email("casey")) == 1


# ---- item 15: the same Idempotency-Key in parallel ------------------------------------------


def test_parallel_posts_with_the_same_key_answer_one_request(world: SstWorld) -> None:
    casey = world.grant("casey")
    with serve(world.app) as base:
        answers = together(6, lambda _i: _post(base, casey, "same-key"))
    assert all(a.status_code == 202 for a in answers), [(a.status_code, a.text) for a in answers]
    assert len({a.headers["Location"] for a in answers}) == 1
    replayed = [a.headers.get("Idempotent-Replayed") for a in answers]
    assert replayed.count("true") == 5 and replayed.count(None) == 1
    assert _count(world, RateChangeRequestRecord) == 1
    assert _passcode_mails(world, _email("casey")) == 1


# ---- item 3: the attempt counter is claimed before the code is checked ----------------------


def _requested(world: SstWorld) -> tuple[Granted, str, str]:
    casey = world.grant("casey")
    response = post_change(world, casey, TOU_C)
    assert response.status_code == 202, response.data
    right = passcode(world, _email("casey"))
    return casey, rid_of(response), right


def _wrong(right: str, i: int) -> str:
    code = f"{(int(right) + 1 + i) % 1_000_000:06d}"
    assert code != right
    return code


def _asp_notifications(world: SstWorld) -> int:
    return _count(world, OutboxMessage, OutboxMessage.kind == "asp_notification")


def test_parallel_wrong_codes_are_counted_exactly(world: SstWorld) -> None:
    maximum = int(world.app.config["OTP_MAX_ATTEMPTS"])
    assert maximum == 5
    casey, rid, right = _requested(world)
    with serve(world.app) as base:
        answers = together(10, lambda i: _confirm(base, casey, rid, _wrong(right, i)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {422: maximum - 1, 409: 10 - (maximum - 1)}, statuses
    left = sorted(int(a.json()["attempts_left"]) for a in answers if a.status_code == 422)
    assert left == [1, 2, 3, 4]  # each evaluated attempt has its own, exact count
    actions = audit_actions(world, rid)
    assert actions.count("rate_change_confirmation_failed") == maximum  # evaluated: exactly 5
    assert actions.count("rate_change_rejected") == 1  # rejected once
    found = status_of(world, casey, rid)
    assert found.status is sst.RateChangeStatus.rejected
    assert found.rejection_reason is sst.RejectionReason.confirmationFailed
    with world.session() as s:
        assert world.request_row(s, rid).otp_attempts == maximum
    assert _asp_notifications(world) == 2  # requested, rejected
    assert _confirm_after(world, casey, rid, right).status_code == 409


def _confirm_after(world: SstWorld, granted: Granted, rid: str, code: str) -> Any:
    return world.client.post(
        granted.url(f"/RateChangeRequest/{rid}/Confirmation"),
        json={"code": code},
        headers=granted.headers,
    )


def test_a_right_code_racing_wrong_codes_has_one_consistent_outcome(world: SstWorld) -> None:
    casey, rid, right = _requested(world)
    codes = [right] + [_wrong(right, i) for i in range(7)]
    with serve(world.app) as base:
        answers = together(len(codes), lambda i: _confirm(base, casey, rid, codes[i]))
    assert all(a.status_code in (200, 409, 422) for a in answers), [a.text for a in answers]
    actions = audit_actions(world, rid)
    failed = actions.count("rate_change_confirmation_failed")
    found = status_of(world, casey, rid)
    if found.status is sst.RateChangeStatus.confirmed:
        assert answers[0].status_code == 200
        assert actions.count("rate_change_confirmed") == 1
        assert "rate_change_rejected" not in actions
        assert failed <= 4
    else:
        assert found.status is sst.RateChangeStatus.rejected
        assert answers[0].status_code == 409
        assert "rate_change_confirmed" not in actions
        assert actions.count("rate_change_rejected") == 1
        # Five attempts were used: five wrong codes, or four and the right one, whose
        # confirmation came after the fifth wrong code had rejected the request.
        assert failed in (4, 5)
        with world.session() as s:
            assert world.request_row(s, rid).otp_attempts == 5
    assert [a.status_code for a in answers].count(200) <= 1
    with world.session() as s:
        assert world.request_row(s, rid).otp_attempts <= 5
    assert _count(world, AuditEvent, AuditEvent.subject == f"rate_change_request:{rid}") == len(
        actions
    )
