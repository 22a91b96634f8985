"""Checking bearer tokens on resource requests (RFC 6750), for every ESPI endpoint.

``current_grant()`` is the one gate: it finds the token by hash, refuses expired or revoked
tokens, tokens of an ASP whose access was withdrawn (concept design 6.4.5-6.4.6: suspended,
de-qualified or blocked -- a token issued in a race with the withdrawal survives its sweep)
and tokens of ended authorizations (401 ``invalid_token``) -- the one rule of
``server/lifecycle/usable.py``, which introspection, the token endpoint and bolt-on mode share, and checks the scope category
the endpoint needs (403 ``insufficient_scope``).  A good token is counted against its ASP's
limits first (``server/limits/resources.py``: 429 past them).  Endpoints then check that what is asked
for belongs to the grant (another subscription's resources are 404, never data).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, g, jsonify, make_response, request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from espi_sst.scope import Category, Scope

from ..lifecycle.usable import token_refusal
from ..limits.resources import charge
from ..security import hash_secret, now
from ..storage import db
from ..storage.models import Application, Authorization, Token

_TOKEN_BY_HASH = (
    select(Token, Application.qualification)
    .join(Application, Application.client_id == Token.client_id)
    .where(Token.access_token_hash == bindparam("digest"))
    .options(joinedload(Token.authorization))
)
"""Built once, with the authorization and the ASP's qualification in the same round trip
(every request runs it: one query, bench/server measures it)."""


@dataclass(frozen=True)
class Grant:
    """What the presented token allows."""

    token: Token
    client_id: str
    authorization: Authorization | None  # None: an ASP-level (client_credentials) token
    scope: Scope

    @property
    def usage_point_ids(self) -> frozenset[int]:
        if self.authorization is None:
            return frozenset()
        return frozenset(up.id for up in self.authorization.usage_points)


def refuse(status: int, error: str, description: str) -> None:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    response = make_response(jsonify(error=error, error_description=description), status)
    response.headers["WWW-Authenticate"] = challenge
    abort(response)


def current_grant(required: Category | None = None, *, client_level: bool = False) -> Grant:
    """The grant of the request's bearer token, or an RFC 6750 error response.

    Args:
        required: the scope category the endpoint serves (None: any grant).
        client_level: the endpoint is ASP-level (ApplicationInformation, Bulk): it takes a
            client_credentials token, not a customer's.
    """
    cached: Grant | None = getattr(g, "espi_grant", None)
    if cached is not None:
        return cached
    if current_app.config.get("TOKEN_VALIDATION") == "introspection":  # bolt-on mode
        from ..upstream.grants import introspected_grant

        return introspected_grant(required, client_level=client_level)  # type: ignore[return-value]
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        response = make_response(
            jsonify(error="invalid_request", error_description="bearer token required"), 401
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="espi"'
        abort(response)
    found = db.session.execute(_TOKEN_BY_HASH, {"digest": hash_secret(value.strip())}).first()
    if found is None:
        refuse(401, "invalid_token", "the access token is unknown, expired or revoked")
    assert found is not None
    token, qualification = found
    refusal = token_refusal(token, qualification, now())
    if refusal is not None:  # the one rule (server/lifecycle/usable.py)
        refuse(401, "invalid_token", refusal.description)
    charge(token.client_id)  # per-ASP limits, once the token is known good (429)
    authorization = token.authorization
    if client_level and authorization is not None:
        refuse(403, "insufficient_scope", "this resource needs a client_credentials token")
    if not client_level and authorization is None:
        refuse(403, "insufficient_scope", "this resource needs a customer's authorization")
    scope = Scope.parse(token.scope)
    if required is not None and not scope.allows(required):
        refuse(403, "insufficient_scope", f"this resource needs the {required.value} scope")
    grant = Grant(token=token, client_id=token.client_id, authorization=authorization, scope=scope)
    g.espi_grant = grant
    return grant
