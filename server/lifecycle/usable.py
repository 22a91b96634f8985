"""The one rule of whether a customer's grant, and a token of it, may be used right now.

Every path that lets an ASP act on a grant asks this module, and nothing else decides:

* the resource guard (``oauth/guard.py``): every ESPI and SST request with a local token;
* token introspection (``oauth/server.py``, RFC 7662): what a bolt-on or the gateway learns;
* the token endpoint: exchanging a code (``AuthorizationCodeGrant``) and refreshing
  (``RefreshTokenGrant``) -- a grant past its end must not mint new tokens;
* bolt-on mode (``upstream/tokens.py``): the mirror of an upstream grant, with this
  utility's own view of the ASP;
* the portal's authorizations page: "active" means exactly what the guard lets through.

Before this module, the guard checked the grant's end date and the ASP's standing while
introspection checked neither, so a bolt-on relying on introspection accepted a token whose
grant had ended (issue 11).  A grant is usable when

1. its ASP may be dealt with (``lifecycle.USABLE``: qualified -- not pending, suspended,
   de-qualified or blocked; concept design 6.4, 6.4.4-6.4.6), and
2. it is active (ESPI AuthorizationStatus 1: not revoked, not ended by closing, expiry or a
   withdrawal -- 7.10), and
3. its end date, if the customer chose one, is still ahead (the expiry sweep may not have
   run yet: the date itself decides, not the sweep), and
4. when the utility says so (``TERMS_ENFORCE_ON_EXISTING``), its ASP has accepted the SST
   terms and conditions in force (Title 20 1623(c)(2)(C); concept design 6.4.3 item 6;
   ``lifecycle/terms.py``).  By default a new version stops only *new* grants
   (``terms.new_grant_refusal``), and existing ones keep running.

A token is usable when it is neither revoked nor past its access lifetime, and its grant
(if it has one: client_credentials tokens have none) is usable.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage.models import Authorization, Token
from .access import ACTIVE, USABLE
from .terms import existing_grant_refused


@dataclass(frozen=True)
class Refusal:
    """Why a grant or token may not be used: a stable code and words for the error body.

    Codes: ``asp_withdrawn``, ``grant_ended``, ``grant_expired``, ``terms_not_accepted``,
    ``token_revoked``, ``token_expired``.  Descriptions are ASCII without quotes (they go into
    ``WWW-Authenticate`` and OAuth error bodies).
    """

    code: str
    description: str


def grant_refusal(
    qualification: str | None, authorization: Authorization | None, now: int
) -> Refusal | None:
    """None when the grant may be used at ``now``, else why not.

    Args:
        qualification: the ASP's ``Application.qualification`` (None: no such ASP here).
        authorization: the customer's grant; None for an ASP-level (client_credentials)
            token, whose only condition is the ASP's standing.
        now: epoch seconds.
    """
    if qualification not in USABLE:
        return Refusal(
            "asp_withdrawn",
            "the application behind this token is not qualified here: not yet listed by the "
            "central registry, or its access was withdrawn",
        )
    if authorization is None:
        return None
    if authorization.status != ACTIVE:
        return Refusal("grant_ended", "the authorization behind this token is revoked or ended")
    if authorization.ends_at is not None and authorization.ends_at <= now:
        return Refusal(
            "grant_expired", "the authorization behind this token reached the end date chosen"
        )
    if existing_grant_refused(authorization):
        return Refusal(
            "terms_not_accepted",
            "the application behind this token has not accepted the SST terms and conditions "
            "in force",
        )
    return None


def token_refusal(token: Token, qualification: str | None, now: int) -> Refusal | None:
    """None when the access token may be used at ``now`` (itself and its grant), else why not."""
    if token.revoked_at is not None:
        return Refusal("token_revoked", "the access token is unknown, expired or revoked")
    if token.access_expires_at <= now:
        return Refusal("token_expired", "the access token is unknown, expired or revoked")
    return grant_refusal(qualification, token.authorization, now)


__all__ = ["Refusal", "grant_refusal", "token_refusal"]
