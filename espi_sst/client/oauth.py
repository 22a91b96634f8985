"""The ASP's side of OAuth 2 with a data custodian, on Authlib's requests session.

* :func:`discover` reads the issuer's metadata (RFC 8414 / OpenID Connect discovery) and
  checks that it names the same issuer (RFC 8414 section 3.3: a mismatch is an attack);
* :meth:`AspClient.authorization_url` starts the code flow with PKCE S256, ``state`` and,
  for OpenID Connect, ``nonce`` -- the caller keeps the returned
  :class:`AuthorizationRequest` (the customer's session) until the redirect comes back;
* :meth:`AspClient.fetch_token` checks the redirect (``state``; ``iss`` when the server
  sends it, RFC 9207; an ``error=`` answer) and exchanges the code; with ``openid`` it
  validates the id_token (signature against the issuer's JWKS, ``iss``, ``aud``, ``exp``,
  ``nonce``).  The token is saved in the :class:`~.tokens.TokenStore` under the grant's key
  (the ESPI Authorization id) before anything else uses it;
* :meth:`AspClient.connect` opens a :class:`~.api.CustomerConnection` on a stored grant;
  its session refreshes the access token before it expires and saves every rotated
  refresh token through the store.

Confidential clients authenticate with ``client_secret_basic``; public clients (no secret)
rely on PKCE alone, as RFC 9700 allows for native apps.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from ..retry import RetryPolicy, send_with_retries
from .errors import AuthorizationEnded, AuthorizationFlowError, DiscoveryError, ServerError
from .tokens import MemoryTokenStore, Token, TokenStore

if TYPE_CHECKING:
    from .api import CustomerConnection

__all__ = ["AspClient", "AuthorizationRequest", "Grant", "ServerMetadata", "discover"]

DEFAULT_TIMEOUT = 30.0
REFRESH_LEEWAY = 30
"""Refresh this many seconds before the access token expires (a request in flight when
it runs out would fail)."""


@dataclass(frozen=True)
class ServerMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    scopes_supported: tuple[str, ...] = ()
    authorization_response_iss_parameter_supported: bool = False


DISCOVERY_RETRIES = RetryPolicy(retries=3, backoff=0.5, max_wait=30.0)
"""Discovery is asked again after a 429 (a rate-limited gateway in front, RFC 6585 4, its
``Retry-After`` honoured) or a 5xx, as the resource calls are (:mod:`espi_sst.retry`)."""


def discover(
    issuer: str, *, session: requests.Session | None = None, timeout: float = DEFAULT_TIMEOUT
) -> ServerMetadata:
    """The issuer's metadata; OpenID discovery first, then RFC 8414's well-known URL."""
    issuer = issuer.rstrip("/")
    http = session or requests.Session()
    problems = []
    for suffix in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        url = issuer + suffix
        outcome = send_with_retries(
            lambda url=url: http.get(url, timeout=timeout),  # type: ignore[misc]
            DISCOVERY_RETRIES,
        )
        if outcome.response is None:
            raise DiscoveryError(f"cannot reach {url}: {outcome.failure}") from None
        response = outcome.response
        if response.status_code != 200:
            problems.append(f"{url}: HTTP {response.status_code}")
            continue
        try:
            data = response.json()
        except ValueError:
            problems.append(f"{url}: not JSON")
            continue
        return _metadata(issuer, url, data)
    raise DiscoveryError("no authorization server metadata: " + "; ".join(problems))


def _metadata(issuer: str, url: str, data: Any) -> ServerMetadata:
    if not isinstance(data, dict):
        raise DiscoveryError(f"{url}: metadata is not a JSON object")
    if str(data.get("issuer", "")).rstrip("/") != issuer:
        raise DiscoveryError(
            f"{url} names issuer {data.get('issuer')!r}, not {issuer!r}: refusing it (RFC 8414 3.3)"
        )
    for required in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(data.get(required), str):
            raise DiscoveryError(f"{url}: metadata has no {required}")
    return ServerMetadata(
        issuer=issuer,
        authorization_endpoint=data["authorization_endpoint"],
        token_endpoint=data["token_endpoint"],
        revocation_endpoint=data.get("revocation_endpoint"),
        jwks_uri=data.get("jwks_uri"),
        userinfo_endpoint=data.get("userinfo_endpoint"),
        scopes_supported=tuple(data.get("scopes_supported") or ()),
        authorization_response_iss_parameter_supported=bool(
            data.get("authorization_response_iss_parameter_supported")
        ),
    )


@dataclass(frozen=True)
class AuthorizationRequest:
    """One started authorization: keep it (server-side, per customer) until the callback."""

    url: str
    state: str
    code_verifier: str
    nonce: str | None
    scope: str


@dataclass(frozen=True)
class Grant:
    """A customer's authorization as the token response describes it (ESPI adds the URIs)."""

    key: str  # the token store key: the ESPI Authorization id
    scope: str
    resource_uri: str | None
    authorization_uri: str | None
    id_token_claims: dict[str, Any] | None

    @property
    def subscription_uri(self) -> str | None:
        """The Subscription (``resourceURI`` may be the Batch form of it)."""
        if self.resource_uri is None:
            return None
        return self.resource_uri.replace("/Batch/Subscription/", "/Subscription/")


