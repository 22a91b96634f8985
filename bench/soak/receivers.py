"""The ASPs' notify endpoints: one loopback HTTP server, one behaviour per path.

ESPI notifications are a ``BatchList`` POSTed to the ASP's ``thirdPartyNotifyUri``; the
utility's worker sends each outbox row with the same ``Idempotency-Key`` on every attempt
(server/outbox/queue.py), so an ASP that keeps the keys it answered can drop a repeat.
This receiver does keep them: the accounting counts a notification *lost* when its key was
never answered with a 2xx, and a repeat of a key as *deduplicated* (allowed), while a POST
without a key is counted on its own (a repeat of one could not be dropped).

Behaviours, chosen per path (one path per ASP application):

* ``flaky``: answers after a short random delay, 1 POST in ``fail_one_in`` with a 503 (the
  worker retries it later) -- an ordinary ASP;
* while :meth:`hang` is on for a path: reads the POST and never answers until the window
  ends, then drops the connection (the worker's read timeout fires) -- "an ASP notify
  endpoint that never answers";
* :meth:`arm_kill`: the next POST on a path calls a hook (the soak kills the worker sending
  it, with SIGKILL) *after* the body is read and before the answer: a delivery that reached
  the ASP and was never recorded as sent.

Every handler is bounded in time: none waits longer than its window or ``MAX_HOLD_S``.
"""

from __future__ import annotations

import http.server
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEY_HEADER = "Idempotency-Key"
MAX_HOLD_S = 120.0
"""The longest a hanging handler holds a connection (its window ends sooner)."""


@dataclass
class Endpoint:
    """What one ASP's endpoint saw: keys answered with 2xx, every POST, the ones refused."""

    path: str
    fail_one_in: int = 10
    slow_s: float = 0.2
    acknowledged: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)  # every POST read, answered or not
    posts: int = 0
    refused: int = 0
    unkeyed: int = 0
    hang_until: float = 0.0  # time.monotonic(): no answer before this
    kill_hook: Callable[[int, str], bool] | None = None  # (sender's port, key)


class Receivers:
    """A ThreadingHTTPServer on 127.0.0.1 with one :class:`Endpoint` per path."""

    def __init__(self, seed: int = 15) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.last_ack: dict[str, float] = {}  # key -> time.time() of its first 2xx
        receivers = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                receivers._handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                """A sender killed mid-request resets its connection: expected here, quiet."""

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, path: str, *, fail_one_in: int = 10, slow_s: float = 0.2) -> str:
        """A new endpoint at ``path``; returns its URL (the application's notify URI)."""
        self.endpoints[path] = Endpoint(path, fail_one_in=fail_one_in, slow_s=slow_s)
        return self.base + path

    def hang(self, path: str, seconds: float) -> None:
        """From now, ``path`` never answers for ``seconds`` (connections held, then dropped)."""
        self.endpoints[path].hang_until = time.monotonic() + seconds

    def arm_kill(self, path: str, hook: Callable[[int, str], bool] | None) -> None:
        """The next POST to ``path`` calls ``hook(sender_port, key)`` before it is answered."""
        self.endpoints[path].kill_hook = hook

    def acknowledged(self) -> Counter[str]:
        with self.lock:
            total: Counter[str] = Counter()
            for endpoint in self.endpoints.values():
                total.update(endpoint.acknowledged)
            return total

    def _handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        endpoint = self.endpoints.get(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        request.rfile.read(length)
        key = request.headers.get(KEY_HEADER) or ""
        if endpoint is None:
            self._answer(request, 404)
            return
        with self.lock:
            endpoint.posts += 1
            endpoint.received[key] += 1
            if not key:
                endpoint.unkeyed += 1
            hook, endpoint.kill_hook = endpoint.kill_hook, None
            fail = (
                self.random.randrange(endpoint.fail_one_in) == 0 if endpoint.fail_one_in else False
            )
            delay = self.random.uniform(0, endpoint.slow_s)
        if hook is not None and hook(int(request.client_address[1]), key):
            # The sender is dead: nobody reads an answer.  The row was never marked sent.
            request.close_connection = True
            return
        hold = endpoint.hang_until - time.monotonic()
        if hold > 0:
            time.sleep(min(hold, MAX_HOLD_S))
            request.close_connection = True  # dropped, never answered
            return
        time.sleep(delay)
        if fail:
            with self.lock:
                endpoint.refused += 1
            self._answer(request, 503)
            return
        with self.lock:
            endpoint.acknowledged[key] += 1
            self.last_ack.setdefault(key, time.time())
        self._answer(request, 200)

    @staticmethod
    def _answer(request: http.server.BaseHTTPRequestHandler, status: int) -> None:
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def __enter__(self) -> Receivers:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
