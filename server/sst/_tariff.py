"""Checking an ``espi-sst-tariff/1`` definition and compiling it into pricing tables.

Tariff definitions are JSON the utility maintains (the tariff table's ``definition`` column;
the format is drawn in ``espi_sst_server.demo.tariffs``).  The engine trusts nothing in them:
every gap a pricer would otherwise hit as a ``KeyError`` mid-year -- a month in no season, an
hour in no period on weekends, a missing price, a tier ladder with no top -- is refused here,
once, with the field that holds the mistake and what would fix it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import InvalidInput

FORMAT = "espi-sst-tariff/1"
HOURS = 24
DAY_KINDS = ("weekdays", "weekends")  # what a period's "days" narrows "all" to
_CLOCK = re.compile(r"(\d{2}):(\d{2})")


class TariffError(InvalidInput):
    """A tariff definition that cannot be priced; the message names the field and the fix.

    A ``ValueError`` but deliberately not the library's ``EspiError`` nor a ``Refused``: a
    bad rate is the utility's data problem, not a client's bad request, so the resource API
    must not turn it into a 4xx (it is a 500, ``server/errors/``).
    """

    code = "invalid_tariff"


def day_kind(day: date) -> str:
    """``"weekdays"`` or ``"weekends"``: which periods apply (holidays are not modelled)."""
    return "weekends" if day.weekday() >= 5 else "weekdays"


@dataclass(frozen=True)
class Tariff:
    """A checked definition as lookup tables: what pricing needs, nothing more."""

    season_by_month: Mapping[int, str]
    periods: Mapping[str, tuple[str, ...]]  # day kind -> the period of each hour
    prices: Mapping[str, Mapping[str, float]]  # season -> period -> $/unit
    tiers: tuple[tuple[float | None, float], ...]  # (up_to_baseline_percent, $/unit adder)
    allowances: Mapping[str, Mapping[str, float]] | None  # territory -> season -> units/day
    default_territory: str | None
    per_month: float
    per_day: float

    def hour_prices(self, day: date) -> tuple[str, tuple[float, ...]]:
        """The day's season and the price of each of its 24 local clock hours."""
        season = self.season_by_month[day.month]
        prices = self.prices[season]
        return season, tuple(prices[name] for name in self.periods[day_kind(day)])

    def allowance_table(self, territory: str | None) -> Mapping[str, float] | None:
        """Units/day per season in ``territory`` (``None``: the default); ``None`` untiered."""
        if self.allowances is None:
            return None  # no tiers: the territory does not matter
        code = territory if territory is not None else self.default_territory
        if code is None:
            raise TariffError("baseline.default_territory: missing, and no territory was given")
        if code not in self.allowances:
            known = ", ".join(sorted(self.allowances))
            raise TariffError(f"baseline.territories: no territory {code!r} (the rate has {known})")
        return self.allowances[code]


def compile_definition(definition: Mapping[str, Any]) -> Tariff:
    """Check ``definition`` and build its tables; raise :class:`TariffError` on any gap."""
    if not isinstance(definition, Mapping):
        raise TariffError(f"a tariff definition is a JSON object, not {type(definition).__name__}")
    if definition.get("format") != FORMAT:
        raise TariffError(
            f"format: {definition.get('format')!r} is not {FORMAT!r}, the only format priced"
        )
    season_by_month = _seasons(definition.get("seasons"))
    seasons = sorted(set(season_by_month.values()))
    periods = _periods(definition.get("periods"))
    names = sorted({name for hours in periods.values() for name in hours})
    prices = _prices(definition.get("energy_prices"), seasons, names)
    tiers = _tiers(definition.get("tiers"))
    allowances, default = _baseline(definition.get("baseline"), seasons) if tiers else (None, None)
    fixed = definition.get("fixed_charges")
    if not isinstance(fixed, Mapping):
        raise TariffError("fixed_charges: missing; give {per_month, per_day} ($, 0 for none)")
    per_month = _number(fixed.get("per_month", 0.0), "fixed_charges.per_month")
    per_day = _number(fixed.get("per_day", 0.0), "fixed_charges.per_day")
    return Tariff(season_by_month, periods, prices, tiers, allowances, default, per_month, per_day)


