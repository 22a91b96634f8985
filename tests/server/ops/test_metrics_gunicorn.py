"""Metrics under real gunicorn with two workers (issue 16): with ``PROMETHEUS_MULTIPROC_DIR``
and ``-c python:espi_sst_server.gunicorn_conf``, requests served by both workers all show up,
summed exactly, in one scrape of either; a worker that dies keeps its counts."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from espi_sst_server import create_app
from scrape import value

REQUESTS = 120
BOOTED = re.compile(r"Booting worker with pid: (\d+)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _workers(log: Path) -> list[int]:
    return [int(pid) for pid in BOOTED.findall(log.read_text())]


def _wait_for(condition: object, what: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen; gunicorn said:\n{log.read_text()}")


def _serving(base: str) -> bool:
    try:
        # /metrics, not /healthz: the requests the test counts are /healthz's
        return requests.get(f"{base}/metrics", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_workers_counts_sum_exactly_in_one_scrape(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/g.db"
    migrated = create_app({"DATABASE_URL": database, "SECRET_KEY": "t"})  # the schema, once
    migrated.extensions["espi_sst_db"].engine.dispose()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a previous run's: removed
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "ESPI_DATABASE_URL": database,
        "ESPI_SECRET_KEY": "t",
        "ESPI_AUTO_MIGRATE": "false",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:espi_sst_server.gunicorn_conf",
                "espi_sst_server.wsgi:app",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: len(_workers(log)) == 2 and _serving(base), "two workers serving", log)
        assert not (metrics_dir / "counter_999999.db").exists()
        first_workers = _workers(log)

        def healthz(_: int) -> int:
            with requests.Session() as session:  # a connection of its own: any worker
                return session.get(f"{base}/healthz", timeout=10).status_code

        before = requests.get(f"{base}/metrics", timeout=10).text
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(healthz, range(REQUESTS))) == {200}
        written = {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}
        assert set(first_workers) <= written, "both workers served requests"

        series = dict(endpoint="ops_health.healthz", method="GET", status="200")
        name = "espi_sst_http_requests_total"
        scrapes = [requests.get(f"{base}/metrics", timeout=10).text for _ in range(4)]
        for text in scrapes:  # whichever worker answers the scrape, the sum is the same
            assert value(text, name, **series) - value(before, name, **series) == REQUESTS

        # A worker dies (gunicorn starts another; child_exit marks it dead): its counts stay.
        os.kill(first_workers[0], signal.SIGKILL)
        _wait_for(lambda: len(_workers(log)) == 3 and _serving(base), "a new worker", log)
        after = requests.get(f"{base}/metrics", timeout=10).text
        assert value(after, name, **series) - value(before, name, **series) == REQUESTS
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
