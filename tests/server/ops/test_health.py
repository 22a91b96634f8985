"""``/healthz`` and ``/readyz`` over real HTTP on loopback (issue 16, Health).

Each readiness failure is made for real: a database that is gone (its SQLite folder removed,
its PostgreSQL database dropped), a database Alembic migrated only to 0006, a bolt-on whose
upstream custodian stopped listening.  Rate limits are live (a default limit every other
endpoint meets) while the probes are hammered.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.ops.health import script_heads
from espi_sst_server.storage import alembic_config
from flask import Flask
from listener import Listener
from parallel import serve
from sqlalchemy import create_engine


def make_app(database_url: str, **config: Any) -> Flask:
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "t", "TESTING": True, **config})


def dispose(app: Flask) -> None:
    app.extensions["espi_sst_db"].engine.dispose()


@pytest.fixture()
def served(database_url: str) -> Iterator[tuple[Flask, str]]:
    app = make_app(database_url)
    try:
        with serve(app) as base:
            yield app, base
    finally:
        dispose(app)


def test_healthz_says_alive_and_sets_no_cookie(served: tuple[Flask, str]) -> None:
    _, base = served
    answer = requests.get(f"{base}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "alive"}
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers


def test_readyz_checks_database_migrations_and_signing_key(
    served: tuple[Flask, str], database_url: str
) -> None:
    app, base = served
    answer = requests.get(f"{base}/readyz", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "signing_key"}  # no upstream: standalone
    assert all(check["ok"] for check in checks.values())
    expected_dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert checks["database"]["dialect"] == expected_dialect
    engine = app.extensions["espi_sst_db"].engine
    assert checks["migrations"]["revision"] == ", ".join(script_heads(engine))
    jwks = requests.get(f"{base}/oauth/jwks.json", timeout=10).json()
    assert checks["signing_key"]["kid"] in {key["kid"] for key in jwks["keys"]}
    assert "Set-Cookie" not in answer.headers


def test_readyz_refuses_when_the_database_is_gone(tmp_path: Path, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        folder = tmp_path / "data"
        folder.mkdir()
        database_url = f"sqlite:///{folder}/espi.db"
    app = make_app(database_url)
    try:
        with serve(app) as base:
            assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
            if database_url.startswith("sqlite"):
                shutil.rmtree(folder)  # the file and its folder: nothing to reopen
                dispose(app)  # pooled connections would still hold the unlinked file
            else:
                _drop(database_url)
            answer = requests.get(f"{base}/readyz", timeout=30)
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["status"] == "unready"
            assert body["failing"][0] == "database"
            database = body["checks"]["database"]
            assert database["ok"] is False
            assert "does not answer" in database["error"]
            assert "ESPI_DATABASE_URL" in database["fix"]
            assert body["checks"]["migrations"]["ok"] is False
            assert "not checked" in body["checks"]["migrations"]["error"]
            # liveness does not depend on the database: the process is fine
            assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        dispose(app)


def _drop(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_readyz_refuses_a_database_behind_the_migrations(database_url: str) -> None:
    from alembic import command

    engine = create_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0006")
    finally:
        engine.dispose()
    app = make_app(database_url, AUTO_MIGRATE=False)
    try:
        with serve(app) as base:
            answer = requests.get(f"{base}/readyz", timeout=10)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["failing"] == ["migrations"]
        migrations = body["checks"]["migrations"]
        assert migrations["current"] == ["0006"]
        assert migrations["expected"] == list(script_heads(app.extensions["espi_sst_db"].engine))
        assert "0006" in migrations["error"]
        assert "espi-sst migrate upgrade" in migrations["fix"]
        assert body["checks"]["database"]["ok"] is True
    finally:
        dispose(app)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _custodian() -> tuple[Flask, list[str]]:
    """A stand-in custodian: its resource base answers 401 to a request without a token,
    as a real one does; ``seen`` records each path asked."""
    custodian = Flask("custodian")
    seen: list[str] = []

    @custodian.get("/espi/1_1/resource")
    def resource_base() -> tuple[str, int]:
        from flask import request

        seen.append(request.path)
        return "", 401

    return custodian, seen


def test_readyz_in_bolt_on_mode_checks_the_upstream_and_caches_it(tmp_path: Path) -> None:
    custodian, seen = _custodian()
    with serve(custodian) as upstream:
        app = make_app(
            f"sqlite:///{tmp_path}/b.db",
            UPSTREAM_RESOURCE_URL=f"{upstream}/espi/1_1/resource",
            READINESS_UPSTREAM_CACHE_SECONDS=1.0,
        )
        try:
            with serve(app) as base:
                first = requests.get(f"{base}/readyz", timeout=10)
                assert first.status_code == 200, first.text
                check = first.json()["checks"]["upstream"]
                assert check == {**check, "ok": True, "http_status": 401, "cached": False}
                second = requests.get(f"{base}/readyz", timeout=10).json()["checks"]["upstream"]
                assert second["cached"] is True
                assert seen == ["/espi/1_1/resource"]  # one request to the custodian for two probes
        finally:
            dispose(app)
    # the custodian has stopped (its socket closed): the next probe after the cache says so
    try:
        with serve(app) as base:
            time.sleep(1.1)
            down = requests.get(f"{base}/readyz", timeout=10)
            assert down.status_code == 503, down.text
            body = down.json()
            assert body["failing"] == ["upstream"]
            assert "does not answer" in body["checks"]["upstream"]["error"]
            assert "UPSTREAM_RESOURCE_URL" in body["checks"]["upstream"]["fix"]
            assert body["checks"]["database"]["ok"] is True
    finally:
        dispose(app)


def test_readyz_fails_fast_on_an_upstream_that_answers_5xx(tmp_path: Path) -> None:
    upstream = Listener("fail")
    app = make_app(
        f"sqlite:///{tmp_path}/b.db",
        UPSTREAM_RESOURCE_URL=f"{upstream.url}",
        READINESS_UPSTREAM_CACHE_SECONDS=0,
    )
    try:
        with serve(app) as base:
            answer = requests.get(f"{base}/readyz", timeout=10)
        assert answer.status_code == 503
        assert "HTTP 503" in answer.json()["checks"]["upstream"]["error"]
    finally:
        upstream.close()
        dispose(app)


def test_readyz_with_nothing_listening_upstream(tmp_path: Path) -> None:
    app = make_app(
        f"sqlite:///{tmp_path}/b.db",
        UPSTREAM_RESOURCE_URL=f"http://127.0.0.1:{_closed_port()}/espi/1_1/resource",
    )
    try:
        with serve(app) as base:
            started = time.monotonic()
            answer = requests.get(f"{base}/readyz", timeout=10)
            assert time.monotonic() - started < 3  # READINESS_UPSTREAM_TIMEOUT bounds it
        assert answer.status_code == 503
        assert answer.json()["failing"] == ["upstream"]
    finally:
        dispose(app)


def test_probes_are_never_rate_limited(tmp_path: Path) -> None:
    """An operator's default and application-wide limits apply to every other endpoint;
    probes and scrapes pass however often they come."""
    app = make_app(
        f"sqlite:///{tmp_path}/l.db",
        RATELIMIT_DEFAULT="3 per minute",
        RATELIMIT_APPLICATION="5 per minute",
    )
    try:
        with serve(app) as base, requests.Session() as session:
            for _ in range(40):
                for path in ("/healthz", "/readyz", "/metrics"):
                    answer = session.get(f"{base}{path}", timeout=10)
                    assert answer.status_code == 200, (path, answer.status_code, answer.text)
            others = [
                session.get(f"{base}/oauth/jwks.json", timeout=10).status_code for _ in range(6)
            ]
            assert 429 in others  # the limits were live all along
    finally:
        dispose(app)


def test_probes_need_no_csrf_token_and_no_session(tmp_path: Path) -> None:
    """A HEAD from a load balancer and a GET without cookies both pass; nothing is set."""
    app = make_app(f"sqlite:///{tmp_path}/c.db")
    try:
        with serve(app) as base:
            for path in ("/healthz", "/readyz"):
                head = requests.head(f"{base}{path}", timeout=10)
                assert head.status_code == 200
                assert "Set-Cookie" not in head.headers
    finally:
        dispose(app)
