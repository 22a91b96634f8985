"""The demo's mail sink: a real SMTP server on loopback that files every message in a Maildir.

The demo utility sends one-time passcodes by e-mail like a real one would (server/outbox/mail.py,
real SMTP through smtplib); instead of the internet, the mail lands here, in aiosmtpd's
``Mailbox`` handler (a stdlib ``mailbox.Maildir``), and the demo's inbox page
(server/demo/inbox.py) shows it.  Maildir because delivery writes to ``tmp/`` and renames
into ``new/``: the web process can read while the SMTP thread writes, without locks.

The sink listens on loopback only: it accepts mail from anyone who can connect, so it must
never be reachable from another host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

__all__ = ["InboxMessage", "MailSink", "read_maildir"]


@dataclass(frozen=True)
class InboxMessage:
    """One delivered message, decoded for display.

    Attributes:
        sender: the From header.
        to: the To header, as written by the sender.
        subject: the Subject header ("" when absent).
        date: the Date header, or the delivery time when the header is missing or bad.
        text: the plain-text body (the HTML part's source when there is no plain part).
        recipients: the envelope recipients (RCPT TO), lower-cased: who actually got it.
        message_id: the Message-ID header ("" when absent).
        delivered: when the sink filed it (epoch seconds); orders the inbox.
    """

    sender: str
    to: str
    subject: str
    date: datetime
    text: str
    recipients: tuple[str, ...]
    message_id: str
    delivered: float


class _Controller(Controller):
    """aiosmtpd's threaded Controller, able to listen on port 0.

    aiosmtpd 1.4 binds port 0 fine but then connects to port 0 to wake the server up
    (``_trigger_server``), which fails.  Reading the bound port first lets the kernel pick a
    free one, with none of the race of probing for a free port and binding it later.
    """

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailSink:
    """A loopback SMTP server that files every message it accepts in ``maildir``.

    Use as a context manager, or ``start()`` / ``stop()``.  ``port=0`` lets the system choose;
    ``.port`` is the real port once started.
    """

    def __init__(self, maildir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"the mail sink accepts mail from anyone who connects: listen on loopback "
                f"(127.0.0.1, ::1 or localhost), not {host!r}"
            )
        self.maildir = Path(maildir)
        # "localhost" may name both ::1 and 127.0.0.1, and port 0 would then give two ports.
        self.host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        """The listening port (the one the system chose when 0 was asked)."""
        return self._controller.port if self._controller is not None else self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> MailSink:
        """Starts listening (on a thread of its own); returns self once mail is accepted."""
        if self._controller is not None:
            raise RuntimeError("the mail sink is already running")
        # mailbox.Maildir creates tmp/new/cur only for a folder that does not exist yet.
        for folder in ("tmp", "new", "cur"):
            (self.maildir / folder).mkdir(parents=True, exist_ok=True)
        controller = _Controller(
            Mailbox(self.maildir),
            hostname=self.host,
            port=self._port,
            # The SMTP greeting's name; without it aiosmtpd asks DNS for this host's name.
            server_hostname="localhost",
        )
        controller.start()
        self._controller = controller
        self._port = controller.port
        return self

    def stop(self) -> None:
        """Stops listening; delivered mail stays in the Maildir."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self, to: str | None = None) -> list[InboxMessage]:
        """The messages delivered so far (to ``to`` only, when given), newest first."""
        return read_maildir(self.maildir, to)


def read_maildir(maildir: Path, to: str | None = None) -> list[InboxMessage]:
    """Every message in ``maildir`` (for recipient ``to``, case-insensitive), newest first.

    A missing Maildir is an empty inbox (nothing was sent yet), so the reader never
    creates one.
    """
    try:
        box = mailbox.Maildir(maildir, factory=None, create=False)
        keys = box.keys()
    except (mailbox.NoSuchMailboxError, FileNotFoundError):
        return []
    wanted = to.strip().lower() if to else None
    found: list[InboxMessage] = []
    for key in keys:
        try:
            delivered = box.get_message(key).get_date()
            raw = box.get_bytes(key)
        except (KeyError, FileNotFoundError):  # removed while we read
            continue
        message = _decode(raw, delivered)
        if wanted is None or wanted in message.recipients:
            found.append(message)
    found.sort(key=lambda m: (m.delivered, m.date), reverse=True)
    return found


def _decode(raw: bytes, delivered: float) -> InboxMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    envelope = [a for _, a in getaddresses([str(parsed.get("X-RcptTo", ""))]) if a]
    written = [a for _, a in getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", [])) if a]
    recipients = tuple(dict.fromkeys(a.lower() for a in (envelope or written)))
    return InboxMessage(
        sender=str(parsed.get("From", "")),
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        date=_date(parsed, delivered),
        text=_text(parsed),
        recipients=recipients,
        message_id=str(parsed.get("Message-ID", "")),
        delivered=delivered,
    )


def _date(message: EmailMessage, delivered: float) -> datetime:
    header = message.get("Date")
    if header:
        try:
            parsed = parsedate_to_datetime(str(header))
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(delivered, UTC)


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, ValueError):  # unknown charset or broken transfer encoding
        payload = body.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
