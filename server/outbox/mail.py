"""Customer notifications by e-mail: the utility's own channel for one-time passcodes.

A rate change needs the customer's consent, proven with a one-time passcode that the
utility sends through a channel it already trusts (the customer's e-mail on file), not
through the ASP that asked.  The outbox worker composes each message with :func:`compose`
and hands it to the app's :class:`Notifier` (:func:`notifier_for`); a :class:`NotifierError`
tells the worker to retry later, unless ``permanent`` says the server refused the message
itself (5xx, RFC 5321 section 4.2.1).

Configuration (server/config.py): ``NOTIFIER`` names a custom factory; otherwise
``SMTP_HOST`` selects :class:`SmtpNotifier`; otherwise :class:`LogNotifier` (development).
"""

from __future__ import annotations

import logging
import smtplib
import ssl as ssl_module
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from typing import Protocol, runtime_checkable

from flask import Flask

from ..config import load_named
from ..errors import DeliveryError

__all__ = [
    "LogNotifier",
    "Notifier",
    "NotifierError",
    "SmtpNotifier",
    "compose",
    "mail_from",
    "notifier_for",
]

EXTENSION_KEY = "espi_sst_notifier"


class NotifierError(DeliveryError, RuntimeError):
    """A message was not delivered; the message says where and why.

    Attributes:
        permanent: the server refused this message with a 5xx reply (RFC 5321 4.2.1), so
            sending it again unchanged cannot succeed.  False for everything a retry may
            cure: unreachable server, timeout, 4xx, TLS or login trouble.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class Notifier(Protocol):
    """Delivers one composed message, or raises :class:`NotifierError`."""

    def send(self, message: EmailMessage) -> None: ...


def compose(
    *, to: str, subject: str, text: str, sender: str, html: str | None = None
) -> EmailMessage:
    """A plain-text message (with an optional HTML alternative) ready for a Notifier.

    The subject and addresses may come from customer records, so a CR or LF in them is
    refused: it would let a value add headers of its own (header injection, e.g. a Bcc).
    The Message-ID uses the sender's domain: ``make_msgid()`` alone asks DNS for this
    host's name, which can stall for seconds where DNS is broken.

    Raises:
        ValueError: a newline in ``to``, ``subject`` or ``sender``, or an address that is
            not a single ``local@domain``.
    """
    for name, value in (("to", to), ("subject", subject), ("sender", sender)):
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"{name} must be one line: a newline would inject mail headers")
    _single_address("to", to)
    from_address = _single_address("sender", sender)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=from_address.domain or "localhost")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _single_address(name: str, value: str) -> Address:
    """The one address in a header value, or ValueError naming the argument."""
    found = getaddresses([value])
    if len(found) != 1 or "@" not in found[0][1]:
        raise ValueError(f"{name} must be one e-mail address (local@domain), got {value!r}")
    display_name, address = found[0]
    username, _, domain = address.rpartition("@")
    if not username or not domain:
        raise ValueError(f"{name} must be one e-mail address (local@domain), got {value!r}")
    return Address(display_name=display_name, username=username, domain=domain)


@dataclass
class SmtpNotifier:
    """Sends through an SMTP relay (the utility's mail server or a provider's).

    One connection per message: OTP mail is rare, and a fresh connection cannot be left
    half-broken by the previous one.  ``timeout`` bounds every socket operation, so a dead
    server costs a NotifierError after ``timeout`` seconds, never a hung outbox worker.

    Args:
        host, port: the relay; 587 with ``starttls`` (RFC 6409), 465 with ``ssl`` (RFC 8314).
        sender: the envelope sender (MAIL FROM, where bounces go).
        username, password: SMTP AUTH credentials, when the relay wants them.
        starttls: upgrade the connection before AUTH and DATA (certificate verified).
        ssl: implicit TLS from the first byte (port 465); exclusive with ``starttls``.
        timeout: seconds for connecting and for each reply.
    """

    host: str
    port: int = 587
    sender: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.starttls and self.ssl:
            raise ValueError(
                "SMTP_STARTTLS and SMTP_SSL exclude each other: port 587 uses STARTTLS, 465 SSL"
            )
        if not self.sender:
            raise ValueError("an SMTP notifier needs a sender address (MAIL_FROM)")
        if self.timeout <= 0:
            raise ValueError("SMTP_TIMEOUT must be a positive number of seconds")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, message: EmailMessage) -> None:
        """Delivers ``message`` to the relay; NotifierError says why it could not."""
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl_module.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(message, from_addr=self.sender)
        except smtplib.SMTPRecipientsRefused as error:
            raise NotifierError(
                f"SMTP server {self.where} refused every recipient: {_refusals(error.recipients)}",
                permanent=all(code >= 500 for code, _ in error.recipients.values()),
            ) from error
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            reply = f"{error.smtp_code} {_text(error.smtp_error)}"
            raise NotifierError(
                f"SMTP server {self.where} refused the message: {reply}",
                permanent=error.smtp_code >= 500,
            ) from error
        except smtplib.SMTPResponseException as error:
            raise NotifierError(
                f"SMTP server {self.where} replied {error.smtp_code} {_text(error.smtp_error)}"
            ) from error
        except smtplib.SMTPException as error:
            # smtplib reports a reply that timed out as a disconnection; say what happened.
            if isinstance(error.__context__, TimeoutError):
                raise NotifierError(self._timed_out()) from error
            raise NotifierError(f"SMTP with {self.where} failed: {error}") from error
        except TimeoutError as error:
            raise NotifierError(self._timed_out()) from error
        except OSError as error:  # refused, unreachable, DNS, TLS handshake
            reason = error.strerror or str(error) or type(error).__name__
            raise NotifierError(f"cannot reach SMTP server {self.where}: {reason}") from error
        if refused:
            # Others were accepted: resending would duplicate their copy, hence permanent.
            raise NotifierError(
                f"SMTP server {self.where} refused some recipients: {_refusals(refused)}",
                permanent=True,
            )

    def _timed_out(self) -> str:
        return f"SMTP server {self.where} did not answer within {self.timeout:g} s"

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=ssl_module.create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt} ({code} {_text(reply)})" for rcpt, (code, reply) in refused.items())


class LogNotifier:
    """No SMTP configured: each message goes to the log at INFO level instead of a mailbox.

    For development only: a passcode in a log is readable by whoever reads the logs, and
    nobody receives it.  The first message logs a WARNING saying so, once per notifier,
    so a deployment that forgot ``SMTP_HOST`` is visible in its logs.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._warned = False
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            if not self._warned:
                self._warned = True
                self.logger.warning(
                    "SMTP_HOST is not set: e-mail is NOT delivered, only logged at INFO level "
                    "(development only; set SMTP_HOST or NOTIFIER to send mail)"
                )
        self.logger.info(
            "e-mail not sent (no SMTP_HOST) to %s, subject %r:\n%s",
            message.get("To", ""),
            message.get("Subject", ""),
            _readable_body(message),
        )


