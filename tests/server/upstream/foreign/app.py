"""The foreign custodian as one WSGI application (plain Werkzeug, no Flask app of espi-sst).

Every request is recorded as (method, path, bearer or None) before it is answered, so tests
can assert what a gateway or bolt-on asked the custodian.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from .oauth import OAuth
from .resource import ResourceApi, refusal

RESOURCE = "/espi/1_1/resource"


class CustodianApp:
    def __init__(
        self,
        prefix: str,
        oauth: OAuth,
        api: ResourceApi,
        issuer: str,
        requests: list[tuple[str, str, str | None]],
    ) -> None:
        self.prefix = prefix
        self.oauth = oauth
        self.api = api
        self.issuer = issuer
        self.requests = requests

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        header = request.headers.get("Authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        self.requests.append((request.method, request.path, bearer))
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == f"/.well-known/oauth-authorization-server{self.prefix}":  # RFC 8414 §3
            return self.oauth.metadata(self.issuer)
        if not path.startswith(self.prefix + "/"):
            return refusal(404, f"nothing at {path}")
        path = path[len(self.prefix) :]
        if path.startswith(RESOURCE + "/"):
            return self.api(request, path[len(RESOURCE) :])
        routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/oauth/authorize"): self.oauth.authorize,
            ("POST", "/oauth/authorize"): self.oauth.authorize,
            ("POST", "/oauth/token"): self.oauth.token,
            ("POST", "/oauth/revoke"): self.oauth.revoke,
            ("GET", "/portal/login"): self.oauth.portal_login,
            ("POST", "/portal/login"): self.oauth.portal_login,
            ("GET", "/portal/authorizations"): self.oauth.portal_authorizations,
            ("POST", "/portal/authorizations/revoke"): self.oauth.portal_revoke,
        }
        if self.oauth.introspection:
            routes[("POST", "/oauth/introspect")] = self.oauth.introspect
        if path == "/.well-known/oauth-authorization-server" and request.method == "GET":
            return self.oauth.metadata(self.issuer)
        handler = routes.get((request.method, path))
        if handler is None:
            known = {p for _m, p in routes}
            return refusal(405 if path in known else 404, f"nothing at {request.method} {path}")
        return handler(request)
