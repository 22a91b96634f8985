"""Customer e-mail (server/outbox/mail.py): composed safely, delivered over real SMTP, and every
failure turned into a NotifierError that says where and why, within the timeout.

The SMTP servers are real: the demo's mail sink (aiosmtpd + Maildir) and, for refusals,
aiosmtpd with a handler that answers 550, all on 127.0.0.1.  No mocks.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from espi_sst_server import create_app
from espi_sst_server.demo.mail_sink import MailSink
from espi_sst_server.outbox.mail import (
    LogNotifier,
    Notifier,
    NotifierError,
    SmtpNotifier,
    compose,
    mail_from,
    notifier_for,
)
from flask import Flask

SENDER = "Demo Utility <no-reply@utility.example>"


def _message(**changes: str) -> EmailMessage:
    arguments = {
        "to": "Alex Rivera <alex.rivera@example.com>",
        "subject": "Your passcode",
        "text": "Your passcode is 482913.\n",
        "sender": SENDER,
    }
    arguments.update(changes)
    return compose(**arguments)


def _free_port() -> int:
    """A port nothing listens on (bound by the kernel, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as running:
        yield running


# -- compose -----------------------------------------------------------------------------


def test_compose_sets_the_headers_a_mail_server_expects() -> None:
    message = _message()
    assert message["From"] == SENDER
    assert message["To"] == "Alex Rivera <alex.rivera@example.com>"
    assert message["Subject"] == "Your passcode"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(
        "@utility.example>"
    )
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Your passcode is 482913.\n"


def test_compose_adds_the_html_alternative_after_the_text() -> None:
    message = compose(
        to="alex.rivera@example.com",
        subject="Code",
        text="Code 482913",
        html="<p>Code <b>482913</b></p>",
        sender=SENDER,
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    plain = message.get_body(preferencelist=("plain",))
    assert isinstance(plain, EmailMessage) and plain.get_content().strip() == "Code 482913"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Your passcode\nBcc: thief@evil.example"),
        ("subject", "Your passcode\r\nBcc: thief@evil.example"),
        ("subject", "Your passcode\rX: y"),
        ("to", "alex.rivera@example.com\nBcc: thief@evil.example"),
        ("sender", "no-reply@utility.example\r\nBcc: thief@evil.example"),
    ],
)
def test_compose_refuses_header_injection(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be one line"):
        _message(**{field: value})


@pytest.mark.parametrize("to", ["a@example.com, b@example.com", "not an address", "@example.com"])
def test_compose_wants_exactly_one_recipient_address(to: str) -> None:
    with pytest.raises(ValueError, match="to must be one e-mail address"):
        _message(to=to)


# -- SmtpNotifier against real SMTP servers ------------------------------------------------


def test_smtp_notifier_delivers_to_the_mail_sink(sink: MailSink) -> None:
    notifier = SmtpNotifier("127.0.0.1", sink.port, SENDER, starttls=False, timeout=5)
    notifier.send(_message(subject="Confirm your rate change"))
    [received] = sink.messages("alex.rivera@example.com")
    assert received.subject == "Confirm your rate change"
    assert received.text == "Your passcode is 482913.\n"
    assert received.sender == SENDER
    assert received.recipients == ("alex.rivera@example.com",)


def test_smtp_notifier_insists_on_starttls_by_default(sink: MailSink) -> None:
    """A relay that cannot encrypt gets no passcode (the sink offers no STARTTLS)."""
    notifier = SmtpNotifier("127.0.0.1", sink.port, SENDER, timeout=5)
    with pytest.raises(NotifierError, match=rf"127\.0\.0\.1:{sink.port}.*STARTTLS") as caught:
        notifier.send(_message())
    assert not caught.value.permanent
    assert sink.messages() == []


def test_smtp_notifier_reports_a_closed_port_at_once() -> None:
    port = _free_port()
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, starttls=False, timeout=5)
    started = time.monotonic()
    with pytest.raises(NotifierError, match=rf"cannot reach SMTP server 127\.0\.0\.1:{port}: "):
        notifier.send(_message())
    assert time.monotonic() - started < 2


def test_smtp_notifier_gives_up_on_a_silent_server_after_the_timeout() -> None:
    """The kernel accepts the connection (listen backlog) but no greeting ever comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        notifier = SmtpNotifier("127.0.0.1", port, SENDER, starttls=False, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(
            NotifierError, match=rf"127\.0\.0\.1:{port} did not answer within 0\.5 s"
        ):
            notifier.send(_message())
        assert time.monotonic() - started < 3


class _RefusingHandler:
    """Answers 550 for addresses at nowhere.example, 451 (try later) at busy.example."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@nowhere.example"):
            return "550 5.1.1 no such user"
        if address.endswith("@busy.example"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def refusing_server() -> Iterator[int]:
    controller = Controller(
        _RefusingHandler(), hostname="127.0.0.1", port=_free_port(), server_hostname="localhost"
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def test_a_refused_recipient_is_a_permanent_error(refusing_server: int) -> None:
    notifier = SmtpNotifier("127.0.0.1", refusing_server, SENDER, starttls=False, timeout=5)
    with pytest.raises(NotifierError, match="refused every recipient.*550 5.1.1") as caught:
        notifier.send(_message(to="ghost@nowhere.example"))
    assert caught.value.permanent


def test_a_temporary_refusal_is_retried(refusing_server: int) -> None:
    notifier = SmtpNotifier("127.0.0.1", refusing_server, SENDER, starttls=False, timeout=5)
    with pytest.raises(NotifierError, match="451 4.3.0") as caught:
        notifier.send(_message(to="alex@busy.example"))
    assert not caught.value.permanent


def test_a_partly_refused_message_is_not_sent_again(refusing_server: int) -> None:
    """Resending would give the accepted recipient a second copy."""
    message = _message()
    message.replace_header("To", "alex.rivera@example.com, ghost@nowhere.example")
    notifier = SmtpNotifier("127.0.0.1", refusing_server, SENDER, starttls=False, timeout=5)
    with pytest.raises(NotifierError, match="refused some recipients: ghost@") as caught:
        notifier.send(message)
    assert caught.value.permanent


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"starttls": True, "ssl": True}, "exclude each other"),
        ({"sender": ""}, "needs a sender"),
        ({"timeout": 0}, "positive number of seconds"),
    ],
)
def test_smtp_notifier_refuses_a_contradictory_setup(
    arguments: dict[str, Any], message: str
) -> None:
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": 25, "sender": SENDER}
    settings.update(arguments)
    with pytest.raises(ValueError, match=message):
        SmtpNotifier(**settings)


