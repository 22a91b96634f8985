"""espi_sst.to_dataframe and summaries_dataframe on real corpus files (issue 18)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from corpus_data import CORPUS

import espi_sst
from espi_sst.frames import FRAME_COLUMNS
from espi_sst.tidy import tidy_readings

pd = pytest.importorskip("pandas")

PGE_2012 = CORPUS / "pge-opower-2012_electric_interval_data_2011-03-07_to_2012-04-07.xml"
COASTAL = CORPUS / "greenbuttondata-sample_Coastal_Multi_Family_12hr.xml"
NO_LTP = CORPUS / "pge-cmd_IntervalBlock.xml"
GAS = CORPUS / "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml"


@pytest.mark.parametrize("path", [PGE_2012, COASTAL], ids=["no-zone", "pacific"])
def test_frame_is_tidy_readings_column_by_column(path) -> None:  # type: ignore[no-untyped-def]
    """The frame says what tidy_readings (and so the CSV export) says, row for row."""
    frame = espi_sst.to_dataframe(path)
    assert tuple(frame.columns) == FRAME_COLUMNS
    rows = list(tidy_readings(espi_sst.iter_interval_readings(path)))
    assert len(frame) == len(rows) > 0
    # Instants and offsets (PEP 495: == between zones is False in the repeated autumn hour).
    for column in ("start", "end"):
        assert [(ts.timestamp(), ts.utcoffset()) for ts in frame[column]] == [
            (getattr(r, column).timestamp(), getattr(r, column).utcoffset()) for r in rows
        ]
    assert list(frame["value"]) == [r.value for r in rows]
    assert list(frame["duration"].dt.total_seconds()) == [r.duration for r in rows]
    for name in ("unit", "quality", "direction", "usage_point", "meter_reading"):
        assert [None if pd.isna(v) else v for v in frame[name]] == [
            getattr(r, name) for r in rows
        ], name


def test_times_are_one_pacific_dtype_across_dst() -> None:
    frame = espi_sst.to_dataframe(COASTAL)
    assert str(frame["start"].dtype) == "datetime64[us, America/Los_Angeles]"
    assert frame.attrs["time_zone"] == "America/Los_Angeles"
    offsets = {ts.utcoffset().total_seconds() / 3600 for ts in frame["start"]}
    assert offsets == {-8.0, -7.0}
    assert (frame["end"] - frame["start"] == frame["duration"]).all()


def test_no_local_time_parameters_means_utc_said_in_attrs() -> None:
    frame = espi_sst.to_dataframe(NO_LTP)
    assert str(frame["start"].dtype) == "datetime64[us, UTC]"
    assert frame.attrs["time_zone"] == "UTC (the file has no LocalTimeParameters)"


def test_gas_is_in_natural_units_with_its_commodity() -> None:
    frame = espi_sst.to_dataframe(GAS)
    assert len(frame) > 0
    assert set(frame["commodity"].dropna()) <= {"natural gas"}
    assert frame["unit"].nunique() == 1


def test_pge_usage_summaries_bill_in_dollars_and_kwh() -> None:
    frame = espi_sst.summaries_dataframe(CORPUS / "pge-cmd_UsageSummaries.xml")
    assert len(frame) == 3
    first = frame.iloc[0]
    assert first["bill_last_period"] == pytest.approx(233.64)
    assert first["overall_consumption_last_period"] == 146.0
    assert first["overall_consumption_last_period_unit"] == "kWh"
    assert first["billing_end"] - first["billing_start"] == pd.Timedelta(days=29)
    assert frame.attrs["time_zone"] == "UTC (the file has no LocalTimeParameters)"


def test_sce_bulk_summaries_use_the_files_zone() -> None:
    frame = espi_sst.summaries_dataframe(CORPUS / "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml")
    assert len(frame) == 7
    assert set(frame["currency"]) == {"USD"}
    # The file's DST rules are unusable (the reader warns), so its standard offset is used.
    assert frame.attrs["time_zone"] == "UTC-08:00"
    assert any("invalid_dst_rule" in w for w in frame.attrs["warnings"])
    assert frame.iloc[0]["bill_last_period"] == pytest.approx(174.18)
    assert frame.iloc[0]["current_billing_period_over_all_consumption_unit"] == "kWh"


def test_without_pandas_the_error_names_the_extra(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A child process where ``import pandas`` fails, as in an install without the extra."""
    (tmp_path / "pandas.py").write_text("raise ImportError('no pandas here')\n")
    code = (
        "import espi_sst\n"
        "try:\n"
        f"    espi_sst.to_dataframe({str(PGE_2012)!r})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tmp_path)},
    ).stdout
    assert "pip install 'espi-sst[pandas]'" in out
