"""Two ``espi-sst worker`` processes on one PostgreSQL database (issue 21, workers): each
rate change is submitted to billing once, each e-mail and each ASP notification is
delivered once; a worker killed with SIGKILL mid-job is taken over by the other when its
lease (``WORKER_LEASE_SECONDS``) or claim (``OUTBOX_CLAIM_SECONDS``) ends.

"Once" is counted by what the receiving side sees, by the id it would deduplicate on: the
billing system by the request uuid (its idempotency key), the SMTP server by Message-ID,
the ASP by the POST's ``Idempotency-Key``.  With no kill, each id arrives exactly once.
After a kill, the job the dead worker had in flight arrives twice -- once from the dead
worker (the remote side got it; the worker died before recording that), once from the
taker -- with the same id, and everything the SST records about it (the decision, its
audit row, the customer's mail, the ASP's notification of the decision) exists once.  That
is the most any protocol can promise when the sender may die after the receiver acted:
at-least-once delivery plus deduplication by id at the receiver.

Real processes, real SMTP (aiosmtpd), real HTTP on loopback; PostgreSQL only (the scale-out
database; SQLite serves one machine).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from espi_sst_server import create_app
from espi_sst_server.demo.mail_sink import MailSink
from espi_sst_server.storage.models import AuditEvent, OutboxMessage, RateChangeRequestRecord
from flask import Flask
from recording_billing import submissions
from scratch_databases import postgresql_database
from worker_world import (
    CUSTOMER_EMAIL,
    Receiver,
    Workers,
    connected,
    open_work,
    rows,
    running,
    seed,
    wait_for,
)

LEASE = 8
"""WORKER_LEASE_SECONDS and OUTBOX_CLAIM_SECONDS in the kill tests: long enough for the
second worker to start (about 3 s) before the dead worker's claim ends."""
CLAIM = 8


@pytest.fixture
def database() -> Iterator[str]:
    yield from postgresql_database()


@pytest.fixture
def app(database: str) -> Iterator[Flask]:
    made = create_app(
        {
            "DATABASE_URL": database,
            "SECRET_KEY": "test-secret",
            "TESTING": True,
            "NOTIFY_ALLOW_LOOPBACK": True,
        }
    )
    yield made
    made.extensions["espi_sst_db"].engine.dispose()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "maildir") as started:
        yield started


def _workers(database: str, tmp_path: Path, sink: MailSink, **extra: str) -> Workers:
    return Workers(
        database, tmp_path, sink.port, lease_seconds=LEASE, claim_seconds=CLAIM, extra_env=extra
    )


def _decisions(app: Flask) -> Counter[str]:
    audited = rows(app, AuditEvent, AuditEvent.action == "rate_change_accepted")
    return Counter(row.subject.rsplit(":", 1)[1] for row in audited)


def test_two_workers_submit_send_and_notify_each_job_exactly_once(
    app: Flask, database: str, tmp_path: Path, sink: MailSink
) -> None:
    n = 200
    receiver = Receiver()
    workers = _workers(database, tmp_path, sink)
    try:
        with running(workers):
            a, b = workers.start("a"), workers.start("b")
            wait_for(
                "both workers", lambda: connected(app, "a") and connected(app, "b"), 60, workers
            )
            seeded = seed(app, notify_uri=receiver.url, n=n, passcode_mails=n)
            wait_for("all work done", lambda: open_work(app) == 0, 240, workers)
    finally:
        receiver.close()
    calls = submissions(workers.billing_log)
    keys = Counter(call["key"] for call in calls)
    assert set(keys) == set(seeded.request_uuids)
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1]
    assert {call["pid"] for call in calls} == {a.pid, b.pid}, "one worker did all the billing"
    assert set(_decisions(app).values()) == {1} and len(_decisions(app)) == n
    # Mail: n passcodes + n decisions, each Message-ID once at the SMTP server.
    mails = sink.messages(CUSTOMER_EMAIL)
    assert len(mails) == 2 * n
    assert len({mail.message_id for mail in mails}) == 2 * n
    # Notifications: "submitted" and "accepted" per request, each key delivered once.
    delivered = Counter(receiver.keys())
    assert len(delivered) == 2 * n and max(delivered.values()) == 1
    assert "(none)" not in delivered
    sent = rows(app, OutboxMessage, OutboxMessage.kind == "asp_notification")
    assert [row.attempts for row in sent] == [1] * (2 * n)


