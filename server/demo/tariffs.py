"""The demo utility's rate schedules: PG&E residential rates, their delivery-only versions and
Peninsula Clean Energy's generation rates, each with its CEC MIDAS RIN.

Prices are ILLUSTRATIVE: plausible 2025-2026 levels (bundled 0.28-0.58 $/kWh, split into
delivery and CCA generation parts that add up to about the same, the 2026 PG&E Base
Services Charge of about $24/month), shaped like the real schedules (summer June-September,
peak 16:00-21:00 every day, part-peak shoulders on E-ELEC and EV2-A, baseline tiers on E-1,
the baseline credit on E-TOU-C), but NOT the tariff book.  Nothing may quote them as real.

RINs follow the MIDAS format ``CCSS-DDEE-RRRR-L`` (facts.md): bundled ``USCA-PGPG-...``,
delivery-only ``USCA-PGXX-...`` (no energy company), CCA generation ``USCA-XXPE-...`` (no
distribution company).  Only ``USCA-PGPG-0505-0000`` (E-ELEC), ``USCA-PGXX-0100-0000`` and
``USCA-XXPE-0440-0000`` are the examples facts.md names; the other rate codes are invented.

Each ``definition`` (stored as the tariff row's JSON, format ``espi-sst-tariff/1``) is what
the SST bill comparison (issue 5) prices usage with, in ``espi_sst_server.sst.pricing``
(whose ``check_definition`` enforces every rule below)::

    seasons        [{name, months}]            each month 1-12 in exactly one season
    periods        [{name, days, windows}]     windows [{start "HH:MM", end "HH:MM"}]
                                               local clock time on whole hours, end after
                                               start ("24:00" ends the day); on every day
                                               kind each hour is in exactly one period;
                                               days "all" (PG&E's 4-9 p.m. peak includes
                                               weekends and holidays), "weekdays" or
                                               "weekends" (holidays price as weekdays)
    energy_prices  {season: {period: $/unit}}  unit = energy_unit (kWh; therm for gas)
    tiers          [{name, up_to_baseline_percent, adder}] or []  adder in $/unit on top
                   of the period price for usage in that tier of the billing period;
                   percents rising, the last tier unbounded (null)
    baseline       {unit, default_territory, territories: {code: {season: units/day}}}
                   required with tiers: a cycle's allowance is the sum of its days'
    fixed_charges  {per_month, per_day}        $ per billing period / per day

A CCA generation rate that mirrors a PG&E rate's structure names it in ``iou_mirror_of``
(the mirrored bundled RIN), so an unbundled customer's alternatives can be priced as
PG&E delivery + the PCE generation rate that mirrors the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from espi_sst.model.enums import Currency

from ..sst.pricing import FORMAT, period_names

CURRENCY_USD = int(Currency.USD)  # ISO 4217, the ESPI currency code
BASE_SERVICES_CHARGE = 24.15  # $/month, 2026 PG&E residential (illustrative)
EXPORT_CREDIT_PER_KWH = 0.05  # Net Billing Tariff export credit, a rough annual average

SUMMER_MONTHS = [6, 7, 8, 9]
WINTER_MONTHS = [1, 2, 3, 4, 5, 10, 11, 12]
ELECTRIC_SEASONS: list[dict[str, Any]] = [
    {"name": "summer", "months": SUMMER_MONTHS},
    {"name": "winter", "months": WINTER_MONTHS},
]

# kWh/day of baseline allowance per PG&E baseline territory (basic electric, illustrative).
ELECTRIC_BASELINE: dict[str, Any] = {
    "unit": "kWh/day",
    "default_territory": "X",
    "territories": {
        "R": {"summer": 15.6, "winter": 11.0},
        "S": {"summer": 14.3, "winter": 10.2},
        "T": {"summer": 6.5, "winter": 7.5},
        "X": {"summer": 9.8, "winter": 9.7},
    },
}


def _window(start: str, end: str) -> dict[str, str]:
    return {"start": start, "end": end}


TWO_PERIODS: list[dict[str, Any]] = [  # E-TOU-C: peak 4-9 p.m. every day
    {"name": "peak", "days": "all", "windows": [_window("16:00", "21:00")]},
    {
        "name": "off_peak",
        "days": "all",
        "windows": [_window("00:00", "16:00"), _window("21:00", "24:00")],
    },
]
THREE_PERIODS_ELEC: list[dict[str, Any]] = [  # E-ELEC: part-peak 3-4 p.m. and 9 p.m.-midnight
    {"name": "peak", "days": "all", "windows": [_window("16:00", "21:00")]},
    {
        "name": "part_peak",
        "days": "all",
        "windows": [_window("15:00", "16:00"), _window("21:00", "24:00")],
    },
    {"name": "off_peak", "days": "all", "windows": [_window("00:00", "15:00")]},
]
THREE_PERIODS_EV = THREE_PERIODS_ELEC  # EV2-A uses the same clock (off-peak midnight-3 p.m.)
ALL_DAY: list[dict[str, Any]] = [
    {"name": "all_day", "days": "all", "windows": [_window("00:00", "24:00")]}
]

BASELINE_CREDIT: list[dict[str, Any]] = [  # E-TOU-C: a credit on usage up to the baseline allowance
    {"name": "baseline", "up_to_baseline_percent": 100, "adder": -0.10},
    {"name": "above_baseline", "up_to_baseline_percent": None, "adder": 0.0},
]
TWO_TIERS: list[dict[str, Any]] = [  # E-1
    {"name": "tier_1", "up_to_baseline_percent": 100, "adder": 0.0},
    {"name": "tier_2", "up_to_baseline_percent": None, "adder": 0.09},
]


def definition(
    *,
    role: str,
    periods: list[dict[str, Any]],
    prices: dict[str, dict[str, float]],
    tiers: list[dict[str, Any]] | None = None,
    per_month: float = 0.0,
    seasons: list[dict[str, Any]] | None = None,
    baseline: dict[str, Any] | None = None,
    energy_unit: str = "kWh",
) -> dict[str, Any]:
    """One tariff definition in the ``espi-sst-tariff/1`` shape described above."""
    return {
        "format": FORMAT,
        "illustrative": True,
        "role": role,
        "currency": "USD",
        "currency_code": CURRENCY_USD,
        "energy_unit": energy_unit,
        "seasons": seasons if seasons is not None else ELECTRIC_SEASONS,
        "periods": periods,
        "energy_prices": prices,
        "tiers": tiers or [],
        "baseline": baseline if tiers else None,
        "fixed_charges": {"per_month": per_month, "per_day": 0.0},
    }


@dataclass(frozen=True)
class TariffSpec:
    """A row of the ``tariff`` table, before it is stored."""

    code: str
    name: str
    rin: str
    role: str  # espi_sst.RinRole value: bundled | delivery | generation
    lse: str
    definition: dict[str, Any]
    iou_mirror_of: str | None = None


def _prices(summer: dict[str, float], winter: dict[str, float]) -> dict[str, dict[str, float]]:
    return {"summer": summer, "winter": winter}


def _pge(
    code: str,
    name: str,
    rate: str,
    periods: list[dict[str, Any]],
    bundled: dict[str, Any],
    delivery: dict[str, Any],
    tiers: list[dict[str, Any]] | None,
) -> list[TariffSpec]:
    """A PG&E schedule in its bundled and its delivery-only (CCA customers) version."""
    common: dict[str, Any] = {
        "periods": periods,
        "tiers": tiers,
        "per_month": BASE_SERVICES_CHARGE,
        "baseline": ELECTRIC_BASELINE,
    }
    rules = ELIGIBILITY.get(code)
    specs = [
        TariffSpec(
            code,
            f"PG&E {name}",
            f"USCA-PGPG-{rate}-0000",
            "bundled",
            "PGE",
            definition(role="bundled", prices=bundled, **common),
        ),
        TariffSpec(
            f"{code}-DELIVERY",
            f"PG&E {name}, delivery only (CCA customers)",
            f"USCA-PGXX-{rate}-0000",
            "delivery",
            "PGE",
            definition(role="delivery", prices=delivery, **common),
        ),
    ]
    for spec in specs:
        if rules:
            spec.definition["eligibility"] = dict(rules)
    return specs


# Who may take a rate (the catalog's sample rules; sst/catalog.py): E-ELEC needs an
# electric technology at the premise, EV2-A an electric vehicle; Net Billing (solar)
# customers must be on time-of-use, so not on tiered E-1.
ELIGIBILITY: dict[str, dict[str, list[str]]] = {
    "E-ELEC": {"requires_any": ["ev", "heat_pump", "battery"]},
    "EV2-A": {"requires_any": ["ev"]},
    "E-1": {"excludes": ["solar"]},
}


def _pce(
    code: str,
    name: str,
    rate: str,
    periods: list[dict[str, Any]],
    prices: dict[str, Any],
    mirrors: str,
) -> TariffSpec:
    """A Peninsula Clean Energy generation rate mirroring the PG&E schedule ``mirrors``."""
    return TariffSpec(
        code,
        f"Peninsula Clean Energy {name} generation",
        f"USCA-XXPE-{rate}-0000",
        "generation",
        "PCE",
        definition(role="generation", periods=periods, prices=prices),
        iou_mirror_of=mirrors,
    )


TARIFFS: tuple[TariffSpec, ...] = (
    *_pge(
        "E-TOU-C",
        "E-TOU-C Residential Time-of-Use (Peak Pricing 4-9 p.m. Every Day)",
        "0100",
        TWO_PERIODS,
        _prices({"peak": 0.56, "off_peak": 0.46}, {"peak": 0.45, "off_peak": 0.42}),
        _prices({"peak": 0.37, "off_peak": 0.33}, {"peak": 0.33, "off_peak": 0.31}),
        BASELINE_CREDIT,
    ),
    *_pge(
        "E-ELEC",
        "E-ELEC Residential Electrification Time-of-Use",
        "0505",
        THREE_PERIODS_ELEC,
        _prices(
            {"peak": 0.55, "part_peak": 0.40, "off_peak": 0.34},
            {"peak": 0.33, "part_peak": 0.31, "off_peak": 0.29},
        ),
        _prices(
            {"peak": 0.33, "part_peak": 0.27, "off_peak": 0.24},
            {"peak": 0.23, "part_peak": 0.22, "off_peak": 0.21},
        ),
        None,
    ),
    *_pge(
        "EV2-A",
        "EV2-A Residential Time-of-Use for Plug-In Electric Vehicles",
        "0520",
        THREE_PERIODS_EV,
        _prices(
            {"peak": 0.58, "part_peak": 0.47, "off_peak": 0.28},
            {"peak": 0.46, "part_peak": 0.44, "off_peak": 0.28},
        ),
        _prices(
            {"peak": 0.37, "part_peak": 0.33, "off_peak": 0.19},
            {"peak": 0.33, "part_peak": 0.32, "off_peak": 0.19},
        ),
        None,
    ),
    *_pge(
        "E-1",
        "E-1 Residential Tiered Service",
        "0010",
        ALL_DAY,
        _prices({"all_day": 0.36}, {"all_day": 0.36}),
        _prices({"all_day": 0.25}, {"all_day": 0.25}),
        TWO_TIERS,
    ),
    _pce(
        "PCE-E-TOU-C",
        "ECOplus E-TOU-C",
        "0440",
        TWO_PERIODS,
        _prices({"peak": 0.18, "off_peak": 0.12}, {"peak": 0.12, "off_peak": 0.10}),
        "USCA-PGPG-0100-0000",
    ),
    _pce(
        "PCE-E-ELEC",
        "ECOplus E-ELEC",
        "0445",
        THREE_PERIODS_ELEC,
        _prices(
            {"peak": 0.21, "part_peak": 0.12, "off_peak": 0.09},
            {"peak": 0.09, "part_peak": 0.08, "off_peak": 0.07},
        ),
        "USCA-PGPG-0505-0000",
    ),
    _pce(
        "PCE-EV2-A",
        "ECOplus EV2-A",
        "0450",
        THREE_PERIODS_EV,
        _prices(
            {"peak": 0.20, "part_peak": 0.13, "off_peak": 0.08},
            {"peak": 0.12, "part_peak": 0.11, "off_peak": 0.08},
        ),
        "USCA-PGPG-0520-0000",
    ),
    _pce(
        "PCE-E-1",
        "ECOplus E-1",
        "0410",
        ALL_DAY,
        _prices({"all_day": 0.10}, {"all_day": 0.10}),
        "USCA-PGPG-0010-0000",
    ),
)

# PG&E G-1 residential gas (illustrative).  Not a ``tariff`` row: gas rates have no MIDAS RIN
# and the tariff table requires one; the demo prices its gas usage summaries with it.
GAS_TARIFF_PROFILE = "G-1"
GAS_G1 = definition(
    role="bundled",
    energy_unit="therm",
    seasons=[
        {"name": "summer", "months": [4, 5, 6, 7, 8, 9, 10]},
        {"name": "winter", "months": [1, 2, 3, 11, 12]},
    ],
    periods=ALL_DAY,
    prices=_prices({"all_day": 2.40}, {"all_day": 2.40}),
    tiers=[
        {"name": "baseline", "up_to_baseline_percent": 100, "adder": 0.0},
        {"name": "excess", "up_to_baseline_percent": None, "adder": 0.45},
    ],
    baseline={
        "unit": "therm/day",
        "default_territory": "X",
        "territories": {
            "X": {"summer": 0.49, "winter": 1.81},
            "T": {"summer": 0.56, "winter": 1.68},
        },
    },
)


# ---- kept for the seed tests -------------------------------------------------------------


_MONDAY, _SUNDAY = date(2026, 1, 5), date(2026, 1, 4)


def period_by_hour(tariff: dict[str, Any]) -> tuple[str, ...]:
    """The period of each local clock hour 0-23 under a rate that prices every day alike.

    The demo's rates all do; for one with weekday periods use ``pricing.period_names``.
    """
    weekday, weekend = period_names(tariff, _MONDAY), period_names(tariff, _SUNDAY)
    if weekday != weekend:
        raise ValueError("the rate's periods differ on weekends: use pricing.period_names")
    return weekday
