"""The ASP's notify endpoint: a WSGI app that accepts a data custodian's ESPI ``BatchList``.

A custodian tells an ASP that something changed (new data, a rate change moving on) by
POSTing a ``BatchList`` of resource URLs to the ASP's registered notify URI (ESPI function
block 39).  :class:`NotificationReceiver` reads it with the library's safe XML reader and
hands the URLs to the ASP's callback; the ASP then GETs them with the customer's token.
Mount it anywhere WSGI goes (``app.wsgi_app = DispatcherMiddleware(...)``, or serve it
alone); it answers 204 when the callback returned, 400 for a body that is not a BatchList,
405 for anything but POST.  It never authenticates the caller: a notification only says
"look again", and the ASP fetches the data with its own token from its own configured
custodian, so a forged notification costs a GET, nothing more.  Restrict who may reach
the endpoint at the network layer if even that matters (mutual TLS at the gateway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import EspiError
from ..xml.batch_list import read_batch_list

__all__ = ["NotificationReceiver", "batch_list_urls"]

MAX_BODY = 1 << 20
StartResponse = Callable[..., Any]


def batch_list_urls(body: bytes) -> list[str]:
    """The resource URLs of an ESPI BatchList (ParseError / UnsafeXmlError for anything else)."""
    return read_batch_list(body, source="<notification>")


class NotificationReceiver:
    """WSGI app: ``NotificationReceiver(lambda urls: queue.put(urls))``."""

    def __init__(self, callback: Callable[[list[str]], None]) -> None:
        self.callback = callback

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(
                start_response, "405 Method Not Allowed", b"POST a BatchList", [("Allow", "POST")]
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return _answer(start_response, "400 Bad Request", b"a BatchList body of at most 1 MiB")
        body = environ["wsgi.input"].read(length)
        try:
            urls = batch_list_urls(body)
        except EspiError as exc:  # ParseError, UnsafeXmlError: the sender's fault
            return _answer(start_response, "400 Bad Request", str(exc).encode()[:500])
        self.callback(urls)
        return _answer(start_response, "204 No Content", b"")


def _answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [body]
