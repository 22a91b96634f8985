"""The HTTP server of ``espi-sst demo``, ``demo --statewide`` and ``espi-sst serve``:
Werkzeug's threaded server, with a socket timeout and a bound on its threads.

Why (issue 11, finding 27): Werkzeug's development server gives every connection a thread
and waits on it for ever.  A client that sends half a request -- headers without their
end, a body shorter than its ``Content-Length`` -- or just keeps a connection open held a
thread each, indefinitely: 150 threads after 22 seconds of a slow-loris script, and no end.

* every connection's socket gets a **timeout** (``timeout`` seconds, default 30): a read
  that waits longer ends the connection (Werkzeug treats the timeout as a dropped
  connection; the thread ends);
* at most ``max_threads`` connections (default 64) are served at once; one more is
  answered ``503`` with ``Retry-After`` and closed at once, so the accept loop never
  blocks and a stop is never held up by a full house.

The timeout is per read, not per request: a client that trickles a byte every few seconds
keeps its thread up to the bound.  These servers are for the demo and for development on
a trusted machine.  Production runs gunicorn behind nginx, whose ``client_header_timeout``
and ``client_body_timeout`` bound a whole request (docs/deployment.md).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_THREADS = 64
_BUSY_TEXT = b"server busy: too many open connections; retry shortly\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_BUSY_TEXT)).encode() + b"\r\n\r\n" + _BUSY_TEXT
)


class BoundedServer(ThreadedWSGIServer):
    """A thread per connection, at most ``max_threads`` of them, each socket timed out."""

    def __init__(self, host: str, port: int, app: Any, *, timeout: float, max_threads: int) -> None:
        if timeout <= 0 or max_threads < 1:
            raise ValueError("the socket timeout must be positive and max_threads at least 1")
        handler = type("TimedRequestHandler", (WSGIRequestHandler,), {"timeout": timeout})
        super().__init__(host, port, app, handler=handler)
        self.max_threads = max_threads
        self._slots = threading.BoundedSemaphore(max_threads)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """503 on a connection over the bound (a fresh socket's send does not block)."""
        try:
            request.settimeout(1.0)
            request.sendall(_BUSY)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)


def make_dev_server(
    host: str,
    port: int,
    app: Any,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_threads: int = DEFAULT_MAX_THREADS,
) -> BoundedServer:
    """Werkzeug's ``make_server(..., threaded=True)``, bounded (see the module docstring)."""
    return BoundedServer(host, port, app, timeout=timeout, max_threads=max_threads)


__all__ = ["DEFAULT_MAX_THREADS", "DEFAULT_TIMEOUT", "BoundedServer", "make_dev_server"]
