"""A reading as users see it (espi_sst/readings.py): raw ESPI integers, and what they mean.

``scaled_value`` applies the ReadingType's power of ten, ``unit`` names its unit of measure
(``uom:<code>`` when the code table lacks it), ``cost_amount`` turns ESPI's
hundred-thousandths into currency units, ``quality_kind`` names the quality code, and the
times come in UTC and in the UsagePoint's local time.
"""

from __future__ import annotations

import pytest

from espi_sst import Reading, ReadingContext
from espi_sst.model import ReadingType
from espi_sst.model.enums import QualityOfReading


def context(multiplier: int | None, uom: int | None = 72) -> ReadingContext:
    rt = ReadingType(power_of_ten_multiplier=multiplier, uom=uom)
    return ReadingContext(
        usage_point="/UsagePoint/1", meter_reading=None, reading_type=rt, time_zone=None
    )


@pytest.mark.parametrize(
    ("multiplier", "value", "scaled"),
    [
        (0, 1234, 1234.0),
        (3, 5, 5000.0),
        (-3, 1234, 1.234),
        (-2, -150, -1.5),
        (None, 42, 42.0),
        (6, 0, 0.0),
    ],
)
def test_scaled_value_applies_the_power_of_ten(
    multiplier: int | None, value: int, scaled: float
) -> None:
    reading = Reading(context(multiplier), 0, 3600, value)
    assert reading.scaled_value == pytest.approx(scaled)


def test_scaled_value_of_a_missing_value_is_none() -> None:
    assert Reading(context(3), 0, 3600, None).scaled_value is None


@pytest.mark.parametrize(
    ("uom", "unit"),
    [(72, "Wh"), (38, "W"), (169, "therm"), (80, "money"), (999, "uom:999"), (None, "")],
)
def test_unit_symbol(uom: int | None, unit: str) -> None:
    assert Reading(context(0, uom), 0, 3600, 1).unit == unit


def test_cost_amount_is_in_currency_units() -> None:
    """ESPI costs are hundred-thousandths of the currency: 1,234,500 is $12.345."""
    assert Reading(context(0), 0, 3600, 1, cost=1_234_500).cost_amount == pytest.approx(12.345)
    assert Reading(context(0), 0, 3600, 1).cost_amount is None


def test_quality_kind() -> None:
    assert (
        Reading(context(0), 0, 3600, 1, quality=19).quality_kind is QualityOfReading.revenue_quality
    )
    assert (
        Reading(context(0), 0, 3600, 1, quality=8).quality_kind
        is QualityOfReading.estimated_using_reference_day
    )
    unknown = Reading(context(0), 0, 3600, 1, quality=99).quality_kind
    assert unknown == 99 and type(unknown) is int
    assert Reading(context(0), 0, 3600, 1).quality_kind is None


def test_utc_times_and_end() -> None:
    reading = Reading(context(0), 1704067200, 900, 1)
    assert reading.end == 1704068100
    assert reading.start_utc.isoformat() == "2024-01-01T00:00:00+00:00"
    assert reading.end_utc.isoformat() == "2024-01-01T00:15:00+00:00"
    # Without LocalTimeParameters local time is UTC.
    assert reading.start_local == reading.start_utc
    missing = Reading(context(0), None, None, 1)
    assert (
        missing.end,
        missing.start_utc,
        missing.end_utc,
        missing.start_local,
        missing.end_local,
    ) == (None,) * 5


def test_readings_equal_by_value_and_context() -> None:
    a = Reading(context(0), 0, 3600, 1)
    assert a == Reading(context(0), 0, 3600, 1)
    assert a != Reading(context(0), 0, 3600, 2)
    assert a != Reading(context(3), 0, 3600, 1)
    assert "Wh" in repr(a)
