"""UsageSummary rows, pure (no pandas): dollars, natural units, local billing periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import espi_sst
from espi_sst.export import SUMMARY_COLUMNS, SummaryRow, summary_rows


def test_pge_summaries(corpus_dir: Path) -> None:
    rows = list(summary_rows(espi_sst.parse(corpus_dir / "pge-cmd_UsageSummaries.xml")))
    assert len(rows) == 3
    first = rows[0]
    # billingPeriod 1434006000 + 2505600 s; billLastPeriod 23364000; 146000000 * 10**-3 Wh;
    # statusTimeStamp 1440109957976 (milliseconds, read as seconds by the reader).
    assert first.billing_start == datetime(2015, 6, 11, 7, 0, tzinfo=UTC)
    assert first.billing_end == datetime(2015, 7, 10, 7, 0, tzinfo=UTC)
    assert first.billing_duration == 2505600
    assert first.bill_amount == 233.64
    assert (first.consumption, first.consumption_unit) == (146.0, "kWh")
    assert first.status_time == datetime(2015, 8, 20, 22, 32, 37, tzinfo=UTC)
    assert (first.quality, first.commodity, first.tariff_profile, first.read_cycle) == (
        "validated",
        "electricity",
        "HAG5A",
        "Q",
    )
    assert first.local_time is False
    assert first.usage_point == "1"
    assert first.usage_point_url == (
        "https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/1/UsagePoint/1"
    )


def test_gas_summaries_in_local_time(corpus_dir: Path) -> None:
    path = corpus_dir / "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml"
    rows = list(summary_rows(espi_sst.parse(path)))
    assert len(rows) == 24
    first = rows[0]
    assert first.local_time is True
    assert first.billing_start is not None
    assert first.billing_start.utcoffset() == timedelta(hours=-5)  # tzOffset -18000, December
    assert first.billing_start == datetime(2022, 12, 2, 19, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert (first.consumption, first.consumption_unit, first.currency) == (47.0, "m3", "CAD")


def test_old_electric_power_usage_summary_counts_too(corpus_dir: Path) -> None:
    rows = list(summary_rows(espi_sst.parse(corpus_dir / "texas-premise1-2012.xml")))
    assert len(rows) == 1
    assert rows[0].bill_to_date == 325.34
    assert rows[0].current_period_consumption == 3053.4


def test_columns_are_the_row_fields() -> None:
    assert SUMMARY_COLUMNS[0] == "billing_start"
    assert set(SUMMARY_COLUMNS) == set(SummaryRow.__slots__)
