"""A TCP relay in front of the upstream custodian that can be made slow, then closed.

The bolt-on reaches the upstream only through this relay (its ``UPSTREAM_RESOURCE_URL`` and
``INTROSPECTION_URL`` name the relay's port), so the soak can do to that link what a
struggling utility system does to it:

* :meth:`slow`: every chunk the bolt-on sends (a request) reaches the custodian ``delay_s``
  late -- an upstream answering past the bolt-on's read timeout;
* :meth:`down`: the listening socket is closed and every relayed connection cut -- what a
  stopped custodian looks like from the bolt-on (a new connection is refused: RST);
* :meth:`up`: listening again on the same port, at full speed.

The custodian process itself keeps running behind it, as a real custodian's database
outlives its restarts: the ASPs' tokens are still good when it is back.  Every relay thread
ends at EOF, at an error or when :meth:`down` cuts its sockets; none waits without a bound.
"""

from __future__ import annotations

import socket
import threading
import time

CONNECT_TIMEOUT_S = 5.0
MAX_DELAY_S = 60.0


class FaultProxy:
    def __init__(self, target_port: int, port: int) -> None:
        self.target_port = target_port
        self.port = port
        self.delay_s = 0.0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> FaultProxy:
        """Listen (again) on ``port``, relaying at full speed."""
        self.delay_s = 0.0
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):  # bounded: the kernel may hold the port a moment after down()
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            listener.close()
            raise OSError(f"port {self.port} stayed busy: the upstream cannot come back")
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def slow(self, delay_s: float) -> None:
        self.delay_s = min(delay_s, MAX_DELAY_S)

    def down(self) -> None:
        """Close the port and cut every relayed connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            cut, self._open = self._open, set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting on it
            except OSError:
                pass
            listener.close()
        for connection in cut:
            _close(connection)

    close = down

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:  # closed by down()
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port),
                                                timeout=CONNECT_TIMEOUT_S)  # fmt: skip
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if self._listener is None:  # went down meanwhile
                _close(client)
                _close(upstream)
                return
            self._open.update((client, upstream))
            self.connections += 1
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, sink: socket.socket, delayed: bool) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if delayed and self.delay_s > 0:
                    time.sleep(self.delay_s)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                _close(end)
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)


def _close(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()
