"""What every scenario works with: the server's metadata, grants, tokens and fetched bodies.

One :class:`Context` per run.  It does the OAuth legwork scenarios share -- discovery, an
authorization request with PKCE walked by the configured customer agent, the code exchange,
client credentials -- and keeps what later scenarios reuse: one grant per (client, customer),
every ESPI body fetched (the schema and certification scenarios check them all at the end),
the BatchLists the kit's notify listeners received.  Everything goes through
:class:`~.recorder.RecordingHttp`, so the running scenario's evidence is complete.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from ..client.receiver import NotificationReceiver
from .agent import WalkOutcome, make_agent
from .config import ClientConfig, CustomerConfig, KitConfig
from .errors import ScenarioFailed, ScenarioSkipped
from .model import Exchange
from .passcodes import make_passcode_source
from .recorder import RecordingHttp

__all__ = ["AuthorizationAttempt", "Context", "Grant", "pkce_pair"]

ATOM = "application/atom+xml"
WELL_KNOWN = (".well-known/oauth-authorization-server", ".well-known/openid-configuration")


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    """(code_verifier, code_challenge) per RFC 7636 4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class AuthorizationAttempt:
    """An authorization request as sent, and how it ended."""

    client: ClientConfig
    customer: CustomerConfig
    params: dict[str, str]
    verifier: str
    outcome: WalkOutcome
    response: dict[str, str] = field(default_factory=dict)  # the callback's parameters
    in_fragment: bool = False

    @property
    def code(self) -> str | None:
        return self.response.get("code")

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass
class Grant:
    """A customer's authorization of a client, with its tokens (from the token response)."""

    client: ClientConfig
    customer: CustomerConfig
    token: dict[str, Any]

    @property
    def access_token(self) -> str:
        return str(self.token.get("access_token", ""))

    @property
    def refresh_token(self) -> str | None:
        value = self.token.get("refresh_token")
        return str(value) if value else None

    @property
    def scope(self) -> str:
        return str(self.token.get("scope", ""))

    @property
    def resource_uri(self) -> str | None:
        value = self.token.get("resourceURI")
        return str(value) if value else None

    @property
    def authorization_uri(self) -> str | None:
        value = self.token.get("authorizationURI")
        return str(value) if value else None

    @property
    def subscription_url(self) -> str | None:
        """The Subscription resource (``.../Subscription/{id}``) of the token's resourceURI."""
        if not self.resource_uri:
            return None
        return self.resource_uri.replace("/Batch/Subscription/", "/Subscription/").rstrip("/")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass


