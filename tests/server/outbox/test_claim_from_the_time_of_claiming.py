"""A row is claimed from the time it is claimed, not from when its worker's pass began.

Issue 15 (bench/soak): a full soak delivered one passcode e-mail twice.  The worker took
the time once per pass (``now``) and claimed each due row until ``now + OUTBOX_CLAIM_SECONDS``.
A pass whose earlier sends (or records, retried while the database restarts; or the rate
changes submitted to billing before the e-mail step) took longer than the claim claimed its
later rows with a claim already over: a second worker saw them due and sent them too, at
the same time.  Here two workers (two apps on one PostgreSQL database, as two ``espi-sst
worker`` processes) share the outbox; the first one's sends are slow, and every row must
still be sent exactly once.  The same for a rate change's lease.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from espi_sst_server import create_app
from espi_sst_server.outbox.queue import deliver_due, enqueue_email
from espi_sst_server.storage import db
from flask import Flask
from scratch_databases import postgresql_database

CLAIM_SECONDS = 2


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgresql_database()


class SlowNotifier:
    """Keeps what it is given, taking ``first`` seconds over the first message and ``then``
    over each other; ``started`` is set when message number ``signal`` (from 0) is on its way."""

    def __init__(self, first: float, then: float, signal: int = 1) -> None:
        self.first, self.then, self.signal = first, then, signal
        self.sent: list[str] = []
        self.started = threading.Event()

    def send(self, message: EmailMessage) -> None:
        count = len(self.sent)
        if count == self.signal:
            self.started.set()
        time.sleep(self.first if count == 0 else self.then)
        self.sent.append(str(message["Message-ID"]))


def _app(database_url: str, notifier: Any, **settings: Any) -> Flask:
    return create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "one secret for both workers",
            "TESTING": True,
            "NOTIFIER": lambda _app: notifier,
            "MAIL_FROM": "Utility <no-reply@utility.example>",
            "OUTBOX_CLAIM_SECONDS": CLAIM_SECONDS,
            **settings,
        }
    )


class SlowBilling:
    """A billing system whose daily run (``apply_due``, the worker's step before the e-mail)
    takes longer than a claim: the utility's, outside the worker."""

    def __init__(self, session: Any, config: Any, catalog: Any = None) -> None:
        pass

    def submit(self, request: Any, *, now: int) -> Any:
        raise AssertionError("no rate change in this test")

    def apply_due(self, *, now: int) -> int:
        time.sleep(CLAIM_SECONDS + 1.5)
        return 0


def test_a_slow_pass_does_not_hand_its_later_rows_to_another_worker(database_url: str) -> None:
    slow, quick = SlowNotifier(first=CLAIM_SECONDS + 1.5, then=1.0), SlowNotifier(0.0, 0.0)
    first, second = _app(database_url, slow), _app(database_url, quick)
    try:
        with first.app_context():
            start = int(time.time())
            for n in range(3):
                enqueue_email(db.session, to=f"c{n}@example.com", subject="Your code",
                              text=f"Your confirmation code is: 12345{n}.\n", now=start)  # fmt: skip
            db.session.commit()

        def first_worker() -> None:
            with first.app_context():
                deliver_due(first, db.session, now=start)  # the pass's one time, as before

        running = threading.Thread(target=first_worker)
        running.start()
        # The first worker's pass is past its claim by now: its first send took longer.
        # While it sends its second row, the other worker takes a pass of its own.
        assert slow.started.wait(CLAIM_SECONDS + 10), "the first worker never got to row 2"
        with second.app_context():
            deliver_due(second, db.session, now=int(time.time()))
        running.join(30)
        assert not running.is_alive()
    finally:
        for app in (first, second):
            app.extensions["espi_sst_db"].engine.dispose()
    copies = Counter(slow.sent + quick.sent)
    assert sorted(copies.values()) == [1, 1, 1], (slow.sent, quick.sent)


def test_a_slow_step_before_the_e_mail_does_not_hand_its_rows_to_another_worker(
    database_url: str,
) -> None:
    """The worker's pass: billing's daily run first (slow), then the e-mail.  The e-mail step
    claims with the time it claims, not the time the pass began."""
    from espi_sst_server.worker import Worker

    slow = SlowNotifier(first=1.0, then=1.0, signal=0)
    quick = SlowNotifier(0.0, 0.0)
    first = _app(database_url, slow, BILLING_BACKEND=SlowBilling)
    second = _app(database_url, quick)
    try:
        with first.app_context():
            start = int(time.time())
            for n in range(2):
                enqueue_email(db.session, to=f"c{n}@example.com", subject="Your code",
                              text=f"Your confirmation code is: 54321{n}.\n", now=start)  # fmt: skip
            db.session.commit()
        running = threading.Thread(target=Worker(first).run_once)  # live: its own clock
        running.start()
        assert slow.started.wait(CLAIM_SECONDS + 10), "the first worker never sent"
        with second.app_context():
            deliver_due(second, db.session, now=int(time.time()))
        running.join(30)
        assert not running.is_alive()
    finally:
        for app in (first, second):
            app.extensions["espi_sst_db"].engine.dispose()
    copies = Counter(slow.sent + quick.sent)
    assert sorted(copies.values()) == [1, 1], (slow.sent, quick.sent)
