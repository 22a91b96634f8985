"""``GET /healthz`` and ``GET /readyz``: is the process alive, and may it take traffic?

The split is Kubernetes' and every load balancer's: a failed *liveness* probe restarts the
process, so ``/healthz`` looks at nothing outside it (a database outage must not restart
every web worker); a failed *readiness* probe only takes the instance out of rotation, so
``/readyz`` checks what a request needs:

* ``database`` -- a ``SELECT 1`` on the app's engine;
* ``migrations`` -- the database's ``alembic_version`` equals the newest migration shipped
  in ``server/storage/migrations`` (a server newer than its schema fails on the first query
  that touches a new column);
* ``signing_key`` -- the OpenID Connect signing key is in the database and loads
  (``server/oauth/keys.py``; created on first use, as the first id_token would);
* ``upstream`` -- bolt-on mode only (``UPSTREAM_RESOURCE_URL``): the existing custodian
  answers at all (any HTTP status under 500; without a token it says 401) within
  ``READINESS_UPSTREAM_TIMEOUT`` seconds.  The result is kept
  ``READINESS_UPSTREAM_CACHE_SECONDS`` per process, so a probe every second costs the
  custodian one request every few seconds.

Answers are JSON, ``{"status": "ready", "checks": {"database": {"ok": true, ...}}}`` with
200, or ``"unready"`` with 503, ``failing`` naming the checks that failed and each failed
check saying what went wrong and how to fix it.  No authentication (a probe has none), no
session cookie, no CSRF, no rate limit (``limits.exempt``): a refused probe looks like an
outage.  Nothing secret is reported: the database URL's password never appears.
docs/operations.md, "Health and readiness".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..oauth.keys import signing_key
from ..storage import alembic_config, db

bp = Blueprint("ops_health", __name__)

Check = dict[str, Any]


def _passed(**detail: Any) -> Check:
    return {"ok": True, **detail}


def _failed(error: str, fix: str) -> Check:
    return {"ok": False, "error": error, "fix": fix}


def _describe(exc: BaseException) -> str:
    """One line about ``exc`` without secrets (SQLAlchemy masks the URL's password)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers HTTP.  Touches nothing else."""
    return _answer(200, {"status": "alive"})


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: every check of the module docstring; 503 names the failing ones."""
    checks: dict[str, Check] = {}
    engine = db.engine
    assert engine is not None, "the database is initialised before the views"
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            checks["database"] = _passed(
                dialect=engine.dialect.name,
                milliseconds=round((time.perf_counter() - started) * 1000, 1),
            )
            checks["migrations"] = _migrations(engine, connection)
    except Exception as exc:
        checks["database"] = _failed(
            f"the database does not answer ({_describe(exc)})",
            "check that the database server runs and ESPI_DATABASE_URL points at it "
            "(host, port, database name, credentials); a SQLite file must exist and be writable",
        )
        not_checked = "not checked: the database does not answer"
        checks["migrations"] = _failed(not_checked, "fix the database check first")
    checks["signing_key"] = (
        _signing_key()
        if checks["database"]["ok"]
        else _failed("not checked: the database does not answer", "fix the database check first")
    )
    if current_app.config.get("UPSTREAM_RESOURCE_URL"):
        checks["upstream"] = _upstream(current_app._get_current_object())  # type: ignore[attr-defined]
    failing = [name for name, check in checks.items() if not check["ok"]]
    if failing:
        return _answer(503, {"status": "unready", "failing": failing, "checks": checks})
    return _answer(200, {"status": "ready", "checks": checks})


_SCRIPT_HEADS: dict[str, tuple[str, ...]] = {}
_SCRIPT_LOCK = threading.Lock()


def script_heads(engine: Engine) -> tuple[str, ...]:
    """The newest migration(s) this code ships: read once per process (they cannot change
    while it runs, and parsing the scripts costs milliseconds)."""
    from alembic.script import ScriptDirectory

    location = str(alembic_config(engine).get_main_option("script_location"))
    with _SCRIPT_LOCK:
        found = _SCRIPT_HEADS.get(location)
        if found is None:
            heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
            found = _SCRIPT_HEADS[location] = tuple(sorted(heads))
    return found


def _migrations(engine: Engine, connection: Connection) -> Check:
    from alembic.runtime.migration import MigrationContext

    expected = script_heads(engine)
    current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    if current == expected:
        return _passed(revision=", ".join(current))
    return {
        **_failed(
            f"the database is at migration {', '.join(current) or '(none)'}, "
            f"this server needs {', '.join(expected)}",
            "run the migrations (espi-sst migrate upgrade, or start once with ESPI_AUTO_MIGRATE=true) "
            "before sending traffic to this version",
        ),
        "current": list(current),
        "expected": list(expected),
    }


def _signing_key() -> Check:
    try:
        kid, _key = signing_key(db.session)
    except Exception as exc:
        db.session.rollback()
        return _failed(
            f"the OpenID Connect signing key does not load ({_describe(exc)})",
            "check the signing_key table; espi-sst rotate-signing-key makes a new key",
        )
    return _passed(kid=kid)


@dataclass
class _UpstreamCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    checked_at: float = float("-inf")
    result: Check = field(default_factory=dict)


def _upstream(app: Flask) -> Check:
    cache: _UpstreamCache = app.extensions.setdefault(
        "espi_sst_readiness_upstream", _UpstreamCache()
    )
    keep = float(app.config["READINESS_UPSTREAM_CACHE_SECONDS"])
    with cache.lock:  # one probe at a time; the others wait for its answer
        if time.monotonic() - cache.checked_at < keep:
            return {**cache.result, "cached": True}
        cache.result = _ask_upstream(app)
        cache.checked_at = time.monotonic()
        return {**cache.result, "cached": False}


def _ask_upstream(app: Flask) -> Check:
    url = str(app.config["UPSTREAM_RESOURCE_URL"])
    timeout = float(app.config["READINESS_UPSTREAM_TIMEOUT"])
    fix = (
        "check that the existing custodian at UPSTREAM_RESOURCE_URL runs and is reachable "
        "from this host (DNS, firewall, TLS)"
    )
    started = time.perf_counter()
    try:
        # A plain request, outside the forwarding session: a probe must not wait behind,
        # nor be counted with, the ASPs' forwarded requests.
        response = requests.get(url, timeout=(timeout, timeout), allow_redirects=False)
    except requests.RequestException as exc:
        return _failed(f"the upstream custodian does not answer ({_describe(exc)})", fix)
    milliseconds = round((time.perf_counter() - started) * 1000, 1)
    if response.status_code >= 500:
        return _failed(f"the upstream custodian answered HTTP {response.status_code}", fix)
    return _passed(http_status=response.status_code, milliseconds=milliseconds)


def _answer(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Serve ``/healthz`` and ``/readyz``: no CSRF, no rate limits."""
    from ..limits import exempt

    app.register_blueprint(bp)
    app.extensions["csrf"].exempt(bp)
    exempt(app, bp)


__all__ = ["bp", "init_app", "script_heads"]