def test_a_worker_killed_inside_billing_is_taken_over_after_its_lease(
    app: Flask, database: str, tmp_path: Path, sink: MailSink
) -> None:
    receiver = Receiver()
    hold = tmp_path / "billing-hold"
    workers = _workers(database, tmp_path, sink, ESPI_TEST_BILLING_HOLD=str(hold))
    try:
        with running(workers):
            doomed = workers.start("doomed")
            wait_for("the first worker", lambda: connected(app, "doomed"), 60, workers)
            held = seed(app, notify_uri=receiver.url, n=1, passcode_mails=0).request_uuids[0]
            inside = Path(f"{hold}.inside")
            wait_for("a submission held in billing", inside.exists, 60, workers)
            assert int(inside.read_text()) == doomed.pid
            # Its "submitted" notification went out before the kill: nothing else in flight.
            wait_for("the notification", lambda: len(receiver.keys()) == 1, 60, workers)
            wait_for("the outbox recorded", lambda: open_work(app) == 1, 60, workers)
            survivor = workers.start("survivor")
            wait_for("the second worker", lambda: connected(app, "survivor"), 60, workers)
            assert time.time() < submissions(workers.billing_log)[0]["at"] + LEASE - 1
            killed_at = doomed.kill()
            more = seed(app, notify_uri=receiver.url, n=20, passcode_mails=20, offset=1)
            wait_for("all work done", lambda: open_work(app) == 0, 120, workers)
    finally:
        receiver.close()
    calls = submissions(workers.billing_log)
    keys = Counter(call["key"] for call in calls)
    assert keys[held] == 2  # the dead worker's call, and the taker's, with the same key
    assert all(keys[uuid] == 1 for uuid in more.request_uuids)
    first, second = (call for call in calls if call["key"] == held)
    assert (first["pid"], second["pid"]) == (doomed.pid, survivor.pid)
    takeover = second["at"] - killed_at
    since_claim = second["at"] - first["at"]
    print(f"billing takeover: {takeover:.2f} s after the kill, {since_claim:.2f} s after the claim")
    # Not before the lease ran out (the claim's second is truncated: up to 1 s early) ...
    assert since_claim >= LEASE - 1
    # ... and within the lease, the whole-second clock and a few passes after it.
    assert since_claim <= LEASE + 3
    assert _decisions(app)[held] == 1
    decided = rows(app, RateChangeRequestRecord, RateChangeRequestRecord.uuid == held)[0]
    assert (decided.status, decided.processing_attempts) == ("accepted", 2)
    mails = sink.messages(CUSTOMER_EMAIL)
    assert len(mails) == 20 + 21 and len({m.message_id for m in mails}) == 41
    delivered = Counter(receiver.keys())
    assert len(delivered) == 2 * 21 and max(delivered.values()) == 1


def test_a_worker_killed_while_notifying_is_taken_over_after_its_claim(
    app: Flask, database: str, tmp_path: Path, sink: MailSink
) -> None:
    receiver = Receiver(hold_first=True)
    workers = _workers(database, tmp_path, sink)
    try:
        with running(workers):
            doomed = workers.start("doomed")
            wait_for("the first worker", lambda: connected(app, "doomed"), 60, workers)
            seed(app, notify_uri=receiver.url, n=1, passcode_mails=0)
            wait_for("a notification held", receiver.holding.is_set, 60, workers)
            workers.start("survivor")
            wait_for("the second worker", lambda: connected(app, "survivor"), 60, workers)
            assert time.time() < receiver.deliveries[0][1] + CLAIM - 1
            killed_at = doomed.kill()
            wait_for("all work done", lambda: open_work(app) == 0, 60, workers)
    finally:
        receiver.close()
    deliveries = receiver.deliveries
    held_key = deliveries[0][0]
    repeats = [at for key, at in deliveries if key == held_key]
    assert len(repeats) == 2  # at-least-once: the ASP got it from both, with one key
    takeover = repeats[1] - killed_at
    since_claim = repeats[1] - repeats[0]
    print(f"outbox takeover: {takeover:.2f} s after the kill, {since_claim:.2f} s after the claim")
    assert CLAIM - 1 <= since_claim <= CLAIM + 3
    distinct = Counter(key for key, _ in deliveries)
    assert len(distinct) == 2  # "submitted" and "accepted": once each after dedup by key
    [row] = rows(
        app,
        OutboxMessage,
        OutboxMessage.kind == "asp_notification",
        OutboxMessage.id == int(held_key.rsplit("/", 1)[1]),
    )
    assert row.sent_at is not None and row.attempts == 1  # the dead worker never recorded its try
