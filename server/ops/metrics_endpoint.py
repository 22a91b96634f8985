"""``GET /metrics``: the Prometheus exposition, for the utility's own monitoring only.

Who may read it.  Metrics say how busy each ASP's endpoints are and how many customers hold
grants: nothing for the public internet.  So ``/metrics`` answers only

* a request made **directly on loopback** -- the peer address of the connection (before
  Werkzeug's ``ProxyFix`` rewrites it) is ``127.0.0.0/8`` or ``::1`` *and* the request came
  through no proxy (no ``X-Forwarded-For`` or ``Forwarded`` header: a proxy on the same host,
  such as nginx or the statewide gateway, sets one, and what it forwards comes from
  elsewhere); or
* a request carrying ``Authorization: Bearer <METRICS_TOKEN>`` when ``ESPI_METRICS_TOKEN``
  is set (a Prometheus on another host; compared in constant time).

Anything else gets 403 (no token configured) or 401 with ``WWW-Authenticate: Bearer``
(RFC 6750 section 3).  The statewide gateway never proxies ``{prefix}/metrics``
(``server/gateway/nginx.py``).  Not rate limited, no session, no CSRF: a scraper is no
browser.  docs/operations.md, "Metrics".
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..observability.metrics import exposition, instrument
from ..storage import db
from .database_metrics import DatabaseCollector

bp = Blueprint("ops_metrics", __name__)
_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _peer_address() -> str:
    """The connection's own peer, even behind ``ProxyFix`` (which keeps the original)."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    return str(original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or "")


def direct_loopback() -> bool:
    """True for a request made on this host's loopback without a proxy between."""
    try:
        loopback = ipaddress.ip_address(_peer_address()).is_loopback
    except ValueError:
        return False
    return loopback and not any(request.headers.get(name) for name in _PROXY_HEADERS)


def _bearer_matches(expected: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def _refusal() -> Response | None:
    if direct_loopback():
        return None
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if token and _bearer_matches(token):
        return None
    if not token:
        response = jsonify(
            error="forbidden",
            error_description="metrics are served only on loopback; set ESPI_METRICS_TOKEN "
            "to scrape from another host (docs/operations.md, Metrics)",
        )
        response.status_code = 403
    else:
        response = jsonify(
            error="invalid_token",
            error_description="send Authorization: Bearer <ESPI_METRICS_TOKEN>",
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> Response:
    refused = _refusal()
    if refused is not None:
        return refused
    engine = db.engine
    assert engine is not None, "the database is initialised before the views"
    body, content_type = exposition([DatabaseCollector(engine)])
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Count every request of ``app`` and serve ``/metrics``: no CSRF, no rate limits."""
    from ..limits import exempt

    instrument(app)
    app.register_blueprint(bp)
    app.extensions["csrf"].exempt(bp)
    exempt(app, bp)


__all__ = ["bp", "direct_loopback", "init_app"]
