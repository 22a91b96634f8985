"""Green Button data as pandas DataFrames: one tidy row per reading, one per bill (issue 18).

:func:`to_dataframe` gives the rows :mod:`espi_sst.tidy` defines (kWh or therms, dollars,
quality and direction in words, short ids and the full URLs) as columns an analyst can
group and sum: ``start``/``end`` in one tz-aware dtype (the zone of the file's
LocalTimeParameters), ``duration`` as a timedelta, the repeated words as categoricals.
The ``direction`` column is what keeps a solar customer's exports from being added to
their imports (``frame.groupby("direction").value.sum()``; net = delivered - received).

Columns are built per IntervalBlock, never per reading object: the stream's block columns
(:func:`~espi_sst.iter_interval_blocks`) are appended to plain lists and scaled and
converted once, with numpy, at the end, so a 90 MB file costs its numbers, not a Python
object per reading.  The per-block words come from the same helper as
:func:`~espi_sst.tidy.tidy_readings`, so the DataFrame and the CSV export say the same thing.

Time zones: ESPI gives a standard offset and DST rules (LocalTimeParameters, ESPI 4.0
section 5.3.4), not a zone name.  pandas cannot use an arbitrary :class:`datetime.tzinfo`
(it takes the offset of one instant for all), so the rules are matched to an IANA zone
with the same offsets at every hour of the years the data spans (``America/Los_Angeles``
for PG&E's and SCE's), or to a fixed offset when there is no DST.  When nothing matches, or
a file has no LocalTimeParameters, the times are UTC and ``frame.attrs["time_zone"]`` says
so in words.

pandas is an extra (``pip install 'espi-sst[pandas]'``) imported inside the functions, so
``import espi_sst`` and the CLI's start-up never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .document import Document
from .localtime import EspiTimeZone
from .model.enums import Currency
from .model.espi import ElectricPowerUsageSummary, SummaryMeasurement, UsageSummary
from .readings import Reading, ReadingContext
from .tidy import Shared, commodity_word, natural_unit, quality_word, shared_for, short_id

if TYPE_CHECKING:
    import pandas

__all__ = ["FRAME_COLUMNS", "interval_frame", "summaries_dataframe", "to_dataframe"]

FRAME_COLUMNS: tuple[str, ...] = (
    "start",
    "end",
    "duration",
    "value",
    "unit",
    "cost",
    "currency",
    "quality",
    "direction",
    "commodity",
    "usage_point",
    "meter_reading",
    "usage_point_url",
    "meter_reading_url",
    "reading_type_url",
)
"""The columns of :func:`to_dataframe`: :data:`espi_sst.tidy.TIDY_COLUMNS` without
``local_time`` (one zone for the whole frame: ``frame.attrs["time_zone"]``)."""

_PER_BLOCK = (
    "unit",
    "currency",
    "direction",
    "commodity",
    "usage_point",
    "meter_reading",
    "usage_point_url",
    "meter_reading_url",
    "reading_type_url",
)

# Zones whose standard offset a LocalTimeParameters' tzOffset may name, most likely first
# (the utilities of the Green Button corpus are North American).  A zone is used only when
# its offsets equal the file's rules at every hour of the data's years.
_CANDIDATE_ZONES: dict[int, tuple[str, ...]] = {
    -36000: ("Pacific/Honolulu",),
    -32400: ("America/Anchorage",),
    -28800: ("America/Los_Angeles", "America/Vancouver", "America/Tijuana"),
    -25200: ("America/Denver", "America/Edmonton", "America/Phoenix"),
    -21600: ("America/Chicago", "America/Winnipeg", "America/Regina"),
    -18000: ("America/New_York", "America/Toronto"),
    -14400: ("America/Halifax",),
    -12600: ("America/St_Johns",),
    0: ("Europe/London",),
    3600: ("Europe/Paris",),
}


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "DataFrames need pandas, an optional extra of espi-sst: pip install 'espi-sst[pandas]'"
        ) from None
    return pandas


def to_dataframe(source: str | os.PathLike[str] | bytes | Document) -> pandas.DataFrame:
    """Every interval reading of a Green Button file as one tidy DataFrame.

    ``source`` is a path, the file's bytes, or a parsed :class:`~espi_sst.Document`.  A path
    or bytes are streamed (:func:`~espi_sst.iter_interval_blocks`), so memory grows with the
    readings, not with the XML.  Columns: :data:`FRAME_COLUMNS`; ``frame.attrs`` holds
    ``time_zone`` (the zone's name, or why the times are UTC) and ``warnings`` (the
    deviations the reader tolerated, in words).

    Raises ImportError (naming the extra) without pandas, and what the readers raise
    (:class:`~espi_sst.ParseError`, :class:`~espi_sst.UnsafeXmlError`) for bad input.
    """
    _pandas()
    if isinstance(source, Document):
        frame = interval_frame(source.interval_readings())
        frame.attrs["warnings"] = [str(w) for w in source.warnings]
        return frame
    from .xml.streaming import iter_interval_blocks

    stream = iter_interval_blocks(source)
    builder = _Columns()
    for block in stream:
        builder.add(block.context, block.starts, block.durations, block.values,
                    block.costs, block.qualities)  # fmt: skip
    frame = builder.frame()
    frame.attrs["warnings"] = [str(w) for w in stream.warnings]
    return frame


def interval_frame(readings: Iterable[Reading]) -> pandas.DataFrame:
    """The :func:`to_dataframe` frame of any readings (a Document's, a client's, a filter's).

    Consecutive readings that share a :class:`~espi_sst.ReadingContext` (one IntervalBlock)
    are added as one block.
    """
    _pandas()
    builder = _Columns()
    for context, starts, durations, values, costs, qualities in _blocks_of(readings):
        builder.add(context, starts, durations, values, costs, qualities)
    return builder.frame()


_Block = tuple[
    ReadingContext, list[int], list[int], list[int | None], list[int | None], list[int | None]
]


def _blocks_of(readings: Iterable[Reading]) -> Iterator[_Block]:
    context: ReadingContext | None = None
    starts: list[int] = []
    durations: list[int] = []
    values: list[int | None] = []
    costs: list[int | None] = []
    qualities: list[int | None] = []
    for reading in readings:
        if reading.context is not context:
            if context is not None and starts:
                yield context, starts, durations, values, costs, qualities
            context = reading.context
            starts, durations, values, costs, qualities = [], [], [], [], []
        if reading.start is None:
            continue
        starts.append(reading.start)
        durations.append(reading.duration or 0)
        values.append(reading.value)
        costs.append(reading.cost)
        qualities.append(reading.quality)
    if context is not None and starts:
        yield context, starts, durations, values, costs, qualities


@dataclass
class _Columns:
    """The frame's columns, appended block by block."""

    starts: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    values: list[int | None] = field(default_factory=list)
    costs: list[int | None] = field(default_factory=list)
    qualities: list[int | None] = field(default_factory=list)
    has_cost: bool = False
    has_quality: bool = False
    # Per block: what every reading of it shares, its zone, and how many readings it has.
    blocks: list[tuple[Shared, ReadingContext, int]] = field(default_factory=list)
    _shared: dict[int, Shared] = field(default_factory=dict)

    def add(
        self,
        context: ReadingContext,
        starts: list[int],
        durations: list[int],
        values: list[int | None],
        costs: list[int | None] | None,
        qualities: list[int | None] | None,
    ) -> None:
        count = len(starts)
        if not count:
            return
        shared = self._shared.get(id(context))
        if shared is None:
            shared = self._shared[id(context)] = shared_for(context)
        self.blocks.append((shared, context, count))
        self.starts.extend(starts)
        self.durations.extend(durations)
        self.values.extend(values)
        if costs is not None:
            self.has_cost = True
            self.costs.extend(costs)
        else:
            self.costs.extend([None] * count)
        if qualities is not None:
            self.has_quality = True
            self.qualities.extend(qualities)
        else:
            self.qualities.extend([None] * count)

    def frame(self) -> pandas.DataFrame:
        pd = _pandas()
        import numpy as np

        counts = np.array([count for _, _, count in self.blocks], dtype=np.int64)
        exponents = np.repeat(
            np.array([shared.exponent for shared, _, _ in self.blocks], dtype=np.int64), counts
        )
        raw = np.array(self.values, dtype=np.float64)  # None -> nan
        # Divide by an exact power of ten, as tidy.py does (1234 Wh -> 1.234 kWh).
        values = raw * 10.0 ** np.maximum(exponents, 0) / 10.0 ** np.maximum(-exponents, 0)
        costs = (
            np.array(self.costs, dtype=np.float64) / 100_000
            if self.has_cost
            else np.full(len(self.starts), np.nan)
        )
        zone, zone_note = _frame_zone(self.blocks, self.starts)
        starts = pd.to_datetime(np.array(self.starts, dtype=np.int64), unit="s", utc=True)
        durations = pd.to_timedelta(np.array(self.durations, dtype=np.int64), unit="s")
        ends = starts + durations
        if zone is not None:
            starts, ends = starts.tz_convert(zone), ends.tz_convert(zone)
        columns: dict[str, Any] = {
            "start": starts,
            "end": ends,
            "duration": durations,
            "value": values,
        }
        for name in _PER_BLOCK:
            per_block = [getattr(shared, name, None) for shared, _, _ in self.blocks]
            if name.endswith("_url"):
                per_block = [_url(context, name) for _, context, _ in self.blocks]
            columns[name] = _repeated(pd, np, per_block, counts)
        columns["cost"] = costs
        columns["quality"] = _quality_column(pd, self.qualities if self.has_quality else None,
                                             len(self.starts))  # fmt: skip
        frame = pd.DataFrame({name: columns[name] for name in FRAME_COLUMNS})
        frame.attrs["time_zone"] = zone_note
        return frame


def _url(context: ReadingContext, name: str) -> str | None:
    if name == "usage_point_url":
        return context.usage_point
    if name == "meter_reading_url":
        return context.meter_reading
    return context.reading_type_href


def _repeated(pd: Any, np: Any, per_block: list[str | None], counts: Any) -> Any:
    """A categorical column holding each block's word once per reading (no string copies)."""
    categories = sorted({word for word in per_block if word is not None})
    index = {word: code for code, word in enumerate(categories)}
    codes = np.repeat(
        np.array([-1 if w is None else index[w] for w in per_block], dtype=np.int32), counts
    )
    return pd.Categorical.from_codes(codes, categories=categories)


def _quality_column(pd: Any, qualities: list[int | None] | None, count: int) -> Any:
    if qualities is None:
        return pd.Categorical([None] * count)
    words = {code: quality_word(code) for code in set(qualities) if code is not None}
    return pd.Categorical([None if q is None else words[q] for q in qualities])


def _frame_zone(
    blocks: list[tuple[Shared, ReadingContext, int]], starts: list[int]
) -> tuple[Any, str]:
    """The one zone every start and end is shown in, and its description for ``attrs``."""
    zones = {context.time_zone for _, context, _ in blocks}
    if not blocks:
        return None, "UTC (no interval readings)"
    if zones == {None}:
        return None, "UTC (the file has no LocalTimeParameters)"
    if len(zones) > 1:
        return None, "UTC (the file's UsagePoints have different LocalTimeParameters)"
    (espi_zone,) = zones
    assert espi_zone is not None
    first, last = min(starts), max(starts)
    years = range(_year(first) - 1, _year(last) + 2)
    found = pandas_zone(espi_zone, years)
    if found is None:
        return None, (
            f"UTC (the LocalTimeParameters {espi_zone!r} match no known zone; "
            "Reading.start_local gives local times)"
        )
    return found, str(found)


def _year(epoch: int) -> int:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=epoch)).year


