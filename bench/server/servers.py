"""The servers under test: a seeded database, gunicorn processes, a throw-away PostgreSQL.

Every server is ``gunicorn -w 2 -b 127.0.0.1:PORT`` (sync workers, gunicorn's default)
with the control socket off, so that several can run side by side; the espi-sst server
gets its configuration from ``ESPI_*`` environment variables exactly as in production
(``espi_sst_server.wsgi:app``, docs/server.md).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
PG_CLUSTER = ROOT / "scripts" / "pg-test-cluster"
WORKERS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_database(url: str, issuer: str) -> dict[str, object]:
    """Migrate and seed the demo utility into an empty database; return ``demo.json``.

    Also creates the OpenID signing key now: two workers creating it at their first token
    request would race, and key generation (RSA 2048) is a one-off, not per-request work.
    """
    from espi_sst_server import create_app
    from espi_sst_server.demo import seed
    from espi_sst_server.oauth.keys import active_key
    from espi_sst_server.storage import db

    app = create_app({"DATABASE_URL": url, "ISSUER": issuer, "SECRET_KEY": "prepare"})
    with app.app_context():
        with db.transaction() as session:
            demo = seed(session, now=int(time.time()))
        active_key(db.session)
        engine = db.engine
    assert engine is not None
    engine.dispose()  # the app context's end closed the session; no connection stays open
    return demo.as_json(base_url=issuer, issuer=issuer)


@dataclass
class Server:
    """A running gunicorn master (started by us, stopped by its pid)."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of the workers
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def gunicorn(
    name: str, app: str, port: int, log_dir: Path, env: dict[str, str], ready_path: str
) -> Iterator[Server]:
    """``gunicorn -w 2 -b 127.0.0.1:PORT APP``, waited for until ``ready_path`` answers."""
    log = log_dir / f"{name}.log"
    command = [
        str(GUNICORN),
        "-w", str(WORKERS),
        "-b", f"127.0.0.1:{port}",
        "--no-control-socket",
        "--chdir", str(HERE),
        "--error-logfile", str(log),
        app,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stoppable as a whole, by its id
    )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        server.stop()


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start; see {server.log}")
        try:
            with urllib.request.urlopen(server.base_url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout:g} s")


def espi_env(database_url: str, base_url: str) -> dict[str, str]:
    """The production configuration: ``ESPI_*`` variables (docs/server.md)."""
    return {
        "ESPI_DATABASE_URL": database_url,
        "ESPI_ISSUER": base_url,
        # One key for both workers (otherwise they share the instance folder's key file).
        "ESPI_SECRET_KEY": secrets.token_urlsafe(32),
        # The load is one ASP's token at full speed: its per-ASP limits (server/
        # resource_limits.py) would answer 429 to most of it, so they are off here.
        "ESPI_RESOURCE_RATE_LIMIT": "",
        "ESPI_RESOURCE_BULK_RATE_LIMIT": "",
        # The flows sign in from one address many times a second: the per-address sign-in
        # limit (30 a minute, issue 11) would answer 429 to nearly all of them.
        "ESPI_LOGIN_IP_RATE_LIMIT": "",
    }


@dataclass(frozen=True)
class Cluster:
    url: str
    path: Path


@contextmanager
def postgresql() -> Iterator[Cluster | None]:
    """A throw-away cluster from ``scripts/pg-test-cluster``; None when not installed."""
    # Its own folder directly under /tmp: the server runs as 'postgres' and must reach it.
    path = Path(tempfile.mkdtemp(prefix="espi-bench-pg."))
    started = subprocess.run(
        ["bash", str(PG_CLUSTER), "start", str(path)], capture_output=True, text=True
    )
    if started.returncode != 0:
        print(f"PostgreSQL not available: {started.stderr.strip()}", file=sys.stderr)
        shutil.rmtree(path, ignore_errors=True)
        yield None
        return
    try:
        yield Cluster(started.stdout.strip(), path)
    finally:
        subprocess.run(["bash", str(PG_CLUSTER), "stop", str(path)], capture_output=True)


def postgresql_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"
