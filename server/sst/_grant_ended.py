"""Open rate changes end with their grant (issue 12; 1623(c)(1)(D); concept design 7.9, 7.10).

A rate change is asked for under one authorization: the ASP that asked relays the
customer's passcode under it.  When that authorization ends -- the customer revokes it, the
ASP revokes its refresh token (RFC 7009), a new consent replaces it, it expires, its ASP is
withdrawn -- nobody can relay the code any more, and a request left ``awaitingConfirmation``
would hold the service agreement's one open slot (migration 0004's partial unique index)
until its passcode expired, showing the customer a request nobody can finish or withdraw.

So :func:`cancel_with_grant`, called by the one grant-ending function
(``lifecycle/access.py``: ``_end``) in the transaction that ends the grant, cancels every
request of that grant still awaiting its passcode: status ``cancelled``, the passcode hash
forgotten, ``rejectionMessage`` saying why, the audit row, the ASP's BatchList (the
request's URL) and one e-mail to the customer.  A request the customer already confirmed
(``confirmed``, ``submitted``) is the customer's own decision, made with the code: it goes
on to billing and its outcome is e-mailed as usual.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..storage.models import Authorization, RateChangeRequestRecord
from ..storage.rows import rowcount
from ._customer_message import tell_customer
from ._workflow import Status, announce

CANCELLED_BECAUSE = (
    "the authorization it was asked under ended ({reason}) before the customer confirmed it"
)
"""``rejectionMessage`` of a request cancelled with its grant (the ASP reads it, if it still may)."""


def cancel_with_grant(
    app: Flask | None, session: Session, authorization: Authorization, *, reason: str, now: int
) -> list[str]:
    """Cancel the grant's requests awaiting a passcode; the uuids cancelled.

    Each is claimed with a conditional UPDATE (still ``awaitingConfirmation``), so a code
    relayed at the same moment either confirmed it first (it goes on) or finds it cancelled.
    ``app`` None (no application context): the audit row is written, nobody is told.
    """
    table = RateChangeRequestRecord
    waiting = session.scalars(
        select(table)
        .where(
            table.authorization_id == authorization.id,
            table.status == Status.awaitingConfirmation.value,
        )
        .order_by(table.id)
    ).all()
    cancelled: list[str] = []
    for record in waiting:
        claimed = session.execute(
            update(table)
            .where(table.id == record.id, table.status == Status.awaitingConfirmation.value)
            .values(
                status=Status.cancelled.value,
                otp_hash=None,
                updated_at=now,
                rejection_message=CANCELLED_BECAUSE.format(reason=reason),
            )
            .execution_options(synchronize_session=False)
        )
        session.refresh(record)
        if rowcount(claimed) != 1:
            continue
        cancelled.append(record.uuid)
        if app is not None:
            announce(app, session, record, "rate_change_cancelled_with_grant", now)
            _tell_customer(app, session, record, now)
    return cancelled


def _tell_customer(app: Flask, session: Session, record: RateChangeRequestRecord, now: int) -> None:
    customer = record.usage_point.customer
    asp = " ".join(record.authorization.application.client_name.split())
    utility = app.config["UTILITY_NAME"]
    tell_customer(
        session,
        customer,
        subject=f"{utility}: a rate change was cancelled",
        text=(
            f"Hello {customer.display_name},\n\n"
            f"The rate change {asp} asked for on your behalf for your {record.usage_point.title} "
            f"(to {record.target_tariff.name}) was cancelled: {asp}'s permission to act on your "
            "account ended before you confirmed it. Your rate does not change, and the "
            "confirmation code you may have received no longer works.\n"
        ),
        sms_text=(
            f"{utility}: the rate change {asp} asked for ({record.usage_point.title}) was "
            f"cancelled: {asp}'s permission ended before you confirmed it. Your rate does not "
            "change; the code no longer works."
        ),
        now=now,
    )
