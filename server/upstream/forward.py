"""Forwarding a request to the existing custodian: pooled, time-bounded, retried, mapped.

One ``requests.Session`` per app (connection pooling; ``app.extensions``).  GETs are
retried on connection failures, timeouts and 502/503/504 answers (``UPSTREAM_RETRIES``
times, backoff 0.2 s doubling up to 1 s; the library's one retry policy,
:mod:`espi_sst.retry`); nothing else is retried.  Failures become :class:`UpstreamError`
carrying the status to answer (502, 503, 504) and a ``Retry-After`` (the upstream's own
when it sent one).

One request may call the upstream several times (the forwarded GET with its retries, then
introspection, then a probe): all of them share one deadline, ``UPSTREAM_DEADLINE_SECONDS``
from the first call (per request, in ``flask.g``).  Each attempt's connect and read
timeouts are cut to what is left of it, no retry starts after it, and a call made past it
fails at once as a 504 ``upstream_timeout``.  So an upstream that is slow -- however its
slowness falls across attempts -- holds a worker for at most that long, less than nginx's
``proxy_read_timeout`` and gunicorn's ``--timeout`` (docs/deployment.md): the ASP gets this
server's JSON 504 with ``Retry-After``, never the gateway's page nor a killed worker
(seen while building the soak's bolt-on lane, issue 15: without it a GET retried three
times and then an introspection could take up to 72 s with the default timeouts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from flask import Flask, g, has_request_context
from requests.adapters import HTTPAdapter

from espi_sst.retry import RetryPolicy, send_with_retries

from ..errors import EspiServerError
from ..observability.metrics import observe_upstream

RETRYABLE = frozenset({502, 503, 504})
BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 1.0
_DEADLINE = "espi_sst_upstream_deadline"


class DeadlineSpent(EspiServerError):
    """``UPSTREAM_DEADLINE_SECONDS`` is over: no further attempt, no pause (not a transient
    failure the retry loop would wait out, so it ends the loop at once).  Caught in this
    module and answered as a 504 ``upstream_timeout`` (:class:`UpstreamError`)."""

    code = "upstream_timeout"
    status = 504


class UpstreamError(Exception):
    """The upstream could not answer usefully; ``status`` is what this server answers."""

    def __init__(self, status: int, error: str, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class UpstreamAnswer:
    status: int
    content_type: str
    body: bytes
    www_authenticate: str | None


def session_for(app: Flask) -> requests.Session:
    session: requests.Session | None = app.extensions.get("espi_sst_upstream_session")
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=4, pool_maxsize=int(app.config["UPSTREAM_POOL_SIZE"])
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        app.extensions["espi_sst_upstream_session"] = session
    return session


def deadline_seconds(app: Flask) -> float:
    """``UPSTREAM_DEADLINE_SECONDS``, checked (at start): a positive number of seconds."""
    seconds = float(app.config["UPSTREAM_DEADLINE_SECONDS"])
    if not seconds > 0:
        raise ValueError(
            f"UPSTREAM_DEADLINE_SECONDS is {seconds:g}; it must be more than 0 (and less than "
            "the gateway's proxy_read_timeout, 60 s: docs/deployment.md)"
        )
    return seconds


def _deadline(app: Flask) -> float:
    """The ``time.monotonic()`` by which this request's upstream calls must be done."""
    budget = float(app.config["UPSTREAM_DEADLINE_SECONDS"])
    if not has_request_context():  # a CLI or worker call: each call its own budget
        return time.monotonic() + budget
    deadline: float | None = g.get(_DEADLINE)
    if deadline is None:
        deadline = time.monotonic() + budget
        setattr(g, _DEADLINE, deadline)
    return deadline


def _timeouts(app: Flask, deadline: float) -> tuple[float, float]:
    """(connect, read) timeouts of the next attempt, cut to what is left of the deadline.

    Raises:
        DeadlineSpent: nothing is left (answered 504).
    """
    left = deadline - time.monotonic()
    if left <= 0.05:
        raise DeadlineSpent("the upstream deadline is spent")
    return (
        min(float(app.config["UPSTREAM_CONNECT_TIMEOUT"]), left),
        min(float(app.config["UPSTREAM_READ_TIMEOUT"]), left),
    )


