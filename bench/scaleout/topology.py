"""The scale-out topology on one machine: 2 web nodes + 2 workers on one PostgreSQL and one Redis.

Separate processes, each with its own temporary folder and free loopback port, stand in for
machines (issue 21)::

                          ASPs, browsers
                                |
                     nginx (round robin)  <- ESPI_ISSUER
                      /                \\
        node-a: gunicorn -w 2     node-b: gunicorn -w 2      (own instance folder,
                      \\                /                       own PROMETHEUS_MULTIPROC_DIR)
          PostgreSQL (schema, signing keys, outbox)  +  Redis (rate-limit counters)
                      /                \\
           worker-1: espi-sst worker   worker-2: espi-sst worker

Shared: ``ESPI_DATABASE_URL``, ``ESPI_RATELIMIT_STORAGE_URI`` (Redis), ``ESPI_SECRET_KEY``,
``ESPI_OUTBOX_KEY``, ``ESPI_ISSUER`` (nginx's URL).  Per process: the instance folder, the
Prometheus multiprocess folder, the port, the log file.

:func:`scaleout` is a context manager: everything it starts is stopped (by process id)
and its folders removed on exit, even when a start fails.  Importable by tests (the module
needs only the standard library and the installed server).
"""

from __future__ import annotations

import json
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
PG_CLUSTER = ROOT / "scripts" / "pg-test-cluster"
START_TIMEOUT = 60.0


class Unavailable(RuntimeError):
    """A piece of the topology (PostgreSQL, Redis, nginx) is not installed here."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def redis_binary() -> str | None:
    return shutil.which("redis-server")


@dataclass
class Process:
    """A process we started, in its own process group; stopped by its id only."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the process alone (a crash: no clean-up of any kind)."""
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Node:
    """A web node: its gunicorn master, its own URL (bypassing nginx) and folders."""

    name: str
    url: str
    server: Process
    folder: Path  # its working folder and log: nothing in it is shared
    metrics_dir: Path


@dataclass
class Topology:
    issuer: str  # nginx's URL: what ASPs and browsers use
    database_url: str
    redis_url: str
    nodes: list[Node]
    workers: list[Process]
    nginx: Process
    nginx_access_log: Path
    folder: Path
    postgresql_folder: Path
    demo: dict[str, Any]
    worker_env: dict[str, str]
    _stack: ExitStack = field(repr=False, default_factory=ExitStack)

    def start_worker(self, name: str) -> Process:
        """Another ``espi-sst worker`` on the shared database (also: restart after a crash)."""
        process = _spawn(name, [str(BIN / "espi-sst"), "worker", "--poll", "0.5"],
                         self.folder, self.worker_env)  # fmt: skip
        self._stack.callback(process.stop)
        self.workers.append(process)
        return process

    def requests_per_node(self) -> dict[str, int]:
        """Requests each node answered, from nginx's access log (``$upstream_addr``)."""
        by_address = {node.url.removeprefix("http://"): node.name for node in self.nodes}
        counts = {node.name: 0 for node in self.nodes}
        if self.nginx_access_log.exists():
            for line in self.nginx_access_log.read_text().splitlines():
                for address in line.split()[-1].split(","):
                    name = by_address.get(address.strip())
                    if name:
                        counts[name] += 1
        return counts

    def requests_logged_per_node(self) -> dict[str, int]:
        """Requests each node logged itself (its JSON request lines; nginx not involved)."""
        marker = '"logger": "espi_sst_server.request"'
        counts = {}
        for node in self.nodes:
            text = node.server.log.read_text(errors="replace") if node.server.log.exists() else ""
            counts[node.name] = sum(1 for line in text.splitlines() if marker in line)
        return counts


def _spawn(name: str, command: list[str], folder: Path, env: dict[str, str]) -> Process:
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stoppable as a whole, by its id
            cwd=folder,
        )
    return Process(name, process, log)


def _wait_http(process: Process, url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            tail = process.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{process.name} exited at start; its log ends:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout:g} s")


