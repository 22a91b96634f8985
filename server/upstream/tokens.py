"""Tokens in bolt-on mode: the existing custodian says what an ASP's token allows.

Two token sources (``oauth/tokens.py``'s ``TokenSource``), chosen by ``TOKEN_VALIDATION``:

* :class:`IntrospectedTokens` (``introspection``): the custodian's RFC 7662 endpoint says
  whether the token is active, its ASP (``client_id``), scope, expiry and customer
  (``sub``).  Those standard members do not name subscriptions or usage points, so the
  addressed ones are confirmed by a probe (``probe.py``) and recorded (``grants.py``).  A
  custodian whose answer also names ``authorization_id``, ``subscription_id`` and
  ``usage_points`` (espi-sst's own) is mirrored directly (``shadow.py``), no probe needed.
* :class:`ProbedTokens` (``probe``): a custodian without introspection.  The token is
  good for what the custodian's own resource API answers it; the ASP and the SST
  categories come from the customer's SST add-on consent here (``addon.py``), recorded
  for exactly that custodian subscription.

Either way the one rule of a usable grant (``lifecycle/usable.py``) applies with this
utility's own view of the ASP, and nothing depends on non-standard introspection members.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from espi_sst.scope import Scope

from ..lifecycle.usable import grant_refusal
from ..oauth.tokens import Grant, Target, refuse
from ..security import now
from ..storage import db
from ..storage.models import Application, Authorization, Token
from .forward import UpstreamError
from .grants import custodian_scope, effective_scope, subscription_grant
from .introspection import Introspected, introspect
from .probe import Probes
from .shadow import shadow_authorization
from .views import unavailable

NO_ADDON_CONSENT = (
    "the customer has not given this application SST access for this subscription here: "
    "start the SST add-on consent (POST /sst/consent/requests, docs/deployment.md)"
)


class IntrospectedTokens:
    """``TOKEN_VALIDATION`` = ``introspection``."""

    def grant(self, bearer: str, target: Target) -> Grant:
        try:
            found = introspect(current_app, bearer)
            if found is None:
                refuse(
                    401, "invalid_token", "the access token is unknown, expired or revoked upstream"
                )
            authorization, scope = self._grant_of(bearer, found, target)
        except UpstreamError as exc:
            raise unavailable(exc) from None
        qualification = db.session.scalar(
            select(Application.qualification).where(Application.client_id == found.client_id)
        )
        # The one rule (lifecycle/usable.py), with this utility's own view of the ASP.  An
        # ASP-level token of an ASP registered only upstream is the upstream's business:
        # nothing served for it comes from this server's rows.
        if authorization is not None or qualification is not None:
            _refuse_unusable(qualification, authorization)
        return _grant(found.client_id, scope, found.expires_at, authorization)

    @staticmethod
    def _grant_of(
        bearer: str, found: Introspected, target: Target
    ) -> tuple[Authorization | None, Scope]:
        if found.authorization_id is not None and found.subscription_id is not None:
            # the richer answer (espi-sst's own custodian): an optimisation, not a need
            authorization = shadow_authorization(db.session, found)
            return authorization, custodian_scope(found.scope)
        if target.subscription_id is None:  # an ASP-level path: no customer grant to find
            return None, custodian_scope(found.scope)
        Probes.of(current_app).confirm(bearer, target.subscription_id, target.usage_point_id)
        authorization = subscription_grant(
            db.session,
            subscription_id=target.subscription_id,
            usage_point_id=target.usage_point_id,
            client_id=found.client_id,
            subject=found.subject,
            scope=found.scope,
        )
        return authorization, effective_scope(authorization, custodian_scope(found.scope))


class ProbedTokens:
    """``TOKEN_VALIDATION`` = ``probe``: a custodian without introspection."""

    def grant(self, bearer: str, target: Target) -> Grant:
        if target.subscription_id is None:
            refuse(
                403,
                "insufficient_scope",
                "without introspection this server checks tokens only on a Subscription's "
                "resources; ask the data custodian for this one",
            )
        try:
            Probes.of(current_app).confirm(bearer, target.subscription_id, target.usage_point_id)
        except UpstreamError as exc:
            raise unavailable(exc) from None
        authorization = subscription_grant(
            db.session,
            subscription_id=target.subscription_id,
            usage_point_id=target.usage_point_id,
            client_id=None,
            subject=None,
            scope=None,
        )
        if authorization is None:
            refuse(403, "insufficient_scope", NO_ADDON_CONSENT)
        _refuse_unusable(authorization.application.qualification, authorization)
        expires = now() + int(Probes.of(current_app).seconds)
        scope = effective_scope(authorization, Scope())
        return _grant(authorization.application.client_id, scope, expires, authorization)


ENDED_HERE = (
    "the customer ended this application's SST access at this utility; the data custodian's "
    "own grant is untouched, and a new SST add-on consent restores it"
)


def _refuse_unusable(qualification: str | None, authorization: Authorization | None) -> None:
    """The one rule (``lifecycle/usable.py``), as the bolt-on answers it.

    A withdrawn ASP is refused outright (401 ``invalid_token``).  A grant row that ended
    *here* -- the customer ended the SST add-on in this utility's portal -- ends only what
    this server adds: the token is still the custodian's to judge, so the request gets 403
    ``insufficient_scope`` (a plain GET is then passed on without SST additions).
    """
    refusal = grant_refusal(qualification, authorization, now())
    if refusal is None:
        return
    if refusal.code in ("grant_ended", "grant_expired"):
        refuse(403, "insufficient_scope", ENDED_HERE)
    refuse(401, "invalid_token", refusal.description)


def _grant(
    client_id: str, scope: Scope, expires_at: int, authorization: Authorization | None
) -> Grant:
    token = Token(  # transient: describes the custodian's token, never stored
        client_id=client_id,
        scope=str(scope),
        access_expires_at=expires_at,
        authorization_id=None if authorization is None else authorization.id,
    )
    return Grant(token=token, client_id=client_id, authorization=authorization, scope=scope)


__all__ = ["IntrospectedTokens", "ProbedTokens"]
