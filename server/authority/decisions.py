"""Staff decisions on a registration (concept design 6.4.1: the authority qualifies ASPs and
can suspend or withdraw them), each with a reason, each recorded in the audit log
(``authority_decisions``: who, when, what, why) and in the status history.  An approval,
suspension or withdrawal changes the list, so it publishes a new one in the same
transaction."""

from __future__ import annotations

from typing import Any

from ..errors import Refused
from ..security import now
from .models import Decision, Registration, StaffUser, StatusChange
from .publishing import publish

MAX_REASON = 256  # published in the list (its format's limit)

# action: (new status, the statuses it may follow, publishes a new list)
ACTIONS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "approve": ("qualified", ("pending", "suspended"), True),
    "reject": ("rejected", ("pending",), False),
    "suspend": ("suspended", ("qualified",), True),
    "withdraw": ("withdrawn", ("qualified", "suspended"), True),
}


class DecisionRefused(Refused):
    """A decision that cannot be taken (no reason, wrong state, unknown action)."""

    def __init__(self, description: str) -> None:
        super().__init__(400, "decision_refused", description)


def decide(
    session: Any,
    settings: dict[str, Any],
    staff: StaffUser,
    registration: Registration,
    action: str,
    reason: str,
) -> Decision:
    """Take ``action`` on ``registration``; committed with its audit entry and publication."""
    if staff.organisation_id is not None:
        raise Refused(403, "not_authority_staff", "only the authority's staff decide")
    if action not in ACTIONS:
        raise DecisionRefused(f"action {action!r}: choose one of {', '.join(ACTIONS)}")
    reason = reason.strip()
    if not reason:
        raise DecisionRefused("reason: every decision needs a reason (it is audited and shown)")
    if len(reason) > MAX_REASON:
        raise DecisionRefused(f"reason: at most {MAX_REASON} characters (it is published)")
    status, after, publishes = ACTIONS[action]
    if registration.status not in after:
        raise DecisionRefused(
            f"cannot {action} a registration that is {registration.status} "
            f"(only one that is {' or '.join(after)})"
        )
    moment = now()
    registration.status = status
    registration.reason = reason
    registration.updated_at = moment
    session.add(
        StatusChange(
            registration_id=registration.id,
            status=status,
            at=moment,
            by_user_id=staff.id,
            note=f"{action}: {reason}",
        )
    )
    session.flush()
    publication = publish(session, settings) if publishes else None
    decision = Decision(
        registration_id=registration.id,
        action=action,
        reason=reason,
        by_user_id=staff.id,
        at=moment,
        publication_sequence=None if publication is None else publication.sequence,
    )
    session.add(decision)
    session.commit()
    return decision
