"""The rate-change workflow (1623(c)(1)(D); concept design 7.9, 7.15): request, Class 2
confirmation by one-time passcode, asynchronous decision by the billing system.

::

    POST .../RateChangeRequest  (ASP, "Enable rate change" scope, Idempotency-Key)
        -> awaitingConfirmation; a passcode goes to the customer by e-mail or text message
           (the utility's channel the customer chose, server/portal/contact.py)
    POST .../RateChangeRequest/{id}/Confirmation  (ASP relays the code the customer read)
        -> confirmed | (wrong code: attempts left) | rejected confirmationFailed | expired
    worker: confirmed -> submitted -> accepted (effective next billing cycle) | rejected

Every transition is one transaction that also writes its audit event and its outbox rows
(the ASP's BatchList notification, the customer's e-mail): a crash loses no step and sends
nothing for a step not taken.  Each transition is a conditional UPDATE (or an INSERT held
by a unique index), so parallel requests cannot take the same step twice (issue 11).

The steps live in private modules -- ``_creation`` (creating, with eligibility and limits),
``_passcode`` (confirming, expiring), ``_grant_ended`` (cancelled with their grant),
``_workflow`` (statuses, audit, notifications) -- and
this module is their one public face.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from espi_sst import Rin
from espi_sst.model import sst

from ..errors import Refused
from ..storage.models import RateChangeRequestRecord
from ._creation import SMS, Target, check_idempotency_key, create, passcode_channel, resolve_target
from ._customer_message import tell_customer
from ._grant_ended import CANCELLED_BECAUSE, cancel_with_grant
from ._passcode import ConfirmationOutcome, confirm, expire, expire_unconfirmed, new_passcode
from ._workflow import OPEN, Status, announce, resource_url

__all__ = [
    "CANCELLED_BECAUSE",
    "SMS",
    "OPEN",
    "ConfirmationOutcome",
    "Status",
    "Target",
    "announce",
    "cancel_with_grant",
    "check_idempotency_key",
    "confirm",
    "create",
    "decide",
    "expire",
    "passcode_channel",
    "expire_unconfirmed",
    "new_passcode",
    "resolve_target",
    "resource_url",
    "to_model",
    "withdraw",
]


def withdraw(app: Flask, session: Session, record: RateChangeRequestRecord, *, now: int) -> None:
    """The ASP (on the customer's word) withdraws a request not yet handed to billing."""
    withdrawable = (Status.awaitingConfirmation.value, Status.confirmed.value)
    claimed = session.execute(
        update(RateChangeRequestRecord)
        .where(
            RateChangeRequestRecord.id == record.id,
            RateChangeRequestRecord.status.in_(withdrawable),
        )
        .values(status=Status.cancelled.value, updated_at=now, otp_hash=None)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(record)
        raise Refused(
            409,
            "not_withdrawable",
            f"rate change {record.uuid} is {record.status}: only a request not yet submitted "
            "to billing can be withdrawn",
        )
    session.refresh(record)
    announce(app, session, record, "rate_change_cancelled", now)


# ---- deciding (the worker) ------------------------------------------------------------------


def decide(
    app: Flask,
    session: Session,
    record: RateChangeRequestRecord,
    *,
    accepted: bool,
    effective_date: int | None,
    reason: sst.RejectionReason | None,
    message: str | None,
    now: int,
) -> None:
    record.status = (Status.accepted if accepted else Status.rejected).value
    record.effective_date = effective_date if accepted else None
    record.rejection_reason = None if accepted else (reason or sst.RejectionReason.other).value
    record.rejection_message = None if message is None else message[:256]
    record.decided_at = now
    record.updated_at = now
    record.lease_until = None
    announce(
        app, session, record, "rate_change_accepted" if accepted else "rate_change_rejected", now
    )
    customer = record.usage_point.customer
    if accepted:
        assert effective_date is not None
        outcome = (
            f"is accepted: {record.target_tariff.name} applies from "
            f"{datetime.fromtimestamp(effective_date, UTC):%B %d, %Y}, the start of your "
            "next billing cycle."
        )
    else:
        outcome = f"was not made: {message or record.rejection_reason}."
    asp = record.authorization.application.client_name
    utility = app.config["UTILITY_NAME"]
    tell_customer(
        session,
        customer,
        subject=f"{utility}: your rate change request",
        text=(
            f"Hello {customer.display_name},\n\n"
            f"The rate change {asp} asked for "
            f"on your behalf for your {record.usage_point.title} {outcome}\n"
        ),
        sms_text=f"{utility}: the rate change {asp} asked for ({record.usage_point.title}) {outcome}",
        now=now,
    )


def to_model(record: RateChangeRequestRecord) -> sst.RateChangeRequest:
    return sst.RateChangeRequest(
        target_rin=Rin.parse(record.target_rin),
        target_tariff_code=record.target_tariff_code,
        requested_at=record.requested_at,
        updated_at=record.updated_at,
        status=Status(record.status),
        rejection_reason=(
            None
            if record.rejection_reason is None
            else sst.RejectionReason(record.rejection_reason)
        ),
        rejection_message=record.rejection_message,
        confirmation_expires_at=(
            record.otp_expires_at if record.status == Status.awaitingConfirmation.value else None
        ),
        effective_date=record.effective_date,
    )
