"""Words for customers on the authorizations page: a grant's status, where a rate change
stands (issue 12: the page showed "ended" for every end, and raw ``awaitingConfirmation``
and request UUIDs for rate changes; issue 13: the four statuses "active", "ended by you",
"ended by <ASP>", "expired" as Share My Data says them).  What a grant covers is said by
:mod:`.scope_words`, the consent page's words.

The codes stay the API's and the audit log's (ESPI AuthorizationStatus and
``Authorization.ended_reason``; the SST extension's ``RateChangeStatus``); this module only
says them in plain words, one label per code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from espi_sst.model import sst

from ..sst.rate_change import CANCELLED_BECAUSE, SMS, passcode_channel
from ..storage.models import Authorization, RateChangeRequestRecord

ACTIVE = "active"

_ENDED = {
    "revoked_by_customer": "ended by you",
    "revoked_by_asp": "ended by {asp}",
    "replaced": "replaced by your newer permission",
    "expired": "expired",
    "service_closed": "ended: the service agreement was closed",
    "dequalified": "ended: {asp} is no longer qualified",
    "blocked": "ended: {utility} no longer accepts {asp}",
}


def ended_label(grant: Authorization, utility: str, moment: int | None = None) -> str:
    """How a grant that is no longer active ended, in the customer's words.

    A grant the guard already refuses but no sweep has ended yet (``ended_reason`` None)
    is said by why it is refused: its end date passed ("expired"), or its ASP was
    withdrawn."""
    reason = grant.ended_reason or ""
    if not reason:
        if moment is not None and grant.ends_at is not None and grant.ends_at <= moment:
            reason = "expired"
        elif grant.application.qualification in ("suspended", "dequalified", "blocked"):
            reason = "blocked" if grant.application.qualification == "blocked" else "dequalified"
    label = _ENDED.get(reason, "ended")
    return label.format(asp=grant.application.client_name, utility=utility)


Status = sst.RateChangeStatus
_CANCELLED_WITH_GRANT = CANCELLED_BECAUSE.split("{", 1)[0]


@dataclass(frozen=True)
class RateChangeLine:
    """One rate change as the customer reads it."""

    service: str
    target: str
    requested: str
    status: str


def rate_change_line(record: RateChangeRequestRecord) -> RateChangeLine:
    return RateChangeLine(
        service=record.usage_point.title,
        target=record.target_tariff.name,
        requested=_day(record.requested_at),
        status=rate_change_status(record),
    )


def rate_change_status(record: RateChangeRequestRecord) -> str:
    """Where a rate change stands, in plain words (never the status code)."""
    status = record.status
    if status == Status.awaitingConfirmation.value:
        # The channel the customer chose (issue 13: SMS customers get no e-mail).
        if passcode_channel(record.usage_point.customer) == SMS:
            return "waiting for the confirmation code we texted you"
        return "waiting for the confirmation code we e-mailed you"
    if status == Status.confirmed.value:
        return "confirmed by you; being sent to billing"
    if status == Status.submitted.value:
        return "with our billing system; you will be e-mailed the outcome"
    if status == Status.accepted.value:
        when = _day(record.effective_date) if record.effective_date else "the next billing cycle"
        return f"accepted: the new rate applies from {when}"
    if status == Status.rejected.value:
        return f"not made: {record.rejection_message or 'the billing system refused it'}"
    if status == Status.expired.value:
        return "not confirmed in time; nothing changed"
    if status == Status.cancelled.value:
        if (record.rejection_message or "").startswith(_CANCELLED_WITH_GRANT):
            return "cancelled: the permission ended before you confirmed it; nothing changed"
        return "withdrawn; nothing changed"
    return "in progress"


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%B %d, %Y").replace(" 0", " ")