@contextmanager
def _timed(operation: str) -> Iterator[None]:
    """Times one call to the upstream for the metrics; a failure is counted by its error."""
    started = time.perf_counter()
    try:
        yield
    except UpstreamError as exc:
        observe_upstream(operation, time.perf_counter() - started, exc.error)
        raise
    observe_upstream(operation, time.perf_counter() - started)


def get(
    app: Flask, url: str, *, bearer: str, params: dict[str, str] | None = None
) -> UpstreamAnswer:
    """GET ``url`` at the upstream with the ASP's bearer token (timed and counted in the
    metrics: ``espi_sst_upstream_*``, operation ``get``)."""
    with _timed("get"):
        return _get(app, url, bearer=bearer, params=params)


def _get(
    app: Flask, url: str, *, bearer: str, params: dict[str, str] | None = None
) -> UpstreamAnswer:
    deadline = _deadline(app)
    retry_after = int(app.config["UPSTREAM_RETRY_AFTER"])
    policy = RetryPolicy(
        retries=int(app.config["UPSTREAM_RETRIES"]),
        backoff=BACKOFF_SECONDS,
        max_backoff=MAX_BACKOFF_SECONDS,
        max_wait=max(0.0, deadline - time.monotonic()),  # no pause past the deadline
        statuses=RETRYABLE,
        honour_retry_after=False,  # the ASP is waiting: its client honours Retry-After
    )
    try:
        outcome = send_with_retries(
            lambda: session_for(app).get(
                url,
                params=params,
                headers={"Authorization": f"Bearer {bearer}", "Accept": "application/atom+xml"},
                timeout=_timeouts(app, deadline),
                allow_redirects=False,
            ),
            policy,
        )
    except requests.RequestException as exc:  # one that would fail again (an invalid URL)
        raise _unavailable(exc, retry_after) from None
    except DeadlineSpent:
        raise _unavailable(requests.Timeout(), retry_after) from None
    response = outcome.response
    if response is None:
        assert outcome.failure is not None
        raise _unavailable(outcome.failure, retry_after)
    if response.status_code in RETRYABLE:
        raise UpstreamError(
            503 if response.status_code == 503 else 502,
            "upstream_unavailable" if response.status_code == 503 else "bad_gateway",
            f"the utility's data custodian answered HTTP {response.status_code}",
            math.ceil(outcome.retry_after) if outcome.retry_after is not None else retry_after,
        )
    return UpstreamAnswer(
        response.status_code,
        response.headers.get("Content-Type", "application/octet-stream"),
        response.content,
        response.headers.get("WWW-Authenticate"),
    )


def _unavailable(failure: requests.RequestException, retry_after: int) -> UpstreamError:
    if isinstance(failure, requests.Timeout):
        return UpstreamError(
            504,
            "upstream_timeout",
            "the utility's data custodian did not answer in time",
            retry_after,
        )
    return UpstreamError(
        503,
        "upstream_unavailable",
        f"the utility's data custodian is unreachable ({type(failure).__name__})",
        retry_after,
    )


def post_form(
    app: Flask, url: str, *, data: dict[str, str], auth: tuple[str, str]
) -> requests.Response:
    """A form POST (introspection) with the same timeouts; errors as :class:`UpstreamError`
    (timed and counted in the metrics, operation ``post``)."""
    with _timed("post"):
        return _post_form(app, url, data=data, auth=auth)


def _post_form(
    app: Flask, url: str, *, data: dict[str, str], auth: tuple[str, str]
) -> requests.Response:
    retry_after = int(app.config["UPSTREAM_RETRY_AFTER"])
    try:
        timeout = _timeouts(app, _deadline(app))
        response = session_for(app).post(url, data=data, auth=auth, timeout=timeout)
    except (requests.Timeout, DeadlineSpent):
        raise UpstreamError(
            504, "upstream_timeout", "the authorization server did not answer in time", retry_after
        ) from None
    except requests.RequestException as exc:
        raise UpstreamError(
            503,
            "upstream_unavailable",
            f"the authorization server is unreachable ({type(exc).__name__})",
            retry_after,
        ) from None
    if response.status_code >= 500:
        raise UpstreamError(
            503,
            "upstream_unavailable",
            f"the authorization server answered HTTP {response.status_code}",
            retry_after,
        )
    return response
