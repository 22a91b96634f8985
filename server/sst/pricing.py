"""The bill comparison's pricing engine: what metered usage costs under a rate schedule.

The SST releases a bill comparison (Title 20 CCR 1623(c)(1)(B); issue 5): the customer's last
12+ months of usage priced on every rate they could switch to (facts.md: NFR8, unbundled
customers priced as delivery + generation).  This module is that arithmetic and nothing else:
no Flask, no database, no I/O, so the comparison, the demo seed and the tests share one engine.

Rates come as ``espi-sst-tariff/1`` definitions (the format is drawn in
``espi_sst_server.demo.tariffs``): seasons by month, time-of-use periods by local clock hour
and day kind, a price per season and period, baseline tiers, fixed charges.  Usage comes as
:class:`DayUsage`, one local day in 24 clock-hour buckets, because that is the finest grain
any such rate looks at: season from the date, period from the hour and weekday, tiers against
a per-day baseline allowance.  :func:`days_from_intervals` builds days from ESPI interval
readings of any length up to a day; :func:`billing_cycles` groups them by meter read day.

An estimate, like a rate-analysis tool's and unlike a bill: no taxes, PCIA or minimum bill;
no holiday calendar (a holiday prices as its weekday); every cycle, partial or not, pays
the per-month charge once; exports earn one flat credit per unit (Net Billing, simplified).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from ._tariff import FORMAT, HOURS, TariffError, day_kind
from ._tariff import compile_definition as _compile

__all__ = [
    "FORMAT",
    "CycleCost",
    "DayUsage",
    "TariffError",
    "annual_cost",
    "billing_cycles",
    "check_definition",
    "combined_cycle_cost",
    "cycle_cost",
    "days_from_intervals",
    "period_names",
]

LONGEST_DAY = 25 * 3600  # seconds: the fall-back day; longer intervals span two local days


@dataclass(frozen=True)
class DayUsage:
    """One local calendar day of usage, by local clock hour.

    Attributes:
        day: the local date; its month picks the season, its weekday the day kind.
        by_hour: 24 buckets of energy delivered (kWh, or therm for gas) per local clock
            hour; the fall-back day's repeated hour is summed, the spring-forward day's
            missing hour is 0.
        exported_by_hour: energy received from the customer (rooftop solar), same shape;
            ``None`` when the service has no export channel.
    """

    day: date
    by_hour: tuple[float, ...]
    exported_by_hour: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("by_hour", "exported_by_hour"):
            buckets = getattr(self, name)
            if buckets is not None and len(buckets) != HOURS:
                raise ValueError(f"DayUsage {self.day}: {name} has {len(buckets)} buckets, not 24")


@dataclass(frozen=True)
class CycleCost:
    """One billing cycle's cost in dollars, in the parts a comparison shows.

    Attributes:
        energy: every hour's usage at its season and period price.
        tier_adjustment: the tier adders on the cycle's usage (negative for a baseline credit).
        fixed: per-month and per-day charges.
        export_credit: the credit for energy exported to the grid.
    """

    energy: float
    tier_adjustment: float
    fixed: float
    export_credit: float

    @property
    def total(self) -> float:
        """The cycle's bill; export credits offset energy but never the fixed charges.

        Net billing credits can zero the energy charges, not the customer's share of the grid:
        with an export credit the total is at least ``fixed``.
        """
        total = self.energy + self.tier_adjustment + self.fixed - self.export_credit
        return max(total, self.fixed) if self.export_credit > 0 else total


def check_definition(definition: Mapping[str, Any]) -> None:
    """Raise :class:`TariffError` unless ``definition`` can price every hour of every day.

    Checked up front (the comparison runs it on every candidate rate) so that a broken rate
    fails with the field to fix, not with a ``KeyError`` in the middle of a year's usage.
    """
    _compile(definition)


def period_names(definition: Mapping[str, Any], day: date) -> tuple[str, ...]:
    """The period of each of the 24 local clock hours of ``day`` (weekday or weekend)."""
    return _compile(definition).periods[day_kind(day)]


def cycle_cost(
    definition: Mapping[str, Any],
    days: Sequence[DayUsage],
    *,
    territory: str | None,
    export_credit_per_unit: float = 0.0,
) -> CycleCost:
    """What one billing cycle of ``days`` costs under one rate.

    Tiers apply to the cycle's total delivered usage against its baseline allowance: the sum,
    over the cycle's days, of the territory's allowance per day in that day's season.
    ``territory`` ``None`` means the rate's ``default_territory``; a rate without tiers
    ignores it.

    Raises:
        TariffError: the definition cannot be priced, or has no such baseline territory.
    """
    if export_credit_per_unit < 0:
        raise ValueError(f"export_credit_per_unit {export_credit_per_unit} is negative")
    tariff = _compile(definition)
    table = tariff.allowance_table(territory)
    energy = delivered = allowance = 0.0
    for usage in days:
        season, prices = tariff.hour_prices(usage.day)
        energy += sum(price * units for price, units in zip(prices, usage.by_hour, strict=True))
        delivered += sum(usage.by_hour)
        if table is not None:
            allowance += table[season]
    tier_adjustment = priced = 0.0  # priced: usage already placed in lower tiers
    for percent, adder in tariff.tiers:
        ceiling = delivered if percent is None else min(delivered, allowance * percent / 100)
        in_tier = max(0.0, ceiling - priced)
        tier_adjustment += in_tier * adder
        priced += in_tier
    fixed = tariff.per_month + tariff.per_day * len(days)
    return CycleCost(energy, tier_adjustment, fixed, _exported(days) * export_credit_per_unit)


def combined_cycle_cost(
    definitions: Sequence[Mapping[str, Any]],
    days: Sequence[DayUsage],
    *,
    territory: str | None,
    export_credit_per_unit: float = 0.0,
) -> CycleCost:
    """One cycle for an unbundled customer: every rate (delivery, generation) on the same usage.

    Each rate's energy, tiers and fixed charges are summed; exports are credited once, since
    the customer exported the energy once.
    """
    if not definitions:
        raise ValueError("combined_cycle_cost needs at least one tariff definition")
    if export_credit_per_unit < 0:
        raise ValueError(f"export_credit_per_unit {export_credit_per_unit} is negative")
    parts = [cycle_cost(definition, days, territory=territory) for definition in definitions]
    return CycleCost(
        energy=sum((part.energy for part in parts), 0.0),
        tier_adjustment=sum((part.tier_adjustment for part in parts), 0.0),
        fixed=sum((part.fixed for part in parts), 0.0),
        export_credit=_exported(days) * export_credit_per_unit,
    )


def annual_cost(
    definitions: Sequence[Mapping[str, Any]],
    days: Sequence[DayUsage],
    *,
    read_day: int,
    territory: str | None,
    export_credit_per_unit: float = 0.0,
) -> float:
    """What ``days`` (a year, for the comparison) cost, cycle by cycle from ``read_day``.

    Per cycle, not over the whole span at once: tiers and the export floor reset every bill.
    """
    costs = [
        combined_cycle_cost(
            definitions, cycle, territory=territory, export_credit_per_unit=export_credit_per_unit
        )
        for cycle in billing_cycles(days, read_day)
    ]
    return sum((cost.total for cost in costs), 0.0)


def days_from_intervals(
    intervals: Iterable[tuple[int, int, float]],
    zone: tzinfo,
    *,
    exported: Iterable[tuple[int, int, float]] | None = None,
) -> list[DayUsage]:
    """Interval readings (start epoch seconds, duration seconds, energy) as local days.

    Each interval counts in the local clock hour its start falls in, so 15-minute, hourly and
    daily readings (a daily gas read lands in hour 0) all work, and DST needs no special case:
    the repeated hour's intervals share a bucket, the skipped hour gets none.  Only days with
    at least one interval are returned, in date order: a missing day stays missing rather than
    priced as zero use.  ``zone`` is any tzinfo (zoneinfo, ``timezone``, ``EspiTimeZone``).
    """
    delivered = _by_local_hour(intervals, zone, "intervals")
    received = None if exported is None else _by_local_hour(exported, zone, "exported")
    idle = [0.0] * HOURS
    return [
        DayUsage(
            day,
            tuple(delivered.get(day, idle)),
            None if received is None else tuple(received.get(day, idle)),
        )
        for day in sorted(delivered.keys() | (received or {}).keys())
    ]


def billing_cycles(days: Sequence[DayUsage], read_day: int) -> list[list[DayUsage]]:
    """``days`` (in date order) split into cycles that start on day ``read_day`` of a month.

    A cycle runs from one read day up to the next; the first and last cycles may be partial
    and are returned as they are (the caller decides whether a partial cycle counts).
    """
    if not 1 <= read_day <= 28:
        raise ValueError(f"read day {read_day} is not 1-28 (every month must have it)")
    cycles: list[list[DayUsage]] = []
    current: date | None = None
    previous: date | None = None
    for usage in days:
        if previous is not None and usage.day <= previous:
            raise ValueError(f"days out of order: {usage.day} follows {previous}")
        start = _cycle_start(usage.day, read_day)
        if start != current:
            cycles.append([])
            current = start
        cycles[-1].append(usage)
        previous = usage.day
    return cycles


# ---- helpers ---------------------------------------------------------------------------


def _exported(days: Iterable[DayUsage]) -> float:
    return sum((sum(usage.exported_by_hour) for usage in days if usage.exported_by_hour), 0.0)


def _cycle_start(day: date, read_day: int) -> date:
    if day.day >= read_day:
        return day.replace(day=read_day)
    months = day.year * 12 + day.month - 2  # the month before, 0-based
    return date(months // 12, months % 12 + 1, read_day)


def _by_local_hour(
    intervals: Iterable[tuple[int, int, float]], zone: tzinfo, what: str
) -> dict[date, list[float]]:
    days: dict[date, list[float]] = {}
    for start, duration, units in intervals:
        if not 0 < duration <= LONGEST_DAY:
            raise ValueError(
                f"{what}: the interval starting at {start} lasts {duration} s; "
                f"only intervals of 1 s up to one local day ({LONGEST_DAY} s) can be priced"
            )
        local = datetime.fromtimestamp(start, zone)
        days.setdefault(local.date(), [0.0] * HOURS)[local.hour] += units
    return days
