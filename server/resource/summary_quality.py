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

One query per summary: the stored days of its usage point's meter readings in the period
(``storage/interval_data.usage_point_quality_counts``, on the ``(meter_reading_id, start)``
primary key; a day without qualities is counted without decoding its readings).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from espi_sst.model.enums import QualityOfReading

from ..storage.interval_data import usage_point_quality_counts
from ..storage.models import UsageSummary


def summary_quality(session: Session, summary: UsageSummary) -> QualityOfReading:
    """The quality of the readings behind the summary's billing period (module docstring)."""
    start = summary.billing_period_start
    end = start + summary.billing_period_duration
    total, flagged, codes = usage_point_quality_counts(session, summary.usage_point_id, start, end)
    if total == 0:
        return QualityOfReading.revenue_quality
    if flagged == 0:
        return QualityOfReading.valid
    if flagged == total and len(codes) == 1:
        try:
            return QualityOfReading(codes.pop())
        except ValueError:  # a stored code outside the enumeration
            return QualityOfReading.other
    return QualityOfReading.mixed


__all__ = ["summary_quality"]
