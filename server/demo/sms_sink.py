"""The demo's SMS sink: a real HTTP receiver on loopback that files every text message it is
sent, for the demo's SMS inbox page (server/demo/sms_inbox.py).

The demo utility sends rate-change passcodes by SMS like a real one would: the outbox worker
POSTs them with the generic HTTP adapter (server/outbox/sms.py, :class:`HttpSmsSender`:
JSON ``{"to", "body"}``, a bearer token, an ``Idempotency-Key``).  Instead of a gateway,
the POST lands here.  The sink checks what a gateway would -- the token (401 without it),
the JSON, an E.164 ``to`` -- and keeps each key once, so a resend is answered 200 but not
filed twice.  Each message is one JSON file, written to a temporary name and renamed into
place (as a Maildir does), so the web process reads while the receiver writes, without locks.

Loopback only: anyone who can connect and knows the token could file messages.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from ..outbox.sms import e164

__all__ = ["SmsMessage", "SmsSink", "read_sms"]

PATH = "/messages"
"""Where the sink takes messages: ``SMS_URL`` is ``http://127.0.0.1:PORT/messages``."""
_LONGEST_BODY = 64 * 1024


@dataclass(frozen=True)
class SmsMessage:
    """One text message the sink received.

    Attributes:
        to: the E.164 number it was sent to.
        body: the text.
        received: when the sink filed it (epoch seconds); orders the inbox.
        idempotency_key: the sender's key (the same on every attempt of one message).
    """

    to: str
    body: str
    received: float
    idempotency_key: str


class SmsSink:
    """A loopback HTTP server that files every accepted text message in ``folder``.

    Use as a context manager, or ``start()`` / ``stop()``.  ``port=0`` lets the system
    choose; ``.url`` is what ``SMS_URL`` should be once started, ``.token`` its
    ``SMS_TOKEN``.
    """

    def __init__(self, folder: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"the SMS sink files whatever is posted to it: listen on loopback "
                f"(127.0.0.1 or ::1), not {host!r}"
            )
        if not token:
            raise ValueError("the SMS sink needs a token (SMS_TOKEN), as a real gateway does")
        self.folder = Path(folder)
        self.token = token
        self.host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The sink's message endpoint (``SMS_URL``)."""
        return f"http://{self.host}:{self._port}{PATH}"

    def start(self) -> SmsSink:
        if self._server is not None:
            raise RuntimeError("the SMS sink is already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        server = ThreadingHTTPServer((self.host, self._port), _handler(self.folder, self.token))
        server.daemon_threads = True
        self._port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="espi-sst-sms-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> SmsSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self, to: str | None = None) -> list[SmsMessage]:
        """The messages received so far (to ``to`` only, when given), newest first."""
        return read_sms(self.folder, to)


def read_sms(folder: Path, to: str | None = None) -> list[SmsMessage]:
    """Every message filed in ``folder`` (to ``to``, compared as E.164), newest first.

    A missing folder is an empty inbox; a file that does not parse is skipped.
    """
    wanted = _normalised(to) if to else None
    found: list[SmsMessage] = []
    try:
        names = sorted(path for path in Path(folder).glob("*.json"))
    except OSError:
        return []
    for path in names:
        try:
            data = json.loads(path.read_text())
            message = SmsMessage(
                to=str(data["to"]),
                body=str(data["body"]),
                received=float(data["received"]),
                idempotency_key=str(data.get("idempotency_key", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if wanted is None or message.to == wanted:
            found.append(message)
    found.sort(key=lambda m: m.received, reverse=True)
    return found


def _normalised(number: str) -> str | None:
    try:
        return e164(number)
    except ValueError:
        return None


def _handler(folder: Path, token: str) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "espi-sst-demo-sms-sink"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != PATH:
                return self._answer(404, {"error": f"post messages to {PATH}"})
            given = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return self._answer(401, {"error": "a valid bearer token is required"})
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > _LONGEST_BODY:
                return self._answer(400, {"error": "send a JSON body {to, body}"})
            try:
                data = json.loads(self.rfile.read(length))
                to = e164(str(data["to"]))
                body = data["body"]
                if not isinstance(body, str) or not body:
                    raise ValueError("body must be non-empty text")
            except (ValueError, KeyError, TypeError) as error:
                return self._answer(400, {"error": f"bad message: {error}"})
            key = self.headers.get("Idempotency-Key") or ""
            name = hashlib.sha256((key or f"{time.time_ns()}").encode()).hexdigest()[:32]
            target = folder / f"{name}.json"
            if key and target.exists():
                return self._answer(200, {"status": "duplicate", "id": name})
            partial = folder / f".{name}.partial"
            partial.write_text(
                json.dumps(
                    {"to": to, "body": body, "received": time.time(), "idempotency_key": key}
                )
            )
            partial.replace(target)
            return self._answer(201, {"status": "queued", "id": name})

        def _answer(self, status: int, document: dict[str, str]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Silent: the request line is harmless, but the demo's console is for people."""

    return Handler


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
