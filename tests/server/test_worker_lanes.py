"""One slow ASP must not delay anyone's passcode (issue 11, item 11): customer e-mail and
ASP notifications are separate lanes of the worker, and a notify URI that fails is backed
off as a whole -- with real listeners on 127.0.0.1, on SQLite and PostgreSQL.

No timing thresholds: the first test shows the order of events (the passcode mail was
delivered while the ASP's endpoint still held the worker's POST open); the second counts
connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from espi_sst_server import create_app
from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.outbox.queue import (
    backoff_seconds,
    deliver_due,
    enqueue_asp_notification,
    enqueue_email,
)
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, OutboxMessage
from espi_sst_server.worker import Worker
from flask import Flask
from listener import Listener
from sqlalchemy import select


class Mailbox:
    """The notifier: every message the worker sends, and an event per recipient."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived: dict[str, threading.Event] = {}

    def send(self, message: EmailMessage) -> None:
        self.messages.append(message)
        self.arrived.setdefault(str(message["To"]), threading.Event()).set()

    def wait_for(self, to: str, timeout: float) -> bool:
        return self.arrived.setdefault(to, threading.Event()).wait(timeout)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def app(database_url: str, mailbox: Mailbox) -> Iterator[Flask]:
    made = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "t",
            "TESTING": True,
            "NOTIFY_ALLOW_LOOPBACK": True,
            "NOTIFIER": lambda _app: mailbox,
        }
    )
    yield made
    made.extensions["espi_sst_db"].engine.dispose()


def _asp(app: Flask, notify_uri: str) -> Application:
    with app.app_context():
        done = register_application(
            db.session,
            name=notify_uri,
            redirect_uris=["https://a.example/cb"],
            notify_uri=notify_uri,
        )
        found = db.session.scalar(
            select(Application).where(Application.client_id == done.client_id)
        )
        assert found is not None
        db.session.expunge(found)
        return found


def _enqueue(
    app: Flask, *, mail_to: str | None = None, notify: Application | None = None, n: int = 1
) -> None:
    with app.app_context():
        for i in range(n):
            if notify is not None:
                enqueue_asp_notification(
                    db.session, application=notify, resources=[f"https://u.example/r/{i}"], now=1
                )
            if mail_to is not None:
                enqueue_email(
                    db.session,
                    to=mail_to,
                    subject="Utility: your code to confirm a rate change",
                    text="Your confirmation code is: 123456\n",
                    now=1,
                )
        db.session.commit()


def test_a_passcode_mail_does_not_wait_for_an_asp_that_never_answers(
    app: Flask, mailbox: Mailbox
) -> None:
    app.config["NOTIFY_READ_TIMEOUT"] = 120  # the ASP holds the POST for the whole test
    silent = Listener("hold")
    stop = threading.Event()
    worker = threading.Thread(
        target=Worker(app).run_forever, args=(stop,), kwargs={"poll_seconds": 0.05}
    )
    try:
        _enqueue(app, notify=_asp(app, silent.url), mail_to="first@example.com")
        worker.start()
        assert silent.holding.wait(60), "the worker never POSTed to the ASP"
        # The ASP lane is now stuck in that POST.  Another customer asks for a passcode:
        _enqueue(app, mail_to="other@example.com")
        assert mailbox.wait_for("other@example.com", 60), "the passcode mail never came"
        assert silent.still_holding(), "the mail came only after the ASP's POST gave up"
    finally:
        stop.set()
        silent.close()  # ends the held POST (the ASP lane records a retry)
        worker.join(timeout=60)
    assert not worker.is_alive()


def test_a_failing_destination_costs_one_attempt_per_pass(app: Flask) -> None:
    down = Listener("fail")
    healthy = Listener("ok")
    try:
        _enqueue(app, notify=_asp(app, down.url), n=3)
        _enqueue(app, notify=_asp(app, healthy.url), n=2)
        now = int(time.time())
        with app.app_context():
            report = deliver_due(app, db.session, now=now, kind="asp_notification")
        assert down.connections == 1  # not 3: its other two messages were deferred
        assert healthy.connections == 2  # another ASP is not held back
        assert (report.sent, report.retried) == (2, 1)
        rows = _rows(app, down.url)
        assert [r.attempts for r in rows] == [1, 0, 0]
        assert all(r.next_attempt_at == now + backoff_seconds(1) for r in rows)
        with app.app_context():  # not due yet: nothing is tried
            deliver_due(app, db.session, now=now + 1, kind="asp_notification")
        assert down.connections == 1
        down.answer = "ok"  # it is back: the next pass sends all three
        with app.app_context():
            deliver_due(app, db.session, now=now + backoff_seconds(1), kind="asp_notification")
        assert down.connections == 4
        assert all(r.sent_at is not None for r in _rows(app, down.url))
    finally:
        down.close()
        healthy.close()


def test_one_refusal_from_a_destination_that_is_up_does_not_hold_back_its_other_messages(
    app: Flask,
) -> None:
    """An ASP that refuses one POST now and then is up: the refused message backs off alone,
    and the rest of the pass reaches it.  (Issue 15: with every refusal pausing the whole
    destination, an ASP refusing one POST in ten made the lane fall behind it -- the soak's
    interrupted notification took more than 285 s to be delivered again.)"""
    flaky = Listener("ok", fail_requests=frozenset({2}))
    try:
        _enqueue(app, notify=_asp(app, flaky.url), n=5)
        now = int(time.time())
        with app.app_context():
            report = deliver_due(app, db.session, now=now, kind="asp_notification")
        assert flaky.connections == 5  # all five tried in one pass
        assert (report.sent, report.retried) == (4, 1)
        rows = _rows(app, flaky.url)
        assert [r.attempts for r in rows] == [1, 1, 1, 1, 1]
        (refused,) = [r for r in rows if r.sent_at is None]
        assert refused.next_attempt_at == now + backoff_seconds(1)
        assert all(r.sent_at is not None for r in rows if r is not refused)
    finally:
        flaky.close()


def _rows(app: Flask, destination: str) -> list[Any]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.destination == destination)
            .order_by(OutboxMessage.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def test_the_retry_backoff_is_a_setting(app: Flask) -> None:
    """OUTBOX_BACKOFF_FIRST_SECONDS / OUTBOX_BACKOFF_MAX_SECONDS decide when a failed send is
    tried again (the short soak uses 2 s up to 30 s; production 10 s up to an hour)."""
    app.config.update(OUTBOX_BACKOFF_FIRST_SECONDS=2, OUTBOX_BACKOFF_MAX_SECONDS=5)
    down = Listener("fail")
    try:
        _enqueue(app, notify=_asp(app, down.url), n=1)
        now = int(time.time())
        waits = []
        for _ in range(4):
            with app.app_context():
                deliver_due(app, db.session, now=now, kind="asp_notification")
            (row,) = _rows(app, down.url)
            waits.append(row.next_attempt_at - now)
            now = row.next_attempt_at
        assert waits == [2, 4, 5, 5]  # doubling from the first, capped
        assert down.connections == 4
    finally:
        down.close()
