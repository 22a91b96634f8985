"""How many rate changes one service agreement may start in a window (issue 11, item 10).

Every request created mails the customer a passcode, so creating and withdrawing in a loop
floods their mailbox.  ``RATE_CHANGE_USAGE_POINT_LIMIT`` (Flask-Limiter's notation, e.g.
``"3 per hour;5 per day"``; ``""`` switches it off) bounds the requests **created** for one
usage point, by any ASP.  It is counted in the database, not in a rate-limit store: the
rows are the truth, every web process sees the same count, and a request that was refused
(or an idempotent replay, answered before this is asked) costs nothing.  Two parallel
creations cannot both pass on the same count: only one request per usage point can be open
(the partial unique index ``uq_rate_change_one_open_per_usage_point``), so the other loses
at its INSERT.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import parse_many
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.models import RateChangeRequestRecord, UsagePoint


@dataclass(frozen=True)
class Exceeded:
    """The limit reached and when the oldest request in its window leaves it."""

    limit: str
    retry_after: int


def exceeded(session: Session, point: UsagePoint, setting: str, *, now: int) -> Exceeded | None:
    """None while ``point`` may start another request under every limit of ``setting``."""
    if not setting.strip():
        return None
    worst: Exceeded | None = None
    for item in parse_many(setting):
        window = int(item.get_expiry())
        created = list(
            session.scalars(
                select(RateChangeRequestRecord.requested_at)
                .where(
                    RateChangeRequestRecord.usage_point_id == point.id,
                    RateChangeRequestRecord.requested_at > now - window,
                )
                .order_by(RateChangeRequestRecord.requested_at)
            )
        )
        if len(created) < item.amount:
            continue
        # The window frees a slot when enough of its oldest requests have aged out of it.
        retry_after = max(1, created[len(created) - item.amount] + window - now)
        if worst is None or retry_after > worst.retry_after:
            worst = Exceeded(f"{item.amount} per {_window(window)}", retry_after)
    return worst


def _window(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"
