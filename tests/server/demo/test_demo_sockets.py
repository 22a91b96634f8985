"""``espi-sst demo`` as a process under a slow-loris script (issue 11, finding 27): half-sent
requests are closed after ``--socket-timeout`` and the process's threads fall back, while
the portal keeps answering.  The server itself is tested in tests/server/demo/test_dev_server.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from half_sent import (
    closed_by_server,
    open_half_sent,
    process_threads,
    wait_for,
)

TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _portal(port: int) -> int:
    try:
        url = f"http://127.0.0.1:{port}/portal/login"
        return requests.get(url, headers={"Connection": "close"}, timeout=5).status_code
    except requests.ConnectionError:
        return 0


def test_the_demo_closes_half_sent_requests(tmp_path: Path) -> None:
    port = _free_port()
    cli = str(Path(sys.executable).with_name("espi-sst"))
    process = subprocess.Popen(
        [
            cli,
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--asp-port",
            "0",
            "--socket-timeout",
            str(TIMEOUT),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: _portal(port) == 200 or process.poll() is not None, 120)
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        time.sleep(0.5)  # the page's own connection thread ends
        baseline = process_threads(process.pid)
        held = open_half_sent(port, 20)
        try:
            assert wait_for(lambda: process_threads(process.pid) >= baseline + 20, TIMEOUT)
            assert _portal(port) == 200  # meanwhile, others are served
            assert wait_for(lambda: process_threads(process.pid) <= baseline, TIMEOUT + 10)
            assert all(closed_by_server(connection, 5) for connection in held)
        finally:
            for connection in held:
                connection.close()
        assert _portal(port) == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()
