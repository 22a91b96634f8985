"""Passcodes are not kept readable (issue 11, item 4): the outbox row of a passcode e-mail is
encrypted while it waits and its body is gone once it is sent, yet the customer receives
the code -- over real SMTP to the demo's mail sink on 127.0.0.1, on SQLite and PostgreSQL.

Codes are 12 digits here so that finding one by accident in the seeded tables (timestamps,
readings) is out of the question.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from espi_sst_server.demo import DemoData
from espi_sst_server.demo.mail_sink import MailSink
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.storage.models import AuditEvent, Base
from espi_sst_server.worker import Worker
from sqlalchemy import select
from sst_world import SstWorld, make_world
from test_rate_change import _email, confirm, post_change, rid_of

TOU_C = {"targetRin": "USCA-PGPG-0100-0000"}


@pytest.fixture
def mailed(
    sst_database: tuple[str, DemoData], tmp_path: Path
) -> Iterator[tuple[SstWorld, MailSink]]:
    url, data = sst_database
    with MailSink(tmp_path / "mail") as sink:
        made = make_world(
            url,
            data,
            OTP_DIGITS=12,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=sink.port,
            SMTP_STARTTLS=False,
            MAIL_FROM="Demo Utility <no-reply@utility.example>",
        )
        yield made, sink
        made.app.extensions["espi_sst_db"].engine.dispose()


def _tables_containing(world: SstWorld, needle: str) -> list[str]:
    """Every table with a row whose text holds ``needle`` (the whole database is read)."""
    found = []
    with world.session() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                if any(needle in str(value) for value in row):
                    found.append(table.name)
                    break
    return found


def _code_in(text: str) -> str:
    line = next(line for line in text.splitlines() if "confirmation code is" in line)
    return line.rsplit(" ", 1)[1]


def test_no_readable_passcode_while_pending_nor_after_delivery(
    mailed: tuple[SstWorld, MailSink],
) -> None:
    world, sink = mailed
    casey = world.grant("casey")
    response = post_change(world, casey, TOU_C)
    assert response.status_code == 202
    with world.session() as s:
        (pending,) = world.mails(s, _email("casey"))
    code = _code_in(open_payload(world.app, pending)["text"])  # what the worker will send
    assert len(code) == 12
    # Pending: the row holds ciphertext; the code is nowhere in clear.
    assert _tables_containing(world, code) == []
    assert _tables_containing(world, "confirmation code is") == []
    assert pending.payload["subject"].endswith("your code to confirm a rate change")

    Worker(world.app).run_once()

    (received,) = sink.messages(_email("casey"))
    assert _code_in(received.text) == code  # the customer has it
    # Delivered: the body is gone, sealed or not; what operations need is still there.
    assert _tables_containing(world, code) == []
    with world.session() as s:
        (sent,) = world.mails(s, _email("casey"))
        assert sent.sent_at is not None and sent.attempts == 1 and sent.failed_at is None
        assert sent.payload == {"subject": pending.payload["subject"]}
        assert sent.destination == _email("casey") and sent.kind == "email"
    # And the code the customer read confirms the change.
    confirmed = confirm(world, casey, rid_of(response), code)
    assert confirmed.status_code == 200, confirmed.data


def test_a_body_no_key_opens_fails_visibly_and_the_others_go(
    mailed: tuple[SstWorld, MailSink],
) -> None:
    """SECRET_KEY changed with a message pending: that row fails for good, with the reason
    in the row and the audit log; the worker does not crash and sends the rest."""
    world, sink = mailed
    casey = world.grant("casey")
    assert post_change(world, casey, TOU_C).status_code == 202
    world.app.config["SECRET_KEY"] = "rotated"
    blake = world.grant("blake")
    assert (
        post_change(world, blake, {"targetRin": "USCA-PGXX-0010-0000"}, key="k-2").status_code
        == 202
    )

    Worker(world.app).run_once(now=int(time.time()))

    assert sink.messages(_email("casey")) == []
    assert len(sink.messages(_email("blake"))) == 1
    with world.session() as s:
        (lost,) = world.mails(s, _email("casey"))
        assert lost.failed_at is not None and lost.sent_at is None
        assert "cannot decrypt" in (lost.last_error or "")
        assert "sealed" not in lost.payload  # given up: the body is purged too
        gave_up = s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "outbox_gave_up", AuditEvent.subject == f"outbox:{lost.id}"
            )
        )
        assert gave_up is not None and "cannot decrypt" in gave_up.detail["error"]