def pandas_zone(zone: EspiTimeZone, years: Iterable[int]) -> Any:
    """A tzinfo pandas converts exactly (fixed offset or IANA zone) with the same offsets as
    ``zone`` at every hour of ``years``, or None."""
    if not (zone.saving and zone.start_rule is not None and zone.end_rule is not None):
        return timezone(zone.standard)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    hours = [
        datetime(year, 1, 1, tzinfo=UTC) + timedelta(hours=h)
        for year in years
        for h in range(0, 366 * 24)
    ]
    expected = [moment.astimezone(zone).utcoffset() for moment in hours]
    for name in _CANDIDATE_ZONES.get(int(zone.standard.total_seconds()), ()):
        try:
            candidate = ZoneInfo(name)
        except ZoneInfoNotFoundError:
            continue
        if all(
            moment.astimezone(candidate).utcoffset() == offset
            for moment, offset in zip(hours, expected, strict=True)
        ):
            return candidate
    return None


# ---- usage summaries -----------------------------------------------------------------------
_MEASUREMENTS = tuple(
    f.name
    for f in fields(UsageSummary)
    if f.name
    in {
        "overall_consumption_last_period",
        "current_billing_period_over_all_consumption",
        "current_day_net_consumption",
        "current_day_overall_consumption",
        "current_day_last_year_net_consumption",
        "previous_day_net_consumption",
        "previous_day_overall_consumption",
        "previous_day_last_year_overall_consumption",
        "peak_demand",
        "ratchet_demand",
    }
)
_AMOUNTS = ("bill_last_period", "bill_to_date", "cost_additional_last_period")