@contextmanager
def _postgresql(folder: Path) -> Iterator[tuple[str, Path]]:
    """The cluster's URL and folder (``pg-test-cluster down/up`` take the folder: a restart)."""
    # Its own folder directly under /tmp: the server runs as 'postgres' and must reach it.
    path = Path(tempfile.mkdtemp(prefix="espi-scaleout-pg."))
    started = subprocess.run(["bash", str(PG_CLUSTER), "start", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if started.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        raise Unavailable(f"PostgreSQL did not start: {started.stderr.strip()}")
    try:
        yield started.stdout.strip(), path
    finally:
        subprocess.run(["bash", str(PG_CLUSTER), "stop", str(path)], capture_output=True)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _redis(folder: Path) -> Iterator[str]:
    binary = redis_binary()
    if binary is None:
        raise Unavailable("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    folder.mkdir()
    process = _spawn("redis", [binary, "--bind", "127.0.0.1", "--port", str(port),
                               "--save", "", "--appendonly", "no", "--dir", str(folder)],
                     folder, {})  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.stop()


NGINX_CONF = """\
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    log_format upstream '$remote_addr "$request" $status $upstream_addr';
    access_log {folder}/access.log upstream;
    # When, what, how long: bench/soak counts 5xx and latency per fault window from this.
    log_format timing '$msec $status $request_time "$request"';
    access_log {folder}/timing.log timing;
    upstream espi_nodes {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://espi_nodes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def _nginx(folder: Path, port: int, node_ports: list[int]) -> Process:
    binary = nginx_binary()
    if binary is None:
        raise Unavailable("nginx is not installed (apt-get install nginx)")
    folder.mkdir()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in node_ports)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, port=port, servers=servers))
    return _spawn("nginx", [binary, "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
                  folder, {})  # fmt: skip


def _migrate_and_seed(env: dict[str, str], folder: Path, extra_customers: int) -> dict[str, Any]:
    """``espi-sst migrate upgrade`` once, then the demo seed once (in a child process)."""
    migrated = subprocess.run([str(BIN / "espi-sst"), "migrate", "upgrade"],
                              env={**os.environ, **env}, capture_output=True, text=True,
                              cwd=folder, timeout=300)  # fmt: skip
    if migrated.returncode != 0:
        raise RuntimeError(f"espi-sst migrate upgrade failed:\n{migrated.stderr[-2000:]}")
    seeded = subprocess.run(
        [sys.executable, str(HERE / "seed.py"), str(extra_customers)],
        env={**os.environ, **env}, capture_output=True, text=True, cwd=folder, timeout=600,
    )  # fmt: skip
    if seeded.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{seeded.stderr[-2000:]}")
    demo: dict[str, Any] = json.loads(seeded.stdout.strip().splitlines()[-1])
    return demo


def base_environment(database_url: str, redis_url: str, issuer: str) -> dict[str, str]:
    """What every node and worker shares (docs/deployment.md, "Scaling out")."""
    from cryptography.fernet import Fernet

    return {
        "ESPI_DATABASE_URL": database_url,
        "ESPI_ISSUER": issuer,
        "ESPI_SECRET_KEY": secrets.token_urlsafe(32),
        "ESPI_OUTBOX_KEY": Fernet.generate_key().decode(),
        "ESPI_RATELIMIT_STORAGE_URI": redis_url,
        "ESPI_AUTO_MIGRATE": "false",  # migrated once, before any node starts
        "ESPI_LOG_FORMAT": "json",
        "PYTHONPATH": str(HERE),  # the bench's billing backend (billing.py)
    }


@contextmanager
def scaleout(
    *,
    nodes: int = 2,
    workers: int = 2,
    web_workers: int = 2,
    extra_customers: int = 4,
    settings: dict[str, str] | None = None,
    keep: bool = False,
) -> Iterator[Topology]:
    """Start the whole topology; yield it; stop everything and remove its folders.

    ``settings``: more ``ESPI_*`` variables for every node and worker (the bench's lease,
    limits, mail and notification settings).  ``web_workers``: gunicorn workers per node
    (bench/soak runs one node of 4).  The topology's ``postgresql_folder`` is the cluster's
    folder, for ``pg-test-cluster down/up`` (bench/soak's database restart); nginx also
    writes ``timing.log`` (time, status, seconds, request of every answer).  ``extra_customers``: copies of the demo's
    bundled customer seeded beside the demo's four (each a usage point a rate change may
    target).  Raises :class:`Unavailable` when PostgreSQL, Redis or nginx is missing.
    """
    if nginx_binary() is None:
        raise Unavailable("nginx is not installed (apt-get install nginx)")
    folder = Path(tempfile.mkdtemp(prefix="espi-scaleout."))
    stack = ExitStack()
    try:
        with stack:
            if not keep:
                stack.callback(shutil.rmtree, folder, True)
            database_url, postgresql_folder = stack.enter_context(_postgresql(folder))
            redis_url = stack.enter_context(_redis(folder / "redis"))
            port = free_port()
            issuer = f"http://127.0.0.1:{port}"
            env = {**base_environment(database_url, redis_url, issuer), **(settings or {})}
            demo = _migrate_and_seed(env, folder, extra_customers)
            started: list[Node] = []
            for index in range(nodes):
                name = f"node-{'abcdefgh'[index]}"
                node_port = free_port()
                metrics_dir = folder / name / "prometheus"
                metrics_dir.mkdir(parents=True)
                node_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
                command = [
                    str(BIN / "gunicorn"),
                    "-c", "python:espi_sst_server.gunicorn_conf",
                    "-w", str(web_workers),
                    "-b", f"127.0.0.1:{node_port}",
                    "--no-control-socket",
                    "--timeout", "60",
                    "espi_sst_server.wsgi:app",
                ]  # fmt: skip
                process = _spawn(name, command, folder / name, node_env)
                stack.callback(process.stop)
                node = Node(
                    name, f"http://127.0.0.1:{node_port}", process, folder / name, metrics_dir
                )
                started.append(node)
            for node in started:
                _wait_http(node.server, node.url + "/healthz")
            proxy = _nginx(folder / "nginx", port, [int(n.url.rsplit(":", 1)[1]) for n in started])
            stack.callback(proxy.stop)
            _wait_http(proxy, issuer + "/healthz", timeout=20)
            topology = Topology(
                issuer=issuer,
                database_url=database_url,
                redis_url=redis_url,
                nodes=started,
                workers=[],
                nginx=proxy,
                nginx_access_log=folder / "nginx" / "access.log",
                folder=folder,
                postgresql_folder=postgresql_folder,
                demo=demo,
                worker_env=env,
                _stack=stack,
            )
            for index in range(workers):
                topology.start_worker(f"worker-{index + 1}")
            time.sleep(0.5)
            for process in topology.workers:
                if not process.alive():
                    raise RuntimeError(f"{process.name} exited at start; see {process.log}")
            yield topology
    finally:
        stack.close()
