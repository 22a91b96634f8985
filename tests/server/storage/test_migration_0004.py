"""Migration 0004 forgets the bodies of outbox messages already sent or given up (issue 11,
item 4: sent passcode e-mails kept their code in clear) and leaves pending ones to the
worker, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from espi_sst_server.storage import alembic_config, upgrade
from sqlalchemy import create_engine, text

PASSCODE_MAIL = '{"subject": "Demo: your code", "text": "Your confirmation code is: 123456"}'


def test_delivered_outbox_bodies_are_purged(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0003")
        with engine.begin() as connection:
            for sent_at, failed_at in ((100, None), (None, 100), (None, None)):
                connection.execute(
                    text(
                        "INSERT INTO outbox_message (kind, destination, payload, created_at, "
                        "next_attempt_at, attempts, sent_at, failed_at) VALUES ('email', "
                        "'a@example.com', :payload, 1, 1, 1, :sent_at, :failed_at)"
                    ),
                    {"payload": PASSCODE_MAIL, "sent_at": sent_at, "failed_at": failed_at},
                )
            connection.execute(
                text(
                    "INSERT INTO outbox_message (kind, destination, payload, created_at, "
                    "next_attempt_at, attempts, sent_at) VALUES ('asp_notification', "
                    "'https://asp.example/n', :payload, 1, 1, 1, 100)"
                ),
                {"payload": '{"resources": ["https://u.example/r"], "client_id": "asp-1"}'},
            )
        upgrade(engine)
        with engine.connect() as connection:
            payloads = [
                str(row[0])
                for row in connection.execute(
                    text("SELECT payload FROM outbox_message ORDER BY id")
                )
            ]
        assert "123456" not in payloads[0] and "Demo: your code" in payloads[0]  # sent
        assert "123456" not in payloads[1]  # given up
        assert "123456" in payloads[2]  # still pending: the worker sends it, then purges it
        assert "u.example" not in payloads[3] and "asp-1" in payloads[3]
    finally:
        engine.dispose()
