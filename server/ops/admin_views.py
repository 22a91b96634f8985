"""What the read-only admin commands show: ASPs, grants, rate changes, outbox messages.

Each function reads the database and returns plain JSON-ready dictionaries with stable keys
(docs/operations.md, "Admin commands"): ``--json`` prints them as they are, the tables in
``admin_output.py`` print a few columns of them.  Times are ISO 8601 in UTC (RFC 3339
``Z`` form); nothing secret leaves here -- no client secret hash, token hash, passcode
hash or sealed outbox body (issue 11, item 4: bodies stay encrypted; delivered ones are
purged anyway).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from espi_sst.scope import Category, Scope, ScopeError

from ..errors import EspiServerError
from ..outbox.queue import ASP_NOTIFICATION, EMAIL, SMS
from ..storage.models import (
    Application,
    AuditEvent,
    Authorization,
    OutboxMessage,
    RateChangeRequestRecord,
    RetailCustomer,
)

LANES = {"email": EMAIL, "sms": SMS, "asp": ASP_NOTIFICATION}
"""The outbox kinds by the names the commands take (e-mail and text messages share the
worker's customer lane, ASP notifications have theirs; server/worker.py)."""
OUTBOX_STATES = ("pending", "delivered", "failed")
GRANT_ACTIVE = "active"


class NotFound(EspiServerError, LookupError):
    """No row answers to the id an operator gave (the message names it)."""

    code = "not_found"


def iso(epoch: int | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (``2026-01-31T08:00:00Z``); None stays None."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


# ---- ASPs -----------------------------------------------------------------------------------


def grant_status(grant: Authorization) -> str:
    """``active``, or why the grant ended (``Authorization.ended_reason``; ``ended`` if none)."""
    if grant.status == 1:
        return GRANT_ACTIVE
    return grant.ended_reason or "ended"


def _grant_counts(session: Session) -> dict[int, Counter[str]]:
    rows = session.execute(
        select(
            Authorization.application_id,
            Authorization.status,
            Authorization.ended_reason,
            func.count(),
        ).group_by(Authorization.application_id, Authorization.status, Authorization.ended_reason)
    ).all()
    counts: dict[int, Counter[str]] = {}
    for application_id, status, reason, count in rows:
        label = GRANT_ACTIVE if status == 1 else (reason or "ended")
        counts.setdefault(application_id, Counter())[label] += count
    return counts


def _asp(application: Application, counts: Counter[str]) -> dict[str, Any]:
    return {
        "client_id": application.client_id,
        "name": application.client_name,
        "software_id": application.software_id,
        "class": application.asp_class,
        "qualification": application.qualification,
        "qualification_reason": application.qualification_reason,
        "qualification_changed_at": iso(application.qualification_changed_at),
        "terms_version": application.terms_version,
        "terms_accepted_at": iso(application.terms_accepted_at),
        "public": application.client_secret_hash is None,
        "kind": "resource_server" if application.grant_types == ["introspection"] else "asp",
        "redirect_uris": list(application.redirect_uris),
        "notify_uri": application.notify_uri,
        "client_uri": application.client_uri,
        "scope": application.scope,
        "created_at": iso(application.created_at),
        "grants": dict(sorted(counts.items())),
    }


def list_asps(session: Session) -> list[dict[str, Any]]:
    counts = _grant_counts(session)
    return [
        _asp(application, counts.get(application.id, Counter()))
        for application in session.scalars(select(Application).order_by(Application.id))
    ]


def application_by_client_id(session: Session, client_id: str) -> Application:
    application = session.scalar(select(Application).where(Application.client_id == client_id))
    if application is None:
        raise NotFound(
            f"no application with client_id {client_id!r} is registered here "
            "(espi-sst asp list shows them)"
        )
    return application


def show_asp(session: Session, client_id: str) -> dict[str, Any]:
    application = application_by_client_id(session, client_id)
    return _asp(application, _grant_counts(session).get(application.id, Counter()))


# ---- grants ---------------------------------------------------------------------------------


def scope_in_words(scope: str) -> list[str]:
    """The consent page's words for what a scope shares (espi_sst.scope.Category labels)."""
    try:
        parsed = Scope.parse(scope)
    except ScopeError:
        return []
    return [category.label for category in Category if category in parsed.categories]


def _actor_of(session: Session, subject: str, action: str) -> str | None:
    return session.scalar(
        select(AuditEvent.actor)
        .where(AuditEvent.subject == subject, AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def _grant(session: Session, grant: Authorization, *, detailed: bool) -> dict[str, Any]:
    customer = grant.customer
    document: dict[str, Any] = {
        "id": grant.uuid,
        "subscription_id": grant.subscription_uuid,
        "customer": None if customer is None else customer.uuid,
        "customer_username": None if customer is None else customer.username,
        "client_id": grant.application.client_id,
        "asp_name": grant.application.client_name,
        "status": grant_status(grant),
        "grant_type": grant.grant_type,
        "created_at": iso(grant.created_at),
        "expires_at": iso(grant.ends_at),
        "ended_at": iso(grant.revoked_at) if grant.status != 1 else None,
        "ended_reason": grant.ended_reason if grant.status != 1 else None,
    }
    if detailed:
        subject = f"authorization:{grant.uuid}"
        document.update(
            {
                "scope": grant.scope,
                "scope_in_words": scope_in_words(grant.scope),
                "created_by": _actor_of(session, subject, "consent_granted"),
                "ended_by": (
                    _actor_of(session, subject, "authorization_ended")
                    if grant.status != 1
                    else None
                ),
                "usage_points": [
                    {
                        "id": point.uuid,
                        "title": point.title,
                        "service_agreement": point.service_agreement,
                        "closed_at": iso(point.closed_at),
                    }
                    for point in sorted(grant.usage_points, key=lambda point: point.id)
                ],
            }
        )
    return document


def list_grants(
    session: Session,
    *,
    client_id: str | None = None,
    status: str | None = None,
    customer: str | None = None,
) -> list[dict[str, Any]]:
    """Grants, oldest first; ``status``: ``active``, ``ended`` (any end) or an end reason;
    ``customer``: a customer's uuid or portal username."""
    query: Select[Authorization] = select(Authorization).order_by(Authorization.id)
    if client_id is not None:
        query = query.where(
            Authorization.application_id == application_by_client_id(session, client_id).id
        )
    if customer is not None:
        found = session.scalar(
            select(RetailCustomer.id).where(
                (RetailCustomer.uuid == customer) | (RetailCustomer.username == customer)
            )
        )
        if found is None:
            raise NotFound(f"no customer with uuid or username {customer!r}")
        query = query.where(Authorization.customer_id == found)
    if status == GRANT_ACTIVE:
        query = query.where(Authorization.status == 1)
    elif status == "ended":
        query = query.where(Authorization.status != 1)
    elif status is not None:
        query = query.where(Authorization.status != 1, Authorization.ended_reason == status)
    return [_grant(session, grant, detailed=False) for grant in session.scalars(query)]


def show_grant(session: Session, grant_id: str) -> dict[str, Any]:
    """One grant by its uuid (the ESPI Authorization id) or its Subscription id."""
    grant = session.scalar(
        select(Authorization).where(
            (Authorization.uuid == grant_id) | (Authorization.subscription_uuid == grant_id)
        )
    )
    if grant is None:
        raise NotFound(
            f"no grant with id {grant_id!r} (give the Authorization or Subscription uuid; "
            "espi-sst grants list shows them)"
        )
    return _grant(session, grant, detailed=True)


# ---- rate changes ---------------------------------------------------------------------------


def _rate_change(record: RateChangeRequestRecord, *, detailed: bool) -> dict[str, Any]:
    point = record.usage_point
    document: dict[str, Any] = {
        "id": record.uuid,
        "state": record.status,
        "client_id": record.application.client_id,
        "usage_point": point.uuid,
        "customer": point.customer.uuid,
        # The request keeps only its target; the rate the service agreement is on now is
        # the "from" rate while the request is open, and the new rate once it is applied.
        "usage_point_rin_now": None if point.tariff is None else point.tariff.rin,
        "to_rin": record.target_rin,
        "to_tariff_code": record.target_tariff_code,
        "effective_date": iso(record.effective_date),
        "requested_at": iso(record.requested_at),
        "updated_at": iso(record.updated_at),
    }
    if detailed:
        document.update(
            {
                "grant": record.authorization.uuid,
                "confirmed_at": iso(record.confirmed_at),
                "submitted_at": iso(record.submitted_at),
                "decided_at": iso(record.decided_at),
                "passcode_attempts": record.otp_attempts,
                "processing_attempts": record.processing_attempts,
                "lease_until": iso(record.lease_until),
                "rejection_reason": record.rejection_reason,
                "rejection_message": record.rejection_message,
            }
        )
    return document


def list_rate_changes(
    session: Session, *, state: str | None = None, client_id: str | None = None
) -> list[dict[str, Any]]:
    query: Select[RateChangeRequestRecord] = select(RateChangeRequestRecord).order_by(
        RateChangeRequestRecord.id
    )
    if state is not None:
        query = query.where(RateChangeRequestRecord.status == state)
    if client_id is not None:
        query = query.where(
            RateChangeRequestRecord.application_id
            == application_by_client_id(session, client_id).id
        )
    return [_rate_change(record, detailed=False) for record in session.scalars(query)]


def show_rate_change(session: Session, request_id: str) -> dict[str, Any]:
    record = session.scalar(
        select(RateChangeRequestRecord).where(RateChangeRequestRecord.uuid == request_id)
    )
    if record is None:
        raise NotFound(
            f"no rate change request with id {request_id!r} (espi-sst rate-changes list shows them)"
        )
    return _rate_change(record, detailed=True)


# ---- outbox ---------------------------------------------------------------------------------


def outbox_state(message: OutboxMessage) -> str:
    if message.sent_at is not None:
        return "delivered"
    if message.failed_at is not None:
        return "failed"
    return "pending"


def _lane(kind: str) -> str:
    return next((lane for lane, value in LANES.items() if value == kind), kind)


def _message(message: OutboxMessage) -> dict[str, Any]:
    payload = message.payload or {}
    return {
        "id": message.id,
        "lane": _lane(message.kind),
        "state": outbox_state(message),
        "destination": message.destination,
        # The fields kept in clear (server/outbox/queue.py); the body is sealed or purged.
        "subject": payload.get("subject"),
        "client_id": payload.get("client_id"),
        "attempts": message.attempts,
        "created_at": iso(message.created_at),
        "next_attempt_at": (
            iso(message.next_attempt_at) if outbox_state(message) == "pending" else None
        ),
        "delivered_at": iso(message.sent_at),
        "failed_at": iso(message.failed_at),
        "last_error": message.last_error,
    }


def _state_filter(state: str) -> Any:
    if state == "delivered":
        return OutboxMessage.sent_at.is_not(None)
    if state == "failed":
        return OutboxMessage.failed_at.is_not(None)
    return OutboxMessage.sent_at.is_(None) & OutboxMessage.failed_at.is_(None)


def list_outbox(
    session: Session, *, lane: str | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    query: Select[OutboxMessage] = select(OutboxMessage).order_by(OutboxMessage.id)
    if lane is not None:
        query = query.where(OutboxMessage.kind == LANES[lane])
    if state is not None:
        query = query.where(_state_filter(state))
    return [_message(message) for message in session.scalars(query)]


def outbox_message(session: Session, message_id: str) -> OutboxMessage:
    message = session.get(OutboxMessage, int(message_id)) if message_id.isdigit() else None
    if message is None:
        raise NotFound(
            f"no outbox message with id {message_id!r} (a number; espi-sst outbox list shows them)"
        )
    return message


def show_outbox(session: Session, message_id: str) -> dict[str, Any]:
    return _message(outbox_message(session, message_id))
