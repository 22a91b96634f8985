"""The SST add-on consent: SST categories for a custodian grant that has none.

An unmodified custodian's consent page has no SST checkboxes.  So the ASP, once it holds
the custodian's token, asks the bolt-on for an add-on consent (``consent.py``): it pushes
the request here first, authenticated with its own credentials at this server and carrying
the custodian's token and ``resourceURI`` -- the way RFC 9126 (pushed authorization
requests) keeps a request's contents off the browser.  The bolt-on asks the custodian which
usage points that token may see in that subscription (its ordinary ESPI answer), and
seals the request (:func:`seal`).  The customer then signs in here through the utility's
identity source and ticks the SST categories and service agreements; :func:`record`
keeps that as the subscription's grant row (``grant_type`` ``sst_addon``), which the token
sources read (``grants.py``).

Why the binding holds without introspection: ESPI gives each customer-to-ASP grant its own
Subscription at the custodian, and the push proved that this ASP (authenticated here)
holds a token the custodian accepts for it.  A later request for that subscription whose
token the custodian accepts is therefore this ASP's.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst.errors import ScopeError
from espi_sst.model.enums import AuthorizationStatus
from espi_sst.scope import Category, Scope

from ..errors import Refused
from ..lifecycle import notices
from ..lifecycle.classes import class_refusal
from ..security import now
from ..sst import phases
from ..storage.models import Application, Authorization, RetailCustomer, UsagePoint
from ..storage.rows import audit
from .grants import ADDON, SST_CATEGORIES, checked_id, made_once

REQUEST_SECONDS = 600
"""How long a pushed request may wait for the customer (RFC 9126 suggests 5 to 600 s)."""
REQUEST_URI_PREFIX = "urn:espi-sst:sst-addon:"
_SALT = "espi-sst sst add-on consent request"
_SUBSCRIPTION = re.compile(r"/(?:Batch/)?Subscription/([^/?#]+)")


@dataclass(frozen=True)
class PushedRequest:
    """An ASP's add-on consent request, as proven at the push."""

    client_id: str
    subscription_id: str
    usage_points: tuple[str, ...]  # the custodian's ids this token may see
    categories: tuple[str, ...]
    redirect_uri: str
    state: str


def subscription_of(resource_uri: str) -> str:
    """The Subscription id in the custodian's ``resourceURI`` (either form)."""
    match = _SUBSCRIPTION.search(resource_uri)
    if match is None:
        raise Refused(
            400,
            "invalid_request",
            "resource_uri must be the custodian's Subscription URL from its token response "
            "(.../Subscription/{id} or .../Batch/Subscription/{id})",
        )
    return checked_id(match.group(1), "Subscription")


def requested_categories(scope: str, application: Application) -> tuple[str, ...]:
    """The SST categories asked for: at least one, nothing else, within the registration."""
    try:
        asked = Scope.parse(scope)
    except ScopeError as exc:
        raise Refused(400, "invalid_scope", str(exc)) from None
    if not asked.categories or not asked.categories <= SST_CATEGORIES or asked.function_blocks:
        raise Refused(
            400,
            "invalid_scope",
            "scope must name SST categories only (sst:rin sst:bill_comparison "
            "sst:rate_change): the Green Button ones are the custodian's",
        )
    if not asked.categories <= Scope.parse(application.scope).categories:
        raise Refused(
            400,
            "invalid_scope",
            f"the scope asks for more than {application.client_id} is registered for",
        )
    beyond_class = class_refusal(application.asp_class, asked)  # concept design 6.4.2.1
    if beyond_class is not None:
        raise Refused(400, "invalid_scope", beyond_class)
    offered = phases.narrowed(asked, current_app.config).categories  # 6.1: later phases out
    if not offered:
        raise Refused(
            400,
            "invalid_scope",
            "nothing asked for is offered by this utility yet (SST_PHASE, concept design 6.1)",
        )
    order = list(Category)
    return tuple(c.value for c in sorted(offered, key=order.index))


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(app.config["SECRET_KEY"]), salt=_SALT)


