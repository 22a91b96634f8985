"""The Class 2 confirmation of a rate change (1623(c)(1)(D); concept design 7.9): the
one-time passcode, its attempts and its expiry.

Passcodes are random, stored only as argon2 hashes, expire (``OTP_SECONDS``) and allow
``OTP_MAX_ATTEMPTS`` tries, counted exactly however many arrive at once (issue 11, item 3).
A passcode is not a TOTP (pyotp): an HOTP/TOTP must keep its secret to verify, and here
nothing but a hash of the code should outlive the e-mail.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from espi_sst.model import sst

from ..errors import Refused
from ..storage.models import RateChangeRequestRecord
from ..storage.rows import audit, rowcount
from ._workflow import Status, announce, asp_actor, state, subject

HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)  # OWASP minimum


def new_passcode(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


@dataclass(frozen=True)
class ConfirmationOutcome:
    """What one relayed code did: ``attempts_left`` after it (exact: each attempt is
    claimed before its code is checked) and the request's status then."""

    confirmed: bool
    attempts_left: int
    status: str


def confirm(
    app: Flask, session: Session, record: RateChangeRequestRecord, code: str, *, now: int
) -> ConfirmationOutcome:
    """Check the relayed passcode: claim an attempt, then verify, then move the status.

    The attempt is claimed by a conditional UPDATE (``otp_attempts + 1`` while the request
    awaits confirmation and attempts remain) and **committed before the hash is checked**:
    parallel guesses each take their own attempt number or are refused, so no more than
    ``OTP_MAX_ATTEMPTS`` codes are ever evaluated (issue 11, item 3).  The outcome --
    confirmed, or rejected by the attempt that reached the maximum -- is again a
    conditional UPDATE, so exactly one of them happens, once.  The caller commits the
    outcome; on a :class:`~espi_sst_server.errors.Refused` the error handler rolls back (the claimed attempt stays counted).
    """
    if record.status != Status.awaitingConfirmation.value:
        raise _not_awaiting(record)
    maximum = int(app.config["OTP_MAX_ATTEMPTS"])
    if record.otp_expires_at is not None and record.otp_expires_at <= now:
        if not expire(app, session, record, now=now):
            raise _not_awaiting(record)
        return ConfirmationOutcome(False, 0, record.status)
    table = RateChangeRequestRecord
    claimed = session.execute(
        update(table)
        .where(
            table.id == record.id,
            table.status == Status.awaitingConfirmation.value,
            table.otp_hash.is_not(None),
            table.otp_attempts < maximum,
            or_(table.otp_expires_at.is_(None), table.otp_expires_at > now),
        )
        .values(otp_attempts=table.otp_attempts + 1, updated_at=now)
        .returning(table.otp_attempts, table.otp_hash)
    ).first()
    session.commit()
    session.refresh(record)
    if claimed is None:
        raise _closed(record, maximum)
    attempt, stored = claimed
    if _matches(stored, code.strip()):
        return _confirmed(app, session, record, attempt, maximum, now)
    audit(
        session,
        now,
        asp_actor(record),
        "rate_change_confirmation_failed",
        subject(record),
        state(record),
    )
    if attempt < maximum:
        return ConfirmationOutcome(False, maximum - attempt, record.status)
    rejected = session.execute(
        update(table)
        .where(table.id == record.id, table.status == Status.awaitingConfirmation.value)
        .values(
            status=Status.rejected.value,
            rejection_reason=sst.RejectionReason.confirmationFailed.value,
            rejection_message=f"{maximum} wrong confirmation codes",
            otp_hash=None,
            decided_at=now,
            updated_at=now,
        )
    )
    session.refresh(record)
    if rowcount(rejected) == 1:
        announce(app, session, record, "rate_change_rejected", now)
    return ConfirmationOutcome(False, 0, record.status)


def _confirmed(
    app: Flask,
    session: Session,
    record: RateChangeRequestRecord,
    attempt: int,
    maximum: int,
    now: int,
) -> ConfirmationOutcome:
    table = RateChangeRequestRecord
    moved = session.execute(
        update(table)
        .where(
            table.id == record.id,
            table.status == Status.awaitingConfirmation.value,
            table.otp_hash.is_not(None),
        )
        .values(status=Status.confirmed.value, confirmed_at=now, updated_at=now, otp_hash=None)
    )
    session.refresh(record)
    if rowcount(moved) != 1:  # rejected (wrong codes), expired or withdrawn meanwhile
        raise _closed(record, maximum)
    announce(app, session, record, "rate_change_confirmed", now)
    return ConfirmationOutcome(True, maximum - attempt, record.status)


def _not_awaiting(record: RateChangeRequestRecord) -> Refused:
    return Refused(
        409,
        "not_awaiting_confirmation",
        f"rate change {record.uuid} is {record.status}; it takes no confirmation code now",
    )


def _closed(record: RateChangeRequestRecord, maximum: int) -> Refused:
    """The request took no more codes when this one came (409 ``confirmation_closed``)."""
    if record.status == Status.expired.value:
        reason = "the code expired: ask the customer to start a new rate change"
    elif record.status == Status.rejected.value or (
        record.status == Status.awaitingConfirmation.value and record.otp_attempts >= maximum
    ):
        reason = "too many wrong codes: the request is rejected (confirmationFailed)"
    else:
        return _not_awaiting(record)
    return Refused(409, "confirmation_closed", reason)


def _matches(stored: str | None, code: str) -> bool:
    if stored is None or not code.isascii() or not code.isdigit() or len(code) > 12:
        return False
    try:
        return HASHER.verify(stored, code)
    except (VerificationError, InvalidHashError):
        return False


def expire(app: Flask, session: Session, record: RateChangeRequestRecord, *, now: int) -> bool:
    """awaitingConfirmation -> expired, if it still awaits (a conditional UPDATE: a code
    confirmed at the same moment wins or loses whole); True when this call expired it."""
    table = RateChangeRequestRecord
    moved = session.execute(
        update(table)
        .where(table.id == record.id, table.status == Status.awaitingConfirmation.value)
        .values(status=Status.expired.value, updated_at=now, otp_hash=None)
    )
    session.refresh(record)
    if rowcount(moved) != 1:
        return False
    announce(app, session, record, "rate_change_expired", now)
    return True


def expire_unconfirmed(app: Flask, session: Session, *, now: int) -> int:
    """Requests whose passcode expired unconfirmed become ``expired`` (the worker calls this)."""
    due = session.scalars(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.status == Status.awaitingConfirmation.value,
            RateChangeRequestRecord.otp_expires_at <= now,
        )
    ).all()
    return sum(expire(app, session, record, now=now) for record in due)
