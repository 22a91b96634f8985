"""Closing a service agreement: it is shared with no one from now on (concept design 7.10).

A grant that shared it keeps its other open usage points (the resource API hides the closed
one) and the customer and ASP are told what it covers now; a grant left with none ends with
reason ``service_closed`` through :func:`access._end`, the one way a grant ends.  Like
``access.py``, nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..storage.models import Authorization, UsagePoint, authorization_usage_point
from ..storage.rows import audit, rowcount
from . import notices
from .access import ACTIVE, LifecycleError, end_authorization


@dataclass(frozen=True)
class ServiceClosure:
    """What closing a usage point did (``closed`` is False when it was already closed)."""

    usage_point: str
    closed: bool
    ended: tuple[str, ...] = ()  # authorization uuids: they shared no other open point
    kept: tuple[str, ...] = ()  # authorization uuids that still share another open point


def close_service_agreement(
    session: Session, usage_point_uuid: str, *, now: int, actor: str
) -> ServiceClosure:
    """Close a service agreement: it is shared with no one from now on (concept design 7.10).

    A grant that shared it keeps its other open usage points (the resource API hides the
    closed one); a grant left with none ends with reason ``service_closed``.

    Raises:
        LifecycleError: no usage point has that uuid.
    """
    point = session.scalar(select(UsagePoint).where(UsagePoint.uuid == usage_point_uuid))
    if point is None:
        raise LifecycleError(
            f"no usage point {usage_point_uuid!r}: give the UsagePoint uuid of the service agreement",
            code="unknown_usage_point",
        )
    closed = rowcount(
        session.execute(
            update(UsagePoint)
            .where(UsagePoint.id == point.id, UsagePoint.closed_at.is_(None))
            .values(closed_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    session.expire(point, ["closed_at"])
    if closed != 1:
        return ServiceClosure(point.uuid, closed=False)
    grants = session.scalars(
        select(Authorization)
        .join(
            authorization_usage_point,
            authorization_usage_point.c.authorization_id == Authorization.id,
        )
        .where(
            authorization_usage_point.c.usage_point_id == point.id,
            Authorization.status == ACTIVE,
        )
        .order_by(Authorization.id)
    ).all()
    ended: list[str] = []
    kept: list[str] = []
    for grant in grants:
        still_open = session.scalar(
            select(func.count())
            .select_from(authorization_usage_point)
            .join(UsagePoint, UsagePoint.id == authorization_usage_point.c.usage_point_id)
            .where(
                authorization_usage_point.c.authorization_id == grant.id,
                UsagePoint.customer_id == grant.customer_id,
                UsagePoint.closed_at.is_(None),
            )
        )
        if still_open:
            kept.append(grant.uuid)
            closed_words = f"the service agreement {point.service_agreement} was closed"
            # 7.4: the customer is told what the grant covers now; the ASP, that it changed.
            notices.grant_changed(
                session, grant, change=closed_words + ", so it is no longer shared", now=now
            )
        elif end_authorization(
            session,
            grant,
            reason="service_closed",
            actor=actor,
            now=now,
            detail={"usage_point": point.uuid},
            agreement=point.service_agreement,
        ):
            ended.append(grant.uuid)
    audit(
        session,
        now,
        actor,
        "service_agreement_closed",
        f"usage_point:{point.uuid}",
        {"service_agreement": point.service_agreement, "ended": ended, "kept": kept},
    )
    return ServiceClosure(point.uuid, closed=True, ended=tuple(ended), kept=tuple(kept))


__all__ = ["ServiceClosure", "close_service_agreement"]
