"""The one retry policy of every HTTP call espi-sst makes, on ``requests``.

Used by the ASP client (:mod:`espi_sst.client`), the MIDAS client (:mod:`espi_sst.midas`)
and, in the server, by the bolt-on's calls to the upstream custodian and the
rate-analysis API adapter.  Each caller picks the numbers (:class:`RetryPolicy`) and maps
the outcome (:class:`Attempts`) to its own errors; the rules are the same for all:

* a call is tried at most ``1 + retries`` times;
* what may pass is retried: a connection failure, a timeout or a body cut short
  (``requests.ConnectionError``, ``Timeout``, ``ChunkedEncodingError``), and an answer
  whose status is in ``statuses`` (by default 429, 500, 502, 503, 504).  Any other
  ``requests`` error (an invalid URL, too many redirects ...) would fail the same way
  again: it is raised to the caller at once;
* only an idempotent request is retried after such a failure (RFC 9110 9.2.2: a GET, or a
  POST made safe by an ``Idempotency-Key``; the caller says which), since the server may
  have acted on it.  A 429 is retried whatever the method: the server refused the request
  without acting on it (RFC 6585 section 4);
* the pause before a retry is the answer's ``Retry-After`` (seconds or an HTTP date,
  RFC 9110 10.2.3) when the policy honours it, else ``backoff`` doubling at each retry,
  never more than ``max_backoff``;
* the pauses of one call add up to at most ``max_wait`` seconds: a pause that would go
  past it ends the retries at once, and the caller reports the ``Retry-After`` it got.

Why not urllib3's ``Retry`` on the session: it works below ``requests``, where the
callers' rules cannot be seen -- the ASP client refreshes the access token between
attempts and decides per request whether a POST is idempotent, MIDAS must not change a
session its caller owns, a ``Retry-After`` beyond the budget must end the retries rather
than be shortened, and the kind of the last failure (a timeout is a 504 for the bolt-on)
would reach the caller as a generic ``ConnectionError``.

``requests`` (the ``client`` extra) is imported when a call is made, not with this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

__all__ = ["RETRY_STATUSES", "Attempts", "RetryPolicy", "retry_after_seconds", "send_with_retries"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers that may pass: too many requests, and a server failing or overloaded."""
TOO_MANY_REQUESTS = 429


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of call is retried (see the module docstring for the rules).

    Attributes:
        retries: retries after the first attempt.
        backoff: seconds before the first retry when the answer names no ``Retry-After``;
            doubled at each retry after.
        max_backoff: the longest such pause.
        max_wait: the most seconds one call pauses in all.
        statuses: the HTTP statuses worth asking again.
        honour_retry_after: pause as the answer's ``Retry-After`` says (else ``backoff``).
    """

    retries: int = 2
    backoff: float = 0.5
    max_backoff: float = math.inf
    max_wait: float = math.inf
    statuses: frozenset[int] = RETRY_STATUSES
    honour_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_backoff < 0 or self.max_wait < 0:
            raise ValueError("retries, backoff, max_backoff and max_wait must be >= 0")

    def pause(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (1, 2 ...)."""
        if retry_after is not None and self.honour_retry_after:
            return retry_after
        return float(min(self.backoff * 2 ** (retry - 1), self.max_backoff))


@dataclass(frozen=True)
class Attempts:
    """How a call ended: its last answer, or the failure that left it without one.

    Attributes:
        response: the last answer (any status), None when the last attempt failed.
        failure: why the last attempt got no answer (a connection error, a timeout ...).
        attempts: how many times the request was sent.
        retry_after: the last answer's ``Retry-After`` in seconds, None without one.
    """

    response: requests.Response | None
    failure: requests.RequestException | None
    attempts: int
    retry_after: float | None = None


def send_with_retries(
    send: Callable[[], requests.Response], policy: RetryPolicy, *, idempotent: bool = True
) -> Attempts:
    """Call ``send`` (one HTTP request) until it gives a final answer or the policy ends.

    Args:
        send: makes the request once and returns the answer; its ``requests`` errors that
            may pass are caught here, anything else it raises goes to the caller.
        policy: the numbers.
        idempotent: whether the request may be repeated after a failure (a 429 always may).

    Returns:
        The last answer or failure; the caller turns a failure or an error status into its
        own error (``attempts`` and ``retry_after`` say what to report).
    """
    import requests

    transient = (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    )
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            response = send()
        except transient as failure:
            outcome = Attempts(None, failure, attempt)
        else:
            if response.status_code not in policy.statuses:
                return Attempts(response, None, attempt)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            outcome = Attempts(response, None, attempt, retry_after)
        may_repeat = idempotent or (
            outcome.response is not None and outcome.response.status_code == TOO_MANY_REQUESTS
        )
        if not may_repeat or attempt > policy.retries:
            return outcome
        pause = policy.pause(attempt, outcome.retry_after)
        if waited + pause > policy.max_wait:
            return outcome
        time.sleep(pause)
        waited += pause


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    None when the header is absent or unreadable; a date in the past is 0.
    """
    if header is None:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
