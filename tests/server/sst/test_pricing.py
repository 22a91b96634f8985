"""The bill comparison's pricing engine (server/sst/pricing.py) on small, hand-priced inputs.

Every expected amount is worked out in the test from the synthetic tariff below (prices chosen
so the arithmetic is easy to follow), never copied from the engine's output.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from espi_sst_server.demo.tariffs import GAS_G1, TARIFFS
from espi_sst_server.sst.pricing import (
    CycleCost,
    DayUsage,
    TariffError,
    annual_cost,
    billing_cycles,
    check_definition,
    combined_cycle_cost,
    cycle_cost,
    days_from_intervals,
    period_names,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from espi_sst.localtime import DstRule, EspiTimeZone

HYPOTHESIS = settings(max_examples=200, database=None, deadline=None)
LA = ZoneInfo("America/Los_Angeles")
SUMMER = [6, 7, 8, 9]
WINTER = [1, 2, 3, 4, 5, 10, 11, 12]
FRIDAY, SATURDAY = date(2025, 7, 4), date(2025, 7, 5)  # summer days


def window(start: str, end: str) -> dict[str, str]:
    return {"start": start, "end": end}


def tou(**changes: Any) -> dict[str, Any]:
    """Peak 16-21 on weekdays only; summer peak 0.50, off-peak 0.20; winter 0.30 / 0.10."""
    definition: dict[str, Any] = {
        "format": "espi-sst-tariff/1",
        "energy_unit": "kWh",
        "seasons": [{"name": "summer", "months": SUMMER}, {"name": "winter", "months": WINTER}],
        "periods": [
            {"name": "peak", "days": "weekdays", "windows": [window("16:00", "21:00")]},
            {
                "name": "off_peak",
                "days": "weekdays",
                "windows": [window("00:00", "16:00"), window("21:00", "24:00")],
            },
            {"name": "off_peak", "days": "weekends", "windows": [window("00:00", "24:00")]},
        ],
        "energy_prices": {
            "summer": {"peak": 0.50, "off_peak": 0.20},
            "winter": {"peak": 0.30, "off_peak": 0.10},
        },
        "tiers": [],
        "baseline": None,
        "fixed_charges": {"per_month": 0.0, "per_day": 0.0},
    }
    definition.update(changes)
    return definition


BASELINE = {  # kWh/day
    "unit": "kWh/day",
    "default_territory": "X",
    "territories": {"X": {"summer": 10.0, "winter": 5.0}, "T": {"summer": 4.0, "winter": 8.0}},
}


def flat(price: float, **changes: Any) -> dict[str, Any]:
    """One price all day, all year (the simplest tariff to reason about)."""
    return tou(
        periods=[{"name": "all_day", "days": "all", "windows": [window("00:00", "24:00")]}],
        energy_prices={"summer": {"all_day": price}, "winter": {"all_day": price}},
        **changes,
    )


def tiered(tiers: list[dict[str, Any]], price: float = 0.30) -> dict[str, Any]:
    return flat(price, tiers=tiers, baseline=BASELINE)


def tier(percent: float | None, adder: float) -> dict[str, Any]:
    return {"name": f"up_to_{percent}", "up_to_baseline_percent": percent, "adder": adder}


def hours(*pairs: tuple[int, float]) -> tuple[float, ...]:
    buckets = [0.0] * 24
    for hour, units in pairs:
        buckets[hour] += units
    return tuple(buckets)


def spread(per_day: float) -> tuple[float, ...]:
    return (per_day / 24,) * 24


def run(first: date, count: int, by_hour: tuple[float, ...], **extra: Any) -> list[DayUsage]:
    return [DayUsage(first + timedelta(days=n), by_hour, **extra) for n in range(count)]


# ---- time-of-use periods and seasons -------------------------------------------------------


def test_weekday_periods_follow_the_windows_and_weekends_have_their_own() -> None:
    assert FRIDAY.weekday() == 4 and SATURDAY.weekday() == 5
    weekday = period_names(tou(), FRIDAY)
    assert weekday == ("off_peak",) * 16 + ("peak",) * 5 + ("off_peak",) * 3
    assert period_names(tou(), SATURDAY) == ("off_peak",) * 24
    assert period_names(tou(), date(2025, 7, 6)) == ("off_peak",) * 24  # Sunday


def test_every_hour_is_priced_at_its_period_and_the_weekend_has_no_peak() -> None:
    one_each_hour = (1.0,) * 24
    friday = cycle_cost(tou(), [DayUsage(FRIDAY, one_each_hour)], territory=None)
    assert friday.energy == pytest.approx(5 * 0.50 + 19 * 0.20)
    saturday = cycle_cost(tou(), [DayUsage(SATURDAY, one_each_hour)], territory=None)
    assert saturday.energy == pytest.approx(24 * 0.20)
    edges = hours((15, 1.0), (16, 10.0), (20, 100.0), (21, 1000.0))  # 16:00 and 20:00 are peak
    cost = cycle_cost(tou(), [DayUsage(FRIDAY, edges)], territory=None)
    assert cost.energy == pytest.approx(1 * 0.20 + 110 * 0.50 + 1000 * 0.20)


@pytest.mark.parametrize(
    ("day", "price"),
    [
        (date(2025, 5, 31), 0.10),  # last winter day before summer (a Saturday: off-peak)
        (date(2025, 6, 1), 0.20),
        (date(2025, 9, 30), 0.20),
        (date(2025, 10, 1), 0.10),
        (date(2025, 12, 31), 0.10),
        (date(2026, 1, 1), 0.10),
    ],
)
def test_the_season_changes_with_the_calendar_month(day: date, price: float) -> None:
    cost = cycle_cost(tou(), [DayUsage(day, hours((3, 2.0)))], territory=None)
    assert cost.energy == pytest.approx(2.0 * price)


def test_a_cycle_across_the_season_change_prices_each_day_in_its_own_season() -> None:
    days = run(date(2025, 9, 29), 4, hours((17, 1.0)))  # Mon 9/29 .. Thu 10/2, peak hour
    cost = cycle_cost(tou(), days, territory=None)
    assert cost.energy == pytest.approx(2 * 0.50 + 2 * 0.30)


# ---- tiers ---------------------------------------------------------------------------------

# Four days across the season change in territory X: 10 + 10 + 5 + 5 = 30 kWh of baseline.
ACROSS = date(2025, 9, 29)


def test_two_tiers_charge_the_adder_only_above_the_cycles_baseline() -> None:
    definition = tiered([tier(100, 0.0), tier(None, 0.10)])
    above = cycle_cost(definition, run(ACROSS, 4, spread(12.0)), territory="X")  # 48 kWh
    assert above.energy == pytest.approx(48 * 0.30)
    assert above.tier_adjustment == pytest.approx((48 - 30) * 0.10)
    below = cycle_cost(definition, run(ACROSS, 4, spread(7.0)), territory="X")  # 28 kWh
    assert below.tier_adjustment == 0


def test_a_middle_tier_takes_the_usage_between_its_bounds() -> None:
    definition = tiered([tier(100, 0.0), tier(130, 0.05), tier(None, 0.20)])
    cost = cycle_cost(definition, run(ACROSS, 4, spread(12.0)), territory="X")  # 48 kWh
    # tier 1: 30 kWh; tier 2: up to 39 kWh, 9 kWh; tier 3: the other 9 kWh
    assert cost.tier_adjustment == pytest.approx(9 * 0.05 + 9 * 0.20)


def test_the_baseline_credit_applies_to_usage_up_to_the_allowance() -> None:
    definition = tiered([tier(100, -0.10), tier(None, 0.0)])
    above = cycle_cost(definition, run(ACROSS, 4, spread(12.0)), territory="X")
    assert above.tier_adjustment == pytest.approx(-30 * 0.10)  # the whole allowance
    below = cycle_cost(definition, run(ACROSS, 4, spread(5.0)), territory="X")
    assert below.tier_adjustment == pytest.approx(-20 * 0.10)  # all 20 kWh
    assert below.total == pytest.approx(20 * 0.30 - 20 * 0.10)


def test_the_territory_picks_the_allowance_and_none_means_the_default() -> None:
    definition = tiered([tier(100, 0.0), tier(None, 0.10)])
    days = run(ACROSS, 4, spread(12.0))  # 48 kWh
    t = cycle_cost(definition, days, territory="T")  # 4 + 4 + 8 + 8 = 24 kWh baseline
    assert t.tier_adjustment == pytest.approx((48 - 24) * 0.10)
    default = cycle_cost(definition, days, territory=None)
    assert default == cycle_cost(definition, days, territory="X")
    with pytest.raises(TariffError, match="no territory 'Z'"):
        cycle_cost(definition, days, territory="Z")


def test_a_rate_without_tiers_ignores_the_territory() -> None:
    days = run(ACROSS, 2, spread(1.0))
    assert cycle_cost(flat(0.2), days, territory="nowhere") == cycle_cost(
        flat(0.2), days, territory=None
    )


# ---- fixed charges and export credit -------------------------------------------------------


def test_fixed_charges_are_once_per_cycle_plus_per_day() -> None:
    definition = flat(0.25, fixed_charges={"per_month": 10.0, "per_day": 0.5})
    cost = cycle_cost(definition, run(date(2025, 3, 1), 30, (0.0,) * 24), territory=None)
    assert cost == CycleCost(
        energy=0.0, tier_adjustment=0.0, fixed=10.0 + 30 * 0.5, export_credit=0
    )
    assert cost.total == pytest.approx(25.0)


def test_the_export_credit_offsets_energy_but_never_the_fixed_charge() -> None:
    definition = flat(0.25, fixed_charges={"per_month": 10.0, "per_day": 0.0})
    use = spread(12.0)  # 12 kWh: 3.00 of energy
    some = [DayUsage(FRIDAY, use, hours((12, 4.0)))]
    cost = cycle_cost(definition, some, territory=None, export_credit_per_unit=0.5)
    assert cost.export_credit == pytest.approx(4 * 0.5)
    assert cost.total == pytest.approx(3.0 + 10.0 - 2.0)
    lots = [DayUsage(FRIDAY, use, hours((12, 40.0)))]  # a 20.00 credit
    floored = cycle_cost(definition, lots, territory=None, export_credit_per_unit=0.5)
    assert floored.export_credit == pytest.approx(20.0)
    assert floored.total == 10.0


def test_without_an_export_credit_there_is_no_floor() -> None:
    # A baseline credit larger than the price: the energy part is negative and stays so.
    definition = tiered([tier(100, -0.10), tier(None, 0.0)], price=0.05)
    definition["fixed_charges"] = {"per_month": 10.0, "per_day": 0.0}
    cost = cycle_cost(definition, [DayUsage(FRIDAY, spread(10.0))], territory="X")
    assert cost.total == pytest.approx(10 * 0.05 - 10 * 0.10 + 10.0)
    assert cost.total < 10.0


def test_a_negative_export_credit_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        cycle_cost(flat(0.2), [], territory=None, export_credit_per_unit=-0.01)


# ---- unbundled: delivery + generation ------------------------------------------------------


def test_delivery_and_generation_add_up_with_the_export_credited_once() -> None:
    delivery = tou(fixed_charges={"per_month": 24.0, "per_day": 0.0})
    generation = tou(
        energy_prices={
            "summer": {"peak": 0.15, "off_peak": 0.05},
            "winter": {"peak": 0.10, "off_peak": 0.04},
        }
    )
    usage = hours((2, 10.0), (18, 4.0))  # Friday: 10 kWh off-peak, 4 kWh peak
    days = [DayUsage(FRIDAY, usage, hours((12, 6.0)))]
    cost = combined_cycle_cost(
        [delivery, generation], days, territory=None, export_credit_per_unit=0.05
    )
    assert cost.energy == pytest.approx((10 * 0.20 + 4 * 0.50) + (10 * 0.05 + 4 * 0.15))
    assert cost.fixed == 24.0
    assert cost.export_credit == pytest.approx(6 * 0.05)
    assert cost.total == pytest.approx(4.0 + 1.1 + 24.0 - 0.3)


def test_only_the_tiered_part_of_an_unbundled_pair_has_tier_adjustments() -> None:
    delivery = tiered([tier(100, 0.0), tier(None, 0.10)])
    generation = flat(0.10)
    days = run(ACROSS, 4, spread(12.0))  # 48 kWh, 30 baseline
    cost = combined_cycle_cost([delivery, generation], days, territory="X")
    assert cost.energy == pytest.approx(48 * 0.30 + 48 * 0.10)
    assert cost.tier_adjustment == pytest.approx(18 * 0.10)
    assert combined_cycle_cost([delivery], days, territory="X") == cycle_cost(
        delivery, days, territory="X"
    )
    with pytest.raises(ValueError, match="at least one"):
        combined_cycle_cost([], days, territory="X")


# ---- interval readings to local days -------------------------------------------------------


def _midnight(day: date, zone: Any) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _every(step: int, day: date, zone: Any, units: float) -> list[tuple[int, int, float]]:
    start, end = _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
    return [(t, step, units) for t in range(start, end, step)]


SPRING, FALL = date(2025, 3, 9), date(2025, 11, 2)


def test_the_spring_forward_day_has_23_hours_and_no_2_am() -> None:
    quarters = _every(900, SPRING, LA, 0.25)
    assert len(quarters) == 92  # 23 hours
    (day,) = days_from_intervals(quarters, LA)
    assert day.day == SPRING and day.exported_by_hour is None
    assert day.by_hour == tuple(0.0 if hour == 2 else 1.0 for hour in range(24))


def test_the_fall_back_day_sums_its_repeated_1_am() -> None:
    quarters = _every(900, FALL, LA, 0.25)
    assert len(quarters) == 100  # 25 hours
    (day,) = days_from_intervals(quarters, LA)
    assert day.by_hour == tuple(2.0 if hour == 1 else 1.0 for hour in range(24))
    hourly = _every(3600, FALL, LA, 1.0)
    assert days_from_intervals(hourly, LA) == [day]


def test_the_espi_time_zone_agrees_with_zoneinfo() -> None:
    pacific = EspiTimeZone(-28800, 3600, DstRule.decode("360E2000"), DstRule.decode("B40E2000"))
    readings = _every(900, SPRING, LA, 0.25) + _every(900, FALL, LA, 0.25)
    assert days_from_intervals(readings, pacific) == days_from_intervals(readings, LA)


def test_a_daily_gas_read_lands_in_hour_zero_whatever_the_days_length() -> None:
    reads = []
    for offset, therms in enumerate((1.5, 2.0, 2.5)):  # 24 h, 23 h, 24 h days
        day = date(2025, 3, 8) + timedelta(days=offset)
        start, end = _midnight(day, LA), _midnight(day + timedelta(days=1), LA)
        reads.append((start, end - start, therms))
    assert [duration for _, duration, _ in reads] == [86400, 82800, 86400]
    days = days_from_intervals(reversed(reads), LA)  # order of the input does not matter
    assert [d.day for d in days] == [date(2025, 3, 8), SPRING, date(2025, 3, 10)]
    assert [d.by_hour for d in days] == [hours((0, u)) for u in (1.5, 2.0, 2.5)]


def test_a_fixed_offset_zone_has_no_dst() -> None:
    pst = timezone(timedelta(hours=-8))
    (day,) = days_from_intervals(_every(3600, SPRING, pst, 1.0), pst)
    assert day.by_hour == (1.0,) * 24


def test_exports_get_their_own_buckets_and_days_without_delivery_appear() -> None:
    noon = _midnight(FRIDAY, LA) + 12 * 3600
    delivered = [(noon - 3600, 3600, 1.0)]
    exported = [(noon, 900, 0.5), (noon + 900, 900, 0.5), (noon + 86400, 3600, 2.0)]
    friday, saturday = days_from_intervals(delivered, LA, exported=exported)
    assert friday == DayUsage(FRIDAY, hours((11, 1.0)), hours((12, 1.0)))
    assert saturday == DayUsage(SATURDAY, (0.0,) * 24, hours((12, 2.0)))


@pytest.mark.parametrize("duration", [0, -900, 25 * 3600 + 1])
def test_intervals_longer_than_a_day_or_empty_are_refused(duration: int) -> None:
    with pytest.raises(ValueError, match=f"lasts {duration} s"):
        days_from_intervals([(_midnight(FRIDAY, LA), duration, 1.0)], LA)


def test_a_day_needs_24_buckets() -> None:
    with pytest.raises(ValueError, match="23 buckets"):
        DayUsage(FRIDAY, (0.0,) * 23)
    with pytest.raises(ValueError, match="exported_by_hour has 25"):
        DayUsage(FRIDAY, (0.0,) * 24, (0.0,) * 25)


# ---- billing cycles and the annual cost ----------------------------------------------------


def _spans(cycles: list[list[DayUsage]]) -> list[tuple[date, date, int]]:
    return [(cycle[0].day, cycle[-1].day, len(cycle)) for cycle in cycles]


def test_cycles_start_on_the_read_day_with_partial_ends_kept() -> None:
    days = run(date(2025, 1, 20), 50, (0.0,) * 24)  # Jan 20 .. Mar 10
    assert _spans(billing_cycles(days, 5)) == [
        (date(2025, 1, 20), date(2025, 2, 4), 16),
        (date(2025, 2, 5), date(2025, 3, 4), 28),
        (date(2025, 3, 5), date(2025, 3, 10), 6),
    ]


def test_cycles_cross_the_year_and_skip_missing_days() -> None:
    days = run(date(2024, 12, 20), 32, (0.0,) * 24)  # Dec 20 .. Jan 20
    del days[3:5]  # Dec 23 and 24 are missing
    assert _spans(billing_cycles(days, 15)) == [
        (date(2024, 12, 20), date(2025, 1, 14), 24),
        (date(2025, 1, 15), date(2025, 1, 20), 6),
    ]
    assert _spans(billing_cycles(days, 20)) == [
        (date(2024, 12, 20), date(2025, 1, 19), 29),
        (date(2025, 1, 20), date(2025, 1, 20), 1),
    ]
    assert billing_cycles([], 1) == []


@pytest.mark.parametrize("read_day", [0, 29, 31])
def test_a_read_day_must_exist_in_every_month(read_day: int) -> None:
    with pytest.raises(ValueError, match="1-28"):
        billing_cycles([], read_day)


def test_days_out_of_order_are_refused() -> None:
    days = run(date(2025, 1, 1), 3, (0.0,) * 24)
    with pytest.raises(ValueError, match="out of order"):
        billing_cycles([days[1], days[0]], 1)
    with pytest.raises(ValueError, match="out of order"):
        billing_cycles([days[0], days[0]], 1)


def test_a_year_of_flat_usage_costs_twelve_fixed_charges_and_its_energy() -> None:
    definition = flat(0.20, fixed_charges={"per_month": 10.0, "per_day": 0.0})
    year = run(date(2025, 1, 1), 365, hours((0, 1.0)))
    assert annual_cost([definition], year, read_day=1, territory=None) == pytest.approx(
        12 * 10.0 + 365 * 0.20
    )
    # read day 15: 13 cycles (Jan 1-14 and Dec 15-31 are partial), each pays the month
    assert annual_cost([definition], year, read_day=15, territory=None) == pytest.approx(
        13 * 10.0 + 365 * 0.20
    )


def test_the_annual_cost_is_the_sum_of_its_cycles() -> None:
    delivery = tou(
        tiers=[tier(100, -0.10), tier(None, 0.0)],
        baseline=BASELINE,
        fixed_charges={"per_month": 24.0, "per_day": 0.0},
    )
    generation = flat(0.08)
    year = [
        DayUsage(
            date(2025, 1, 1) + timedelta(days=n),
            tuple(0.2 + (n * 7 + h) % 5 * 0.3 for h in range(24)),
            tuple(3.0 if 10 <= h < 15 and n % 3 else 0.0 for h in range(24)),
        )
        for n in range(365)
    ]
    pair = [delivery, generation]
    cycles = billing_cycles(year, 9)
    assert len(cycles) == 13
    expected = sum(
        combined_cycle_cost(pair, cycle, territory="T", export_credit_per_unit=0.05).total
        for cycle in cycles
    )
    got = annual_cost(pair, year, read_day=9, territory="T", export_credit_per_unit=0.05)
    assert got == pytest.approx(expected)
    whole_year_at_once = combined_cycle_cost(
        pair, year, territory="T", export_credit_per_unit=0.05
    ).total
    assert got != pytest.approx(whole_year_at_once)  # fixed charges and tiers are per cycle


# ---- properties ----------------------------------------------------------------------------

usage_days = st.lists(
    st.tuples(
        st.dates(date(2024, 1, 1), date(2026, 12, 31)),
        st.lists(st.floats(0, 50, allow_nan=False), min_size=24, max_size=24),
    ),
    min_size=1,
    max_size=20,
)


@HYPOTHESIS
@given(usage_days, st.floats(0, 10, allow_nan=False))
def test_without_tiers_the_energy_charge_is_linear_in_usage(
    raw: list[tuple[date, list[float]]], factor: float
) -> None:
    days = [DayUsage(day, tuple(by_hour)) for day, by_hour in raw]
    scaled = [DayUsage(day, tuple(u * factor for u in by_hour)) for day, by_hour in raw]
    base = cycle_cost(tou(), days, territory=None).energy
    assert cycle_cost(tou(), scaled, territory=None).energy == pytest.approx(
        base * factor, rel=1e-9, abs=1e-9
    )
    doubled = [DayUsage(d.day, d.by_hour) for d in days + days]  # the same days twice
    assert cycle_cost(tou(), doubled, territory=None).energy == pytest.approx(2 * base)


@HYPOTHESIS
@given(
    st.lists(st.floats(0, 20, allow_nan=False), min_size=1, max_size=120),
    st.integers(1, 28),
    st.integers(1, 28),
)
def test_without_per_cycle_terms_the_annual_cost_does_not_depend_on_the_read_day(
    daily: list[float], first: int, second: int
) -> None:
    definition = tou(fixed_charges={"per_month": 0.0, "per_day": 0.7})
    days = [
        DayUsage(date(2025, 2, 10) + timedelta(days=n), hours((n % 24, units)))
        for n, units in enumerate(daily)
    ]
    assert annual_cost([definition], days, read_day=first, territory=None) == pytest.approx(
        annual_cost([definition], days, read_day=second, territory=None)
    )


# ---- definitions that cannot be priced ------------------------------------------------------


def _set(path: str, value: Any) -> Any:
    """A change to ``tou()``: ``path`` like ``periods.0.windows.1.end``; value ``...`` deletes."""

    def change(definition: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = definition
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key_: Any = int(last) if isinstance(node, list) else last
        if value is ...:
            del node[key_]
        else:
            node[key_] = value

    return change


def _tiered_change(**changes: Any) -> Any:
    def change(definition: dict[str, Any]) -> None:
        definition.update({"tiers": [tier(100, 0.0), tier(None, 0.1)], "baseline": BASELINE})
        definition.update(copy.deepcopy(changes))

    return change


MALFORMED = [
    (_set("format", "espi-sst-tariff/2"), "format: 'espi-sst-tariff/2' is not"),
    (_set("seasons", ...), "seasons: missing"),
    (_set("seasons.1.months", [1, 2, 4, 5, 10, 11, 12]), "seasons: month 3 in no season"),
    (_set("seasons.1.months", [1, 2, 3, 4, 5, 6, 10, 11, 12]), "month 6 is in two seasons"),
    (_set("seasons.1.months", [*WINTER, 13]), "seasons[1].months: 13 is not a month"),
    (_set("seasons.0.name", ""), "seasons[0].name: missing"),
    (_set("periods", []), "periods: missing"),
    (
        _set("periods.0.windows.0.start", "15:00"),
        "hour 15:00 on weekdays is in two periods ('peak' and 'off_peak')",
    ),
    (_set("periods.2.days", "weekdays"), "hour 00:00 on weekdays is in two periods"),
    (_set("periods.2.windows.0.end", "23:00"), "hour 23:00 on weekends is in no period"),
    (_set("periods.2", {"name": "x", "days": "holidays", "windows": []}), "days: 'holidays'"),
    (_set("periods.0.windows", []), "periods[0].windows: missing"),
    (_set("periods.0.windows.0.start", "16:30"), "16:30 is not on the hour"),
    (_set("periods.0.windows.0.end", "4pm"), "periods[0].windows[0].end: '4pm' is not a local"),
    (_set("periods.0.windows.0.end", "25:00"), "'25:00' is not a local time"),
    (_set("periods.0.windows.0.end", "15:00"), "crosses midnight"),
    (
        _set("energy_prices.winter", {"off_peak": 0.1}),
        "no price for season 'winter', period 'peak'",
    ),
    (_set("energy_prices.autumn", {"peak": 0.1}), "energy_prices: 'autumn' is not a season"),
    (_set("energy_prices.summer.shoulder", 0.3), "'shoulder' is not a period"),
    (_set("energy_prices.summer.peak", "0.50"), "energy_prices.summer.peak: '0.50' is not a num"),
    (_set("energy_prices.summer.peak", float("nan")), "summer.peak: nan is not a number"),
    (_set("fixed_charges", ...), "fixed_charges: missing"),
    (_set("fixed_charges.per_month", None), "fixed_charges.per_month: None is not a number"),
    (_set("tiers", [tier(100, 0.0), tier(200, 0.1)]), "the last tier must be unbounded"),
    (_set("tiers", [tier(None, 0.0), tier(None, 0.1)]), "tiers[0]: only the last tier"),
    (
        _tiered_change(tiers=[tier(130, 0.0), tier(100, 0.05), tier(None, 0.1)]),
        "tiers[1].up_to_baseline_percent: 100 is not above the tier below (130)",
    ),
    (_set("tiers", [tier(100, 0.0), tier(None, 0.1)]), "tiers need a baseline table"),
    (_tiered_change(baseline={"default_territory": "X"}), "tiers need a baseline table"),
    (
        _tiered_change(baseline={**BASELINE, "territories": {"X": {"summer": 10.0}}}),
        "baseline.territories.X: no allowance for season 'winter'",
    ),
    (
        _tiered_change(baseline={**BASELINE, "default_territory": "Q"}),
        "baseline.default_territory: 'Q' is not in territories (T, X)",
    ),
    (_tiered_change(baseline={**BASELINE, "territories": {}}), "territories: empty"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_a_definition_that_cannot_be_priced_names_the_problem(change: Any, message: str) -> None:
    definition = tou()
    change(definition)
    with pytest.raises(TariffError, match=re.escape(message)) as caught:
        check_definition(definition)
    assert isinstance(caught.value, ValueError) and caught.value.code == "invalid_tariff"
    with pytest.raises(TariffError, match=re.escape(message)):  # pricing checks too
        cycle_cost(definition, [DayUsage(FRIDAY, spread(1.0))], territory=None)


def test_a_definition_must_be_an_object() -> None:
    with pytest.raises(TariffError, match="JSON object, not list"):
        check_definition([])  # type: ignore[arg-type]


def test_the_synthetic_tariffs_are_valid() -> None:
    check_definition(tou())
    check_definition(flat(0.1))
    check_definition(tiered([tier(100, 0.0), tier(130, 0.05), tier(None, 0.1)]))


@pytest.mark.parametrize(
    "definition",
    [spec.definition for spec in TARIFFS] + [GAS_G1],
    ids=[spec.code for spec in TARIFFS] + ["G-1"],
)
def test_every_demo_tariff_can_be_priced(definition: dict[str, Any]) -> None:
    check_definition(definition)
    for day in (FRIDAY, SATURDAY, date(2025, 1, 15)):
        names = period_names(definition, day)
        assert len(names) == 24
        for season in definition["seasons"]:
            assert set(names) <= set(definition["energy_prices"][season["name"]])
