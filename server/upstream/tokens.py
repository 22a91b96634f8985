"""Tokens in bolt-on mode (``TOKEN_VALIDATION`` = ``introspection``): the upstream
authorization server says what a token allows (RFC 7662), and the grant is mirrored
locally (``shadow.py``) so rate changes, audit rows and notifications have rows to hang on.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from espi_sst.scope import Scope

from ..lifecycle.usable import grant_refusal
from ..oauth.tokens import Grant, refuse
from ..security import now
from ..storage import db
from ..storage.models import Application, Token
from .forward import UpstreamError
from .introspection import introspect
from .shadow import shadow_authorization
from .views import unavailable


class IntrospectedTokens:
    """The token source of bolt-on mode (``oauth/tokens.py``'s ``TokenSource``)."""

    def grant(self, bearer: str) -> Grant:
        try:
            found = introspect(current_app, bearer)
        except UpstreamError as exc:
            raise unavailable(exc) from None
        if found is None:
            refuse(401, "invalid_token", "the access token is unknown, expired or revoked upstream")
        authorization = shadow_authorization(db.session, found)  # ShadowError: 401 invalid_token
        qualification = db.session.scalar(
            select(Application.qualification).where(Application.client_id == found.client_id)
        )
        # The one rule (lifecycle/usable.py), with this utility's own view of the ASP.  An
        # ASP-level token of an ASP registered only upstream is the upstream's business:
        # nothing served for it comes from this server's rows.
        if authorization is not None or qualification is not None:
            refusal = grant_refusal(qualification, authorization, now())
            if refusal is not None:
                refuse(401, "invalid_token", refusal.description)
        token = Token(  # transient: describes the upstream token, never stored
            client_id=found.client_id,
            scope=found.scope,
            access_expires_at=found.expires_at,
            authorization_id=None if authorization is None else authorization.id,
        )
        return Grant(
            token=token,
            client_id=found.client_id,
            authorization=authorization,
            scope=Scope.parse(found.scope),
        )


__all__ = ["IntrospectedTokens"]
