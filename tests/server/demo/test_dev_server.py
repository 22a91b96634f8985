"""The demo's and ``espi-sst serve``'s HTTP server (server/demo/dev_server.py) ends half-sent
requests after its socket timeout and bounds its threads (issue 11, finding 27: with
Werkzeug's plain server, 150 threads were held after 22 seconds, for ever).  Real sockets,
a real server in this process, then a real ``espi-sst serve`` process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.demo.dev_server import BoundedServer, make_dev_server
from half_sent import closed_by_server, open_half_sent, process_threads, wait_for

TIMEOUT = 2.0


@contextmanager
def running(tmp_path: Path, **options: float) -> Iterator[BoundedServer]:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/dev.db", "SECRET_KEY": "t", "TESTING": True}
    )
    server = make_dev_server("127.0.0.1", 0, app, **options)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["espi_sst_db"].engine.dispose()


def serving() -> int:
    """Threads of this process serving a connection (socketserver names them so)."""
    return sum("process_request_thread" in thread.name for thread in threading.enumerate())


def discovery(port: int) -> int:
    url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    return requests.get(url, headers={"Connection": "close"}, timeout=10).status_code


def test_half_sent_requests_are_closed_after_the_timeout(tmp_path: Path) -> None:
    with running(tmp_path, timeout=TIMEOUT, max_threads=64) as server:
        assert discovery(server.port) == 200
        assert wait_for(lambda: serving() == 0, 5)
        held = open_half_sent(server.port, 20)
        try:
            assert wait_for(lambda: serving() == 20, TIMEOUT), (
                "each half-sent request holds a thread while it waits"
            )
            assert discovery(server.port) == 200  # meanwhile, others are served
            assert wait_for(lambda: serving() == 0, TIMEOUT + 10), "the timeout ends them"
            assert all(closed_by_server(connection, 5) for connection in held)
        finally:
            for connection in held:
                connection.close()
        assert discovery(server.port) == 200


def test_connections_over_the_bound_get_503_at_once(tmp_path: Path) -> None:
    with running(tmp_path, timeout=TIMEOUT * 3, max_threads=5) as server:
        held = open_half_sent(server.port, 5)
        try:
            assert wait_for(lambda: serving() == 5, 10)
            extra = open_half_sent(server.port, 3)
            for connection in extra:
                connection.settimeout(5)
                assert connection.recv(64).startswith(b"HTTP/1.1 503")
                connection.close()
            assert serving() == 5
        finally:
            for connection in held:
                connection.close()
        assert wait_for(lambda: serving() == 0, 10)
        assert discovery(server.port) == 200  # the slots came back


def test_the_bound_and_timeout_must_be_sane(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "t"})
    with pytest.raises(ValueError, match="timeout"):
        make_dev_server("127.0.0.1", 0, app, timeout=0)
    with pytest.raises(ValueError, match="max_threads"):
        make_dev_server("127.0.0.1", 0, app, max_threads=0)


def test_espi_sst_serve_closes_half_sent_requests(tmp_path: Path) -> None:
    """The command a developer runs, as a process: its thread count falls back."""
    probe = make_dev_server("127.0.0.1", 0, lambda *_: [])
    port = probe.port
    probe.server_close()
    cli = str(Path(sys.executable).with_name("espi-sst"))
    environment = {
        **os.environ,
        "ESPI_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "ESPI_SECRET_KEY": "test",
    }
    process = subprocess.Popen(
        [cli, "serve", "--port", str(port), "--socket-timeout", str(TIMEOUT)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: _answers(port) or process.poll() is not None, 60)
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        time.sleep(0.5)  # the probe's own connection thread ends
        baseline = process_threads(process.pid)
        held = open_half_sent(port, 20)
        try:
            assert wait_for(lambda: process_threads(process.pid) >= baseline + 20, 10)
            assert wait_for(lambda: process_threads(process.pid) <= baseline, TIMEOUT + 10)
            assert all(closed_by_server(connection, 5) for connection in held)
        finally:
            for connection in held:
                connection.close()
        assert discovery(port) == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _answers(port: int) -> bool:
    try:
        return discovery(port) == 200
    except requests.ConnectionError:
        return False
