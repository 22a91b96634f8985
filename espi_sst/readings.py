"""Interval readings as the user wants them: scaled, with units, quality and local times.

ESPI stores a reading as an integer ``value`` and leaves its meaning to the ReadingType
(``powerOfTenMultiplier``, ``uom``, ``currency``) and its clock to LocalTimeParameters.
:class:`Reading` puts those together once so callers never redo the arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

from .localtime import EspiTimeZone, offset_name
from .model.enums import FlowDirectionKind, QualityOfReading, UnitSymbolKind
from .model.espi import ReadingType

__all__ = ["ContextFacts", "Reading", "ReadingContext", "unit_symbol"]

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


def unit_symbol(uom: int | None) -> str:
    """``72`` -> ``"Wh"``; an unknown code -> ``"uom:<code>"``; none -> ``""``."""
    if uom is None:
        return ""
    try:
        return UnitSymbolKind(uom).name
    except ValueError:
        return f"uom:{uom}"


class ReadingContext(NamedTuple):
    """What one IntervalBlock's readings share: where they come from and how to read them."""

    usage_point: str | None
    meter_reading: str | None
    reading_type: ReadingType | None
    time_zone: EspiTimeZone | None
    block: str | None = None
    reading_type_href: str | None = None

    @property
    def multiplier(self) -> int:
        rt = self.reading_type
        if rt is None or rt.power_of_ten_multiplier is None:
            return 0
        return int(rt.power_of_ten_multiplier)

    @property
    def uom(self) -> int | None:
        rt = self.reading_type
        return None if rt is None or rt.uom is None else int(rt.uom)

    @property
    def flow_direction(self) -> FlowDirectionKind | int | None:
        """The ReadingType's ``flowDirection``: a solar customer's delivered (``forward``)
        and received (``reverse``) channels are two MeterReadings whose readings must never
        be summed together (issue 18)."""
        rt = self.reading_type
        return None if rt is None else rt.flow_direction


class ContextFacts:
    """What a reading (or a whole IntervalBlock's columns) belongs to, read from its
    :class:`ReadingContext`: one place for the properties both views share (issue 18: a
    solar customer's delivered and received channels must be told apart)."""

    __slots__ = ()
    context: ReadingContext

    @property
    def flow_direction(self) -> FlowDirectionKind | int | None:
        """The ReadingType's ``flowDirection`` (``forward`` delivered, ``reverse`` received)."""
        return self.context.flow_direction

    @property
    def usage_point(self) -> str | None:
        """The URL of the UsagePoint the readings belong to."""
        return self.context.usage_point

    @property
    def meter_reading(self) -> str | None:
        """The URL of the MeterReading (one channel: a solar customer has one per direction)."""
        return self.context.meter_reading

    @property
    def reading_type(self) -> ReadingType | None:
        """The ReadingType that gives the readings their unit, scale and direction."""
        return self.context.reading_type

    @property
    def reading_type_url(self) -> str | None:
        return self.context.reading_type_href


class Reading(ContextFacts):
    """One interval reading with its context.

    ``value`` and ``cost`` are ESPI's raw integers; ``scaled_value`` applies the
    ReadingType's power of ten (``value * 10**powerOfTenMultiplier``, in ``unit``); cost is in
    hundred-thousandths of the currency (``cost_amount`` gives currency units).
    """

    __slots__ = ("context", "start", "duration", "value", "cost", "quality")

    def __init__(
        self,
        context: ReadingContext,
        start: int | None,
        duration: int | None,
        value: int | None,
        cost: int | None = None,
        quality: int | None = None,
    ) -> None:
        self.context = context
        self.start = start
        self.duration = duration
        self.value = value
        self.cost = cost
        self.quality = quality

    def __repr__(self) -> str:
        return (
            f"Reading(start={self.start}, duration={self.duration}, value={self.value}, "
            f"unit={self.unit!r}, usage_point={self.context.usage_point!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reading) and (
            self.context,
            self.start,
            self.duration,
            self.value,
            self.cost,
            self.quality,
        ) == (other.context, other.start, other.duration, other.value, other.cost, other.quality)

    __hash__ = None  # type: ignore[assignment]

    @property
    def end(self) -> int | None:
        if self.start is None or self.duration is None:
            return None
        return self.start + self.duration

    @property
    def scaled_value(self) -> float | None:
        if self.value is None:
            return None
        multiplier = self.context.multiplier
        if multiplier >= 0:
            return float(self.value * 10**multiplier)
        return float(self.value) / 10.0 ** (-multiplier)

    @property
    def unit(self) -> str:
        return unit_symbol(self.context.uom)

    @property
    def cost_amount(self) -> float | None:
        """Cost in currency units (ESPI costs are hundred-thousandths)."""
        return None if self.cost is None else self.cost / 100_000

    @property
    def quality_kind(self) -> QualityOfReading | int | None:
        if self.quality is None:
            return None
        try:
            return QualityOfReading(self.quality)
        except ValueError:
            return self.quality

    @property
    def start_utc(self) -> datetime | None:
        return None if self.start is None else _EPOCH + timedelta(seconds=self.start)

    @property
    def end_utc(self) -> datetime | None:
        end = self.end
        return None if end is None else _EPOCH + timedelta(seconds=end)

    @property
    def start_local(self) -> datetime | None:
        """Aware local start (LocalTimeParameters; UTC when the document has none)."""
        return _local(self.start, self.context.time_zone)

    @property
    def end_local(self) -> datetime | None:
        """Aware local end, with the UTC offset in force at that instant."""
        return _local(self.end, self.context.time_zone)


_FIXED_ZONES: dict[int, tuple[timezone, datetime]] = {}
"""Per offset (seconds): the fixed-offset tzinfo and the epoch in it."""


def _local(epoch: int | None, zone: EspiTimeZone | None) -> datetime | None:
    """Local time with a fixed-offset tzinfo.

    Python compares two datetimes sharing one tzinfo by wall clock, ignoring ``fold``: on
    the autumn night 01:45 PDT would sort after the 01:00 PST that follows it.  Giving each
    local time the fixed offset in force at its instant makes comparison and subtraction
    exact (an interval never ends before it starts) while the wall clock stays local.
    The offset comes from integer comparisons (:meth:`EspiTimeZone.offset_seconds_at`):
    this runs twice per reading of every export.
    """
    if epoch is None:
        return None
    if zone is None:
        return _EPOCH + timedelta(seconds=epoch)
    offset = zone.offset_seconds_at(epoch)
    known = _FIXED_ZONES.get(offset)
    if known is None:
        fixed = timezone(timedelta(seconds=offset), offset_name(offset))
        known = _FIXED_ZONES[offset] = (fixed, _EPOCH.astimezone(fixed))
    return known[1] + timedelta(seconds=epoch)
