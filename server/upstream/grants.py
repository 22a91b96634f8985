"""The token guard in introspection mode: the upstream authorization server says what a
token allows; the grant is mirrored locally (``shadow.py``)."""

from __future__ import annotations

from flask import abort, current_app, g, jsonify, make_response, request
from sqlalchemy import select

from espi_sst.scope import Category, Scope

from ..lifecycle.usable import grant_refusal
from ..limits.resources import charge
from ..security import now
from ..storage import db
from ..storage.models import Application, Token
from .forward import UpstreamError
from .introspection import introspect
from .shadow import ShadowError, shadow_authorization


def introspected_grant(required: Category | None, *, client_level: bool) -> object:
    from ..oauth.guard import Grant, refuse

    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        response = make_response(
            jsonify(error="invalid_request", error_description="bearer token required"), 401
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="espi"'
        abort(response)
    try:
        found = introspect(current_app, value.strip())
    except UpstreamError as exc:
        from .views import error_response

        abort(error_response(exc))
    if found is None:
        refuse(401, "invalid_token", "the access token is unknown, expired or revoked upstream")
    assert found is not None
    try:
        authorization = shadow_authorization(db.session, found)
    except ShadowError as exc:
        refuse(401, "invalid_token", str(exc).replace('"', "'"))
        raise
    qualification = db.session.scalar(
        select(Application.qualification).where(Application.client_id == found.client_id)
    )
    # The one rule (server/lifecycle/usable.py), with this utility's own view of the ASP.  An ASP-level
    # token of an ASP registered only upstream is the upstream's business: nothing served
    # for it comes from this server's rows.
    if authorization is not None or qualification is not None:
        refusal = grant_refusal(qualification, authorization, now())
        if refusal is not None:
            refuse(401, "invalid_token", refusal.description)
    charge(found.client_id)  # per-ASP limits, once the token is known good (429)
    if client_level and authorization is not None:
        refuse(403, "insufficient_scope", "this resource needs a client_credentials token")
    if not client_level and authorization is None:
        refuse(403, "insufficient_scope", "this resource needs a customer's authorization")
    scope = Scope.parse(found.scope)
    if required is not None and not scope.allows(required):
        refuse(403, "insufficient_scope", f"this resource needs the {required.value} scope")
    token = Token(  # transient: describes the upstream token, never stored
        client_id=found.client_id,
        scope=found.scope,
        access_expires_at=found.expires_at,
        authorization_id=None if authorization is None else authorization.id,
    )
    grant = Grant(token=token, client_id=found.client_id, authorization=authorization, scope=scope)
    g.espi_grant = grant
    return grant
