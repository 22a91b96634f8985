"""A scriptable data custodian on a real socket (127.0.0.1, port 0) for the client tests.

It plays the parts of a Green Button Connect custodian that the real server does not easily
misplay on purpose: discovery metadata naming the wrong issuer or missing, a token endpoint
that rotates refresh tokens and answers ``invalid_grant`` to a reused one (RFC 9700 4.14),
id_tokens with a chosen wrong claim or signing key, and API resources answering a scripted
sequence of statuses (429 with Retry-After, 5xx, 401 ...).  Every request is counted per
endpoint so a test can say how many refreshes and retries happened.

Below the custodian, the ASP's side of the world: a client registered at it (:func:`asp`)
or already holding the customer's grant (:func:`stored_grant`); conftest.py starts one
custodian per test.

The customer's consent is not a web page here: :meth:`FakeCustodian.approve` takes the
authorization URL the client built and returns the redirect back, as the portal would.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

import espi_sst
from espi_sst.client import AspClient, MemoryTokenStore, UsagePointInfo
from espi_sst.model import sst
from espi_sst.model.atom import Entry, Feed, Link
from espi_sst.model.espi import ServiceCategory, UsagePoint

CLIENT_ID = "test-asp"
CLIENT_SECRET = "test-asp-secret"
REDIRECT_URI = "https://asp.example/callback"
RESOURCE = "/DataCustodian/espi/1_1/resource"
SUBSCRIPTION = f"{RESOURCE}/Subscription/7"
USAGE_POINTS = f"{SUBSCRIPTION}/UsagePoint"
POINT = f"{USAGE_POINTS}/1"
AUTHORIZATION_ID = "42"
WHEN = datetime(2026, 11, 20, 8, tzinfo=UTC)
DEFAULT = object()  # approve(): send the real issuer as ``iss``


@cache
def rsa_key(kid: str, copy: int = 0) -> RSAKey:
    """An RSA signing key (generated once per test run: generation is slow); another ``copy``
    gives a different key under the same ``kid``."""
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def s256(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Reply:
    """One scripted answer of an API resource."""

    status: int
    body: bytes | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    headers: dict[str, str]
    body: bytes


def usage_point_feed(base_url: str) -> bytes:
    """A one-UsagePoint feed, as ``GET .../Subscription/{id}/UsagePoint`` returns it."""
    href = base_url + POINT
    entry = Entry(
        id="urn:uuid:1c7b2f0e-0000-5000-8000-000000000001",
        title="Home",
        links=[Link(href, "self"), Link(base_url + USAGE_POINTS, "up")],
        content=UsagePoint(service_category=ServiceCategory(kind=0)),
        published=WHEN,
        updated=WHEN,
    )
    return espi_sst.serialize(
        Feed(
            id="urn:uuid:1c7b2f0e-0000-5000-8000-0000000000ff",
            title="UsagePoint",
            updated=WHEN,
            entries=[entry],
        )
    )


def rate_change_entry(base_url: str, status: sst.RateChangeStatus) -> bytes:
    """A RateChangeRequest entry, as the rate change POSTs answer."""
    href = f"{base_url}{POINT}/RateChangeRequest/5"
    entry = Entry(
        id="urn:uuid:1c7b2f0e-0000-5000-8000-000000000005",
        title="RateChangeRequest",
        links=[Link(href, "self"), Link(f"{base_url}{POINT}/RateChangeRequest", "up")],
        content=sst.RateChangeRequest(
            target_rin=espi_sst.Rin.parse("USCA-PGPG-0510-0000"),
            target_tariff_code="EV2-A",
            requested_at=1763629200,
            updated_at=1763629200,
            status=status,
        ),
        published=WHEN,
        updated=WHEN,
    )
    return espi_sst.serialize(entry)


class FakeCustodian:
    """Discovery, OAuth and scripted ESPI resources; use as a context manager."""

    def __init__(self) -> None:
        self.key = rsa_key("custodian-1")
        self.signing_key = self.key  # set to another key to sign id_tokens wrongly
        self.id_token_claims: dict[str, Any] = {}  # overrides of the id_token's claims
        self.issuer_override: str | None = None  # the metadata names this issuer instead
        self.openid_configuration = True  # False: /.well-known/openid-configuration is 404
        self.busy_discovery = 0  # answer this many discovery requests 429 (Retry-After: 0)
        self.iss_parameter_supported = False
        self.refresh_delay = 0.05  # widens the window for racing refreshes
        self.counts: Counter[str] = Counter()  # per path, and per grant_type
        self.seen: dict[str, list[Seen]] = {}
        self._scripts: dict[str, list[Reply]] = {}
        self._codes: dict[str, dict[str, str]] = {}
        self._access_tokens: set[str] = set()
        self._refresh_tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> FakeCustodian:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # ---- what tests set up -----------------------------------------------------------------
    def script(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with these replies in order; the last one repeats."""
        with self._lock:
            self._scripts[path] = list(replies)

    def approve(
        self, authorization_url: str, *, iss: object = DEFAULT, error: str | None = None
    ) -> str:
        """The customer consents (or refuses, ``error``): the redirect back to the ASP."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        answer = {"state": query["state"]}
        if error:
            answer["error"] = error
        else:
            code = secrets.token_urlsafe(12)
            with self._lock:
                self._codes[code] = query
            answer["code"] = code
        if iss is DEFAULT:
            answer["iss"] = self.base_url
        elif isinstance(iss, str):
            answer["iss"] = iss
        return f"{query['redirect_uri']}?{urlencode(answer)}"

    def forget_refresh_tokens(self) -> None:
        """The custodian ends every grant (revoked, or expired at its end)."""
        with self._lock:
            self._refresh_tokens.clear()

    def token(self, *, expired: bool = False) -> dict[str, Any]:
        """A token as the code exchange left it: its refresh token is live; when ``expired``
        its access token is refused and ``expires_at`` is past."""
        issued = self._issue("usage openid", nonce=None)
        if expired:
            with self._lock:
                self._access_tokens.discard(issued["access_token"])
        issued["expires_at"] = int(time.time()) + (-60 if expired else 3600)
        return issued

    # ---- the custodian ---------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        base = self.base_url
        return {
            "issuer": self.issuer_override or base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "jwks_uri": f"{base}/oauth/jwks.json",
            "scopes_supported": ["openid", "usage", "sst:rate_change"],
            "authorization_response_iss_parameter_supported": self.iss_parameter_supported,
        }

    def _issue(self, scope: str, nonce: str | None) -> dict[str, Any]:
        access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16)
        with self._lock:
            self._access_tokens.add(access)
            self._refresh_tokens.add(refresh)
        token: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "refresh_token": refresh,
            "expires_in": 3600,
            "scope": scope,
            "resourceURI": f"{self.base_url}{RESOURCE}/Batch/Subscription/7",
            "authorizationURI": f"{self.base_url}{RESOURCE}/Authorization/{AUTHORIZATION_ID}",
        }
        if nonce is not None:
            token["id_token"] = self._id_token(nonce)
        return token

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.base_url,
            "sub": "customer-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.id_token_claims,
        }
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        return jwt.encode(header, claims, self.signing_key)

    def _record(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1
            self.seen.setdefault(name, []).append(
                Seen(request.method, dict(request.headers), request.get_data())
            )

    def _app(self) -> Flask:
        app = Flask(__name__)

        def error(status: int, code: str) -> Response:
            response = jsonify(error=code)
            response.status_code = status
            return response

        @app.get("/.well-known/openid-configuration")
        def openid_configuration() -> Response:
            self._record(request.path)
            if self.busy_discovery > 0:  # a rate-limited gateway in front (RFC 6585 4)
                self.busy_discovery -= 1
                busy = error(429, "too_many_requests")
                busy.headers["Retry-After"] = "0"
                return busy
            if not self.openid_configuration:
                return error(404, "not_found")
            return jsonify(self._metadata())

        @app.get("/.well-known/oauth-authorization-server")
        def oauth_metadata() -> Response:
            self._record(request.path)
            return jsonify(self._metadata())

        @app.get("/oauth/jwks.json")
        def jwks() -> Response:
            self._record(request.path)
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.post("/oauth/revoke")
        def revoke() -> Response:
            self._record(request.path)
            with self._lock:
                self._refresh_tokens.discard(request.form.get("token", ""))
            return Response(status=200)

        @app.post("/oauth/token")
        def token() -> Response:
            self._record(request.path)
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return error(401, "invalid_client")
            form = request.form
            grant_type = form.get("grant_type", "")
            self._record(grant_type)
            if grant_type == "authorization_code":
                with self._lock:
                    started = self._codes.pop(form.get("code", ""), None)
                if (
                    started is None
                    or form.get("redirect_uri") != started["redirect_uri"]
                    or started.get("code_challenge_method") != "S256"
                    or s256(form.get("code_verifier", "")) != started["code_challenge"]
                ):
                    return error(400, "invalid_grant")
                scope = started["scope"]
                nonce = started.get("nonce") if "openid" in scope.split() else None
                return jsonify(self._issue(scope, nonce))
            if grant_type == "refresh_token":
                time.sleep(self.refresh_delay)
                with self._lock:
                    live = form.get("refresh_token") in self._refresh_tokens
                    self._refresh_tokens.discard(form.get("refresh_token", ""))
                if not live:
                    return error(400, "invalid_grant")
                return jsonify(self._issue(form.get("scope", "usage"), None))
            return error(400, "unsupported_grant_type")

        @app.route(f"{RESOURCE}/<path:_rest>", methods=["GET", "POST", "PUT", "DELETE"])
        def resource(_rest: str) -> Response:
            self._record(request.path)
            bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            with self._lock:
                if bearer not in self._access_tokens:
                    response = error(401, "invalid_token")
                    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
                    return response
                replies = self._scripts.get(request.path)
                if not replies:
                    return error(404, "not_found")
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
            if isinstance(reply.body, dict):
                response = jsonify(reply.body)
                response.status_code = reply.status
            else:
                response = Response(
                    reply.body, status=reply.status, mimetype="application/atom+xml"
                )
            response.headers.update(reply.headers)
            return response

        return app


# ---- the ASP's side: clients of the fake custodian ----------------------------------------
SCOPE = "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 usage openid"


def asp(custodian: FakeCustodian, **options: Any) -> AspClient:
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "token_store": MemoryTokenStore(),
        **options,
    }
    return AspClient.from_issuer(custodian.base_url, **settings)


def stored_grant(custodian: FakeCustodian, *, expired: bool = False, **options: Any) -> AspClient:
    """A client whose store already holds the customer's grant (the code flow done)."""
    client = asp(custodian, **options)
    client.token_store.save(AUTHORIZATION_ID, custodian.token(expired=expired))
    return client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def feed_reply(custodian: FakeCustodian) -> Reply:
    return Reply(200, usage_point_feed(custodian.base_url))


def home(custodian: FakeCustodian) -> list[UsagePointInfo]:
    return [UsagePointInfo(custodian.base_url + POINT, "1", "Home", 0)]
