"""``espi-sst convert`` as users run it (the console script in a subprocess), on real files.

The expected rows were worked out by hand from each file's XML, as the comments show: the
export is only useful if it says what the file says, in the units a utility's Download My
Data file uses.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from espi_sst.tidy import ANALYST_COLUMNS, TIDY_COLUMNS

CLI = str(Path(sys.executable).with_name("espi-sst"))

AMEREN = "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml"
TEXAS = "texas-premise1-2012.xml"
ENBRIDGE = "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml"
PGE_SUMMARIES = "pge-cmd_UsageSummaries.xml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def test_default_columns_are_the_download_my_data_ones(corpus_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ameren.csv"
    result = run("convert", str(corpus_dir / AMEREN), "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    # The file's LocalTimeParameters: tzOffset -21600 (US Central; December, so no DST).
    # First IntervalReading: start 1701648000 (2023-12-04T00:00Z), duration 900, value 151,
    # quality 17; its MeterReading's ReadingType .../913890011814208403: uom 72 (Wh),
    # powerOfTenMultiplier 0, flowDirection 1 (forward: delivered), no cost.
    # 151 Wh -> 0.151 kWh; 00:00Z -> 18:00-06:00 the day before.  Then 143 and 880 Wh.
    assert lines[:4] == [
        "start,end,duration,value,unit,cost,quality,direction,usage_point",
        "2023-12-03T18:00:00-06:00,2023-12-03T18:15:00-06:00,900,0.151,kWh,,validated,delivered,2729703253975607745",
        "2023-12-03T18:15:00-06:00,2023-12-03T18:30:00-06:00,900,0.143,kWh,,validated,delivered,2729703253975607745",
        "2023-12-03T18:30:00-06:00,2023-12-03T18:45:00-06:00,900,0.88,kWh,,validated,delivered,2729703253975607745",
    ]
    assert tuple(lines[0].split(",")) == ANALYST_COLUMNS
    assert len(lines) == 1 + 96
    assert "http" not in out.read_text(), "no URLs without --columns"
    assert "LocalTimeParameters" not in result.stderr
    assert not list(tmp_path.glob("*.partial"))


def test_a_file_without_local_time_parameters_is_utc_and_says_so(corpus_dir: Path) -> None:
    source = corpus_dir / TEXAS
    result = run("convert", str(source))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # First IntervalReading: start 1325376000 (2012-01-01T00:00Z), duration 3600, value 200,
    # cost 2000; ReadingType uom 72 (Wh), powerOfTenMultiplier 0.  No LocalTimeParameters.
    # 200 Wh -> 0.2 kWh; cost 2000 hundred-thousandths -> 0.02 dollars.
    assert rows[0] == {
        "start": "2012-01-01T00:00:00+00:00",
        "end": "2012-01-01T01:00:00+00:00",
        "duration": "3600",
        "value": "0.2",
        "unit": "kWh",
        "cost": "0.02",
        "quality": "",
        "direction": "delivered",
        "usage_point": "01",
    }
    assert all(row["start"].endswith("+00:00") for row in rows)
    notices = [line for line in result.stderr.splitlines() if "LocalTimeParameters" in line]
    assert notices == [f"espi-sst: warning: no LocalTimeParameters in {source}: times are UTC"]


def test_a_gas_file_is_in_its_own_unit(corpus_dir: Path) -> None:
    result = run(
        "convert", str(corpus_dir / ENBRIDGE), "--columns", "start,end,value,unit,commodity"
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    # First reading: start 1670025600 (2022-12-03T00:00Z), duration 2937600 (34 days), value
    # 58000; ReadingType uom 42 (m3), powerOfTenMultiplier -3, commodity 7 (natural gas);
    # LocalTimeParameters tzOffset -18000 (Eastern; winter).  58000 * 10**-3 = 58 m3.
    assert rows[:2] == [
        ["start", "end", "value", "unit", "commodity"],
        ["2022-12-02T19:00:00-05:00", "2023-01-05T19:00:00-05:00", "58.0", "m3", "natural gas"],
    ]
    assert {row[3] for row in rows[1:]} == {"m3"}


def test_columns_choose_any_tidy_column_urls_included(corpus_dir: Path) -> None:
    result = run(
        "convert", str(corpus_dir / AMEREN), "--columns", "usage_point_url,value,reading_type_url"
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["usage_point_url", "value", "reading_type_url"]
    assert rows[1] == [
        "https://naapi2.bidgely.com/Customer/7546126447783005953/UsagePoint/2729703253975607745",
        "0.151",
        "https://naapi2.bidgely.com/ReadingType/913890011814208403",
    ]
    every = run("convert", str(corpus_dir / AMEREN), "--columns", ",".join(TIDY_COLUMNS))
    assert next(csv.reader(io.StringIO(every.stdout))) == list(TIDY_COLUMNS)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--columns", "start,kwh"], "unknown column kwh for --columns; choose from: start, end,"),
        (["--columns", "value,value"], "column value named twice in --columns"),
        (["--columns", ","], "--columns names no column"),
        (["--summaries"], "no UsageSummary in"),
        (["--summaries", "--columns", "start"], "unknown column start for --columns"),
    ],
)
def test_bad_requests_exit_2_with_one_line(
    corpus_dir: Path, tmp_path: Path, arguments: list[str], says: str
) -> None:
    result = run("convert", str(corpus_dir / AMEREN), *arguments)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    written = run("convert", str(corpus_dir / AMEREN), *arguments, "-o", str(tmp_path / "x.csv"))
    assert written.returncode == 2
    assert list(tmp_path.iterdir()) == [], "nothing written, not even a .partial"


def test_parquet_needs_a_file() -> None:
    result = run("convert", "-", "--to", "parquet")
    assert result.returncode == 2
    assert result.stderr == (
        "espi-sst: error: --to parquet writes a file, not a terminal: give -o OUT.parquet\n"
    )


def test_an_error_half_way_leaves_no_file(corpus_dir: Path, tmp_path: Path) -> None:
    # A real file cut in the middle of its third IntervalBlock: rows are written, then the
    # reader fails; neither the CSV nor its .partial may remain.
    text = (corpus_dir / "us-utility-export_testdata_hourly.xml").read_text()
    third = text.index(
        "<IntervalBlock", text.index("<IntervalBlock", text.index("<IntervalBlock") + 1) + 1
    )
    cut = tmp_path / "cut.xml"
    cut.write_text(text[: third + 2000])
    for fmt, name in (("csv", "out.csv"), ("parquet", "out.parquet")):
        result = run("convert", str(cut), "--to", fmt, "-o", str(tmp_path / name))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "cut.xml" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.xml"]


def test_usage_summaries_one_row_per_billing_period(corpus_dir: Path, tmp_path: Path) -> None:
    source = corpus_dir / PGE_SUMMARIES
    out = tmp_path / "bills.csv"
    result = run("convert", str(source), "--summaries", "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # Three UsageSummary entries.  The first: billingPeriod start 1434006000
    # (2015-06-11T07:00Z, midnight in California) duration 2505600 (29 days); billLastPeriod
    # 23364000 -> 233.64 dollars; overallConsumptionLastPeriod 146000000 * 10**-3 Wh ->
    # 146 kWh; qualityOfReading 17 (validated); commodity 1; tariffProfile HAG5A.  The file has
    # no LocalTimeParameters (nor UsagePoint entry): UTC, and said.
    assert rows[0]["billing_start"] == "2015-06-11T07:00:00+00:00"
    assert rows[0]["billing_end"] == "2015-07-10T07:00:00+00:00"
    assert rows[0]["bill_amount"] == "233.64"
    assert (rows[0]["consumption"], rows[0]["consumption_unit"]) == ("146.0", "kWh")
    assert rows[0]["quality"] == "validated"
    assert rows[0]["commodity"] == "electricity"
    assert rows[0]["tariff_profile"] == "HAG5A"
    assert rows[0]["usage_point"] == "1"
    # The second: 1431414000 + 2592000, 128000000 mWh, no bill amount.
    assert (rows[1]["billing_start"], rows[1]["bill_amount"], rows[1]["consumption"]) == (
        "2015-05-12T07:00:00+00:00",
        "",
        "128.0",
    )
    assert len(rows) == 3
    assert f"no LocalTimeParameters in {source}: times are UTC" in result.stderr


def test_usage_summaries_in_local_time_when_the_file_says(corpus_dir: Path) -> None:
    result = run(
        "convert",
        str(corpus_dir / "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml"),
        "--summaries",
        "--columns",
        "billing_start,bill_amount,currency,consumption,local_time",
    )
    assert result.returncode == 0, result.stderr
    first = next(csv.DictReader(io.StringIO(result.stdout)))
    # billingPeriod start 1463961600 (2016-05-23T00:00Z); tzOffset -28800 (its DST rules are
    # unusable: standard time, warned); billLastPeriod 17418000 -> 174.18; currency 840 (USD);
    # overallConsumptionLastPeriod 1152000 Wh (multiplier 0) -> 1152 kWh.
    assert first == {
        "billing_start": "2016-05-22T16:00:00-08:00",
        "bill_amount": "174.18",
        "currency": "USD",
        "consumption": "1152.0",
        "local_time": "true",
    }
    assert "times are UTC" not in result.stderr


def test_parquet_round_trip(corpus_dir: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "ameren.parquet"
    result = run("convert", str(corpus_dir / AMEREN), "--to", "parquet", "-o", str(out))
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.column_names == list(ANALYST_COLUMNS)
    assert table.num_rows == 96
    first = table.slice(0, 1).to_pylist()[0]
    # The same first reading as the CSV test: 2023-12-04T00:00Z, 0.151 kWh, validated.
    assert first["start"].astimezone(UTC) == datetime(2023, 12, 4, 0, 0, tzinfo=UTC)
    assert first["start"].isoformat() == "2023-12-03T18:00:00-06:00"
    assert str(table.schema.field("start").type.tz) == "America/Chicago"
    assert (first["value"], first["unit"], first["quality"]) == (0.151, "kWh", "validated")
    assert first["duration"] == 900 and first["cost"] is None
    assert not list(tmp_path.glob("*.partial"))


def test_parquet_summaries(corpus_dir: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "bills.parquet"
    result = run(
        "convert", str(corpus_dir / PGE_SUMMARIES), "--summaries", "--to", "parquet", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    rows = pq.read_table(out).to_pylist()
    assert [row["bill_amount"] for row in rows] == [233.64, None, None]
    assert rows[0]["billing_start"] == datetime(2015, 6, 11, 7, 0, tzinfo=UTC)


ROOT = Path(__file__).resolve().parents[3]


def _csv_blocks(markdown: Path) -> list[list[str]]:
    import re

    text = markdown.read_text()
    return [block.splitlines() for block in re.findall(r"^```csv\n(.*?)^```", text, re.M | re.S)]


def test_the_rows_the_docs_show_are_a_real_run(corpus_dir: Path) -> None:
    readings = run("convert", str(corpus_dir / AMEREN)).stdout.splitlines()
    bills = run("convert", str(corpus_dir / PGE_SUMMARIES), "--summaries").stdout.splitlines()
    shown = _csv_blocks(ROOT / "README.md") + _csv_blocks(ROOT / "docs" / "library.md")
    assert len(shown) == 3
    for block in shown:
        produced = bills if block[0].startswith("billing_start") else readings
        assert block == produced[: len(block)]


def test_several_files_make_one_table_and_only_the_utc_one_is_named(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """Many inputs (issue 18) meet the Download My Data columns: one header, every file's
    rows in order, and the UTC warning names the file without LocalTimeParameters only."""
    out = tmp_path / "both.csv"
    alone = {name: run("convert", str(corpus_dir / name)) for name in (AMEREN, TEXAS)}
    result = run("convert", str(corpus_dir / AMEREN), str(corpus_dir / TEXAS), "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines.count(",".join(ANALYST_COLUMNS)) == 1
    assert lines[1:] == (
        alone[AMEREN].stdout.splitlines()[1:] + alone[TEXAS].stdout.splitlines()[1:]
    )
    utc_lines = [line for line in result.stderr.splitlines() if "LocalTimeParameters" in line]
    assert utc_lines == [
        f"espi-sst: warning: no LocalTimeParameters in {corpus_dir / TEXAS}: times are UTC"
    ]


def test_summaries_of_several_files_make_one_table(corpus_dir: Path) -> None:
    alone = run("convert", "--summaries", str(corpus_dir / PGE_SUMMARIES))
    assert alone.returncode == 0, alone.stderr
    twice = run("convert", "--summaries", str(corpus_dir / PGE_SUMMARIES), str(corpus_dir / AMEREN))
    # The Ameren file holds no UsageSummary: its rows add nothing, the table is the same.
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout == alone.stdout
