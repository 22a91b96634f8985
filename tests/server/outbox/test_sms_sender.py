"""The generic SMS HTTP adapter (server/outbox/sms.py) against a real HTTP receiver on a free
loopback port: what it sends (JSON, bearer token, Idempotency-Key), which answers are success,
which a retry may cure (5xx, timeout) and which not (4xx); then through the outbox, a 5xx
retried with backoff and the same key, and the demo sink filing a resend once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.demo.sms_sink import SmsSink
from espi_sst_server.outbox.queue import SMS, deliver_due, enqueue_sms, sms_message_key
from espi_sst_server.outbox.sms import (
    HttpSmsSender,
    LogSmsSender,
    SmsError,
    e164,
    sms_sender_for,
)
from espi_sst_server.storage import db
from espi_sst_server.storage.models import OutboxMessage
from sqlalchemy import select


class Receiver:
    """A loopback HTTP server that records each POST and answers ``status`` (after
    ``delay`` seconds)."""

    def __init__(self) -> None:
        self.status = 201
        self.delay = 0.0
        self.seen: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                receiver.seen.append(
                    {"headers": dict(self.headers), "json": json.loads(self.rfile.read(length))}
                )
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_a_message_is_posted_as_json_with_the_token_and_key(receiver: Receiver) -> None:
    HttpSmsSender(receiver.url, "tok-1", timeout=5).send("+14155550123", "code 123456", "k-1")
    (seen,) = receiver.seen
    assert seen["json"] == {"to": "+14155550123", "body": "code 123456"}
    assert seen["headers"]["Authorization"] == "Bearer tok-1"
    assert seen["headers"]["Idempotency-Key"] == "k-1"
    assert seen["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (503, False), (429, False)])
def test_a_server_error_is_worth_a_retry(receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.status = status
    with pytest.raises(SmsError) as raised:
        HttpSmsSender(receiver.url, "t", timeout=5).send("+14155550123", "secret 987654", "k")
    assert raised.value.permanent is permanent
    assert f"HTTP {status}" in str(raised.value)
    assert "987654" not in str(raised.value)  # the body never lands in an error


@pytest.mark.parametrize("status", [400, 401, 422])
def test_a_refusal_is_permanent(receiver: Receiver, status: int) -> None:
    receiver.status = status
    with pytest.raises(SmsError) as raised:
        HttpSmsSender(receiver.url, "t", timeout=5).send("+14155550123", "x", "k")
    assert raised.value.permanent


def test_a_gateway_that_does_not_answer_costs_the_timeout_only(receiver: Receiver) -> None:
    receiver.delay = 3.0
    started = time.monotonic()
    with pytest.raises(SmsError) as raised:
        HttpSmsSender(receiver.url, "t", timeout=0.5).send("+14155550123", "x", "k")
    assert time.monotonic() - started < 2.5
    assert not raised.value.permanent
    assert "did not answer within 0.5 s" in str(raised.value)


def test_an_unreachable_gateway_is_worth_a_retry() -> None:
    with pytest.raises(SmsError) as raised:
        HttpSmsSender("http://127.0.0.1:9/send", "t", timeout=2).send("+14155550123", "x", "k")
    assert not raised.value.permanent and "cannot reach" in str(raised.value)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("+1 415 555 0123", "+14155550123"), ("+44 (20) 7946-0958", "+442079460958")],
)
def test_e164_numbers_are_normalised(typed: str, expected: str) -> None:
    assert e164(typed) == expected


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("415 555 0123", "start the number with +"),
        ("+0415550123", "first not 0"),
        ("+1415555012345678", "7 to 15 digits"),
        ("+1 415 CALL ME", "7 to 15 digits"),
        ("", "enter a mobile phone number"),
    ],
)
def test_bad_numbers_are_refused_with_how_to_write_them(typed: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        e164(typed)


def test_the_sender_is_chosen_by_setting(tmp_path: Path) -> None:
    base = {"DATABASE_URL": f"sqlite:///{tmp_path}/a.db", "TESTING": True, "SECRET_KEY": "t"}
    assert isinstance(sms_sender_for(create_app(base)), LogSmsSender)
    http = sms_sender_for(
        create_app({**base, "SMS_URL": "https://sms.example/v1", "SMS_TOKEN": "x"})
    )
    assert isinstance(http, HttpSmsSender) and http.url == "https://sms.example/v1"
    custom = object.__new__(LogSmsSender)
    chosen = sms_sender_for(create_app({**base, "SMS_SENDER": lambda app: custom}))
    assert chosen is custom


def _outbox_app(tmp_path: Path, url: str) -> Any:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/outbox.db",
            "TESTING": True,
            "SECRET_KEY": "t",
            "ISSUER": "https://utility.example",
            "SMS_URL": url,
            "SMS_TOKEN": "tok",
            "SMS_TIMEOUT": 0.5,
        }
    )


def test_the_outbox_retries_a_5xx_and_a_timeout_with_the_same_key(
    tmp_path: Path, receiver: Receiver
) -> None:
    app = _outbox_app(tmp_path, receiver.url)
    with app.app_context():
        enqueue_sms(db.session, to="+14155550123", text="code 111222", now=1000)
        db.session.commit()
        receiver.status = 503
        assert deliver_due(app, db.session, now=1000, kind=SMS).retried == 1
        message = db.session.scalar(select(OutboxMessage))
        assert message is not None
        assert message.attempts == 1 and message.sent_at is None
        assert message.next_attempt_at > 1000 and "HTTP 503" in (message.last_error or "")
        assert "111222" not in (message.last_error or "")
        receiver.status, receiver.delay = 201, 2.0  # answers too late: a timeout
        assert deliver_due(app, db.session, now=message.next_attempt_at, kind=SMS).retried == 1
        db.session.refresh(message)
        assert "did not answer" in (message.last_error or "")
        receiver.delay = 0.0
        assert deliver_due(app, db.session, now=message.next_attempt_at, kind=SMS).sent == 1
        db.session.refresh(message)
        assert message.sent_at is not None and message.attempts == 3
        key = sms_message_key(app, message.id)
    assert [s["headers"]["Idempotency-Key"] for s in receiver.seen] == [key] * 3


def test_the_demo_sink_files_a_resend_once(tmp_path: Path) -> None:
    with SmsSink(tmp_path / "sms", token="tk") as sink:
        sender = HttpSmsSender(sink.url, "tk", timeout=5)
        sender.send("+14155550123", "code 333444", "same-key")
        sender.send("+14155550123", "code 333444", "same-key")
        assert [m.body for m in sink.messages("+1 415 555 0123")] == ["code 333444"]
        with pytest.raises(SmsError) as wrong:
            HttpSmsSender(sink.url, "not-it", timeout=5).send("+14155550123", "x", "k2")
        assert wrong.value.permanent and "HTTP 401" in str(wrong.value)
        bad = requests.post(
            sink.url,
            json={"to": "0123", "body": "x"},
            headers={"Authorization": "Bearer tk"},
            timeout=5,
        )
        assert bad.status_code == 400 and "start the number with +" in bad.json()["error"]
    with pytest.raises(ValueError, match="loopback"):
        SmsSink(tmp_path / "x", token="t", host="0.0.0.0")
