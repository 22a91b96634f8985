"""Real parallel requests for the race tests: the world's app on a threaded loopback server,
and N requests released together by a barrier (each thread its own connection)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 (a free port, a thread per request); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(10)


def together(count: int, send: Callable[[], requests.Response]) -> list[requests.Response]:
    """``send`` from ``count`` threads at once; every answer (an exception fails the test)."""
    barrier = threading.Barrier(count)
    answers: list[requests.Response] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(10)
            answer = send()
        except BaseException as exc:  # reported below
            with lock:
                failures.append(exc)
            return
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert len(answers) == count
    return answers


def statuses(answers: list[requests.Response]) -> list[tuple[int, Any]]:
    """(status, OAuth error or None) per answer, sorted: easy to compare and to read."""
    found = []
    for answer in answers:
        error = None
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            error = answer.json().get("error")
        found.append((answer.status_code, error))
    return sorted(found, key=repr)