def summaries_dataframe(source: str | os.PathLike[str] | bytes | Document) -> pandas.DataFrame:
    """Every UsageSummary (and ESPI 1.0's ElectricPowerUsageSummary) as one row: the billing
    period's local start and end, the bill amounts in currency units (dollars; ESPI gives
    hundred-thousandths), each consumption measurement in its natural unit with a
    ``<name>_unit`` column (kWh, therm), quality and commodity in words, the usage point.

    Measurements no summary has are left out.  ``frame.attrs["time_zone"]`` as in
    :func:`to_dataframe`.
    """
    pd = _pandas()
    if isinstance(source, Document):
        doc = source
    else:
        from .xml.reader import parse

        doc = parse(source)
    rows: dict[str, list[Any]] = {
        name: []
        for name in (
            "billing_start",
            "billing_end",
            "billing_duration",
            "usage_point",
            "commodity",
            "currency",
            *_AMOUNTS,
            "status_time",
            "quality",
            "tariff_profile",
            "read_cycle",
            "usage_summary_url",
        )
    }
    measured: dict[str, list[Any]] = {name: [] for name in _MEASUREMENTS}
    units: dict[str, list[Any]] = {name: [] for name in _MEASUREMENTS}
    zones: set[EspiTimeZone | None] = set()
    for entry in doc.entries:
        summary = entry.content
        if not isinstance(summary, (UsageSummary, ElectricPowerUsageSummary)):
            continue
        point_url = _usage_point_of(entry.self_href or entry.up_href)
        point_entry = doc.entry_by_href(point_url) if point_url else None
        zones.add(doc.time_zone(point_entry))
        period = summary.billing_period
        start = None if period is None else period.start
        duration = None if period is None else period.duration
        rows["billing_start"].append(start)
        rows["billing_end"].append(None if start is None or duration is None else start + duration)
        rows["billing_duration"].append(duration)
        rows["usage_point"].append(short_id(point_url))
        rows["commodity"].append(commodity_word(getattr(summary, "commodity", None)))
        rows["currency"].append(_currency_word(summary.currency))
        for name in _AMOUNTS:
            amount = getattr(summary, name)
            rows[name].append(None if amount is None else amount / 100_000)
        rows["status_time"].append(summary.status_time_stamp)
        quality = summary.quality_of_reading
        rows["quality"].append(None if quality is None else quality_word(int(quality)))
        rows["tariff_profile"].append(getattr(summary, "tariff_profile", None))
        rows["read_cycle"].append(getattr(summary, "read_cycle", None))
        rows["usage_summary_url"].append(entry.self_href)
        for name in _MEASUREMENTS:
            value, unit = _measurement(getattr(summary, name, None))
            measured[name].append(value)
            units[name].append(unit)
    zone, note = _summary_zone(zones, rows["billing_start"])
    frame = pd.DataFrame(
        {name: rows[name] for name in ("usage_point", "commodity")}
        | {
            "billing_start": _times(pd, rows["billing_start"], zone),
            "billing_end": _times(pd, rows["billing_end"], zone),
            "billing_duration": pd.to_timedelta(rows["billing_duration"], unit="s"),
        }
        | {name: pd.array(rows[name], dtype="Float64") for name in _AMOUNTS}
        | {"currency": rows["currency"]}
        | {
            column: series
            for name in _MEASUREMENTS
            if any(v is not None for v in measured[name])
            for column, series in (
                (name, pd.array(measured[name], dtype="Float64")),
                (f"{name}_unit", units[name]),
            )
        }
        | {
            "status_time": _times(pd, rows["status_time"], zone),
            "quality": rows["quality"],
            "tariff_profile": rows["tariff_profile"],
            "read_cycle": rows["read_cycle"],
            "usage_summary_url": rows["usage_summary_url"],
        }
    )
    frame.attrs["time_zone"] = note
    frame.attrs["warnings"] = [str(w) for w in doc.warnings]
    return frame


