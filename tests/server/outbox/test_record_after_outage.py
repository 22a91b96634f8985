"""A message sent while the database went away is recorded when it is back, not sent again.

Issue 15 (bench/soak): the worker sent a passcode e-mail, then could not record it (the
database restarting, SQLite's disk full); the row stayed claimed and unrecorded, and was
mailed again once its claim ran out.  Here, on real PostgreSQL, the notifier cuts every
connection to the database right after it "sends" (``pg_terminate_backend``: what a restart
looks like to the pool), so the worker's record of the send fails once; the worker must
record it on a fresh connection, and a later pass past the claim must not send it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from espi_sst_server import create_app
from espi_sst_server.outbox.queue import claim_seconds, deliver_due, enqueue_email
from espi_sst_server.storage import db
from espi_sst_server.storage.models import OutboxMessage
from scratch_databases import postgresql_database
from sqlalchemy import select


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgresql_database()


class CuttingNotifier:
    """Delivers (keeps) the message, then cuts the database's connections, once."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        import psycopg

        self.sent.append(message)
        if len(self.sent) > 1:
            return
        name = self.database_url.rsplit("/", 1)[1]
        admin = self.database_url.rsplit("/", 1)[0].replace("postgresql+psycopg://",
                                                            "postgresql://")  # fmt: skip
        with psycopg.connect(admin + "/postgres", autocommit=True) as connection:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s", (name,))  # fmt: skip


def test_a_send_recorded_after_the_database_came_back_is_not_sent_again(
    database_url: str,
) -> None:
    notifier = CuttingNotifier(database_url)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "t", "TESTING": True,
                      "NOTIFIER": lambda _app: notifier,
                      "MAIL_FROM": "Utility <no-reply@utility.example>"})  # fmt: skip
    try:
        with app.app_context():
            now = int(time.time())
            enqueue_email(db.session, to="casey@example.com", subject="Your code",
                          text="Your confirmation code is: 123456.\n", now=now)  # fmt: skip
            db.session.commit()
            first = deliver_due(app, db.session, now=now)
            assert first.sent == 1 and len(notifier.sent) == 1
            row = db.session.scalars(select(OutboxMessage)).one()
            assert row.sent_at == now and row.attempts == 1
            later = now + claim_seconds(app) + 1  # the claim has run out: due if unrecorded
            again = deliver_due(app, db.session, now=later)
            assert again.sent == 0 and len(notifier.sent) == 1  # sent once, recorded once
    finally:
        app.extensions["espi_sst_db"].engine.dispose()
