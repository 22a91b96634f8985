"""Two web nodes on one PostgreSQL and one Redis, as two machines behind a load balancer would
run them (issue 21, "what must hold across nodes").

Each node is its own gunicorn master (``espi_sst_server.wsgi:app``, ``WORKERS`` sync workers)
on its own free loopback port, started in its own folder (its working directory and
``TMPDIR``; nothing is written to Flask's instance folder because ``SECRET_KEY`` and
``DATABASE_URL`` are given).  What they share is exactly what docs/deployment.md says
several hosts must share: ``ESPI_SECRET_KEY``, ``ESPI_DATABASE_URL`` (a scratch PostgreSQL
database) and ``ESPI_RATELIMIT_STORAGE_URI`` (a test redis-server), plus the one public
``ISSUER`` a load balancer would answer under.

The schema is migrated and the world seeded once, in the test's own process
(:func:`seed`), before the nodes start with ``ESPI_AUTO_MIGRATE=false`` -- the production
rule for several processes.  Interface::

    with running_nodes(folder, database_url, redis_url, env={...}) as (a, b):
        a.url, b.url         # http://127.0.0.1:PORT
        a.log_text()         # what that gunicorn said (for failure messages)

A browser (a ``requests.Session``) keeps one cookie jar for both: cookies are per host, not
per port (RFC 6265 section 8.5), so it behaves as a browser behind one load-balanced name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from espi_sst_server import create_app
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, RetailCustomer, UsagePoint

ISSUER = "http://127.0.0.1:5000"  # the load balancer's name; neither node's own address
SECRET_KEY = "one-secret-for-every-node"
WORKERS = 2
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 "
    "basic billing usage sst:rin openid"
)
REDIRECT = "http://127.0.0.1:8765/callback"
CUSTOMER = ("alice", "correct horse")
CLIENT = ("asp-confidential", "s3cret-value")
USAGE_POINTS = ["33333333-3333-4333-8333-000000000001", "33333333-3333-4333-8333-000000000002"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shared_env(database_url: str, redis_url: str) -> dict[str, str]:
    """What every node (and every command run beside them) gets: the shared settings."""
    return {
        "ESPI_DATABASE_URL": database_url,
        "ESPI_SECRET_KEY": SECRET_KEY,
        "ESPI_RATELIMIT_STORAGE_URI": redis_url,
        "ESPI_ISSUER": ISSUER,
        "ESPI_AUTO_MIGRATE": "false",
        "ESPI_LOG_LEVEL": "WARNING",
    }


def seed(database_url: str) -> None:
    """Migrate the schema and add one customer with two usage points and one qualified
    confidential ASP (what the flows need), from this process, before any node starts."""
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "ISSUER": ISSUER})
    with app.app_context(), db.transaction() as session:
        customer = RetailCustomer(
            uuid="11111111-1111-4111-8111-111111111111",
            username=CUSTOMER[0],
            password_hash=hash_password(CUSTOMER[1]),
            display_name="Alice Example",
            email="alice@example.com",
            created_at=now(),
        )
        session.add(customer)
        session.flush()
        for index, uuid in enumerate(USAGE_POINTS, 1):
            session.add(
                UsagePoint(
                    uuid=uuid,
                    customer_id=customer.id,
                    title=f"Home {index}",
                    service_kind=0,
                    service_agreement=f"SA-{index}",
                    udc="PGE",
                    lse="PGE",
                )
            )
        session.add(
            Application(
                uuid="00000000-0000-4000-8000-000000000001",
                client_id=CLIENT[0],
                client_secret_hash=hash_secret(CLIENT[1]),
                client_name="Confidential ASP",
                client_uri="https://asp.example",
                redirect_uris=[REDIRECT],
                notify_uri="https://asp.example/notify",
                scope=SCOPE,
                grant_types=["authorization_code", "refresh_token", "client_credentials"],
                token_endpoint_auth_method="client_secret_basic",
                qualification="qualified",
                software_id="asp",
                software_version="1",
                contacts=[],
                created_at=now(),
            )
        )
    app.extensions["espi_sst_db"].engine.dispose()


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _serving(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def _node(name: str, folder: Path, env: dict[str, str]) -> Iterator[Node]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "gunicorn.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "espi_sst_server.wsgi:app",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(WORKERS),
                "--timeout",
                "60",
            ],
            cwd=folder,
            env={**os.environ, **env, "TMPDIR": str(folder)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    node = Node(name, f"http://127.0.0.1:{port}", process, log)
    try:
        yield node
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_serving(nodes: tuple[Node, ...], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    waiting = list(nodes)
    while waiting:
        waiting = [node for node in waiting if not _serving(node.url)]
        for node in waiting:
            if node.process.poll() is not None:
                raise AssertionError(f"node {node.name} exited:\n{node.log_text()}")
        if waiting and time.monotonic() > deadline:
            raise AssertionError(
                "nodes not serving: " + "; ".join(f"{n.name}:\n{n.log_text()}" for n in waiting)
            )
        time.sleep(0.2)


@contextmanager
def running_nodes(
    folder: Path, database_url: str, redis_url: str, env: dict[str, str] | None = None
) -> Iterator[tuple[Node, Node]]:
    """Nodes A and B on the seeded ``database_url`` and ``redis_url``, serving when yielded."""
    settings = {**shared_env(database_url, redis_url), **(env or {})}
    with ExitStack() as stack:
        a = stack.enter_context(_node("A", folder / "node-a", settings))
        b = stack.enter_context(_node("B", folder / "node-b", settings))
        _wait_until_serving((a, b))
        yield a, b
