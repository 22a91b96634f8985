"""The rate-change workflow (1623(c)(1)(D); concept design 7.9, 7.15): request, Class 2
confirmation by one-time passcode, asynchronous decision by the billing system.

::

    POST .../RateChangeRequest  (ASP, "Enable rate change" scope, Idempotency-Key)
        -> awaitingConfirmation; a passcode is e-mailed to the customer (the utility's channel)
    POST .../RateChangeRequest/{id}/Confirmation  (ASP relays the code the customer read)
        -> confirmed | (wrong code: attempts left) | rejected confirmationFailed | expired
    worker: confirmed -> submitted -> accepted (effective next billing cycle) | rejected

Every transition is one transaction that also writes its audit event and its outbox rows
(the ASP's BatchList notification, the customer's e-mail): a crash loses no step and sends
nothing for a step not taken.  Passcodes are random, stored only as argon2 hashes, expire
(``OTP_SECONDS``) and allow ``OTP_MAX_ATTEMPTS`` tries.

A passcode is not a TOTP (pyotp): an HOTP/TOTP must keep its secret to verify, and here
nothing but a hash of the code should outlive the e-mail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from espi_sst import Rin, RinError
from espi_sst.model import sst

from ..outbox import enqueue_asp_notification, enqueue_email
from ..resource.urls import PREFIX
from ..security import new_uuid
from ..storage.models import (
    AuditEvent,
    Authorization,
    RateChangeRequestRecord,
    Tariff,
    UsagePoint,
)
from .catalog import catalog_for

Status = sst.RateChangeStatus
OPEN = (Status.awaitingConfirmation.value, Status.confirmed.value, Status.submitted.value)
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)  # OWASP minimum


class RateChangeError(Exception):
    """A request the API refuses: HTTP status, error code, and what to do about it."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Target:
    """What the ASP asked for, as sent."""

    rin: str | None
    tariff_code: str | None


# ---- creating -----------------------------------------------------------------------------


def check_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise RateChangeError(
            400,
            "idempotency_key_required",
            "send an Idempotency-Key header (a unique value per rate change, e.g. a UUID) so a "
            "retried POST cannot create a second request",
        )
    key = key.strip()
    if len(key) > 255 or not key.isascii() or not key.isprintable():
        raise RateChangeError(
            400, "invalid_request", "Idempotency-Key must be 1-255 printable ASCII characters"
        )
    return key


def resolve_target(app: Flask, session: Session, target: Target) -> Tariff:
    """The tariff the ASP named, by RIN and/or tariff code (both must agree).

    A RIN is looked up in the utility's rate catalog (``RATE_CATALOG``), the authority on
    which RINs are its rates; a tariff code in the ``tariff`` table.
    """
    if not target.rin and not target.tariff_code:
        raise RateChangeError(
            400,
            "invalid_request",
            "name the target rate: targetRin (e.g. USCA-PGPG-0505-0000) and/or targetTariffCode",
        )
    tariff = None
    if target.rin:
        try:
            Rin.parse(target.rin)
        except RinError as exc:
            raise RateChangeError(400, "invalid_request", f"targetRin: {exc}") from None
        tariff = catalog_for(app, session).tariff_by_rin(target.rin)
        if tariff is None:
            raise RateChangeError(
                422,
                "unknown_rate",
                f"targetRin {target.rin} is not a rate of this utility; take a RIN from the "
                "service agreement's RateInformation (eligibleRate)",
            )
    if target.tariff_code:
        by_code = session.scalar(select(Tariff).where(Tariff.code == target.tariff_code))
        if by_code is None:
            raise RateChangeError(
                422, "unknown_rate", f"targetTariffCode {target.tariff_code!r} is not a rate here"
            )
        if tariff is not None and by_code.id != tariff.id:
            raise RateChangeError(
                422,
                "invalid_request",
                f"targetRin {target.rin} and targetTariffCode {target.tariff_code!r} name "
                "different rates",
            )
        tariff = by_code
    assert tariff is not None
    return tariff


