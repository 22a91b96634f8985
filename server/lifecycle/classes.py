"""ASP classes: data-only and rate-change (concept design 6.4.2.1-6.4.2.2, 6.4.3).

The concept design qualifies third parties in two classes:

* ``data-only`` -- customer-specific RINs, bill comparison and Green Button data;
* ``rate-change`` -- all of that, and customer-directed rate changes (``sst:rate_change``),
  after a stricter qualification.

An application's class (``Application.asp_class``) comes from the central registry
(``espi-sst-asp-registry/1``, ``server/lifecycle/registry.py``) or from the operator
(``espi-sst register-client --class``, ``espi-sst asp class``).  A data-only ASP never holds
``sst:rate_change``: its registration refuses it, ``/oauth/authorize`` answers
``invalid_scope`` (RFC 6749 4.1.2.1), and its tokens never carry it.

A **downgrade** (rate-change -> data-only) ends the rate-change part of the ASP's existing
grants at once (:func:`set_asp_class`): ``sst:rate_change`` leaves the grants' and the live
tokens' scopes (so the guard refuses the next rate-change call), rate changes still waiting
for the customer's passcode or for billing's hand-off are cancelled, each customer is
e-mailed and the ASP gets a BatchList naming the changed Authorizations.  Nothing commits
here: the caller's transaction holds the change, its audit rows and its messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from espi_sst.scope import Category, Scope

from ..config import resource_base_url
from ..outbox.queue import enqueue_asp_notification
from ..storage.models import (
    Application,
    Authorization,
    RateChangeRequestRecord,
    RetailCustomer,
    Token,
)
from ..storage.rows import audit, rowcount
from ._mail import tell_rate_change_withdrawn
from .access import ACTIVE, LifecycleError

DATA_ONLY = "data-only"
RATE_CHANGE = "rate-change"
ASP_CLASSES = (DATA_ONLY, RATE_CHANGE)
"""The classes of the concept design (6.4.2.1 data-only, 6.4.2.2 rate-change)."""

RATE_CHANGE_ONLY = frozenset({Category.SST_RATE_CHANGE})
"""Categories only a rate-change ASP may hold."""

CANCELLED_ON_DOWNGRADE = ("awaitingConfirmation", "confirmed")
"""Rate changes a downgrade cancels: those not yet handed to billing.  A ``submitted``
request is the billing system's (the customer confirmed it with the passcode); it runs to
its decision like any other."""


def check_class(asp_class: str) -> str:
    """The class, or a :class:`LifecycleError` naming the two there are."""
    if asp_class not in ASP_CLASSES:
        raise LifecycleError(
            f"ASP class {asp_class!r} is not one of {', '.join(ASP_CLASSES)}",
            code="unknown_asp_class",
        )
    return asp_class


def forbidden_categories(asp_class: str) -> frozenset[Category]:
    """The SST categories an ASP of this class may never hold (6.4.2.1)."""
    return frozenset() if asp_class == RATE_CHANGE else RATE_CHANGE_ONLY


def class_refusal(asp_class: str, scope: Scope) -> str | None:
    """None when the class allows every category of ``scope``, else why not (ASCII, no
    quotes: it goes into OAuth error descriptions)."""
    beyond = scope.categories & forbidden_categories(asp_class)
    if not beyond:
        return None
    names = ", ".join(sorted(c.value for c in beyond))
    return (
        f"{names} needs a rate-change ASP (concept design 6.4.2.2); "
        f"this application is qualified as {asp_class}"
    )


def without_rate_change(scope_text: str) -> str:
    """The scope string without ``sst:rate_change`` (everything else as it was)."""
    return " ".join(part for part in scope_text.split() if part != Category.SST_RATE_CHANGE.value)


@dataclass(frozen=True)
class ClassChange:
    """What :func:`set_asp_class` did to one application."""

    client_id: str
    previous: str
    asp_class: str
    grants_narrowed: int = 0
    tokens_narrowed: int = 0
    rate_changes_cancelled: int = 0
    customers_notified: int = 0
    customers_without_email: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.previous != self.asp_class


def set_asp_class(
    session: Session,
    application: Application,
    asp_class: str,
    *,
    actor: str,
    now: int,
    source: str | None = None,
) -> ClassChange:
    """Set an ASP's class; a downgrade ends the rate-change part of its grants (6.4.2).

    Upgrading (data-only -> rate-change) lets the ASP ask for ``sst:rate_change`` from now
    on; customers consent again to give it.  Downgrading narrows every active grant of
    the application and every live token of the client to the scope without
    ``sst:rate_change``, cancels the grants' rate changes not yet handed to billing
    (:data:`CANCELLED_ON_DOWNGRADE`), e-mails each affected customer once and sends the ASP
    one BatchList naming the narrowed Authorizations and the cancelled requests.

    The registration's scope is left as it is: what an ASP may ask for is its registered
    scope less what its class forbids (:func:`class_refusal`).  An upgrade adds
    ``sst:rate_change`` to the registered scope when it lacks it (a data-only registration
    never had it), so the upgraded ASP can ask for it.

    Raises:
        LifecycleError: an unknown class.
    """
    check_class(asp_class)
    previous = application.asp_class
    if previous == asp_class:
        return ClassChange(application.client_id, previous, asp_class)
    application.asp_class = asp_class
    subject = f"client:{application.client_id}"
    change = {"from": previous, "to": asp_class, "software_id": application.software_id}
    if asp_class == RATE_CHANGE:
        if Category.SST_RATE_CHANGE.value not in application.scope.split():
            application.scope = f"{application.scope} {Category.SST_RATE_CHANGE.value}".strip()
        audit(session, now, actor, "asp_class_changed", subject, change | {"source": source})
        return ClassChange(application.client_id, previous, asp_class)

    grants = session.scalars(
        select(Authorization)
        .where(Authorization.application_id == application.id, Authorization.status == ACTIVE)
        .order_by(Authorization.id)
    ).all()
    narrowed = [g for g in grants if Scope.parse(g.scope).allows(Category.SST_RATE_CHANGE)]
    for grant in narrowed:
        grant.scope = without_rate_change(grant.scope)
        grant.updated_at = now
    tokens = _narrow_live_tokens(session, application.client_id, now)
    cancelled = _cancel_open_rate_changes(session, application, actor=actor, now=now)
    customers: dict[int, RetailCustomer] = {
        g.customer.id: g.customer for g in narrowed if g.customer is not None
    }
    notified, unreachable = tell_rate_change_withdrawn(
        session, application, list(customers.values()), now
    )
    base = resource_base_url(current_app.config)  # what token responses name (RESOURCE_BASE_URL)
    resources = [f"{base}/Authorization/{g.uuid}" for g in narrowed] + [
        _request_url(base, record) for record in cancelled
    ]
    if resources and application.notify_uri:
        enqueue_asp_notification(session, application=application, resources=resources, now=now)
    done = ClassChange(
        application.client_id,
        previous,
        asp_class,
        grants_narrowed=len(narrowed),
        tokens_narrowed=tokens,
        rate_changes_cancelled=len(cancelled),
        customers_notified=notified,
        customers_without_email=unreachable,
    )
    audit(
        session,
        now,
        actor,
        "asp_class_changed",
        subject,
        change
        | {
            "source": source,
            "authorizations_narrowed": [g.uuid for g in narrowed],
            "tokens_narrowed": tokens,
            "rate_changes_cancelled": [r.uuid for r in cancelled],
            "customers_notified": notified,
            "customers_without_email": list(unreachable),
        },
    )
    return done


def _narrow_live_tokens(session: Session, client_id: str, now: int) -> int:
    """Take ``sst:rate_change`` out of every live token of the client; how many changed.

    The guard reads the token's own scope, so the next rate-change call is refused (403
    insufficient_scope) without waiting for the token to expire; a refresh inherits the
    narrowed scope."""
    live = session.scalars(
        select(Token).where(Token.client_id == client_id, Token.revoked_at.is_(None))
    ).all()
    count = 0
    for token in live:
        narrowed = without_rate_change(token.scope or "")
        if narrowed != (token.scope or ""):
            token.scope = narrowed
            count += 1
    session.flush()
    return count


def _cancel_open_rate_changes(
    session: Session, application: Application, *, actor: str, now: int
) -> list[RateChangeRequestRecord]:
    """Cancel the application's rate changes not yet with billing (race-safe: a conditional
    UPDATE per request, so a passcode confirmed at the same moment wins or loses whole)."""
    open_requests = session.scalars(
        select(RateChangeRequestRecord)
        .where(
            RateChangeRequestRecord.application_id == application.id,
            RateChangeRequestRecord.status.in_(CANCELLED_ON_DOWNGRADE),
        )
        .order_by(RateChangeRequestRecord.id)
    ).all()
    cancelled: list[RateChangeRequestRecord] = []
    for record in open_requests:
        claimed = rowcount(
            session.execute(
                update(RateChangeRequestRecord)
                .where(
                    RateChangeRequestRecord.id == record.id,
                    RateChangeRequestRecord.status.in_(CANCELLED_ON_DOWNGRADE),
                )
                .values(status="cancelled", updated_at=now, otp_hash=None)
                .execution_options(synchronize_session=False)
            )
        )
        session.expire(record, ["status", "updated_at", "otp_hash"])
        if claimed != 1:
            continue
        cancelled.append(record)
        audit(
            session,
            now,
            actor,
            "rate_change_cancelled",
            f"rate_change_request:{record.uuid}",
            {"reason": "asp_downgraded", "client": application.client_id},
        )
    return cancelled


def _request_url(base: str, record: RateChangeRequestRecord) -> str:
    return (
        f"{base}/Subscription/{record.authorization.subscription_uuid}"
        f"/UsagePoint/{record.usage_point.uuid}/RateChangeRequest/{record.uuid}"
    )


__all__ = [
    "ASP_CLASSES",
    "DATA_ONLY",
    "RATE_CHANGE",
    "ClassChange",
    "check_class",
    "class_refusal",
    "forbidden_categories",
    "set_asp_class",
    "without_rate_change",
]
