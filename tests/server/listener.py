"""A raw TCP listener on 127.0.0.1 that stands in for an ASP's notify endpoint and counts
every connection made to it -- so a test can show that the server made **none**.

``answer`` decides what it does with each request: ``"ok"`` (204), ``"fail"`` (503),
``"redirect"`` (302 to ``location``) or ``"hold"`` (read the request, never answer, keep
the connection open until the listener closes).
"""

from __future__ import annotations

import socket
import threading
from typing import Literal

Answer = Literal["ok", "fail", "redirect", "hold"]


class Listener:
    def __init__(
        self, answer: Answer = "ok", location: str = "", fail_requests: frozenset[int] = frozenset()
    ) -> None:
        self.answer: Answer = answer
        self.fail_requests = (
            fail_requests  # these requests (1, 2, ...) get a 503 whatever ``answer``
        )
        self.location = location
        self.connections = 0
        self.requests: list[bytes] = []
        self.holding = threading.Event()  # set while a held connection is open
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/notify"
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        request = _read_request(connection)
        with self._lock:
            self.requests.append(request)
            refused = len(self.requests) in self.fail_requests
        if refused:
            connection.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            connection.close()
            return
        if self.answer == "hold":
            with self._lock:
                self._held.append(connection)
            self.holding.set()
            return
        status = {"ok": "204 No Content", "fail": "503 Service Unavailable"}.get(
            self.answer, "302 Found"
        )
        extra = f"Location: {self.location}\r\n" if self.answer == "redirect" else ""
        try:
            connection.sendall(
                f"HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
        finally:
            connection.close()

    def still_holding(self) -> bool:
        """True while a held connection is open at both ends (the client still waits)."""
        with self._lock:
            held = list(self._held)
        for connection in held:
            connection.setblocking(False)
            try:
                if connection.recv(1, socket.MSG_PEEK) == b"":
                    return False  # the client closed it (gave up waiting)
            except BlockingIOError:
                continue  # open, nothing sent: still waiting for our answer
            except OSError:
                return False
        return bool(held)

    def close(self) -> None:
        self._stopped.set()
        self._socket.close()
        with self._lock:
            for connection in self._held:
                connection.close()
            self._held.clear()


def _read_request(connection: socket.socket) -> bytes:
    """Headers and a Content-Length body (enough for the outbox's POSTs)."""
    data = b""
    connection.settimeout(10)
    try:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body
    except OSError:
        return data
