"""A demo customer's metered series: the load shapes turned into ESPI interval readings.

Electricity: 15-minute Wh (ReadingType uom 72, powerOfTenMultiplier 0), one channel for
energy delivered and, with solar, one for energy received (flowDirection 19): the meter
sees only the net flow in each interval, so a sunny noon shows export and no import.  Gas:
one reading per local day in millitherms (uom 169, powerOfTenMultiplier -3).

The imperfections real feeds carry are put in here on purpose (ESPI QualityOfReading): a day
estimated from a reference day, 8; a short electric gap and a missed gas read filled by
linear interpolation, 9.  Every interval still has a value, so bills and comparisons never
meet a hole.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from espi_sst.model.enums import QualityOfReading

from ..sst.pricing import DayUsage
from ._timeline import LocalDay
from .customers import CustomerSpec
from .load_shapes import cloud_factor, solar_day

WH_PER_KW_INTERVAL = 250  # 1 kW for 15 minutes
ESTIMATED = QualityOfReading.estimated_using_reference_day
INTERPOLATED = QualityOfReading.estimated_using_linear_interpolation
UNIT_SCALE = 1e-3  # Wh -> kWh, millitherm -> therm


@dataclass
class Series:
    """Rows for one usage point's meter readings, in time order, and where each day starts."""

    days: Sequence[LocalDay]
    starts: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    received: list[int] | None = None
    qualities: dict[str, dict[int, int]] = field(default_factory=dict)  # channel: {row: quality}
    day_rows: list[int] = field(default_factory=lambda: [0])  # first row of each day, then the end

    def rows(self, day_index: int) -> range:
        return range(self.day_rows[day_index], self.day_rows[day_index + 1])

    def day_usage(self, day_index: int) -> DayUsage:
        """One day's delivered usage (kWh or therms) in 24 local clock-hour buckets."""
        day = self.days[day_index]
        buckets = [0.0] * 24
        rows = self.rows(day_index)
        hours = day.hours if len(rows) == len(day.hours) else (0.0,)  # gas: one reading a day
        for row, hour in zip(rows, hours, strict=True):
            buckets[int(hour)] += self.delivered[row] * UNIT_SCALE
        return DayUsage(day.day, tuple(buckets))

    def total_wh(self, values: list[int], day_span: range) -> int:
        return sum(values[self.day_rows[day_span[0]] : self.day_rows[day_span[-1] + 1]])


def electric_series(
    spec: CustomerSpec, days: Sequence[LocalDay], temperatures: Sequence[float], rng: random.Random
) -> Series:
    """Delivered (and, with solar, received) Wh for every 15 minutes of ``days``."""
    home = spec.household
    solar = home.solar_kw > 0
    series = Series(days, received=[] if solar else None)
    per_day: list[list[int]] = []
    for day, mean_c in zip(days, temperatures, strict=True):
        load = home.electric_day(day, mean_c, spec.climate.swing(day.day_of_year), rng)
        if solar and series.received is not None:
            sun = solar_day(home.solar_kw, day, cloud_factor(day.day_of_year, rng))
            load, export = _net(load, sun)
            series.received.extend(_wh(export))
        values = _wh(load)
        per_day.append(values)
        series.starts.extend(day.starts)
        series.durations.extend([900] * len(values))
        series.day_rows.append(series.day_rows[-1] + len(values))
    series.qualities = {"delivered": {}, "received": {}}
    if spec.estimated_electric_day:
        _estimate_from_reference_day(series, per_day, len(days) - spec.estimated_electric_day)
    if spec.interpolated_gap_day:
        _interpolate_gap(series, per_day, len(days) - spec.interpolated_gap_day)
    series.delivered = [value for values in per_day for value in values]
    return series


def gas_series(
    spec: CustomerSpec, days: Sequence[LocalDay], temperatures: Sequence[float], rng: random.Random
) -> Series:
    """Millitherms per local day (its duration is 23, 24 or 25 hours)."""
    series = Series(days)
    for day, mean_c in zip(days, temperatures, strict=True):
        therms = spec.household.gas_day(mean_c, day.day_of_year, rng)
        series.starts.append(day.start)
        series.durations.append(day.end - day.start)
        series.delivered.append(round(therms / UNIT_SCALE))
        series.day_rows.append(series.day_rows[-1] + 1)
    series.qualities = {"delivered": {}}
    if spec.estimated_gas_day:
        index = len(days) - spec.estimated_gas_day
        before, after = series.delivered[index - 1], series.delivered[index + 1]
        series.delivered[index] = round((before + after) / 2)  # a missed read, interpolated
        series.qualities["delivered"][index] = INTERPOLATED
    return series


def _wh(kw: list[float]) -> list[int]:
    return [round(value * WH_PER_KW_INTERVAL) for value in kw]


def _net(load: list[float], sun: list[float]) -> tuple[list[float], list[float]]:
    """What the meter sees: import when the house uses more than the roof makes, else export."""
    imported = [max(use - made, 0.0) for use, made in zip(load, sun, strict=True)]
    exported = [max(made - use, 0.0) for use, made in zip(load, sun, strict=True)]
    return imported, exported


def _estimate_from_reference_day(series: Series, per_day: list[list[int]], index: int) -> None:
    """A day the meter did not report, estimated from the same weekday a week earlier."""
    day, reference = series.days[index], series.days[index - 7]
    by_hour = dict(zip(reference.hours, per_day[index - 7], strict=True))
    per_day[index] = [by_hour.get(hour, per_day[index - 7][-1]) for hour in day.hours]
    for row in series.rows(index):
        series.qualities["delivered"][row] = ESTIMATED


def _interpolate_gap(series: Series, per_day: list[list[int]], index: int) -> None:
    """An hour lost to a communication fault (10:00-11:00), filled by linear interpolation."""
    values = per_day[index]
    first, last = 40, 44  # the gap is [first, last); its neighbours are first-1 and last
    before, after = values[first - 1], values[last]
    for step, slot in enumerate(range(first, last), start=1):
        values[slot] = round(before + (after - before) * step / (last - first + 1))
        series.qualities["delivered"][series.day_rows[index] + slot] = INTERPOLATED
