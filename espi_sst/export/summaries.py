"""One row per UsageSummary: the billing periods of a Green Button file (issue 18).

A UsageSummary (espi.xsd; ElectricPowerUsageSummary in ESPI 1.x files) is a bill: its
``billingPeriod``, the amount billed (``billLastPeriod``, in hundred-thousandths of the
``currency``), the consumption billed (``overallConsumptionLastPeriod``, a
SummaryMeasurement with its own ``uom`` and ``powerOfTenMultiplier``), the tariff.
:class:`SummaryRow` says the same in the words and units of the interval export
(:mod:`espi_sst.tidy`): local times with their offset, dollars, kWh or therms.

Pure: no pandas, no I/O; ``summary_rows(document)`` is what both the CSV/Parquet export
and a DataFrame can be built from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from ..document import Document
from ..model.atom import Entry
from ..model.enums import Currency
from ..model.espi import ElectricPowerUsageSummary, SummaryMeasurement, UsageSummary
from ..tidy import commodity_word, natural_unit, quality_word, short_id

__all__ = ["SUMMARY_COLUMNS", "SUMMARY_DEFAULT_COLUMNS", "SummaryRow", "summary_rows"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One billing period.  Amounts are in ``currency`` units (dollars); ``consumption`` is
    ``overallConsumptionLastPeriod`` in ``consumption_unit`` (kWh, therm), ``peak_demand``
    in ``peak_demand_unit`` (kW).  Times are local with the offset in force when
    ``local_time`` is true (the file's LocalTimeParameters), else UTC."""

    billing_start: datetime | None
    billing_end: datetime | None
    billing_duration: int | None
    bill_amount: float | None
    bill_to_date: float | None
    cost_additional: float | None
    currency: str | None
    consumption: float | None
    consumption_unit: str | None
    current_period_consumption: float | None
    peak_demand: float | None
    peak_demand_unit: str | None
    quality: str | None
    commodity: str | None
    tariff_profile: str | None
    read_cycle: str | None
    status_time: datetime | None
    usage_point: str | None
    usage_summary: str | None
    local_time: bool
    usage_point_url: str | None
    usage_summary_url: str | None


SUMMARY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SummaryRow))
"""Every column of a summary row, in order."""

SUMMARY_DEFAULT_COLUMNS: tuple[str, ...] = (
    "billing_start",
    "billing_end",
    "bill_amount",
    "currency",
    "consumption",
    "consumption_unit",
    "peak_demand",
    "peak_demand_unit",
    "quality",
    "commodity",
    "tariff_profile",
    "usage_point",
)
"""The columns of ``espi-sst convert --summaries`` without ``--columns`` (no URLs)."""


def _money(amount: int | None) -> float | None:
    return None if amount is None else amount / 100_000


def _measure(measurement: SummaryMeasurement | None) -> tuple[float | None, str | None]:
    """A SummaryMeasurement in its natural unit: (1.46e8, -3, Wh) -> (146.0, "kWh")."""
    if measurement is None or measurement.value is None:
        return None, None
    uom = None if measurement.uom is None else int(measurement.uom)
    multiplier = int(measurement.power_of_ten_multiplier or 0)
    exponent, unit = natural_unit(uom, multiplier)
    value = measurement.value
    if exponent >= 0:
        return float(value * 10**exponent), unit or None
    return value / float(10**-exponent), unit or None


def _at(epoch: int | None, zone: tzinfo | None) -> datetime | None:
    if epoch is None:
        return None
    instant = _EPOCH + timedelta(seconds=epoch)
    if zone is None:
        return instant
    local = instant.astimezone(zone)
    offset = local.utcoffset()
    assert offset is not None
    # A fixed offset per instant, as Reading.start_local does: comparisons stay exact.
    return local.replace(tzinfo=timezone(offset), fold=0)


def _usage_point_href(entry: Entry) -> str | None:
    """``.../UsagePoint/1/UsageSummary`` (the entry's ``up``) -> ``.../UsagePoint/1``."""
    up = entry.link("up") or entry.link("self")
    if not up:
        return None
    head, marker, rest = up.rpartition("/UsagePoint/")
    if not marker:
        return None
    point_id = rest.split("/", 1)[0]
    return f"{head}/UsagePoint/{point_id}" if point_id else None


def _currency(code: Currency | int | None) -> str | None:
    if code is None:
        return None
    try:
        return Currency(code).name
    except ValueError:
        return f"currency:{int(code)}"


def summary_rows(document: Document) -> Iterator[SummaryRow]:
    """Each UsageSummary (and ElectricPowerUsageSummary) of ``document``, in file order.

    Times use the LocalTimeParameters of the summary's UsagePoint, else the document's only
    one, else UTC (``local_time`` false)."""
    for entry in document.entries_of(UsageSummary) + document.entries_of(ElectricPowerUsageSummary):
        point_href = _usage_point_href(entry)
        point = document.entry_by_href(point_href) if point_href else None
        zone = document.time_zone(point)
        for summary in entry.contents:
            if not isinstance(summary, (UsageSummary, ElectricPowerUsageSummary)):
                continue
            period = summary.billing_period
            start = None if period is None else period.start
            duration = None if period is None else period.duration
            end = None if start is None or duration is None else start + duration
            consumption, consumption_unit = _measure(summary.overall_consumption_last_period)
            current, _unit = _measure(summary.current_billing_period_over_all_consumption)
            peak, peak_unit = _measure(summary.peak_demand)
            self_href = entry.link("self")
            yield SummaryRow(
                billing_start=_at(start, zone),
                billing_end=_at(end, zone),
                billing_duration=duration,
                bill_amount=_money(summary.bill_last_period),
                bill_to_date=_money(summary.bill_to_date),
                cost_additional=_money(summary.cost_additional_last_period),
                currency=_currency(summary.currency),
                consumption=consumption,
                consumption_unit=consumption_unit,
                current_period_consumption=current,
                peak_demand=peak,
                peak_demand_unit=peak_unit,
                quality=quality_word(
                    None if summary.quality_of_reading is None else int(summary.quality_of_reading)
                ),
                commodity=commodity_word(summary.commodity),
                tariff_profile=getattr(summary, "tariff_profile", None),
                read_cycle=getattr(summary, "read_cycle", None),
                status_time=_at(summary.status_time_stamp, zone),
                usage_point=short_id(point_href),
                usage_summary=short_id(self_href),
                local_time=zone is not None,
                usage_point_url=point_href,
                usage_summary_url=self_href,
            )
