"""The local record of a custodian's grant, from standard facts only (issue 22).

An unmodified custodian tells the bolt-on nothing beyond the standard: introspection's
``active``, ``scope``, ``client_id``, ``exp``, ``sub`` (RFC 7662 section 2.2), or, without
introspection, only whether its own resource API answers the ASP's token
(``probe.py``).  What the SST needs besides -- which subscription, which usage points,
which customer, which SST categories -- therefore comes from:

* the **subscription**: the id in the request's path, which the custodian just accepted
  for this token (ESPI gives each customer-to-ASP grant its own Subscription);
* the **usage points**: those the custodian accepted this token for, as probed; for an
  SST add-on consent (``addon.py``), only those the customer also ticked here;
* the **customer**: the one who signed in for the add-on consent, else the owner of the
  usage point in the utility's own directory (or introspection's ``sub``);
* the **SST categories**: the add-on consent's record (``grant_type`` ``sst_addon``),
  plus any SST category the custodian's own scope carries (a custodian that added SST
  checkboxes to its consent); the Green Button categories from the custodian's scope.

One row per custodian subscription (``Authorization.subscription_uuid``), so rate
changes, audit entries, notifications and the customer's portal page have a grant to
belong to.  A custodian that does send the richer non-standard members
(``authorization_id``, ``subscription_id``, ``usage_points``) is mirrored by
``shadow.py`` instead, without probes: an optimisation, never a requirement.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from espi_sst.errors import ScopeError
from espi_sst.model.enums import AuthorizationStatus
from espi_sst.scope import Category, Scope

from ..security import now
from ..storage.models import Authorization, RetailCustomer, UsagePoint
from .shadow import ShadowError, registered_application

ADDON = "sst_addon"
"""``Authorization.grant_type`` of a grant made by the SST add-on consent here."""
UPSTREAM = "upstream"
"""``grant_type`` of a mirror of the custodian's grant (no add-on consent)."""
SST_CATEGORIES = frozenset(
    {Category.SST_RIN, Category.SST_BILL_COMPARISON, Category.SST_RATE_CHANGE}
)
MAX_ID_LENGTH = 36
T = TypeVar("T")
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:espi-sst:custodian-subscription")


def custodian_scope(text: str | None) -> Scope:
    """The custodian's scope string, read leniently: a token this library does not know
    (a vendor's own) is skipped, not an error -- the custodian, not the bolt-on, decides
    what its own scopes mean."""
    if not text:
        return Scope()
    known = []
    for token in text.split():
        try:
            Scope.parse(token)
        except ScopeError:
            continue
        known.append(token)
    return Scope.parse(" ".join(known))


def effective_scope(row: Authorization | None, custodian: Scope) -> Scope:
    """The scope a request acts under: the custodian's, plus the add-on's SST categories."""
    if row is None or row.grant_type != ADDON:
        return custodian
    addon = Scope.parse(row.scope).categories & SST_CATEGORIES
    return Scope(
        custodian.function_blocks,
        custodian.parameters,
        custodian.categories | addon,
        custodian.openid,
    )


def checked_id(value: str, what: str) -> str:
    """A custodian id as this server stores it (the Subscription/UsagePoint columns)."""
    if not value or len(value) > MAX_ID_LENGTH or "/" in value or not value.isprintable():
        raise ShadowError(
            f"the data custodian's {what} id {value[:40]!r} cannot be kept here "
            f"(1 to {MAX_ID_LENGTH} printable characters without '/')"
        )
    return value


def made_once(session: Session, make: Callable[[], T]) -> T:
    """``make()`` (which commits), again after a unique-key collision: two first requests
    of one grant, or two approvals of one add-on consent, arrive together, and the one that
    loses the insert finds the winner's row on its second try (one row per subscription,
    ``authorization.subscription_uuid`` and the point links are unique)."""
    for _attempt in range(2):
        try:
            return make()
        except IntegrityError:
            session.rollback()
    return make()


def subscription_grant(
    session: Session,
    *,
    subscription_id: str,
    usage_point_id: str | None,
    client_id: str | None,
    subject: str | None,
    scope: str | None,
) -> Authorization | None:
    """The row for the custodian's subscription, made or brought up to date; committed.

    Args:
        subscription_id: the id the custodian just accepted the token for.
        usage_point_id: the usage point it accepted the token for, if the path named one.
        client_id: the ASP, when introspection said so; None (probe mode): the row must
            exist already, made by the add-on consent, which names the ASP.
        subject: introspection's ``sub`` (the custodian's customer id), if any.
        scope: the custodian's scope string, if introspection gave one.

    Returns:
        The row; None in probe mode when no add-on consent exists for the subscription.

    Raises:
        ShadowError: the ASP is not registered or withdrawn here, or the row names
            another ASP than the token's.
    """
    checked_id(subscription_id, "Subscription")
    return made_once(
        session,
        lambda: _subscription_grant(
            session, subscription_id, usage_point_id, client_id, subject, scope
        ),
    )


def _subscription_grant(
    session: Session,
    subscription_id: str,
    usage_point_id: str | None,
    client_id: str | None,
    subject: str | None,
    scope: str | None,
) -> Authorization | None:
    row = session.scalar(
        select(Authorization).where(Authorization.subscription_uuid == subscription_id)
    )
    if row is not None:
        if client_id is not None and row.application.client_id != client_id:
            raise ShadowError(
                "this access token belongs to another application than the one this "
                "subscription's grant names here"
            )
    elif client_id is None:
        return None
    else:
        application = registered_application(session, client_id)
        moment = now()
        row = Authorization(
            uuid=str(uuid.uuid5(_IDS, subscription_id)),
            subscription_uuid=subscription_id,
            application_id=application.id,
            application=application,
            customer=_customer_by_subject(session, subject),
            scope=scope or "",
            status=AuthorizationStatus.Active,
            created_at=moment,
            updated_at=moment,
            grant_type=UPSTREAM,
            usage_points=[],
        )
        session.add(row)
    changed = row.id is None
    if row.grant_type == UPSTREAM and scope is not None and row.scope != scope:
        row.scope, changed = scope, True
    if usage_point_id is not None and row.grant_type == UPSTREAM:
        changed |= _share_probed_point(session, row, usage_point_id)
    if changed:
        row.updated_at = now()
        session.commit()
    return row


def _customer_by_subject(session: Session, subject: str | None) -> RetailCustomer | None:
    if not subject:
        return None
    return session.scalar(select(RetailCustomer).where(RetailCustomer.uuid == subject))


def _share_probed_point(session: Session, row: Authorization, usage_point_id: str) -> bool:
    """Add the usage point the custodian accepted the token for, if the utility's directory
    knows it as this grant's customer's (the first one names the customer)."""
    if any(p.uuid == usage_point_id for p in row.usage_points):
        return False
    point = session.scalar(select(UsagePoint).where(UsagePoint.uuid == usage_point_id))
    if point is None or point.closed_at is not None:
        return False
    if row.customer is None:
        row.customer_id = point.customer_id
        row.customer = session.get(RetailCustomer, point.customer_id)
    if point.customer_id != row.customer_id:
        return False
    row.usage_points.append(point)
    return True


__all__ = [
    "ADDON",
    "SST_CATEGORIES",
    "UPSTREAM",
    "checked_id",
    "custodian_scope",
    "effective_scope",
    "made_once",
    "subscription_grant",
]