# -- notifier_for: configuration picks the notifier ----------------------------------------


def _app(**config: Any) -> Flask:
    app = Flask("notify_test")
    app.config.update(config)
    return app


def test_without_smtp_the_log_notifier_is_used_and_cached() -> None:
    app = _app(UTILITY_NAME="Demo Utility")
    notifier = notifier_for(app)
    assert isinstance(notifier, LogNotifier)
    assert notifier_for(app) is notifier
    assert app.extensions["espi_sst_notifier"] is notifier
    assert mail_from(app) == "Demo Utility <no-reply@localhost>"


def test_the_log_notifier_logs_each_message_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _app()
    notifier = notifier_for(app)
    caplog.set_level(logging.INFO, logger=app.logger.name)
    notifier.send(_message(text="Your passcode is 111222.\n"))
    notifier.send(_message(text="Your passcode is 333444.\n"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "NOT delivered" in warnings[0].getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert "111222" in logged and "333444" in logged and "alex.rivera@example.com" in logged


def test_smtp_host_selects_the_smtp_notifier_with_its_settings() -> None:
    app = _app(
        SMTP_HOST="smtp.utility.example",
        SMTP_PORT=465,
        SMTP_SSL=True,
        SMTP_STARTTLS=True,  # the default; implicit TLS makes it moot
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="s3cret",
        SMTP_TIMEOUT=7,
        MAIL_FROM=SENDER,
    )
    notifier = notifier_for(app)
    assert notifier == SmtpNotifier(
        "smtp.utility.example", 465, SENDER, "mailer", "s3cret", False, True, 7.0
    )
    assert "s3cret" not in repr(notifier)


def test_smtp_host_without_mail_from_is_refused() -> None:
    with pytest.raises(ValueError, match="MAIL_FROM must be set when SMTP_HOST is"):
        notifier_for(_app(SMTP_HOST="smtp.utility.example"))


def test_a_string_flag_is_refused_rather_than_read_as_true() -> None:
    app = _app(SMTP_HOST="smtp.utility.example", MAIL_FROM=SENDER, SMTP_STARTTLS="false")
    with pytest.raises(ValueError, match="SMTP_STARTTLS must be true or false"):
        notifier_for(app)


class _Collecting:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def test_notifier_names_a_factory_by_module_and_attribute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "utility_mail_api.py").write_text(
        "class ApiNotifier:\n"
        "    def __init__(self, app):\n"
        "        self.app = app\n"
        "    def send(self, message):\n"
        "        pass\n"
        "def factory(app):\n"
        "    return ApiNotifier(app)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = _app(NOTIFIER="utility_mail_api:factory", SMTP_HOST="ignored.example")
    notifier = notifier_for(app)
    assert type(notifier).__name__ == "ApiNotifier" and isinstance(notifier, Notifier)
    assert vars(notifier)["app"] is app


def test_notifier_may_be_the_factory_itself() -> None:
    collecting = _Collecting()
    notifier = notifier_for(_app(NOTIFIER=lambda app: collecting))
    notifier.send(_message())
    assert collecting.sent and collecting.sent[0]["Subject"] == "Your passcode"


def test_a_factory_must_return_a_notifier() -> None:
    with pytest.raises(TypeError, match="has no send"):
        notifier_for(_app(NOTIFIER=lambda app: object()))


def test_the_configured_app_sends_through_smtp_end_to_end(tmp_path: Path, sink: MailSink) -> None:
    """create_app's defaults + ESPI-style settings reach the sink over real SMTP."""
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/notify.db",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": sink.port,
            "SMTP_STARTTLS": False,
            "MAIL_FROM": SENDER,
        }
    )
    try:
        notifier = notifier_for(app)
        assert isinstance(notifier, SmtpNotifier)
        notifier.send(_message(to="blake.chen@example.com", sender=mail_from(app)))
        [received] = sink.messages("Blake.Chen@example.com")
        assert "482913" in received.text
    finally:
        app.extensions["espi_sst_db"].engine.dispose()


def test_create_app_defaults_to_the_log_notifier(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/notify.db"})
    try:
        assert isinstance(notifier_for(app), LogNotifier)
    finally:
        app.extensions["espi_sst_db"].engine.dispose()
