"""A UsageSummary's ``qualityOfReading`` (ESPI QualityOfReading; GBA certification rule
D099 of FB_15 requires it on every UsageSummary).

It is derived from the interval readings behind the billing period, the readings of the
summary's usage point whose start lies in ``[billingPeriod.start, start + duration)``:

* none of them flagged (a reading without a ``ReadingQuality`` is valid data): ``valid`` (0);
* all flagged with the same code: that code (ESPI ReadingQuality uses the QualityOfReading
  codes), e.g. all estimated -> ``estimated_using_reference_day`` (8);
* anything else (some flagged, or flags that differ): ``mixed`` (13);
* no interval readings at all: the summary is the billing system's own figure, which is
  what the customer was billed on -- ``revenue_quality`` (19).

One aggregate query per summary, on the ``(meter_reading_id, start)`` unique index.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from espi_sst.model.enums import QualityOfReading

from ..storage.models import IntervalReading, MeterReading, UsageSummary

_QUALITY = (
    select(
        func.count(),
        func.count(IntervalReading.quality),
        func.min(IntervalReading.quality),
        func.max(IntervalReading.quality),
    )
    .join(MeterReading, MeterReading.id == IntervalReading.meter_reading_id)
    .where(
        MeterReading.usage_point_id == bindparam("point"),
        IntervalReading.start >= bindparam("start"),
        IntervalReading.start < bindparam("end"),
    )
)
"""Built once: every UsageSummary GET runs it, and building the expression again per
request (SQLAlchemy's coercions) cost more than the compiled-statement cache lookup
(issue 17, bench/server/profile_request.py)."""


def summary_quality(session: Session, summary: UsageSummary) -> QualityOfReading:
    """The quality of the readings behind the summary's billing period (module docstring)."""
    start = summary.billing_period_start
    end = start + summary.billing_period_duration
    # Through the session's connection (same transaction): four numbers need no ORM
    # result processing.
    total, flagged, lowest, highest = (
        session.connection()
        .execute(_QUALITY, {"point": summary.usage_point_id, "start": start, "end": end})
        .one()
    )
    if total == 0:
        return QualityOfReading.revenue_quality
    if flagged == 0:
        return QualityOfReading.valid
    if flagged == total and lowest is not None and lowest == highest:
        try:
            return QualityOfReading(lowest)
        except ValueError:  # a stored code outside the enumeration
            return QualityOfReading.other
    return QualityOfReading.mixed


__all__ = ["summary_quality"]
