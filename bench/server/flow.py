"""The authorization-code flow with PKCE over HTTP, as a browser and an ASP would run it.

No browser: a cookie session and the CSRF tokens of the utility's own pages, six requests
per flow --

1. ``GET /oauth/authorize?...``  (no session yet: 302 to the sign-in page)
2. ``GET /portal/login?next=...``  (the form and its CSRF token; sets the session cookie)
3. ``POST /portal/login``  (user name and password: one argon2 verification)
4. ``GET /oauth/authorize?...``  (signed in: the consent page and its CSRF token)
5. ``POST /oauth/authorize``  (approve what the page offers: 302 to the ASP with a code)
6. ``POST /oauth/token``  (the ASP: code + PKCE verifier, client_secret_basic; an RS256
   id_token is signed)

``closed_loop`` runs flows from several threads for a fixed time and reports flows/s and
the latency of whole flows and of each step.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from load import percentile

STEPS = (
    "authorize GET",
    "sign-in page GET",
    "sign-in POST",
    "consent page GET",
    "consent POST",
    "token POST",
)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
NEXT = re.compile(r'name="next" type="hidden" value="([^"]*)"')
INPUT = re.compile(r"<input\b[^>]*>")
ATTRIBUTE = re.compile(r'\b(name|value)="([^"]*)"')


def pre_checked(page: str) -> list[tuple[str, str]]:
    """The categories and service agreements the consent page pre-checks, whatever the order
    of the attributes in each ``<input>`` (the page's labels and hints came between them)."""
    found = []
    for tag in INPUT.findall(page):
        if not re.search(r"\schecked\b", tag):
            continue
        attributes = dict(ATTRIBUTE.findall(tag))
        if attributes.get("name") in ("categories", "usage_points") and "value" in attributes:
            found.append((attributes["name"], attributes["value"]))
    return found


class FlowError(RuntimeError):
    """A step answered something a real flow would not get."""


@dataclass(frozen=True)
class Asp:
    """The benchmark's client: the demo's confidential, qualified ASP."""

    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str


class Browser:
    """One user agent: a keep-alive connection (reopened when the server closes it) and
    the cookie jar of one host."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.netloc
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        target: str,
        form: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, target, body=body, headers=sent)
        response = self.connection.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, val = cookie.partition("=")
                if val:
                    self.cookies[key.strip()] = val.strip()
                else:
                    self.cookies.pop(key.strip(), None)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self) -> None:
        self.connection.close()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _expect(step: str, status: int, wanted: int, body: bytes) -> None:
    if status != wanted:
        raise FlowError(f"{step}: HTTP {status}, expected {wanted}: {body[:200]!r}")


def _local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def run_flow(
    base_url: str, asp: Asp, username: str, password: str
) -> tuple[list[float], dict[str, Any]]:
    """One complete flow in a fresh browser; returns each step's seconds and the token."""
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": asp.client_id,
            "redirect_uri": asp.redirect_uri,
            "scope": asp.scope,
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    authorize = f"/oauth/authorize?{query}"
    browser = Browser(base_url)
    times: list[float] = []

    def step(*args: Any, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        started = time.perf_counter()
        answer = browser.request(*args, **kwargs)
        times.append(time.perf_counter() - started)
        return answer

    try:
        status, headers, body = step("GET", authorize)
        _expect(STEPS[0], status, 302, body)
        status, headers, body = step("GET", _local(headers["location"]))
        _expect(STEPS[1], status, 200, body)
        page = body.decode()
        token, following = CSRF.search(page), NEXT.search(page)
        if token is None or following is None:
            raise FlowError("sign-in page: no CSRF token or next field")
        form = [
            ("csrf_token", token.group(1)),
            ("next", html.unescape(following.group(1))),
            ("username", username),
            ("password", password),
        ]
        status, headers, body = step("POST", "/portal/login", form)
        _expect(STEPS[2], status, 302, body)
        status, headers, body = step("GET", _local(headers["location"]))
        _expect(STEPS[3], status, 200, body)
        page = body.decode()
        token = CSRF.search(page)
        if token is None:
            raise FlowError("consent page: no CSRF token")
        form = [("csrf_token", token.group(1)), ("decision", "approve")]
        form += [("until_revoked", "y")] + pre_checked(page)  # what the page pre-checks
        status, headers, body = step("POST", authorize, form)
        _expect(STEPS[4], status, 302, body)
        returned = parse_qs(urlsplit(headers["location"]).query)
        if returned.get("state") != [state] or "code" not in returned:
            raise FlowError(f"consent: no code for our state in {headers['location']}")
        basic = base64.b64encode(f"{asp.client_id}:{asp.client_secret}".encode()).decode()
        form = [
            ("grant_type", "authorization_code"),
            ("code", returned["code"][0]),
            ("redirect_uri", asp.redirect_uri),
            ("code_verifier", verifier),
        ]
        # A public client (no secret: the demo's mobile app) names itself in the form, and
        # PKCE stands in for its authentication (RFC 6749 2.3, RFC 7636).
        authenticate = {"Authorization": f"Basic {basic}"} if asp.client_secret else {}
        if not asp.client_secret:
            form.append(("client_id", asp.client_id))
        status, headers, body = step("POST", "/oauth/token", form, headers=authenticate)
        _expect(STEPS[5], status, 200, body)
        issued: dict[str, Any] = json.loads(body)
        if "access_token" not in issued or "id_token" not in issued:
            raise FlowError("token response without access_token or id_token")
        return times, issued
    finally:
        browser.close()


@dataclass
class FlowResult:
    """Flows completed in one measurement window."""

    concurrency: int
    seconds: float
    flows: list[float] = field(default_factory=list)
    steps: list[list[float]] = field(default_factory=lambda: [[] for _ in STEPS])
    errors: int = 0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.flows) / self.seconds if self.seconds else 0.0

    def flow_ms(self, fraction: float) -> float:
        return percentile(sorted(self.flows), fraction) * 1000

    def step_ms(self, index: int, fraction: float) -> float:
        return percentile(sorted(self.steps[index]), fraction) * 1000


def closed_loop(
    base_url: str,
    asp: Asp,
    customers: list[tuple[str, str]],
    concurrency: int,
    seconds: float,
    warmup: float = 0.0,
) -> FlowResult:
    """``concurrency`` threads each running flows back to back (customers in turn).

    Flows that end inside the window ``[warmup, warmup + seconds]`` count (throughput in
    a steady state: the warm-up keeps the first flows, and their cold caches, out); a flow
    still running at its end is finished but not counted.
    """
    result = FlowResult(concurrency, seconds)
    lock = threading.Lock()
    start = time.perf_counter() + warmup
    end = start + seconds

    def worker(number: int) -> None:
        turn = number
        while time.perf_counter() < end:
            username, password = customers[turn % len(customers)]
            turn += concurrency
            began = time.perf_counter()
            try:
                times, _issued = run_flow(base_url, asp, username, password)
            except (FlowError, OSError, http.client.HTTPException) as exc:
                with lock:
                    if start <= time.perf_counter() <= end:
                        result.errors += 1
                        result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                continue
            finished = time.perf_counter()
            if start <= finished <= end:
                with lock:
                    result.flows.append(finished - began)
                    for index, took in enumerate(times):
                        result.steps[index].append(took)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result