def _seasons(seasons: Any) -> dict[int, str]:
    if not isinstance(seasons, list) or not seasons:
        raise TariffError("seasons: missing; give [{name, months}] covering months 1-12")
    by_month: dict[int, str] = {}
    for index, season in enumerate(seasons):
        where = f"seasons[{index}]"
        name = _name(season, where)
        months = season.get("months")
        if not isinstance(months, list):
            raise TariffError(f"{where}.months: missing; give the season's months (1-12)")
        for month in months:
            if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
                raise TariffError(f"{where}.months: {month!r} is not a month (1-12)")
            if month in by_month:
                raise TariffError(
                    f"seasons: month {month} is in two seasons "
                    f"({by_month[month]!r} and {name!r}); each month belongs to one"
                )
            by_month[month] = name
    missing = [month for month in range(1, 13) if month not in by_month]
    if missing:
        listed = ", ".join(str(month) for month in missing)
        noun = "month" if len(missing) == 1 else "months"
        raise TariffError(f"seasons: {noun} {listed} in no season; each month needs one")
    return by_month


def _periods(periods: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(periods, list) or not periods:
        raise TariffError("periods: missing; give [{name, days, windows}] covering every hour")
    tables: dict[str, list[str | None]] = {kind: [None] * HOURS for kind in DAY_KINDS}
    for index, period in enumerate(periods):
        where = f"periods[{index}]"
        name = _name(period, where)
        days = period.get("days")
        if days not in ("all", *DAY_KINDS):
            raise TariffError(f"{where}.days: {days!r} is not 'all', 'weekdays' or 'weekends'")
        windows = period.get("windows")
        if not isinstance(windows, list) or not windows:
            raise TariffError(f"{where}.windows: missing; give [{{start, end}}] as 'HH:MM'")
        for number, window in enumerate(windows):
            hours = _window(window, f"{where}.windows[{number}]")
            for kind in DAY_KINDS if days == "all" else (days,):
                for hour in hours:
                    taken = tables[kind][hour]
                    if taken is not None:
                        raise TariffError(
                            f"periods: hour {hour:02d}:00 on {kind} is in two periods "
                            f"({taken!r} and {name!r}); each hour belongs to one"
                        )
                    tables[kind][hour] = name
    result: dict[str, tuple[str, ...]] = {}
    for kind, table in tables.items():
        empty = [hour for hour, name in enumerate(table) if name is None]
        if empty:
            raise TariffError(
                f"periods: hour {empty[0]:02d}:00 on {kind} is in no period; "
                "every hour of every day needs one"
            )
        result[kind] = tuple(name for name in table if name is not None)
    return result


def _window(window: Any, where: str) -> range:
    """The hours a window covers; pricing is hourly, so windows run on whole hours."""
    if not isinstance(window, Mapping):
        raise TariffError(f"{where}: give {{start, end}} as 'HH:MM'")
    first = _hour(window.get("start"), f"{where}.start")
    last = _hour(window.get("end"), f"{where}.end")
    if not first < last:
        raise TariffError(
            f"{where}: ends at {window['end']}, not after it starts ({window['start']}); "
            "split a window that crosses midnight in two"
        )
    return range(first, last)


def _hour(clock: Any, where: str) -> int:
    match = _CLOCK.fullmatch(clock) if isinstance(clock, str) else None
    if match is None or int(match[1]) > 24:
        raise TariffError(f"{where}: {clock!r} is not a local time 'HH:MM' (00:00-24:00)")
    if match[2] != "00":
        raise TariffError(f"{where}: {clock} is not on the hour; usage is priced by whole hours")
    return int(match[1])


def _prices(prices: Any, seasons: list[str], periods: list[str]) -> dict[str, dict[str, float]]:
    if not isinstance(prices, Mapping):
        raise TariffError("energy_prices: missing; give {season: {period: $/unit}}")
    for season, table in prices.items():
        if season not in seasons:
            raise TariffError(f"energy_prices: {season!r} is not a season ({', '.join(seasons)})")
        for period in table if isinstance(table, Mapping) else ():
            if period not in periods:
                raise TariffError(
                    f"energy_prices.{season}: {period!r} is not a period ({', '.join(periods)})"
                )
    result: dict[str, dict[str, float]] = {}
    for season in seasons:
        table = prices.get(season)
        result[season] = {}
        for period in periods:
            if not isinstance(table, Mapping) or period not in table:
                raise TariffError(
                    f"energy_prices: no price for season {season!r}, period {period!r}"
                )
            result[season][period] = _number(table[period], f"energy_prices.{season}.{period}")
    return result


def _tiers(tiers: Any) -> tuple[tuple[float | None, float], ...]:
    if tiers is None:
        return ()
    if not isinstance(tiers, list):
        raise TariffError("tiers: give [{name, up_to_baseline_percent, adder}] or []")
    result: list[tuple[float | None, float]] = []
    below = 0.0
    for index, tier in enumerate(tiers):
        where = f"tiers[{index}]"
        if not isinstance(tier, Mapping):
            raise TariffError(f"{where}: give {{name, up_to_baseline_percent, adder}}")
        limit = tier.get("up_to_baseline_percent")
        adder = _number(tier.get("adder"), f"{where}.adder")
        if limit is None:
            if index != len(tiers) - 1:
                raise TariffError(f"{where}: only the last tier can be unbounded (percent null)")
            result.append((None, adder))
            continue
        percent = _number(limit, f"{where}.up_to_baseline_percent")
        if percent <= below:
            raise TariffError(
                f"{where}.up_to_baseline_percent: {limit} is not above the tier below ({below:g})"
            )
        result.append((percent, adder))
        below = percent
    if result and result[-1][0] is not None:
        raise TariffError(
            "tiers: the last tier must be unbounded (up_to_baseline_percent null), "
            "or usage above it has no price"
        )
    return tuple(result)


def _baseline(baseline: Any, seasons: list[str]) -> tuple[dict[str, dict[str, float]], str | None]:
    if not isinstance(baseline, Mapping) or not isinstance(baseline.get("territories"), Mapping):
        raise TariffError(
            "baseline: tiers need a baseline table {unit, default_territory, "
            "territories: {code: {season: units/day}}}"
        )
    territories = baseline["territories"]
    if not territories:
        raise TariffError("baseline.territories: empty; tiers need at least one territory")
    allowances: dict[str, dict[str, float]] = {}
    for code, table in territories.items():
        where = f"baseline.territories.{code}"
        allowances[code] = {}
        for season in seasons:
            if not isinstance(table, Mapping) or season not in table:
                raise TariffError(f"{where}: no allowance for season {season!r}")
            allowance = _number(table[season], f"{where}.{season}")
            if allowance < 0:
                raise TariffError(f"{where}.{season}: allowance {allowance:g} is negative")
            allowances[code][season] = allowance
    default = baseline.get("default_territory")
    if default is not None and default not in allowances:
        raise TariffError(
            f"baseline.default_territory: {default!r} is not in territories "
            f"({', '.join(sorted(allowances))})"
        )
    return allowances, default


def _name(item: Any, where: str) -> str:
    name = item.get("name") if isinstance(item, Mapping) else None
    if not isinstance(name, str) or not name:
        raise TariffError(f"{where}.name: missing; every season and period needs a name")
    return name


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TariffError(f"{where}: {value!r} is not a number")
    return float(value)
