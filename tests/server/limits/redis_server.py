"""A throw-away redis-server on a free loopback port, for tests that need shared counters.

Debian's ``redis-server`` when installed (CI installs it; see .ci/run); otherwise the tests
skip, unless ESPI_REQUIRE_REDIS is set: then a missing server fails, as PostgreSQL does in
tests/server/conftest.py.  Nothing is saved to disk; the process ends with the fixture.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start redis-server with its files in ``folder``; yield its URL and process."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("ESPI_REQUIRE_REDIS"):
            pytest.fail("ESPI_REQUIRE_REDIS is set but redis-server is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a redis-server started for the test module."""
    with running_redis(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url
