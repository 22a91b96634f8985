"""Slow-loris clients for the demo and development servers' tests (server/demo/dev_server.py):
connections that send half a request and then nothing, and how to see the server end them.

Two kinds, as in the penetration test (issue 11, finding 27): a request line and headers
that never end, and a form POST whose body stops short of its ``Content-Length``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

HEADERS_NEVER_END = b"GET /portal/login HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"
BODY_STOPS_SHORT = (
    b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
    b"grant_type=client_cre"
)


def open_half_sent(port: int, count: int) -> list[socket.socket]:
    """``count`` connections to 127.0.0.1:``port``, each holding half a request."""
    connections = []
    for number in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(HEADERS_NEVER_END if number % 2 else BODY_STOPS_SHORT)
        connections.append(connection)
    return connections


def closed_by_server(connection: socket.socket, within: float) -> bool:
    """Does the server end this connection within ``within`` seconds (an answer, if any,
    then end of stream or a reset)?"""
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            connection.settimeout(max(0.05, deadline - time.monotonic()))
            if not connection.recv(65536):
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return False


def wait_for(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def process_threads(pid: int) -> int:
    """The thread count of a process (Linux: /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError(f"no thread count for process {pid}")
