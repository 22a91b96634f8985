"""HTTP with evidence: every exchange a scenario makes is kept, cut short, secrets masked.

A verdict at a Plug Fest is argued from what was sent and what came back, so each request
goes through :class:`RecordingHttp`, which appends an :class:`~.model.Exchange` to the
running scenario's evidence.  Credentials never reach a report: the Authorization header,
passwords, client secrets, codes, verifiers, tokens and passcodes are masked in headers,
form bodies and JSON answers alike (the report is meant to be shared).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests

from .. import __version__
from .model import Exchange

__all__ = ["RecordingHttp", "mask"]

RATE_LIMIT_RETRIES = 3
"""How often one request is sent again after a 429 with a Retry-After of at most
``MAX_RETRY_AFTER`` seconds."""
MAX_RETRY_AFTER = 10.0
EXCERPT = 2000
"""Characters of a body kept in the evidence."""
SECRET_KEYS = frozenset(
    {
        "password",
        "client_secret",
        "code",
        "code_verifier",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "csrf_token",
        "otp",
        "passcode",
    }
)
_JSON_SECRET = re.compile(
    r'("(?:' + "|".join(sorted(SECRET_KEYS)) + r')"\s*:\s*")([^"]{0,4})[^"]*("?)'
)
_QUERY_SECRET = re.compile(r"([?&#](?:code|access_token|id_token|token)=)([^&#]{0,4})[^&#]*")


def mask(text: str) -> str:
    """``text`` with every secret-looking value cut to its first 4 characters + ``…``."""
    text = _JSON_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}…{m.group(3)}", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}…", text)


def _masked_form(body: str) -> str:
    pairs = parse_qsl(body, keep_blank_values=True)
    if not pairs:
        return mask(body)
    return urlencode([(k, (v[:4] + "…") if k in SECRET_KEYS and v else v) for k, v in pairs])


def _masked_headers(headers: Any) -> dict[str, str]:
    shown = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "cookie", "set-cookie", "proxy-authorization"):
            scheme = str(value).split(" ", 1)[0] if name.lower().endswith("authorization") else ""
            value = f"{scheme} (masked)".strip()
        shown[name] = mask(str(value))
    return shown


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait before sending again: a 429 with a short Retry-After, else None."""
    if response.status_code != 429:
        return None
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return None
    return max(seconds, 0.2) if seconds <= MAX_RETRY_AFTER else None


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body)


class RecordingHttp:
    """A ``requests.Session`` whose exchanges go to ``sink`` (the running scenario's list).

    Redirects are never followed: OAuth scenarios must see each 302 and its Location.
    """

    def __init__(self, timeout: float, sink: Callable[[Exchange], None]) -> None:
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"espi-sst-conformance/{__version__}"
        self.timeout = timeout
        self.sink = sink

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, url: str, **options: Any) -> requests.Response:
        """Send one request (and, after a 429 naming a short Retry-After, send it again, as
        a well-behaved ASP would: a gateway's rate limit is not the scenario's subject)."""
        options.setdefault("timeout", self.timeout)
        options.setdefault("allow_redirects", False)
        session = options.pop("session", None) or self.session
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = session.request(method, url, **options)
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
                self.sink(Exchange(method, url, None, {}, "", {}, "", error=error))
                raise
            self.sink(self.exchange(response))
            wait = _retry_after(response)
            if wait is None or attempt == RATE_LIMIT_RETRIES:
                return response
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, url: str, **options: Any) -> requests.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> requests.Response:
        return self.request("POST", url, **options)

    @staticmethod
    def exchange(response: requests.Response) -> Exchange:
        sent = response.request
        body = _body_text(sent.body)
        content_type = str(sent.headers.get("Content-Type", ""))
        body = _masked_form(body) if "form-urlencoded" in content_type else mask(body)
        answer = response.content[:EXCERPT].decode("utf-8", "replace")
        if "json" in response.headers.get("Content-Type", ""):
            try:
                answer = json.dumps(response.json(), indent=1)[:EXCERPT]
            except ValueError:
                pass
        return Exchange(
            method=str(sent.method),
            url=mask(str(sent.url)),
            status=response.status_code,
            request_headers=_masked_headers(sent.headers),
            request_body=body[:EXCERPT],
            response_headers=_masked_headers(response.headers),
            response_excerpt=mask(answer),
        )
