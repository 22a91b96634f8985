"""Creating a rate change (1623(c)(1)(D); concept design 7.9): what the ASP asked for, and
everything that may refuse it before the customer is e-mailed a passcode.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from espi_sst import Rin, RinError

from ..errors import Refused
from ..outbox.queue import enqueue_email, enqueue_sms
from ..security import new_uuid
from ..storage.models import (
    Authorization,
    RateChangeRequestRecord,
    RetailCustomer,
    Tariff,
    UsagePoint,
)
from ._passcode import HASHER, new_passcode
from ._request_limit import exceeded
from ._workflow import OPEN, Status, announce
from .catalog import catalog_for
from .eligibility import eligible_targets, ineligibility


@dataclass(frozen=True)
class Target:
    """What the ASP asked for, as sent."""

    rin: str | None
    tariff_code: str | None


def check_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise Refused(
            400,
            "idempotency_key_required",
            "send an Idempotency-Key header (a unique value per rate change, e.g. a UUID) so a "
            "retried POST cannot create a second request",
        )
    key = key.strip()
    if len(key) > 255 or not key.isascii() or not key.isprintable():
        raise Refused(
            400, "invalid_request", "Idempotency-Key must be 1-255 printable ASCII characters"
        )
    return key


def resolve_target(app: Flask, session: Session, target: Target) -> Tariff:
    """The tariff the ASP named, by RIN and/or tariff code (both must agree).

    A RIN is looked up in the utility's rate catalog (``RATE_CATALOG``), the authority on
    which RINs are its rates; a tariff code in the ``tariff`` table.
    """
    if not target.rin and not target.tariff_code:
        raise Refused(
            400,
            "invalid_request",
            "name the target rate: targetRin (e.g. USCA-PGPG-0505-0000) and/or targetTariffCode",
        )
    tariff = None
    if target.rin:
        try:
            Rin.parse(target.rin)
        except RinError as exc:
            raise Refused(400, "invalid_request", f"targetRin: {exc}") from None
        tariff = catalog_for(app, session).tariff_by_rin(target.rin)
        if tariff is None:
            raise Refused(
                422,
                "unknown_rate",
                f"targetRin {target.rin} is not a rate of this utility; take a RIN from the "
                "service agreement's RateInformation (eligibleRate)",
            )
    if target.tariff_code:
        by_code = session.scalar(select(Tariff).where(Tariff.code == target.tariff_code))
        if by_code is None:
            raise Refused(
                422, "unknown_rate", f"targetTariffCode {target.tariff_code!r} is not a rate here"
            )
        if tariff is not None and by_code.id != tariff.id:
            raise Refused(
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

    Everything that can refuse the request is decided before the passcode e-mail is
    written: the target's eligibility (:mod:`.eligibility`), the service agreement's open
    request, the per-usage-point creation limit.  "One open request per service agreement"
    and "one request per Idempotency-Key" are held by unique indexes, not by the reads
    before the INSERT: a request that loses a race to a parallel one gets that one's
    answer (the same key: an idempotent replay; another key: ``request_in_progress``).

    Returns (request, created).  The caller commits.
    """
    tariff = resolve_target(app, session, target)
    fingerprint = hashlib.sha256(f"{point.uuid}\n{tariff.rin}".encode()).hexdigest()
    earlier = _by_key(session, authorization, idempotency_key)
    if earlier is not None:
        return _replayed(earlier, fingerprint), False
    _check_eligible(app, session, point, tariff, now)
    _refuse_if_open(session, point)
    limit = exceeded(session, point, str(app.config["RATE_CHANGE_USAGE_POINT_LIMIT"]), now=now)
    if limit is not None:
        raise Refused(
            429,
            "too_many_rate_changes",
            f"this service agreement has had {limit.limit} rate change requests, each of which "
            f"e-mailed the customer a passcode; the next is possible in {limit.retry_after} "
            "seconds",
            retry_after=limit.retry_after,
        )
    customer = point.customer
    channel = passcode_channel(customer)
    if channel is None:
        raise Refused(
            409,
            "no_confirmation_channel",
            "the utility has no e-mail address or mobile number to send this customer the "
            "confirmation code; the customer must add one in the utility's portal",
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
        otp_hash=HASHER.hash(code),
        otp_expires_at=now + int(app.config["OTP_SECONDS"]),
        otp_attempts=0,
        processing_attempts=0,
    )
    session.add(record)
    try:
        session.flush()  # the unique indexes decide here, before any e-mail is written
    except IntegrityError:
        session.rollback()
        return _lost_race(session, authorization, point, idempotency_key, fingerprint), False
    send_passcode(app, session, channel, record, code)
    announce(app, session, record, "rate_change_requested", now)
    return record, True


EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)
"""The passcode channels a customer may choose (concept design 7.6): the utility's own
channels to the customer, never the ASP that asked."""


def passcode_channel(customer: RetailCustomer) -> str | None:
    """Where this customer's passcode goes: the chosen channel when the utility has its
    address, else the other one it has, else None (no channel: the request is refused)."""
    have = {EMAIL: bool(customer.email), SMS: bool(customer.phone)}
    chosen = customer.passcode_channel if customer.passcode_channel in CHANNELS else EMAIL
    if have[chosen]:
        return chosen
    return next((other for other in CHANNELS if have[other]), None)


def send_passcode(
    app: Flask, session: Session, channel: str, record: RateChangeRequestRecord, code: str
) -> None:
    """Queue the passcode message by ``channel`` in the caller's transaction (the outbox
    sends it once the request is committed, and again only on failure: same id)."""
    customer = record.usage_point.customer
    point = record.usage_point
    tariff = record.target_tariff
    asp = record.authorization.application.client_name
    minutes = int(app.config["OTP_SECONDS"]) // 60
    if channel == SMS:
        assert customer.phone
        enqueue_sms(
            session,
            to=customer.phone,
            text=(
                f"{app.config['UTILITY_NAME']}: {asp} asked to change your rate to "
                f"{tariff.name} (service agreement {point.service_agreement}). Your "
                f"confirmation code is: {code} (expires in {minutes} min). Give it to {asp} "
                "only if you asked; otherwise ignore this message."
            ),
            now=record.requested_at,
        )
        return
    assert customer.email
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
        now=record.requested_at,
    )


def _by_key(
    session: Session, authorization: Authorization, idempotency_key: str
) -> RateChangeRequestRecord | None:
    return session.scalar(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.application_id == authorization.application_id,
            RateChangeRequestRecord.idempotency_key == idempotency_key,
        )
    )


def _replayed(earlier: RateChangeRequestRecord, fingerprint: str) -> RateChangeRequestRecord:
    if earlier.request_fingerprint != fingerprint:
        raise Refused(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different rate change; use a new key",
        )
    return earlier


def _check_eligible(
    app: Flask, session: Session, point: UsagePoint, tariff: Tariff, now: int
) -> None:
    """Refuse, before any passcode is sent, a target billing would refuse (issue 11, item
    18; issue 12): 409, the reason billing would give (``rejection_reason``) and, under the
    12-month rule, from when the change is possible (``available_from``, epoch seconds) --
    what RateInformation's ``eligibleRate/availability`` already said."""
    catalog = catalog_for(app, session)
    refused = ineligibility(catalog, point, tariff, now=now)
    if refused is not None:
        extra = {"rejection_reason": refused.reason.value}
        if refused.available_from is not None:
            extra["available_from"] = str(refused.available_from)
        raise Refused(
            409,
            refused.error,
            f"{refused.message}; rates this service agreement may change to now: "
            f"{eligible_targets(catalog, point, now=now)} (its RateInformation's eligibleRate "
            "entries with availability/selectableNow true)",
            **extra,
        )


def _refuse_if_open(session: Session, point: UsagePoint) -> None:
    pending = session.scalar(
        select(RateChangeRequestRecord).where(
            RateChangeRequestRecord.usage_point_id == point.id,
            RateChangeRequestRecord.status.in_(OPEN),
        )
    )
    if pending is not None:
        raise Refused(
            409,
            "request_in_progress",
            f"rate change {pending.uuid} for this service agreement is still {pending.status}; "
            "wait for its outcome",
        )


def _lost_race(
    session: Session,
    authorization: Authorization,
    point: UsagePoint,
    idempotency_key: str,
    fingerprint: str,
) -> RateChangeRequestRecord:
    """The INSERT lost to a parallel request: answer with that request's outcome.

    The winner has committed (PostgreSQL makes the loser wait for it; SQLite lets one
    writer in at a time), so a fresh read sees it.
    """
    earlier = _by_key(session, authorization, idempotency_key)
    if earlier is not None:
        return _replayed(earlier, fingerprint)
    _refuse_if_open(session, point)
    raise Refused(
        409,
        "request_in_progress",
        "another rate change for this service agreement was being created at the same "
        "moment; look at its outcome, or retry",
    )
