"""The CSV writer's cells: exact decimals, ISO 8601 with the offset, nothing invented."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

from espi_sst.export import csv_cell, write_csv
from espi_sst.readings import Reading, ReadingContext
from espi_sst.tidy import ANALYST_COLUMNS, tidy_readings


def test_numbers_are_the_shortest_exact_decimal_never_an_exponent() -> None:
    assert csv_cell(1234 / 1000.0) == "1.234"
    assert csv_cell(57999 / 100_000) == "0.57999"
    assert csv_cell(1 / 100_000) == "0.00001"  # repr would say 1e-05
    assert csv_cell(1e16) == "10000000000000000"
    assert float(csv_cell(0.1 + 0.2)) == 0.1 + 0.2  # round-trips


def test_times_keep_their_offset_and_utc_says_so() -> None:
    pacific = timezone(timedelta(hours=-7))
    assert csv_cell(datetime(2024, 7, 1, 0, 0, tzinfo=pacific)) == "2024-07-01T00:00:00-07:00"
    assert csv_cell(datetime(2024, 7, 1, 7, 0, tzinfo=UTC)) == "2024-07-01T07:00:00+00:00"


def test_missing_values_are_empty_and_flags_are_words() -> None:
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true" and csv_cell(False) == "false"
    assert csv_cell(900) == 900
    assert csv_cell("kWh") == "kWh"


def test_write_csv_streams_rows_and_counts_them() -> None:
    context = ReadingContext("/UsagePoint/7", "/UsagePoint/7/MeterReading/1", None, None)
    readings = (Reading(context, 1_700_000_000 + 900 * i, 900, i) for i in range(3))
    handle = io.StringIO()
    assert write_csv(handle, tidy_readings(readings), ANALYST_COLUMNS) == 3
    rows = list(csv.reader(io.StringIO(handle.getvalue())))
    assert rows[0] == list(ANALYST_COLUMNS)
    # No ReadingType: ESPI's raw value and no unit; no LocalTimeParameters: UTC.
    assert rows[1] == [
        "2023-11-14T22:13:20+00:00",
        "2023-11-14T22:28:20+00:00",
        "900",
        "0.0",
        "",
        "",
        "",
        "",
        "7",
    ]


def test_write_csv_one_column() -> None:
    context = ReadingContext(None, None, None, None)
    handle = io.StringIO()
    write_csv(handle, tidy_readings([Reading(context, 0, 60, 5)]), ("duration",))
    assert handle.getvalue() == "duration\n60\n"
