"""Checking bearer tokens on resource requests (RFC 6750), for every ESPI endpoint.

``current_grant()`` is the one gate.  The app's token source (``tokens.py``: this server's
own tokens, or the upstream's introspection in bolt-on mode) finds the grant and refuses
what the one rule of ``lifecycle/usable.py`` refuses: expired or revoked tokens, tokens of
an ASP whose access was withdrawn (concept design 6.4.5-6.4.6) and of ended grants (401
``invalid_token``).  Then, the same for every source: a good token is counted against its
ASP's limits (``limits/resources.py``: 429 past them), and the token's kind (a customer's
grant or the ASP's own client_credentials token) and scope category must fit the endpoint
(403 ``insufficient_scope``).  Endpoints then check that what is asked for belongs to the
grant (another subscription's resources are 404, never data).
"""

from __future__ import annotations

from flask import current_app, g, request

from espi_sst.scope import Category

from ..errors import Refused
from ..limits.resources import charge
from .tokens import Grant, Target, refuse, token_source


def _bearer() -> str:
    """The request's bearer token, or a 401 asking for one (RFC 6750 3.1)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Refused(
            401, "invalid_request", "bearer token required", challenge='Bearer realm="espi"'
        )
    return value.strip()


def _target() -> Target:
    """The Subscription and UsagePoint ids the request's path names (its route's ``sid``
    and ``uid``), for token sources that ask the custodian about exactly those."""
    args = request.view_args or {}
    sid, uid = args.get("sid"), args.get("uid")
    return Target(
        subscription_id=sid if isinstance(sid, str) else None,
        usage_point_id=uid if isinstance(uid, str) else None,
    )


def _needs(category: Category) -> str:
    """What a grant without ``category`` lacks, and, beside an unmodified custodian (bolt-on
    mode), where an SST category is given: the add-on consent (``upstream/addon.py``)."""
    words = f"this resource needs the {category.value} scope"
    if category.value.startswith("sst:") and current_app.config.get("UPSTREAM_RESOURCE_URL"):
        words += (
            ": the customer gives it in the SST add-on consent "
            "(POST /sst/consent/requests, docs/deployment.md)"
        )
    return words


def current_grant(required: Category | None = None, *, client_level: bool = False) -> Grant:
    """The grant of the request's bearer token; else raises an RFC 6750 refusal.

    Args:
        required: the scope category the endpoint serves (None: any grant).
        client_level: the endpoint is ASP-level (ApplicationInformation, Bulk): it takes a
            client_credentials token, not a customer's.
    """
    cached: Grant | None = getattr(g, "espi_grant", None)
    if cached is not None:
        return cached
    grant = token_source().grant(_bearer(), _target())
    charge(grant.client_id)  # per-ASP limits, once the token is known good (429)
    if client_level and grant.authorization is not None:
        refuse(403, "insufficient_scope", "this resource needs a client_credentials token")
    if not client_level and grant.authorization is None:
        refuse(403, "insufficient_scope", "this resource needs a customer's authorization")
    if required is not None and not grant.scope.allows(required):
        refuse(403, "insufficient_scope", _needs(required))
    g.espi_grant = grant
    return grant


__all__ = ["Grant", "current_grant", "refuse"]