def seal(app: Flask, pushed: PushedRequest) -> str:
    """The ``request_uri`` naming ``pushed``: signed with SECRET_KEY, so nothing is stored
    until the customer decides."""
    token = _serializer(app).dumps(pushed.__dict__)
    return REQUEST_URI_PREFIX + str(token)


def unseal(app: Flask, request_uri: str | None) -> PushedRequest | None:
    """The request a ``request_uri`` names, or None when it is forged, damaged or expired."""
    if not request_uri or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    try:
        data: dict[str, Any] = _serializer(app).loads(
            request_uri[len(REQUEST_URI_PREFIX) :], max_age=REQUEST_SECONDS
        )
        return PushedRequest(
            client_id=str(data["client_id"]),
            subscription_id=str(data["subscription_id"]),
            usage_points=tuple(str(p) for p in data["usage_points"]),
            categories=tuple(str(c) for c in data["categories"]),
            redirect_uri=str(data["redirect_uri"]),
            state=str(data["state"]),
        )
    except (BadSignature, KeyError, TypeError):
        return None


def offered_points(customer: RetailCustomer, pushed: PushedRequest) -> list[UsagePoint]:
    """The customer's open service agreements that the ASP's custodian grant covers."""
    wanted = set(pushed.usage_points)
    return [p for p in customer.usage_points if p.closed_at is None and p.uuid in wanted]


def record(
    session: Session,
    *,
    application: Application,
    customer: RetailCustomer,
    subscription_id: str,
    categories: frozenset[Category],
    points: list[UsagePoint],
) -> Authorization:
    """Keep the customer's add-on consent as the subscription's grant row; committed.

    A consent given again (after a revocation here, or to change what is shared) renews
    the same row: one row per custodian subscription.

    Raises:
        Refused: 409 when the subscription's row names another ASP.
    """
    return made_once(
        session,
        lambda: _record(session, application, customer, subscription_id, categories, points),
    )


def _record(
    session: Session,
    application: Application,
    customer: RetailCustomer,
    subscription_id: str,
    categories: frozenset[Category],
    points: list[UsagePoint],
) -> Authorization:
    row = session.scalar(
        select(Authorization).where(Authorization.subscription_uuid == subscription_id)
    )
    moment = now()
    if row is not None and row.application_id != application.id:
        raise Refused(
            409,
            "subscription_taken",
            "this subscription's grant here belongs to another application",
        )
    renewed = row is None or row.status != AuthorizationStatus.Active
    if row is None:
        row = Authorization(
            uuid=str(uuid.uuid4()),
            subscription_uuid=subscription_id,
            application_id=application.id,
            created_at=moment,
        )
        session.add(row)
    row.grant_type = ADDON
    row.customer = customer
    row.scope = str(Scope(categories=categories & SST_CATEGORIES))
    row.usage_points = points
    row.status = AuthorizationStatus.Active
    row.revoked_at = None
    row.ended_reason = None
    row.ends_at = None
    row.updated_at = moment
    audit(
        session,
        moment,
        f"customer:{customer.uuid}",
        "sst_addon_consent_granted",
        subject=f"client:{application.client_id}",
        detail={
            "subscription": subscription_id,
            "scope": row.scope,
            "usage_points": [p.uuid for p in points],
        },
    )
    session.flush()
    # 7.4, 7.5: the customer's confirmation, with the terms (lifecycle/notices.py).
    if renewed:
        notices.grant_created(session, row, now=moment, tell_asp=False)
    else:
        notices.grant_changed(
            session, row, change="you gave your permission again", now=moment, tell_asp=False
        )
    session.commit()
    return row


__all__ = [
    "REQUEST_SECONDS",
    "PushedRequest",
    "offered_points",
    "record",
    "requested_categories",
    "seal",
    "subscription_of",
    "unseal",
]