def _usage_point_of(href: str | None) -> str | None:
    """``.../UsagePoint/7/UsageSummary/1`` -> ``.../UsagePoint/7``."""
    if not href or "/UsagePoint/" not in href:
        return None
    head, _, tail = href.rpartition("/UsagePoint/")
    return f"{head}/UsagePoint/{tail.split('/', 1)[0]}"


def _currency_word(code: Currency | int | None) -> str | None:
    if code is None:
        return None
    try:
        return Currency(code).name
    except ValueError:
        return f"currency:{int(code)}"


def _measurement(measurement: SummaryMeasurement | None) -> tuple[float | None, str | None]:
    if measurement is None or measurement.value is None:
        return None, None
    uom = None if measurement.uom is None else int(measurement.uom)
    multiplier = (
        0
        if measurement.power_of_ten_multiplier is None
        else int(measurement.power_of_ten_multiplier)
    )
    exponent, unit = natural_unit(uom, multiplier)
    value = measurement.value
    scaled = float(value * 10**exponent) if exponent >= 0 else value / float(10**-exponent)
    return scaled, unit


def _summary_zone(zones: set[EspiTimeZone | None], starts: list[int | None]) -> tuple[Any, str]:
    known = [s for s in starts if s is not None]
    if zones in (set(), {None}):
        return None, "UTC (the file has no LocalTimeParameters)"
    if len(zones) > 1:
        return None, "UTC (the file's UsagePoints have different LocalTimeParameters)"
    (zone,) = zones
    assert zone is not None
    if not known:
        return None, "UTC (no billing periods)"
    found = pandas_zone(zone, range(_year(min(known)) - 1, _year(max(known)) + 2))
    if found is None:
        return None, f"UTC (the LocalTimeParameters {zone!r} match no known zone)"
    return found, str(found)


def _times(pd: Any, epochs: list[int | None], zone: Any) -> Any:
    times = pd.to_datetime(pd.array(epochs, dtype="Int64"), unit="s", utc=True)
    return times.tz_convert(zone) if zone is not None else times
