"""The Parquet writer: typed columns, tz-aware times, bounded batches (pyarrow extra)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import espi_sst
from espi_sst.document import time_zone_of
from espi_sst.export.parquet import arrow_time_zone, write_readings_parquet
from espi_sst.localtime import EspiTimeZone
from espi_sst.model.espi import LocalTimeParameters
from espi_sst.tidy import TIDY_COLUMNS, tidy_readings

pq = pytest.importorskip("pyarrow.parquet")

COASTAL = "greenbuttondata-sample_Coastal_Multi_Family_12hr.xml"


def test_a_big_file_is_written_in_row_groups_and_reads_back(
    corpus_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "coastal.parquet"
    readings = espi_sst.iter_interval_readings(corpus_dir / COASTAL)
    assert write_readings_parquet(out, readings, TIDY_COLUMNS, batch_size=1000) == 8760
    parquet = pq.ParquetFile(out)
    assert parquet.metadata.num_row_groups == 9  # 8760 rows in batches of 1000
    table = parquet.read()
    assert table.column_names == list(TIDY_COLUMNS)
    # Same rows as the library's own view, instant by instant and value by value.
    expected = list(tidy_readings(espi_sst.iter_interval_readings(corpus_dir / COASTAL)))
    got = table.to_pylist()
    # As instants: Python never calls a time of the repeated autumn hour equal across zones
    # (PEP 495), and this file has one (2011-11-06 01:00, twice).
    assert [row["start"].timestamp() for row in got] == [
        row.start.timestamp() for row in expected if row.start is not None
    ]
    assert [row["end"].timestamp() for row in got] == [
        row.end.timestamp() for row in expected if row.end is not None
    ]
    assert [row["value"] for row in got] == [row.value for row in expected]
    assert {row["direction"] for row in got} == {"delivered"}
    # The file's LocalTimeParameters are US Pacific with the US rules: named as such.
    assert str(table.schema.field("start").type.tz) == "America/Los_Angeles"
    july = next(row for row in got if row["start"].month == 7)
    assert july["start"].utcoffset().total_seconds() == -7 * 3600


def test_zone_names() -> None:
    us_rules = LocalTimeParameters(
        dst_start_rule="360E2000", dst_end_rule="B40E2000", dst_offset=3600, tz_offset=-28800
    )
    assert arrow_time_zone(time_zone_of(us_rules)) == "America/Los_Angeles"
    eastern = LocalTimeParameters(
        dst_start_rule="360E2000", dst_end_rule="B40E2000", dst_offset=3600, tz_offset=-18000
    )
    assert arrow_time_zone(time_zone_of(eastern)) == "America/New_York"
    assert arrow_time_zone(EspiTimeZone(-25200)) == "-07:00"  # Arizona: no DST
    assert arrow_time_zone(None) == "UTC"
    # DST rules that no North American zone follows: the instants stay exact, in UTC.
    odd = LocalTimeParameters(
        dst_start_rule="3A0E2000", dst_end_rule="B40E2000", dst_offset=3600, tz_offset=-28800
    )
    assert arrow_time_zone(time_zone_of(odd)) == "UTC"


def test_utc_file_is_stored_as_utc(corpus_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "texas.parquet"
    write_readings_parquet(
        out,
        espi_sst.iter_interval_readings(corpus_dir / "texas-premise1-2012.xml"),
        ("start", "cost"),
    )
    table = pq.read_table(out)
    assert str(table.schema.field("start").type.tz) == "UTC"
    assert table.slice(0, 1).to_pylist() == [
        {"start": datetime(2012, 1, 1, tzinfo=UTC), "cost": 0.02}
    ]


def test_without_pyarrow_the_message_names_the_extra(corpus_dir: Path, tmp_path: Path) -> None:
    # A real interpreter where importing pyarrow fails, as on an install without the extra.
    hide = (
        "import sys; sys.modules['pyarrow'] = None; "
        "from espi_sst.cli import main; "
        f"raise SystemExit(main(['convert', {str(corpus_dir / COASTAL)!r}, '--to', 'parquet', "
        f"'-o', {str(tmp_path / 'x.parquet')!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == (
        "espi-sst: error: writing Parquet needs pyarrow; "
        "install it with: pip install 'espi-sst[parquet]'\n"
    )
    assert list(tmp_path.iterdir()) == []
