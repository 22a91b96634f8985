"""Finding a resource *through* the grant: what the token may not see does not exist.

The token guard (``oauth/guard.py``) has checked the token and the scope category; here
every lookup is one query constrained by the grant's Authorization: its subscription id,
its usage points (the ``authorization_usage_point`` rows) and its customer.  A resource
of another subscription, another customer's usage point, or a usage point the customer
did not share, or a service agreement since closed, is therefore "not found" (404) exactly like an unknown id -- the API never
confirms that something outside the grant exists (no 403 that leaks existence).
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from ..storage.models import (
    Authorization,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsagePoint,
    UsageSummary,
    authorization_usage_point,
)
from .errors import not_found


def subscription(authorization: Authorization, sid: str) -> Authorization:
    """The token's own subscription; any other id is 404."""
    if authorization.subscription_uuid != sid:
        raise not_found("Subscription")
    return authorization


def _shared_points(authorization: Authorization) -> Select[int]:
    """Ids of the usage points the customer shared in this authorization."""
    return (
        select(UsagePoint.id)
        .join(
            authorization_usage_point,
            authorization_usage_point.c.usage_point_id == UsagePoint.id,
        )
        .where(
            authorization_usage_point.c.authorization_id == authorization.id,
            UsagePoint.customer_id == authorization.customer_id,
            UsagePoint.closed_at.is_(None),  # a closed service agreement is shared no more
        )
    )


def usage_points(session: Session, authorization: Authorization) -> list[UsagePoint]:
    stmt = (
        select(UsagePoint)
        .where(UsagePoint.id.in_(_shared_points(authorization)))
        .options(joinedload(UsagePoint.local_time))
        .order_by(UsagePoint.id)
    )
    return list(session.scalars(stmt))


def usage_point(session: Session, authorization: Authorization, uid: str) -> UsagePoint:
    stmt = select(UsagePoint).where(
        UsagePoint.uuid == uid, UsagePoint.id.in_(_shared_points(authorization))
    )
    found = session.scalar(stmt)
    if found is None:
        raise not_found("UsagePoint")
    return found


def meter_readings(session: Session, point: UsagePoint) -> list[MeterReading]:
    stmt = (
        select(MeterReading)
        .where(MeterReading.usage_point_id == point.id)
        .options(joinedload(MeterReading.reading_type))
        .order_by(MeterReading.id)
    )
    return list(session.scalars(stmt))


def meter_reading(session: Session, point: UsagePoint, mid: str) -> MeterReading:
    stmt = select(MeterReading).where(
        MeterReading.uuid == mid, MeterReading.usage_point_id == point.id
    )
    found = session.scalar(stmt)
    if found is None:
        raise not_found("MeterReading")
    return found


def usage_summaries(session: Session, point: UsagePoint) -> list[UsageSummary]:
    stmt = (
        select(UsageSummary)
        .where(UsageSummary.usage_point_id == point.id)
        .order_by(UsageSummary.billing_period_start, UsageSummary.id)
    )
    return list(session.scalars(stmt))


_USAGE_SUMMARY = (
    select(UsageSummary)
    .join(UsagePoint, UsagePoint.id == UsageSummary.usage_point_id)
    .join(authorization_usage_point, authorization_usage_point.c.usage_point_id == UsagePoint.id)
    .where(
        UsageSummary.uuid == bindparam("summary"),
        UsagePoint.uuid == bindparam("point"),
        authorization_usage_point.c.authorization_id == bindparam("authorization"),
        UsagePoint.customer_id == bindparam("customer"),
        UsagePoint.closed_at.is_(None),
    )
    # The usage point and its rates come in the same round trip: the RIN elements of an
    # sst:rin grant need them (two lazy loads were half the request's queries).
    .options(
        contains_eager(UsageSummary.usage_point).joinedload(UsagePoint.tariff),
        contains_eager(UsageSummary.usage_point).joinedload(UsagePoint.generation_tariff),
    )
)
"""Built once (the hottest read; measured: rebuilding statements was ~12% of a request)."""


def usage_summary(
    session: Session, authorization: Authorization, uid: str, summary_id: str
) -> UsageSummary:
    """One query: the summary, its usage point and the grant check together."""
    found = session.scalar(
        _USAGE_SUMMARY,
        {
            "summary": summary_id,
            "point": uid,
            "authorization": authorization.id,
            "customer": authorization.customer_id,
        },
    )
    if found is None:
        raise not_found("UsageSummary")
    return found


def reading_types(session: Session, authorization: Authorization) -> list[ReadingType]:
    """The ReadingTypes of the meter readings of the shared usage points."""
    stmt = (
        select(ReadingType)
        .where(
            ReadingType.id.in_(
                select(MeterReading.reading_type_id).where(
                    MeterReading.usage_point_id.in_(_shared_points(authorization))
                )
            )
        )
        .order_by(ReadingType.id)
    )
    return list(session.scalars(stmt))


def reading_type(session: Session, authorization: Authorization, rid: str) -> ReadingType:
    stmt = select(ReadingType).where(
        ReadingType.uuid == rid,
        ReadingType.id.in_(
            select(MeterReading.reading_type_id).where(
                MeterReading.usage_point_id.in_(_shared_points(authorization))
            )
        ),
    )
    found = session.scalar(stmt)
    if found is None:
        raise not_found("ReadingType")
    return found


def local_times(session: Session, authorization: Authorization) -> list[LocalTimeParameters]:
    stmt = (
        select(LocalTimeParameters)
        .where(
            LocalTimeParameters.id.in_(
                select(UsagePoint.local_time_id).where(
                    UsagePoint.id.in_(_shared_points(authorization))
                )
            )
        )
        .order_by(LocalTimeParameters.id)
    )
    return list(session.scalars(stmt))


def local_time(session: Session, authorization: Authorization, lid: str) -> LocalTimeParameters:
    stmt = select(LocalTimeParameters).where(
        LocalTimeParameters.uuid == lid,
        LocalTimeParameters.id.in_(
            select(UsagePoint.local_time_id).where(UsagePoint.id.in_(_shared_points(authorization)))
        ),
    )
    found = session.scalar(stmt)
    if found is None:
        raise not_found("LocalTimeParameters")
    return found
