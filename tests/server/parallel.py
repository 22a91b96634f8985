"""Real parallel requests for the race tests (issue 11: concurrency bugs get concurrency tests).

Races are only shown by racing: ``serve(app)`` runs the app in Werkzeug's threaded server
on 127.0.0.1 (port 0, a thread per request), and ``together(n, call)`` starts ``n`` threads
that wait at one barrier and then call at once, each with its own connection.  Their
results come back in thread order; an exception in a thread is re-raised in the test's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from flask import Flask
from werkzeug.serving import make_server

T = TypeVar("T")


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app's base URL while it serves on 127.0.0.1, one thread per request."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def together(n: int, call: Callable[[int], T], *, timeout: float = 60.0) -> list[T]:
    """``call(i)`` for i in 0..n-1, in n threads released at the same moment."""
    barrier = threading.Barrier(n)
    results: list[T | None] = [None] * n
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    assert all(not t.is_alive() for t in threads), "a parallel request did not finish"
    return results  # type: ignore[return-value]


def statuses(answers: list[requests.Response]) -> list[tuple[int, Any]]:
    """(status, OAuth error or None) per answer, sorted: easy to compare and to read."""
    found = []
    for answer in answers:
        error = None
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            error = answer.json().get("error")
        found.append((answer.status_code, error))
    return sorted(found, key=repr)
