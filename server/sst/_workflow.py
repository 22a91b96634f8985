"""What every step of the rate-change workflow shares (1623(c)(1)(D); concept design 7.9,
7.15): the statuses and :func:`announce` -- the audit event and the
ASP's BatchList notification each step writes in its own transaction.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from espi_sst.model import sst

from ..config import RESOURCE_PATH
from ..outbox.queue import enqueue_asp_notification
from ..storage.models import RateChangeRequestRecord
from ..storage.rows import audit

Status = sst.RateChangeStatus
OPEN = (Status.awaitingConfirmation.value, Status.confirmed.value, Status.submitted.value)
"""Statuses of a request still in progress: one per usage point (migration 0004's index)."""


def resource_url(app: Flask, record: RateChangeRequestRecord) -> str:
    """The request's absolute URL (from the configured issuer: workers have no request)."""
    return (
        f"{app.config['ISSUER']}{RESOURCE_PATH}/Subscription/{record.authorization.subscription_uuid}"
        f"/UsagePoint/{record.usage_point.uuid}/RateChangeRequest/{record.uuid}"
    )


def asp_actor(record: RateChangeRequestRecord) -> str:
    return f"client:{record.authorization.application.client_id}"


def subject(record: RateChangeRequestRecord) -> str:
    """The audit log's name for a rate change request."""
    return f"rate_change_request:{record.uuid}"


def state(record: RateChangeRequestRecord) -> dict[str, Any]:
    """What the audit log keeps of a request at each step."""
    return {
        "status": record.status,
        "usage_point": record.usage_point.uuid,
        "customer": record.usage_point.customer.uuid,
        "client": record.authorization.application.client_id,
        "target_rin": record.target_rin,
        "rejection_reason": record.rejection_reason,
        "effective_date": record.effective_date,
        "otp_attempts": record.otp_attempts,
    }


_ACTORS = {
    "rate_change_requested": "asp",
    "rate_change_confirmed": "asp",  # relaying the customer's code
    "rate_change_rejected": "system",
    "rate_change_expired": "system",
    "rate_change_accepted": "billing",
    "rate_change_submitted": "system",
    "rate_change_cancelled": "asp",
    "rate_change_cancelled_with_grant": "system",  # its authorization ended (_grant_ended.py)
}


def announce(
    app: Flask, session: Session, record: RateChangeRequestRecord, action: str, now: int
) -> None:
    """Audit the step and tell the ASP (a BatchList naming the request), in this transaction."""
    actor = _ACTORS.get(action, "system")
    who = asp_actor(record) if actor == "asp" else actor
    audit(session, now, who, action, subject(record), state(record))
    enqueue_asp_notification(
        session,
        application=record.authorization.application,
        resources=[resource_url(app, record)],
        now=now,
    )
