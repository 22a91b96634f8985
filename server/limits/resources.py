"""Per-ASP limits on the resource API, counted after the bearer token is validated.

Why (issue 11, finding 24): the resource API had no limit at all -- 200 GETs in a burst
got 200 answers, and one Batch/Subscription feed costs about two seconds of a worker.  One
ASP (or one stolen token) could take every worker thread from the others, which the concept
design's NFRs forbid.

How: ``charge(client_id)`` is called by the token guard (``server/oauth/guard.py``;
``server/upstream/tokens.py`` in bolt-on mode) as soon as the token is known to be good,
before the scope checks and before any work: so a stranger, whose tokens are refused 401,
spends no ASP's budget, and an ASP's 403s count like its other requests.  Once per request
(``any_grant`` may ask the guard twice).

* ``RESOURCE_RATE_LIMIT`` -- every request of the ASP with a bearer token: the resource API
  and ``/oauth/userinfo``;
* ``RESOURCE_BULK_RATE_LIMIT`` -- in addition, the feeds that carry a whole subscription or
  a year of interval data (``BULK_ENDPOINTS``): each costs seconds, so they get a tighter
  bucket of their own.

A conditional GET of one of those feeds (``If-None-Match``) is charged to the bulk bucket
only when it gets a body: the view calls :func:`charge_feed` once the ETag did not match
(``resource/conditional.not_modified``), so an ASP polling an unchanged feed gets its 304s
however often it asks within ``RESOURCE_RATE_LIMIT``, which still counts every request (a
304 costs the token lookup and the few queries of the tag; RFC 9110 section 13 makes
conditional requests the way to poll cheaply, 15.4.5 says a 304 carries no body).  A
conditional request refused before the tag is compared (403, 404) costs only the general
bucket.

Requests without a valid token are refused 401 by the guard and not counted here: that
costs one indexed lookup, and an address-based limit on 401s would also lock out an ASP
whose customers' tokens were just revoked in bulk (each 401 honest).  Floods from one
address are the proxy's to cut (the gateway's ``--address-rate``; nginx ``limit_req``).

Counts live in Flask-Limiter's storage (``limits/_counters.py``); a refusal is the usual 429 with
``Retry-After``, as JSON (the resource API's error shape).
"""

from __future__ import annotations

from flask import g, request

from . import _counters

GENERAL = "RESOURCE_RATE_LIMIT"
BULK = "RESOURCE_BULK_RATE_LIMIT"
BULK_ENDPOINTS = frozenset(
    {
        "espi_resource.subscription",
        "espi_resource.batch_subscription",
        "espi_resource.interval_blocks",
        "espi_resource.batch_bulk",
    }
)
"""The feeds whose cost grows with the customer's whole history (routes.py)."""


def charge(client_id: str) -> None:
    """Count this request against the ASP's limits (once per request); 429 when over."""
    if getattr(g, "espi_resource_charged", False):
        return
    g.espi_resource_charged = True
    key = f"client:{client_id}"
    _counters.hit(GENERAL, key, "resource")
    if request.endpoint in BULK_ENDPOINTS:
        if request.if_none_match:  # charged by charge_feed only if it gets a body
            g.espi_feed_charge = key
        else:
            _counters.hit(BULK, key, "resource/bulk")


def charge_feed() -> None:
    """A conditional feed request whose ETag did not match: it will cost a body, so count it
    against the bulk bucket now (429 when over); nothing for any other request."""
    key = g.pop("espi_feed_charge", None)
    if key is not None:
        _counters.hit(BULK, key, "resource/bulk")


__all__ = ["BULK_ENDPOINTS", "charge", "charge_feed"]
