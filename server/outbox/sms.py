"""Customer text messages: the second channel for rate-change passcodes (concept design 7.6,
Class 2 authentication).

Customers without e-mail, or who prefer it, have their one-time passcode sent by SMS to the
phone number they gave in the portal (``/portal/contact``).  The utility plugs in its own
SMS gateway through :class:`SmsSender` -- one method, ``send(to, body, idempotency_key)`` --
like it plugs its mail transport into server/outbox/mail.py.  The outbox worker calls it
(server/outbox/queue.py): a message survives restarts, is retried with backoff on an
:class:`SmsError` that a retry may cure, and carries the same idempotency key on every
attempt, so a gateway that keeps keys sends it once.

Configuration (server/config.py): ``SMS_SENDER`` names a custom ``factory(app)``; otherwise
``SMS_URL`` selects :class:`HttpSmsSender` (a generic JSON API with a bearer token);
otherwise :class:`LogSmsSender` (development: nothing is sent, and the body is not logged).

Phone numbers are E.164 (ITU-T E.164: ``+``, country code, subscriber number, at most 15
digits): :func:`e164` is the one place a typed number is checked and normalised.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import requests
from flask import Flask

from ..config import load_named
from ..errors import DeliveryError

__all__ = [
    "HttpSmsSender",
    "LogSmsSender",
    "SmsError",
    "SmsSender",
    "e164",
    "sms_sender_for",
]

EXTENSION_KEY = "espi_sst_sms_sender"

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SEPARATORS = re.compile(r"[\s().\-]")


def e164(typed: str) -> str:
    """``typed`` as an E.164 number (``+14155550123``), or ValueError saying how to write it.

    Spaces, dots, dashes and brackets are the ways people group digits; they are dropped.
    Anything else -- no leading ``+`` (a national number: which country?), letters, more
    than 15 digits (E.164 section 6.2.1) -- is refused rather than guessed at.
    """
    compact = _SEPARATORS.sub("", typed.strip())
    if not compact:
        raise ValueError("enter a mobile phone number, e.g. +1 415 555 0123")
    if not compact.startswith("+"):
        raise ValueError(
            "start the number with + and the country code (E.164), e.g. +1 415 555 0123"
        )
    if not _E164.fullmatch(compact):
        raise ValueError(
            "a phone number is + then 7 to 15 digits, the first not 0 (E.164), e.g. +1 415 555 0123"
        )
    return compact


class SmsError(DeliveryError, RuntimeError):
    """A text message was not handed to the gateway; the message says where and why.

    Attributes:
        permanent: the gateway refused this message itself (a 4xx other than 408 / 429,
            RFC 9110 15.5), so sending it again unchanged cannot succeed.  False for what a
            retry may cure: unreachable, timeout, 5xx, 408, 429.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class SmsSender(Protocol):
    """Hands one text message to the utility's SMS gateway, or raises :class:`SmsError`.

    ``idempotency_key`` is the same on every attempt of one message: a gateway that keeps
    keys drops a repeat (the outbox delivers at least once).
    """

    def send(self, to: str, body: str, idempotency_key: str) -> None: ...


_RETRYABLE_4XX = {408, 425, 429}


@dataclass
class HttpSmsSender:
    """A generic SMS HTTP API: ``POST url`` with ``{"to": ..., "body": ...}`` as JSON.

    The request carries ``Authorization: Bearer <token>`` (RFC 6750 2.1) and the message's
    ``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header).  Any 2xx is success.
    Redirects are not followed (a gateway that moved is a configuration error, and a
    redirect would carry the token elsewhere).  ``timeout`` bounds the connect and the
    answer, so a dead gateway costs the outbox one retry, never a hung worker.  The error
    messages name the URL and status, never the body (it holds the passcode).
    """

    url: str
    token: str = field(repr=False, default="")
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"SMS_URL must be an http(s) URL, got {self.url!r}")
        if self.timeout <= 0:
            raise ValueError("SMS_TIMEOUT must be a positive number of seconds")

    def send(self, to: str, body: str, idempotency_key: str) -> None:
        headers = {"Idempotency-Key": idempotency_key, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.post(
                self.url,
                json={"to": to, "body": body},
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as error:
            raise SmsError(
                f"SMS gateway {self.url} did not answer within {self.timeout:g} s"
            ) from error
        except requests.RequestException as error:
            raise SmsError(
                f"cannot reach SMS gateway {self.url}: {type(error).__name__}"
            ) from error
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise SmsError(
                f"SMS gateway {self.url} answered HTTP {status} (redirects are not followed): "
                "check SMS_URL",
                permanent=True,
            )
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise SmsError(
                f"SMS gateway {self.url} refused the message: HTTP {status}", permanent=True
            )
        raise SmsError(f"SMS gateway {self.url} answered HTTP {status}")


class LogSmsSender:
    """No SMS gateway configured: nothing is sent, and the log says so -- without the body.

    Unlike the mail log fallback, the text is not logged even at INFO: a passcode never
    lands in a log (issue 13).  For development only; ``espi-sst check-config`` refuses it
    where the issuer is https.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._warned = False
        self._lock = threading.Lock()

    def send(self, to: str, body: str, idempotency_key: str) -> None:
        with self._lock:
            if not self._warned:
                self._warned = True
                self.logger.warning(
                    "SMS_URL is not set: text messages are NOT delivered (development only; "
                    "set SMS_URL or SMS_SENDER to send them)"
                )
        self.logger.info(
            "text message %s not sent (no SMS_URL) to %s (%d characters, body withheld)",
            idempotency_key,
            to,
            len(body),
        )


def sms_sender_for(app: Flask) -> SmsSender:
    """The app's SmsSender, built once from configuration and kept in ``app.extensions``.

    ``SMS_SENDER`` ("module:attribute", or the callable itself) names a ``factory(app)``
    returning an SmsSender; else ``SMS_URL`` selects :class:`HttpSmsSender` (with
    ``SMS_TOKEN`` and ``SMS_TIMEOUT``); else :class:`LogSmsSender`.
    """
    cached = app.extensions.get(EXTENSION_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    sender = _build(app)
    app.extensions[EXTENSION_KEY] = sender
    return sender


def _build(app: Flask) -> SmsSender:
    config = app.config
    setting = config.get("SMS_SENDER")
    if setting:
        factory = _factory(setting)
        sender = factory(app)
        if not isinstance(sender, SmsSender):
            raise TypeError(
                f"SMS_SENDER {setting!r} returned {sender!r}, which has no "
                "send(to, body, idempotency_key)"
            )
        return sender
    if config.get("SMS_URL"):
        return HttpSmsSender(
            str(config["SMS_URL"]),
            str(config.get("SMS_TOKEN") or ""),
            float(config.get("SMS_TIMEOUT") or 10.0),
        )
    return LogSmsSender(app.logger)


def _factory(setting: object) -> Callable[[Flask], object]:
    found = load_named(setting, "SMS_SENDER")
    if not callable(found):
        raise TypeError(f"SMS_SENDER {setting!r} is not a factory(app) -> SmsSender")
    return found