def create(
    app: Flask,
    session: Session,
    *,
    authorization: Authorization,
    point: UsagePoint,
    idempotency_key: str,
    target: Target,
    now: int,
) -> tuple[RateChangeRequestRecord, bool]:
    """A new request awaiting the customer's passcode, or the earlier one for the same key.

    Returns (request, created).  The caller commits.
    """
    tariff = resolve_target(app, session, target)
    fingerprint = hashlib.sha256(f"{point.uuid}\n{tariff.rin}".encode()).hexdigest()
    earlier = session.scalar(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.application_id == authorization.application_id,
            RateChangeRequestRecord.idempotency_key == idempotency_key,
        )
    )
    if earlier is not None:
        if earlier.request_fingerprint != fingerprint:
            raise RateChangeError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different rate change; use a new key",
            )
        return earlier, False
    pending = session.scalar(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.usage_point_id == point.id,
            RateChangeRequestRecord.status.in_(OPEN),
        )
    )
    if pending is not None:
        raise RateChangeError(
            409,
            "request_in_progress",
            f"rate change {pending.uuid} for this service agreement is still {pending.status}; "
            "wait for its outcome",
        )
    customer = point.customer
    if not customer.email:
        raise RateChangeError(
            409,
            "no_confirmation_channel",
            "the utility has no e-mail address to send this customer the confirmation code; "
            "the customer must add one in the utility's portal",
        )
    code = new_passcode(int(app.config["OTP_DIGITS"]))
    record = RateChangeRequestRecord(
        uuid=new_uuid(),
        usage_point=point,
        authorization=authorization,
        application_id=authorization.application_id,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        target_tariff=tariff,
        target_rin=tariff.rin,
        target_tariff_code=tariff.code,
        status=Status.awaitingConfirmation.value,
        requested_at=now,
        updated_at=now,
        otp_hash=_HASHER.hash(code),
        otp_expires_at=now + int(app.config["OTP_SECONDS"]),
        otp_attempts=0,
        processing_attempts=0,
    )
    session.add(record)
    session.flush()
    asp = authorization.application.client_name
    minutes = int(app.config["OTP_SECONDS"]) // 60
    enqueue_email(
        session,
        to=customer.email,
        subject=f"{app.config['UTILITY_NAME']}: your code to confirm a rate change",
        text=(
            f"Hello {customer.display_name},\n\n"
            f"{asp} asked, on your behalf, to change the rate of your {point.title} "
            f"(service agreement {point.service_agreement}) to {tariff.name}.\n\n"
            f"Your confirmation code is: {code}\n\n"
            f"Give this code to {asp} only if you asked for this change. It expires in "
            f"{minutes} minutes. If you did not ask for it, ignore this message: nothing "
            "changes without the code.\n"
        ),
        now=now,
    )
    announce(app, session, record, "rate_change_requested", now)
    return record, True