class NotifyListener:
    """The kit's own notify endpoint for one client: the BatchLists it received, with times."""

    def __init__(self, host: str, port: int) -> None:
        self.received: list[tuple[float, list[str]]] = []
        self.lock = threading.Lock()
        receiver = NotificationReceiver(self._store)
        self.server: WSGIServer = make_server(host, port, receiver, handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _store(self, urls: list[str]) -> None:
        with self.lock:
            self.received.append((time.time(), urls))

    def urls_since(self, moment: float) -> list[str]:
        with self.lock:
            return [url for at, urls in self.received if at >= moment for url in urls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Context:
    """The run's shared state; scenarios call its helpers and ``check``/``fail``/``skip``."""

    def __init__(self, config: KitConfig) -> None:
        self.config = config
        self._evidence: list[Exchange] = []
        self.notes: list[str] = []
        self.http = RecordingHttp(config.timeout, self._evidence_sink)
        self.agent = make_agent(config.browser, self.http)
        self.passcodes = make_passcode_source(config.passcodes, self.http)
        self.documents: dict[str, bytes] = {}  # every ESPI body fetched: URL -> bytes
        self.shared: dict[str, Any] = {}  # what one scenario leaves for a later one
        self._metadata: dict[str, Any] | None = None
        self._metadata_error: str | None = None
        self._grants: dict[tuple[str, str], Grant | str] = {}
        self._client_tokens: dict[str, str | Exception] = {}
        self.listeners: dict[str, NotifyListener] = {}
        for client in config.clients:
            if client.notify_listen:
                try:
                    self.listeners[client.client_id] = NotifyListener(*client.notify_listen)
                except OSError as exc:
                    self.notes.append(f"cannot listen at {client.notify_listen}: {exc}")

    def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        close = getattr(self.agent, "close", None)
        if close is not None:
            close()
        self.http.close()

    # ---- the running scenario ------------------------------------------------------------
    def _evidence_sink(self, exchange: Exchange) -> None:
        self._evidence.append(exchange)

    def start_scenario(self) -> None:
        self._evidence = []
        self.notes = []

    def collected(self) -> tuple[list[Exchange], list[str]]:
        return self._evidence, self.notes

    def note(self, text: str) -> None:
        self.notes.append(text)

    @staticmethod
    def fail(message: str) -> NoReturn:
        raise ScenarioFailed(message)

    @staticmethod
    def skip(reason: str) -> NoReturn:
        raise ScenarioSkipped(reason)

    def check(self, condition: object, message: str) -> None:
        if not condition:
            raise ScenarioFailed(message)

    # ---- the parties ---------------------------------------------------------------------
    @property
    def primary_client(self) -> ClientConfig:
        return self.config.clients[0]

    @property
    def primary_customer(self) -> CustomerConfig:
        return self.config.customers[0]

    def confidential_client(self) -> ClientConfig:
        found = self.config.confidential_clients
        if not found:
            self.skip("CONFIG lists no confidential client (one with a client_secret)")
        return found[0]

    def public_client(self) -> ClientConfig:
        found = self.config.public_clients
        if not found:
            self.skip("CONFIG lists no public client (one without a client_secret)")
        return found[0]

    def second_client(self) -> ClientConfig:
        if len(self.config.clients) < 2:
            self.skip("CONFIG lists one client; isolation between ASPs needs a second")
        return self.config.clients[1]

    def second_customer(self) -> CustomerConfig:
        if len(self.config.customers) < 2:
            self.skip("CONFIG lists one customer; isolation between customers needs a second")
        return self.config.customers[1]

    def customer_of_kind(self, kind: str) -> CustomerConfig:
        found = self.config.customer(kind)
        if found is None:
            self.skip(f'CONFIG lists no {kind} customer (customers[].kind = "{kind}")')
        return found

    # ---- discovery -------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The authorization server's metadata (RFC 8414, else OpenID Connect Discovery)."""
        if self._metadata is None and self._metadata_error is None:
            problems = []
            for suffix in WELL_KNOWN:
                url = f"{self.config.issuer}/{suffix}"
                try:
                    response = self.http.get(url)
                except requests.RequestException as exc:
                    problems.append(f"{url}: {exc}")
                    continue
                if response.status_code == 200:
                    try:
                        data = response.json()
                    except ValueError:
                        problems.append(f"{url}: not JSON")
                        continue
                    if isinstance(data, dict):
                        self._metadata = data
                        break
                problems.append(f"{url}: {response.status_code}")
            else:
                self._metadata_error = "; ".join(problems)
        if self._metadata is None:
            raise ScenarioFailed(f"no authorization server metadata: {self._metadata_error}")
        return self._metadata

    def endpoint(self, name: str) -> str:
        value = self.metadata().get(name)
        if not isinstance(value, str) or not value:
            self.skip(f"the server's metadata names no {name}")
        return value

    # ---- authorization -------------------------------------------------------------------
    def authorize(
        self,
        client: ClientConfig,
        customer: CustomerConfig,
        *,
        decision: str = "approve",
        response_type: str = "code",
        method: str | None = "S256",
        redirect_uri: str | None = None,
        extra: dict[str, str] | None = None,
        scope: str | None = None,
    ) -> AuthorizationAttempt:
        """Send an authorization request and let the customer agent answer it.

        ``method=None`` sends no code_challenge at all (RFC 7636 4.3's parameters omitted).
        """
        verifier, challenge = pkce_pair(method or "S256")
        params = {
            "response_type": response_type,
            "client_id": client.client_id,
            "redirect_uri": redirect_uri or client.redirect_uri,
            "scope": scope or client.scope,
            "state": "st-" + secrets.token_urlsafe(12),
        }
        if "openid" in params["scope"].split() or "id_token" in response_type:
            params["nonce"] = "n-" + secrets.token_urlsafe(12)
        if method is not None:
            params["code_challenge"] = challenge
            params["code_challenge_method"] = method
        params.update(extra or {})
        url = self.endpoint("authorization_endpoint")
        joiner = "&" if urlsplit(url).query else "?"
        outcome = self.agent.walk(
            url + joiner + urlencode(params), customer, decision, client.redirect_uri
        )
        attempt = AuthorizationAttempt(client, customer, params, verifier, outcome)
        if outcome.callback:
            parts = urlsplit(outcome.callback)
            fragment = dict(parse_qsl(parts.fragment))
            attempt.in_fragment = bool(fragment)
            attempt.response = fragment or dict(parse_qsl(parts.query))
        return attempt

    def client_auth(self, client: ClientConfig, data: dict[str, str]) -> dict[str, Any]:
        """requests options authenticating ``client`` at the token endpoint (RFC 6749 2.3)."""
        if client.client_secret is None:
            return {"data": {**data, "client_id": client.client_id}}
        return {"data": data, "auth": (client.client_id, client.client_secret)}

    def token_request(self, client: ClientConfig, data: dict[str, str]) -> requests.Response:
        return self.http.post(self.endpoint("token_endpoint"), **self.client_auth(client, data))

    def redeem(
        self, attempt: AuthorizationAttempt, *, verifier: str | None = "", redirect_uri: str = ""
    ) -> requests.Response:
        """The code exchange (RFC 6749 4.1.3); ``verifier=None`` sends no code_verifier."""
        data = {
            "grant_type": "authorization_code",
            "code": attempt.code or "",
            "redirect_uri": redirect_uri or attempt.params["redirect_uri"],
        }
        if verifier is not None:
            data["code_verifier"] = verifier or attempt.verifier
        return self.token_request(attempt.client, data)

    def new_grant(
        self, client: ClientConfig | None = None, customer: CustomerConfig | None = None
    ) -> Grant:
        """A fresh authorization: consent, code, token (fails the scenario on any refusal)."""
        client = client or self.primary_client
        customer = customer or self.primary_customer
        attempt = self.authorize(client, customer)
        if attempt.code is None:
            where = attempt.outcome.callback or (
                f"a page ({attempt.outcome.status}): {attempt.outcome.page_text[:200]}"
            )
            self.fail(f"{customer.username} approving {client.client_id} gave no code: {where}")
        response = self.redeem(attempt)
        if response.status_code != 200:
            self.fail(f"the code exchange answered {response.status_code}: {response.text[:300]}")
        token = response.json()
        if not isinstance(token, dict) or not token.get("access_token"):
            self.fail("the token response has no access_token")
        # A server may keep one grant per customer and ASP: this consent can have replaced
        # (and revoked) the run's shared grant of the pair, which is made afresh when next
        # asked for (concept design 7.4; our server's lifecycle/replacement.py does this).
        self._grants.pop((client.client_id, customer.username), None)
        return Grant(client, customer, token)

    def grant(
        self, client: ClientConfig | None = None, customer: CustomerConfig | None = None
    ) -> Grant:
        """The run's grant of ``customer`` to ``client`` (made once; a failure is kept)."""
        client = client or self.primary_client
        customer = customer or self.primary_customer
        key = (client.client_id, customer.username)
        known = self._grants.get(key)
        if isinstance(known, Grant):
            return known
        if isinstance(known, str):
            self.skip(f"no grant of {customer.username} to {client.client_id}: {known}")
        try:
            made = self.new_grant(client, customer)
        except (ScenarioFailed, requests.RequestException) as exc:
            self._grants[key] = str(exc)
            raise
        self._grants[key] = made
        return made

    def forget_grant(self, grant: Grant) -> None:
        """Drop a grant a scenario ended (revoked), so the next user makes a new one."""
        self._grants.pop((grant.client.client_id, grant.customer.username), None)

    def client_token(self, client: ClientConfig | None = None) -> str:
        """A client_credentials access token (REQ.21: the ASP's own resources)."""
        client = client or self.confidential_client()
        known = self._client_tokens.get(client.client_id)
        if isinstance(known, str):
            return known
        if isinstance(known, Exception):
            self.skip(f"no client_credentials token for {client.client_id}: {known}")
        # ESPI custodians (the GBA DataCustodian, ours) take the ASP's registered FB= term.
        words = client.scope.split()
        scope = next((w for w in words if w.startswith("FB=")), client.scope)
        data = {"grant_type": "client_credentials", "scope": scope}
        response = self.token_request(client, data)
        if response.status_code != 200 or "access_token" not in response.text:
            error = ScenarioFailed(
                f"client_credentials for {client.client_id} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
            self._client_tokens[client.client_id] = error
            raise error
        token = str(response.json()["access_token"])
        self._client_tokens[client.client_id] = token
        return token

    # ---- resources -------------------------------------------------------------------------
    def resource_base(self) -> str:
        """``.../espi/1_1/resource``: CONFIG's resource_base, else from a grant's resourceURI."""
        if self.config.resource_base:
            return self.config.resource_base
        uri = self.grant().resource_uri
        if not uri or "/Batch/Subscription/" not in uri:
            self.fail(
                f"the token response's resourceURI {uri!r} is not .../Batch/Subscription/{{id}}"
            )
        return uri.split("/Batch/Subscription/", 1)[0]

    def fetch(
        self,
        url: str,
        token: str | None,
        *,
        params: dict[str, str] | None = None,
        method: str = "GET",
        accept: str = ATOM,
        **options: Any,
    ) -> requests.Response:
        """A resource request with a bearer token; ESPI bodies are kept for the final checks."""
        headers = {"Accept": accept, **options.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(method, url, params=params, headers=headers, **options)
        kind = response.headers.get("Content-Type", "")
        if method == "GET" and response.status_code == 200 and "xml" in kind:
            self.documents[response.url] = response.content
        return response

    def expect_xml(self, response: requests.Response, what: str) -> bytes:
        """The body of a 200 answer with an XML content type, or the scenario fails."""
        if response.status_code != 200:
            self.fail(f"{what}: {response.status_code} {response.text[:200]}")
        kind = response.headers.get("Content-Type", "")
        self.check("xml" in kind, f"{what}: Content-Type {kind!r} is not XML")
        return response.content

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                self.fail(f"{what} did not happen within {timeout:.0f} s")
            time.sleep(0.5)
