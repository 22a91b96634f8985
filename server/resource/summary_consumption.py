"""A UsageSummary's ``overallConsumptionLastPeriod`` when the billing system stored none
(GBA certification rule D081 of FB_15 requires it on every UsageSummary).

A summary row from billing alone (``consumption_wh`` NULL) gets the consumption measured by
the interval readings behind its billing period: the readings of *one* delivered-energy
MeterReading of the same usage point -- its ReadingType energy (ESPI kind 12), forward flow
(flowDirection 1: delivered to the customer) in Wh (uom 72) at any powerOfTenMultiplier --
lying wholly inside ``[billingPeriod.start, start + duration)``.  One MeterReading, the
first (lowest id) that qualifies, because a utility may store the same energy at two
interval lengths (15-minute and hourly): summing both would double it.

It is derived only when those readings cover the whole period (their durations add up to
the period's; starts are unique per MeterReading): a sum over part of a period would
understate what the customer used.  No readings, or a gap: ``None`` -- the element is
omitted, never written as 0 (0 Wh would claim the customer used nothing).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.interval_data import readings_between
from ..storage.models import MeterReading, ReadingType, UsageSummary

ENERGY = 12  # ESPI MeasurementKind energy
FORWARD = 1  # ESPI FlowDirectionKind forward (delivered)
WATT_HOURS = 72  # ESPI UnitSymbolKind Wh


def derived_consumption_wh(session: Session, summary: UsageSummary) -> int | None:
    """The period's delivered energy in Wh from the interval readings, or None (docstring)."""
    start = summary.billing_period_start
    end = start + summary.billing_period_duration
    channels = session.execute(
        select(MeterReading.id, ReadingType.power_of_ten_multiplier)
        .join(ReadingType, ReadingType.id == MeterReading.reading_type_id)
        .where(
            MeterReading.usage_point_id == summary.usage_point_id,
            ReadingType.kind == ENERGY,
            ReadingType.flow_direction == FORWARD,
            ReadingType.uom == WATT_HOURS,
        )
        .order_by(MeterReading.id)
    ).all()
    for meter_reading_id, multiplier in channels:
        inside = [
            r for r in readings_between(session, meter_reading_id, start, end) if r[0] + r[1] <= end
        ]
        if inside and sum(r[1] for r in inside) == summary.billing_period_duration:
            total = sum(r[2] for r in inside)
            return int(round(total * 10 ** int(multiplier or 0)))
    return None


def summary_consumption_wh(session: Session, summary: UsageSummary) -> int | None:
    """What ``overallConsumptionLastPeriod`` says, in Wh: the stored figure, else derived."""
    if summary.consumption_wh is not None:
        return summary.consumption_wh
    return derived_consumption_wh(session, summary)


__all__ = ["derived_consumption_wh", "summary_consumption_wh"]
