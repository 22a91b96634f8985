"""The foreign custodian's OAuth endpoints: authorize (sign-in + consent), token, introspect,
revoke, metadata; and the customer's portal (sign in, list and revoke authorizations).

* ``/oauth/authorize`` (RFC 6749 §4.1, PKCE RFC 7636 S256): exact ``redirect_uri`` match,
  an unknown client or redirect URI -> a 400 page (never a redirect); ``scope`` absent or
  equal to the client's registered scope (anything else -> ``error=invalid_scope``).
* ``/oauth/token``: ``client_secret_basic`` for confidential clients, ``client_id`` in the
  form for public ones (PKCE then required); ``authorization_code`` and ``refresh_token``
  (rotating) answer ESPI's token response (``resourceURI``, ``authorizationURI``);
  ``client_credentials`` an ASP-level token whose resourceURI is the client's Batch/Bulk.
* ``/oauth/introspect`` (RFC 7662, only in the "standard" mode): Basic auth of a registered
  resource server; exactly active, scope, client_id, exp, iat, sub, token_type.
* ``/oauth/revoke`` (RFC 7009): 200 whatever the token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from . import pages
from .state import CUSTOMERS, Client, Code, ForeignCustomer, Store

SESSION_COOKIE = "SMSESSION"  # PG&E's sign-in is SiteMinder's


@dataclass
class Session:
    csrf: str
    customer: ForeignCustomer | None = None


def json_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    import json

    response = Response(json.dumps(body), status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def html(text: str, status: int = 200) -> Response:
    return Response(text, status, mimetype="text/html")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: the Basic pair, each half form-urlencoded."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        pair = base64.b64decode(header[6:].strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    name, _, secret = pair.partition(":")
    return unquote(name.replace("+", " ")), unquote(secret.replace("+", " "))


class OAuth:
    """The endpoints over one :class:`Store`; ``urls`` gives the public hrefs."""

    def __init__(self, store: Store, resource_base: str, introspection: bool) -> None:
        self.store = store
        self.resource_base = resource_base
        self.introspection = introspection
        self.sessions: dict[str, Session] = {}

    # ---- sessions --------------------------------------------------------------------
    def session(self, request: Request) -> tuple[Session, str | None]:
        """The browser's session, and the cookie to set when it is new."""
        key = request.cookies.get(SESSION_COOKIE)
        if key and key in self.sessions:
            return self.sessions[key], None
        key = secrets.token_urlsafe(24)
        self.sessions[key] = Session(secrets.token_urlsafe(16))
        return self.sessions[key], key

    @staticmethod
    def _with_cookie(response: Response, cookie: str | None) -> Response:
        if cookie:
            response.set_cookie(SESSION_COOKIE, cookie, path="/", httponly=True, samesite="Lax")
        return response

    # ---- authorize -------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        args = request.args
        client = self.store.clients.get(args.get("client_id", ""))
        if client is None:
            return html(pages.error("Unknown client_id: this application is not registered."), 400)
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return html(pages.error("redirect_uri does not match the registered one exactly."), 400)

        def back(**params: str) -> Response:
            if args.get("state") is not None:
                params["state"] = args["state"]
            joiner = "&" if "?" in redirect_uri else "?"
            return Response(
                status=302, headers={"Location": redirect_uri + joiner + urlencode(params)}
            )

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if args.get("scope") not in (None, client.scope):
            return back(
                error="invalid_scope", error_description="scope is not the registered scope"
            )
        challenge = args.get("code_challenge")
        if challenge and args.get("code_challenge_method") != "S256":
            return back(
                error="invalid_request", error_description="code_challenge_method must be S256"
            )
        if client.client_secret is None and not challenge:
            return back(error="invalid_request", error_description="public clients must use PKCE")

        session, cookie = self.session(request)
        action = "authorize?" + request.query_string.decode()
        if request.method == "GET":
            if session.customer is None:
                return self._with_cookie(html(pages.sign_in(action, session.csrf)), cookie)
            return self._with_cookie(
                html(
                    pages.consent(
                        action, session.csrf, client.client_id, client.scope, session.customer
                    )
                ),
                cookie,
            )
        form = request.form
        if cookie or form.get("csrf_token") != session.csrf:
            return html(pages.error("The form expired: open the link again."), 400)
        if "username" in form:
            customer = self._check_password(form)
            if customer is None:
                return html(pages.sign_in(action, session.csrf, "Wrong username or password."))
            session.customer = customer
            return html(
                pages.consent(action, session.csrf, client.client_id, client.scope, customer)
            )
        if session.customer is None:
            return html(pages.sign_in(action, session.csrf, "Sign in first."))
        if form.get("decision") != "approve":
            return back(error="access_denied")
        points = tuple(
            p for p in session.customer.usage_points if p in form.getlist("usage_points")
        )
        if not points:
            return html(
                pages.consent(
                    action,
                    session.csrf,
                    client.client_id,
                    client.scope,
                    session.customer,
                    "Choose at least one service.",
                )
            )
        grant = self.store.new_grant(client.client_id, session.customer, points)
        code = Code(secrets.token_urlsafe(24), grant, redirect_uri, challenge, time.time() + 600)
        with self.store.lock:
            self.store.codes[code.value] = code
        return back(code=code.value)

    @staticmethod
    def _check_password(form: MultiDict[str, str]) -> ForeignCustomer | None:
        for customer in CUSTOMERS:
            if customer.username == form.get("username") and customer.password == form.get(
                "password"
            ):
                return customer
        return None

    # ---- portal ----------------------------------------------------------------------
    def portal_login(self, request: Request) -> Response:
        session, cookie = self.session(request)
        if request.method == "GET":
            return self._with_cookie(html(pages.sign_in("login", session.csrf)), cookie)
        if cookie or request.form.get("csrf_token") != session.csrf:
            return html(pages.error("The form expired: open the page again."), 400)
        customer = self._check_password(request.form)
        if customer is None:
            return html(pages.sign_in("login", session.csrf, "Wrong username or password."), 401)
        session.customer = customer
        return Response(status=302, headers={"Location": "authorizations"})

    def portal_authorizations(self, request: Request) -> Response:
        session, cookie = self.session(request)
        if session.customer is None:
            return self._with_cookie(Response(status=302, headers={"Location": "login"}), cookie)
        mine = [
            g
            for g in self.store.grants.values()
            if g.customer == session.customer and g.status == 1
        ]
        return html(pages.authorizations(session.csrf, mine))

    def portal_revoke(self, request: Request) -> Response:
        session, _cookie = self.session(request)
        if session.customer is None or request.form.get("csrf_token") != session.csrf:
            return html(pages.error("Sign in first."), 400)
        for grant in list(self.store.grants.values()):
            if grant.customer == session.customer and grant.authorization_id == request.form.get(
                "authorization"
            ):
                self.store.revoke_grant(grant.subscription_id)
        return Response(status=302, headers={"Location": "../authorizations"})

    # ---- token -----------------------------------------------------------------------
    def _client(self, request: Request) -> Client | Response:
        """RFC 6749 §2.3: Basic for confidential clients; public ones name themselves."""
        pair = basic_credentials(request)
        if pair is not None:
            client = self.store.clients.get(pair[0])
            if (
                client is None
                or client.client_secret is None
                or not secrets.compare_digest(client.client_secret, pair[1])
            ):
                return json_response(
                    {"error": "invalid_client"}, 401, WWW_Authenticate='Basic realm="oauth"'
                )
            return client
        client = self.store.clients.get(request.form.get("client_id", ""))
        if client is None or client.client_secret is not None:
            return json_response(
                {"error": "invalid_client"}, 401, WWW_Authenticate='Basic realm="oauth"'
            )
        return client

    def token(self, request: Request) -> Response:
        client = self._client(request)
        if isinstance(client, Response):
            return client
        grant_type = request.form.get("grant_type")
        handler: Callable[[Request, Client], Response] | None = {
            "authorization_code": self._code_grant,
            "refresh_token": self._refresh_grant,
            "client_credentials": self._client_grant,
        }.get(grant_type or "")
        if handler is None:
            return json_response({"error": "unsupported_grant_type"}, 400)
        return handler(request, client)

    def _espi_token(self, client: Client, refresh: bool, grant_id: str | None) -> Response:
        grant = self.store.grants[grant_id] if grant_id else None
        access, again = self.store.issue(client, grant, refresh=refresh)
        body: dict[str, Any] = {
            "access_token": access.value,
            "token_type": "Bearer",
            "expires_in": access.exp - access.iat,
        }
        if again:
            body["refresh_token"] = again.value
        body["scope"] = access.scope
        if grant:
            body["resourceURI"] = f"{self.resource_base}/Batch/Subscription/{grant.subscription_id}"
            body["authorizationURI"] = (
                f"{self.resource_base}/Authorization/{grant.authorization_id}"
            )
        else:
            body["resourceURI"] = f"{self.resource_base}/Batch/Bulk/{client.bulk_id}"
            body["authorizationURI"] = (
                f"{self.resource_base}/Authorization/{client.authorization_id}"
            )
        return json_response(body)

    def _code_grant(self, request: Request, client: Client) -> Response:
        form = request.form
        with self.store.lock:
            code = self.store.codes.get(form.get("code", ""))
            if (
                code is None
                or code.used
                or code.expires < time.time()
                or code.grant.client_id != client.client_id
            ):
                return json_response({"error": "invalid_grant"}, 400)
            if form.get("redirect_uri") != code.redirect_uri:
                return json_response(
                    {"error": "invalid_grant", "error_description": "redirect_uri"}, 400
                )
            if code.challenge is not None:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()
                ).rstrip(b"=")
                if digest.decode() != code.challenge:
                    return json_response(
                        {"error": "invalid_grant", "error_description": "code_verifier"}, 400
                    )
            code.used = True
        return self._espi_token(client, True, code.grant.subscription_id)

    def _refresh_grant(self, request: Request, client: Client) -> Response:
        with self.store.lock:
            old = self.store.tokens.get(request.form.get("refresh_token", ""))
            if (
                old is None
                or not old.refresh
                or old.client_id != client.client_id
                or not old.active(time.time())
            ):
                return json_response({"error": "invalid_grant"}, 400)
            old.revoked = True  # rotation
            assert old.grant is not None
            return self._espi_token(client, True, old.grant.subscription_id)

    def _client_grant(self, request: Request, client: Client) -> Response:
        if client.client_secret is None:
            return json_response({"error": "unauthorized_client"}, 400)
        return self._espi_token(client, False, None)

    # ---- introspect / revoke ---------------------------------------------------------
    def introspect(self, request: Request) -> Response:
        pair = basic_credentials(request)
        if pair is None or self.store.resource_servers.get(pair[0]) != pair[1]:
            return json_response(
                {"error": "invalid_client"}, 401, WWW_Authenticate='Basic realm="oauth"'
            )
        token = self.store.access(request.form.get("token", ""))
        if token is None:
            return json_response({"active": False})
        return json_response(
            {
                "active": True,
                "scope": token.scope,
                "client_id": token.client_id,
                "exp": token.exp,
                "iat": token.iat,
                "sub": token.grant.customer.subject if token.grant else token.client_id,
                "token_type": "Bearer",
            }
        )

    def revoke(self, request: Request) -> Response:
        client = self._client(request)
        if isinstance(client, Response):
            return client
        self.store.revoke_token(request.form.get("token", ""), client.client_id)
        return Response(status=200)

    def metadata(self, issuer: str) -> Response:
        """RFC 8414 §2."""
        body: dict[str, Any] = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
        }
        if self.introspection:
            body["introspection_endpoint"] = f"{issuer}/oauth/introspect"
        body.update(
            {
                "scopes_supported": sorted({c.scope for c in self.store.clients.values()}),
                "response_types_supported": ["code"],
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                ],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "code_challenge_methods_supported": ["S256"],
            }
        )
        return json_response(body)