def _readable_body(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    return body.get_content() if isinstance(body, EmailMessage) else ""


def mail_from(app: Flask) -> str:
    """The From address for customer mail: ``MAIL_FROM``, else a development placeholder.

    The placeholder (``UTILITY_NAME <no-reply@localhost>``) is only accepted while no mail
    leaves the process; with ``SMTP_HOST`` set, a real sender is required (a made-up one
    fails SPF/DMARC at the customer's provider and the passcode never arrives).
    """
    configured = app.config.get("MAIL_FROM")
    if configured:
        return str(configured)
    if app.config.get("SMTP_HOST"):
        raise ValueError("MAIL_FROM must be set when SMTP_HOST is: the utility's sender address")
    return formataddr((str(app.config.get("UTILITY_NAME") or "espi-sst"), "no-reply@localhost"))


def notifier_for(app: Flask) -> Notifier:
    """The app's Notifier, built once from configuration and kept in ``app.extensions``.

    ``NOTIFIER`` ("module:attribute", or the callable itself) names a ``factory(app)``
    returning a Notifier, for utilities whose mail goes through an API or a queue; else
    ``SMTP_HOST`` selects :class:`SmtpNotifier`; else :class:`LogNotifier`.
    """
    cached = app.extensions.get(EXTENSION_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    notifier = _build(app)
    app.extensions[EXTENSION_KEY] = notifier
    return notifier


def _build(app: Flask) -> Notifier:
    config = app.config
    setting = config.get("NOTIFIER")
    if setting:
        factory = _factory(setting)
        notifier = factory(app)
        if not isinstance(notifier, Notifier):
            raise TypeError(
                f"NOTIFIER {setting!r} returned {notifier!r}, which has no send(message)"
            )
        return notifier
    if config.get("SMTP_HOST"):
        return SmtpNotifier(
            str(config["SMTP_HOST"]),
            int(config.get("SMTP_PORT") or 587),
            mail_from(app),
            config.get("SMTP_USERNAME") or None,
            config.get("SMTP_PASSWORD") or None,
            # Implicit TLS (465) makes STARTTLS moot: SMTP_SSL alone is enough to ask for it.
            _flag(config, "SMTP_STARTTLS", True) and not _flag(config, "SMTP_SSL", False),
            _flag(config, "SMTP_SSL", False),
            float(config.get("SMTP_TIMEOUT") or 10.0),
        )
    return LogNotifier(app.logger)


def _factory(setting: object) -> Callable[[Flask], object]:
    found = load_named(setting, "NOTIFIER")
    if not callable(found):
        raise TypeError(f"NOTIFIER {setting!r} is not a factory(app) -> Notifier")
    return found


def _flag(config: dict[str, object], key: str, default: bool) -> bool:
    """A boolean setting; ``ESPI_SMTP_SSL=false`` arrives as JSON False, "false" is refused."""
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value