def new_passcode(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


# ---- confirming ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmationOutcome:
    confirmed: bool
    attempts_left: int


def confirm(
    app: Flask, session: Session, record: RateChangeRequestRecord, code: str, *, now: int
) -> ConfirmationOutcome:
    """Check the relayed passcode; the caller commits whatever the outcome."""
    if record.status != Status.awaitingConfirmation.value:
        raise RateChangeError(
            409,
            "not_awaiting_confirmation",
            f"rate change {record.uuid} is {record.status}; it takes no confirmation code now",
        )
    maximum = int(app.config["OTP_MAX_ATTEMPTS"])
    if record.otp_expires_at is not None and record.otp_expires_at <= now:
        expire(app, session, record, now=now)
        return ConfirmationOutcome(False, 0)
    code = code.strip()
    if _matches(record.otp_hash, code):
        record.status = Status.confirmed.value
        record.confirmed_at = now
        record.updated_at = now
        record.otp_hash = None  # used: nothing can confirm it again
        announce(app, session, record, "rate_change_confirmed", now)
        return ConfirmationOutcome(True, maximum - record.otp_attempts)
    record.otp_attempts += 1
    record.updated_at = now
    _audit(session, record, "rate_change_confirmation_failed", now, actor=_asp(record))
    if record.otp_attempts >= maximum:
        record.status = Status.rejected.value
        record.rejection_reason = sst.RejectionReason.confirmationFailed.value
        record.rejection_message = f"{maximum} wrong confirmation codes"
        record.otp_hash = None
        record.decided_at = now
        announce(app, session, record, "rate_change_rejected", now)
        return ConfirmationOutcome(False, 0)
    return ConfirmationOutcome(False, maximum - record.otp_attempts)


def _matches(stored: str | None, code: str) -> bool:
    if stored is None or not code.isascii() or not code.isdigit() or len(code) > 12:
        return False
    try:
        return _HASHER.verify(stored, code)
    except (VerificationError, InvalidHashError):
        return False


def expire(app: Flask, session: Session, record: RateChangeRequestRecord, *, now: int) -> None:
    record.status = Status.expired.value
    record.updated_at = now
    record.otp_hash = None
    announce(app, session, record, "rate_change_expired", now)


def expire_unconfirmed(app: Flask, session: Session, *, now: int) -> int:
    """Requests whose passcode expired unconfirmed become ``expired`` (the worker calls this)."""
    due = session.scalars(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.status == Status.awaitingConfirmation.value,
            RateChangeRequestRecord.otp_expires_at <= now,
        )
    ).all()
    for record in due:
        expire(app, session, record, now=now)
    return len(due)


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
        raise RateChangeError(
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
    if customer.email:
        if accepted:
            assert effective_date is not None
            outcome = (
                f"is accepted: {record.target_tariff.name} applies from "
                f"{datetime.fromtimestamp(effective_date, UTC):%B %d, %Y}, the start of your "
                "next billing cycle."
            )
        else:
            outcome = f"was not made: {message or record.rejection_reason}."
        enqueue_email(
            session,
            to=customer.email,
            subject=f"{app.config['UTILITY_NAME']}: your rate change request",
            text=(
                f"Hello {customer.display_name},\n\n"
                f"The rate change {record.authorization.application.client_name} asked for "
                f"on your behalf for your {record.usage_point.title} {outcome}\n"
            ),
            now=now,
        )


# ---- shared --------------------------------------------------------------------------------


def resource_url(app: Flask, record: RateChangeRequestRecord) -> str:
    """The request's absolute URL (from the configured issuer: workers have no request)."""
    return (
        f"{app.config['ISSUER']}{PREFIX}/Subscription/{record.authorization.subscription_uuid}"
        f"/UsagePoint/{record.usage_point.uuid}/RateChangeRequest/{record.uuid}"
    )


def _asp(record: RateChangeRequestRecord) -> str:
    return f"client:{record.authorization.application.client_id}"


def _audit(
    session: Session, record: RateChangeRequestRecord, action: str, now: int, *, actor: str
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            action=action,
            subject=f"rate_change_request:{record.uuid}",
            detail={
                "status": record.status,
                "usage_point": record.usage_point.uuid,
                "customer": record.usage_point.customer.uuid,
                "client": record.authorization.application.client_id,
                "target_rin": record.target_rin,
                "rejection_reason": record.rejection_reason,
                "effective_date": record.effective_date,
                "otp_attempts": record.otp_attempts,
            },
        )
    )


_ACTORS = {
    "rate_change_requested": "asp",
    "rate_change_confirmed": "asp",  # relaying the customer's code
    "rate_change_rejected": "system",
    "rate_change_expired": "system",
    "rate_change_accepted": "billing",
    "rate_change_submitted": "system",
    "rate_change_cancelled": "asp",
}


def announce(
    app: Flask, session: Session, record: RateChangeRequestRecord, action: str, now: int
) -> None:
    """Audit the step and tell the ASP (a BatchList naming the request), in this transaction."""
    actor = _ACTORS.get(action, "system")
    _audit(session, record, action, now, actor=_asp(record) if actor == "asp" else actor)
    enqueue_asp_notification(
        session,
        application=record.authorization.application,
        resources=[resource_url(app, record)],
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
