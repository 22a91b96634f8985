"""Readings the way analysts use them: one tidy row each, in natural units and plain words.

ESPI's reading is an integer ``value`` in ``uom * 10**powerOfTenMultiplier``, a ``cost``
in hundred-thousandths of the ReadingType's ``currency``, a numeric quality code, a start
in epoch seconds and a ``flowDirection`` on a ReadingType two links away.  Utilities'
Download My Data files show the same data as kWh (or therms), dollars, local times with
their offset, and words.  :class:`TidyReading` is that row, built once here so the
DataFrame, the CSV and any other export say the same thing (issue 18).

The direction matters most: a net-metered (solar) customer has a delivered (``forward``)
and a received (``reverse``) MeterReading over the same intervals; summing them adds
exports to imports.  Every row therefore names its direction and the MeterReading and
ReadingType it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime

from .model.enums import CommodityKind, Currency, FlowDirectionKind, QualityOfReading
from .readings import Reading, ReadingContext, unit_symbol

__all__ = [
    "ANALYST_COLUMNS",
    "TIDY_COLUMNS",
    "Shared",
    "TidyReading",
    "commodity_word",
    "direction_word",
    "natural_unit",
    "quality_word",
    "shared_for",
    "short_id",
    "tidy_readings",
]

_KILO = {72: "kWh", 38: "kW", 73: "kVArh", 71: "kVAh", 63: "kVAr", 61: "kVA"}
"""Base units shown in thousands, as utilities' bills and downloads show them."""

_DIRECTION_WORDS = {
    FlowDirectionKind.forward: "delivered",
    FlowDirectionKind.reverse: "received",
    FlowDirectionKind.net: "net",
    FlowDirectionKind.total: "total",
}
"""IEC 61968-2's words for the active-energy directions (espi.xsd FlowDirectionKind)."""

_COMMODITY_WORDS = {
    CommodityKind.electricity_SecondaryMetered: "electricity",
    CommodityKind.electricity_PrimaryMetered: "electricity",
    CommodityKind.electricity_TransmissionMetered: "electricity",
    CommodityKind.naturalGas: "natural gas",
    CommodityKind.potableWater: "water",
}


def natural_unit(uom: int | None, multiplier: int) -> tuple[int, str]:
    """The power of ten that turns a raw ESPI value into the natural unit, and its name.

    ``(72, 0)`` (Wh) -> ``(-3, "kWh")``; ``(169, 0)`` (therm) -> ``(0, "therm")``; an
    unknown unit keeps ESPI's scaling and says ``uom:<code>``.
    """
    if uom in _KILO:
        return multiplier - 3, _KILO[uom]
    return multiplier, unit_symbol(uom)


def _scale(value: int | None, exponent: int) -> float | None:
    # Dividing by an exact power of ten keeps 1234 Wh -> 1.234 kWh (not 1.2340000000000002).
    if value is None:
        return None
    if exponent >= 0:
        return float(value * 10**exponent)
    return value / float(10**-exponent)


def direction_word(code: FlowDirectionKind | int | None) -> str | None:
    """``forward`` -> ``"delivered"``, ``reverse`` -> ``"received"``; none/0 -> None."""
    if code is None or code == 0:
        return None
    try:
        kind = FlowDirectionKind(code)
    except ValueError:
        return f"flowDirection:{int(code)}"
    return _DIRECTION_WORDS.get(kind, kind.name)


def commodity_word(code: CommodityKind | int | None) -> str | None:
    """``1`` -> ``"electricity"``, ``7`` -> ``"natural gas"``; none/0 -> None."""
    if code is None or code == 0:
        return None
    try:
        kind = CommodityKind(code)
    except ValueError:
        return f"commodity:{int(code)}"
    return _COMMODITY_WORDS.get(kind, kind.name)


def quality_word(code: int | None) -> str | None:
    """``0`` -> ``"valid"``, ``8`` -> ``"estimated_using_reference_day"``; an unknown code
    -> ``"quality:<code>"``."""
    if code is None:
        return None
    try:
        return QualityOfReading(code).name
    except ValueError:
        return f"quality:{code}"


def short_id(href: str | None) -> str | None:
    """The last path segment of a resource's URL (``.../UsagePoint/01`` -> ``"01"``)."""
    if not href:
        return None
    return href.rstrip("/").rsplit("/", 1)[-1] or None


@dataclass(frozen=True, slots=True)
class TidyReading:
    """One interval reading as an analyst's row.

    ``start``/``end`` are aware datetimes: local time with the offset in force (from
    LocalTimeParameters) when ``local_time`` is true, else UTC.  ``value`` is in ``unit``
    (kWh for Wh, therm for therms), ``cost`` in ``currency`` units (dollars).
    """

    start: datetime | None
    end: datetime | None
    duration: int | None
    value: float | None
    unit: str
    cost: float | None
    currency: str | None
    quality: str | None
    direction: str | None
    commodity: str | None
    usage_point: str | None
    meter_reading: str | None
    local_time: bool
    usage_point_url: str | None
    meter_reading_url: str | None
    reading_type_url: str | None


TIDY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TidyReading))
"""Every column a tidy row has, in order."""

ANALYST_COLUMNS: tuple[str, ...] = (
    "start",
    "end",
    "duration",
    "value",
    "unit",
    "cost",
    "quality",
    "direction",
    "usage_point",
)
"""The columns a Download My Data file shows (no URLs): the CSV export's default."""


@dataclass(frozen=True, slots=True)
class Shared:
    """What every reading of one IntervalBlock shares, worked out once per block (also by
    :mod:`espi_sst.frames`, which adds whole blocks to its columns)."""

    exponent: int
    unit: str
    currency: str | None
    direction: str | None
    commodity: str | None
    usage_point: str | None
    meter_reading: str | None
    local_time: bool


def shared_for(context: ReadingContext) -> Shared:
    exponent, unit = natural_unit(context.uom, context.multiplier)
    rt = context.reading_type
    currency: str | None = None
    if rt is not None and rt.currency is not None:
        try:
            currency = Currency(rt.currency).name
        except ValueError:
            currency = f"currency:{int(rt.currency)}"
    return Shared(
        exponent=exponent,
        unit=unit,
        currency=currency,
        direction=direction_word(context.flow_direction),
        commodity=commodity_word(None if rt is None else rt.commodity),
        usage_point=short_id(context.usage_point),
        meter_reading=short_id(context.meter_reading),
        local_time=context.time_zone is not None,
    )


def tidy_readings(readings: Iterable[Reading]) -> Iterator[TidyReading]:
    """Each reading as a :class:`TidyReading` (lazy: a stream stays a stream)."""
    last: ReadingContext | None = None
    shared: Shared | None = None
    for reading in readings:
        context = reading.context
        if context is not last or shared is None:
            last, shared = context, shared_for(context)
        yield TidyReading(
            start=reading.start_local,
            end=reading.end_local,
            duration=reading.duration,
            value=_scale(reading.value, shared.exponent),
            unit=shared.unit,
            cost=None if reading.cost is None else reading.cost / 100_000,
            currency=shared.currency,
            quality=quality_word(reading.quality),
            direction=shared.direction,
            commodity=shared.commodity,
            usage_point=shared.usage_point,
            meter_reading=shared.meter_reading,
            local_time=shared.local_time,
            usage_point_url=context.usage_point,
            meter_reading_url=context.meter_reading,
            reading_type_url=context.reading_type_href,
        )
