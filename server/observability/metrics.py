"""Prometheus metrics: the instruments every layer counts with, and their exposition.

Why here, low in the layers: the OAuth server counts tokens, the limits count refusals, the
bolt-on times its upstream calls, and none of them may import the HTTP layer that serves
``/metrics`` (``server/ops/metrics_endpoint.py``).  This module imports only
``prometheus_client`` and Flask's request hooks.

Multiprocess mode.  Under gunicorn each worker is a process with its own counters; with
``PROMETHEUS_MULTIPROC_DIR`` set (before the first import of ``prometheus_client``: it picks
its value class at import time) every process writes its values to memory-mapped files in
that directory, and a scrape of any worker sums them all (``MultiProcessCollector``).  A
worker that exits must be marked dead (gunicorn's ``child_exit`` hook,
``espi_sst_server.gunicorn_conf``), and the directory emptied before the server starts.
Without the variable (``espi-sst serve``, the demo, tests) the counters are this process's.

Label cardinality is bounded on purpose: requests are labelled with the Flask *endpoint*
name (``oauth.token``), never the raw path (which carries ids: one series per customer
would exhaust Prometheus), and unrouted paths share ``<unmatched>``.

Names follow the Prometheus conventions (``_total`` counters, ``_seconds`` durations,
base units); docs/operations.md, "Metrics", says what each one means.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

PREFIX = "espi_sst"
UNMATCHED = "<unmatched>"
"""The endpoint label of requests no route matched (404s, scans): one series, not one a path."""

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests_total",
    "HTTP requests answered, by Flask endpoint, method and status code.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time from the request's first hook to its response (a streamed body's writing excluded).",
    ["endpoint", "method"],
    buckets=_LATENCY_BUCKETS,
)
TOKENS_ISSUED = Counter(
    f"{PREFIX}_tokens_issued_total",
    "Access tokens issued at the token endpoint, by OAuth grant type (RFC 6749 section 4).",
    ["grant_type"],
)


@functools.cache
def tokens_refreshed() -> Counter:
    """Refresh tokens exchanged.  Made on first use, not at import: a counter without labels
    writes its multiprocess file when made, and gunicorn's master imports this package (for
    ``gunicorn_conf``) before ``on_starting`` has checked and emptied the directory."""
    return Counter(
        f"{PREFIX}_tokens_refreshed_total",
        "Refresh tokens exchanged (rotated) for new tokens (RFC 6749 section 6).",
    )


TOKENS_REVOKED = Counter(
    f"{PREFIX}_tokens_revoked_total",
    "Tokens revoked at the revocation endpoint (RFC 7009), by the kind of token presented.",
    ["token_type"],
)
RATE_LIMIT_REJECTIONS = Counter(
    f"{PREFIX}_rate_limit_rejections_total",
    "Requests refused 429 by a rate limit, by the limit's setting (server/limits).",
    ["limit"],
)
UPSTREAM_LATENCY = Histogram(
    f"{PREFIX}_upstream_request_duration_seconds",
    "Bolt-on mode: time of each call to the existing custodian (retries included).",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    f"{PREFIX}_upstream_errors_total",
    "Bolt-on mode: calls to the existing custodian that failed, by operation and error.",
    ["operation", "error"],
)

_START = "espi_sst.metrics.start"


def multiprocess_directory() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_client``'s own variable), or None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def count_rate_limit_rejection(limit: str) -> None:
    """One request refused 429 by ``limit`` (a setting name such as ``TOKEN_RATE_LIMIT``)."""
    RATE_LIMIT_REJECTIONS.labels(limit=limit or "unnamed").inc()


def count_token_issued(grant_type: str) -> None:
    """A token response was committed: ``grant_type`` as the client sent it."""
    TOKENS_ISSUED.labels(grant_type=grant_type).inc()
    if grant_type == "refresh_token":
        tokens_refreshed().inc()


def count_token_revoked(token_type: str) -> None:
    """A revocation was committed (``access_token`` or ``refresh_token``)."""
    TOKENS_REVOKED.labels(token_type=token_type).inc()


def observe_upstream(operation: str, seconds: float, error: str | None = None) -> None:
    """One call to the upstream custodian took ``seconds``; ``error`` names a failure."""
    UPSTREAM_LATENCY.labels(operation=operation).observe(seconds)
    if error is not None:
        UPSTREAM_ERRORS.labels(operation=operation, error=error).inc()


def _start() -> None:
    request.environ[_START] = time.perf_counter()


def _record(response: Response) -> Response:
    if getattr(g, "_espi_sst_metrics_recorded", False):
        return response
    g._espi_sst_metrics_recorded = True
    endpoint = request.endpoint or UNMATCHED
    HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    started = request.environ.get(_START)
    if started is not None:
        HTTP_LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - started)
    return response


def instrument(app: Flask) -> None:
    """Count and time every request of ``app``.

    The start hook runs before every other ``before_request`` hook (the edge checks may answer
    without a view); the record hook is ``after_request``, which also sees the answers of
    error handlers -- every error of this server is answered by ``errors/wire.py``.
    """
    tokens_refreshed()  # every instrument exists from the app's start (0 until counted)
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_record)


def exposition(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition (body, content type) of every process's instruments and ``extra``
    (collectors computed at scrape time, such as the database gauges)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_directory():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    scraped = CollectorRegistry(auto_describe=False)
    for collector in extra:
        scraped.register(collector)
    return body + generate_latest(scraped), CONTENT_TYPE_LATEST


__all__ = [
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "RATE_LIMIT_REJECTIONS",
    "TOKENS_ISSUED",
    "TOKENS_REVOKED",
    "UNMATCHED",
    "UPSTREAM_ERRORS",
    "UPSTREAM_LATENCY",
    "count_rate_limit_rejection",
    "count_token_issued",
    "count_token_revoked",
    "exposition",
    "instrument",
    "multiprocess_directory",
    "observe_upstream",
    "tokens_refreshed",
]