class AspClient:
    """An ASP's registration at one data custodian."""

    def __init__(
        self,
        metadata: ServerMetadata,
        *,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str,
        scope: str,
        token_store: TokenStore | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
    ) -> None:
        self.metadata = metadata
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.token_store: TokenStore = token_store or MemoryTokenStore()
        self.timeout = timeout
        self.max_retries = max_retries
        self._grant_locks: dict[str, threading.Lock] = {}
        self._grant_locks_guard = threading.Lock()

    def grant_lock(self, key: str) -> threading.Lock:
        """The lock under which every connection of this client refreshes grant ``key``.

        Two threads refreshing one grant at once would send the same rotating refresh token
        twice, which the custodian takes for token theft (RFC 9700 4.14.2)."""
        with self._grant_locks_guard:
            return self._grant_locks.setdefault(key, threading.Lock())

    @classmethod
    def from_issuer(cls, issuer: str, **options: Any) -> AspClient:
        return cls(discover(issuer), **options)

    def _session(self, token: Token | None = None, key: str | None = None) -> OAuth2Session:
        def save(
            new: Token, refresh_token: str | None = None, access_token: str | None = None
        ) -> None:
            if key is not None:
                self.token_store.save(key, dict(new))

        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            revocation_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token=token,
            token_endpoint=self.metadata.token_endpoint,
            update_token=save,
            leeway=REFRESH_LEEWAY,
            default_timeout=self.timeout,
        )

    # ---- the code flow ------------------------------------------------------------------
    def authorization_url(self, *, scope: str | None = None) -> AuthorizationRequest:
        scope = scope or self.scope
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24) if "openid" in scope.split() else None
        extra = {"nonce": nonce} if nonce else {}
        with self._session() as session:
            url, _state = session.create_authorization_url(
                self.metadata.authorization_endpoint,
                state=state,
                code_verifier=verifier,
                scope=scope,
                **extra,
            )
        return AuthorizationRequest(str(url), state, verifier, nonce, scope)

    def fetch_token(self, callback_url: str, request: AuthorizationRequest) -> Grant:
        """Check the redirect back from the custodian and exchange its code for tokens."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        if query.get("state") != request.state:
            raise AuthorizationFlowError(
                "the callback's state does not match the request: a forged or replayed redirect"
            )
        issuer = query.get("iss")
        if issuer is not None and issuer.rstrip("/") != self.metadata.issuer:
            raise AuthorizationFlowError(
                f"the callback comes from issuer {issuer!r}, not {self.metadata.issuer!r} (RFC 9207)"
            )
        if issuer is None and self.metadata.authorization_response_iss_parameter_supported:
            raise AuthorizationFlowError("the callback lacks the iss parameter its server promises")
        if "error" in query:
            raise AuthorizationFlowError(
                f"the customer or the custodian refused: {query['error']}"
                + (f" ({query['error_description']})" if query.get("error_description") else ""),
                code=query["error"],
                route_to=query.get("sst_route_to") or None,
                route_url=query.get("sst_route_url") or None,
            )
        if "code" not in query:
            raise AuthorizationFlowError("the callback carries no authorization code")
        with self._session() as session:
            try:
                token = session.fetch_token(
                    self.metadata.token_endpoint,
                    code=query["code"],
                    code_verifier=request.code_verifier,
                    redirect_uri=self.redirect_uri,
                )
            except OAuthError as exc:
                raise AuthorizationFlowError(f"the code was not accepted: {exc}") from None
            except requests.RequestException as exc:
                raise ServerError(f"token endpoint unreachable: {exc}") from None
        claims = None
        if request.nonce is not None:
            claims = self._validated_id_token(token, request.nonce)
        key = _grant_key(token)
        self.token_store.save(key, dict(token))
        return _grant(key, token, claims)

    def _validated_id_token(self, token: Token, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise AuthorizationFlowError("openid was asked for but no id_token came back")
        if self.metadata.jwks_uri is None:
            raise AuthorizationFlowError("the issuer publishes no jwks_uri to check the id_token")
        try:
            keys = KeySet.import_key_set(
                requests.get(self.metadata.jwks_uri, timeout=self.timeout).json()
            )
            decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
            registry = jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": self.metadata.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, requests.RequestException) as exc:
            raise AuthorizationFlowError(f"the id_token is not valid: {exc}") from None
        return dict(decoded.claims)

    # ---- using a grant ------------------------------------------------------------------
    def connect(self, key: str) -> CustomerConnection:
        """A connection on the stored grant ``key`` (refreshing and saving as needed)."""
        from .api import CustomerConnection

        token = self.token_store.load(key)
        if token is None:
            raise AuthorizationEnded(f"no token stored for grant {key}: authorize first")
        return CustomerConnection(self, key, self._session(token, key))

    def grant(self, key: str) -> Grant:
        token = self.token_store.load(key)
        if token is None:
            raise AuthorizationEnded(f"no token stored for grant {key}")
        return _grant(key, token, None)

    def revoke(self, key: str) -> None:
        """Revoke the grant's refresh token at the custodian (RFC 7009) and forget it."""
        token = self.token_store.load(key)
        if token is None:
            return
        if self.metadata.revocation_endpoint:
            with self._session(token) as session:
                try:
                    session.revoke_token(
                        self.metadata.revocation_endpoint,
                        token=token.get("refresh_token") or token.get("access_token"),
                        token_type_hint="refresh_token" if token.get("refresh_token") else None,
                    )
                except (OAuthError, requests.RequestException) as exc:
                    raise ServerError(f"revocation failed: {exc}") from None
        self.token_store.delete(key)


def _grant_key(token: Token) -> str:
    uri = token.get("authorizationURI")
    if isinstance(uri, str) and uri.rstrip("/"):
        return uri.rstrip("/").rsplit("/", 1)[1]
    return "grant-" + str(int(time.time() * 1000))


def _grant(key: str, token: Token, claims: dict[str, Any] | None) -> Grant:
    return Grant(
        key=key,
        scope=str(token.get("scope", "")),
        resource_uri=token.get("resourceURI"),
        authorization_uri=token.get("authorizationURI"),
        id_token_claims=claims,
    )
