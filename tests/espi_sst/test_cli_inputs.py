"""``espi-sst convert`` and ``inspect`` on many inputs, compressed inputs, and inputs that are
not Green Button XML (issue 18): several files and patterns (expanded by the command too:
Windows shells do not), ``.xml.gz`` and ``.zip``; a one-line reason and exit code 2 for an
HTML page, RSS, an empty file, a misspelt namespace, a file without interval readings, a
truncated gzip, a damaged zip or a zip without XML.  Real corpus files, run as a user
would (the installed command, in a subprocess).

The tests count CSV rows, not columns: the columns are the output side's (h18b)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("espi-sst"))
ONE_DAY = "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml"  # 96 readings
MONTH = "ameren-bidgely-2023_res_electric_15min_09-15_to_10-15.xml"  # 2,976 readings
SUMMARIES = "pge-cmd_UsageSummaries.xml"  # no IntervalBlock


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def data_rows(output: str) -> int:
    rows = list(csv.reader(io.StringIO(output)))
    return len(rows) - 1  # the header, once


@pytest.fixture
def downloads(corpus_dir: Path, tmp_path: Path) -> Path:
    """A folder as an analyst has it: a gzipped file, and a utility's zip with the XML in a
    folder, a UsageSummary file, and a PDF bill."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "day.xml.gz").write_bytes(gzip.compress((corpus_dir / ONE_DAY).read_bytes()))
    with zipfile.ZipFile(folder / "utility.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(corpus_dir / MONTH, f"Green Button/{MONTH}")
        archive.write(corpus_dir / SUMMARIES, f"Green Button/{SUMMARIES}")
        archive.writestr("Bill.pdf", b"%PDF-1.4 a bill")
    return folder


def test_convert_several_files_and_a_quoted_pattern_into_one_csv(
    downloads: Path, corpus_dir: Path
) -> None:
    """The shell would not expand a quoted pattern (nor would cmd.exe): the command does."""
    result = run("convert", "downloads/*", str(corpus_dir / ONE_DAY), cwd=downloads.parent)
    assert result.returncode == 0, result.stderr
    assert data_rows(result.stdout) == 96 + 2976 + 96
    assert result.stdout.count("\n") == 1 + 96 + 2976 + 96  # one header for all
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert warnings and all(  # SUMMARIES's millisecond timestamps: which file says so
        line.startswith(f"espi-sst: warning: downloads/utility.zip/Green Button/{SUMMARIES}:")
        for line in warnings
    ), warnings
    notes = [line for line in result.stderr.splitlines() if "note:" in line]
    assert notes == [
        "espi-sst: note: downloads/utility.zip: skipped Bill.pdf (not XML)",
        f"espi-sst: note: downloads/utility.zip/Green Button/{SUMMARIES}: no interval "
        "readings; skipped",
    ]


def test_convert_reads_gzip_and_zip_to_a_file(downloads: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    result = run(
        "convert", str(downloads / "day.xml.gz"), str(downloads / "utility.zip"), "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert data_rows(out.read_text()) == 96 + 2976


def test_inspect_several_files_prints_each_and_json_is_a_list(downloads: Path) -> None:
    text = run("inspect", str(downloads / "day.xml.gz"), str(downloads / "utility.zip"))
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("  interval readings:") == 3
    assert f"utility.zip/Green Button/{MONTH}\n" in text.stdout
    listed = run("inspect", "--json", str(downloads / "*.zip"))
    summaries = json.loads(listed.stdout)
    assert [s["interval_readings"] for s in summaries] == [2976, 0]  # zip order
    assert [s["file"] for s in summaries] == [
        f"{downloads}/utility.zip/Green Button/{MONTH}",
        f"{downloads}/utility.zip/Green Button/{SUMMARIES}",
    ]
    single = json.loads(run("inspect", "--json", str(downloads / "day.xml.gz")).stdout)
    assert single["interval_readings"] == 96  # one file as given: one object, as before


def test_a_pattern_matching_nothing_is_an_error(tmp_path: Path) -> None:
    for verb in ("convert", "inspect", "validate"):
        result = run(verb, str(tmp_path / "*.xml"))
        assert result.returncode == 2, verb
        assert result.stderr == (
            f"espi-sst: error: {tmp_path}/*.xml: no file matches this pattern; check the "
            "folder and the spelling\n"
        )


SAVED_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Download My Data</title></head>
<body><form action="/login"><input name="user"></form></body></html>
"""


def _refusals(corpus_dir: Path, folder: Path) -> dict[str, tuple[bytes, str]]:
    day = (corpus_dir / ONE_DAY).read_bytes()
    packed = gzip.compress(day)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("usage.xml", day)
    good_zip = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Bill.pdf", b"%PDF-1.4")
    return {
        "page.html": (SAVED_PAGE, "is an HTML page, not Green Button XML"),
        "feed.xml": (
            b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            "is an RSS feed, not Green Button XML",
        ),
        "misspelt.xml": (
            day.replace(b'"http://naesb.org/espi"', b'"http://www.naesb.org/espi"'),
            "the namespace 'http://www.naesb.org/espi' is not ESPI's; expected "
            "'http://naesb.org/espi'",
        ),
        "empty.xml": (b"", "the file is empty"),
        "summaries.xml": ((corpus_dir / SUMMARIES).read_bytes(), "no interval readings"),
        "cut.xml.gz": (packed[: len(packed) // 2], "not recognised: the gzip file is truncated"),
        "cut.zip": (good_zip[: len(good_zip) - 30], "not recognised: the zip file"),
        "bill.zip": (buffer.getvalue(), "not recognised: the zip archive holds no XML file"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "page.html",
        "feed.xml",
        "misspelt.xml",
        "empty.xml",
        "summaries.xml",
        "cut.xml.gz",
        "cut.zip",
        "bill.zip",
    ],
)
def test_convert_refuses_with_one_line_and_writes_nothing(
    name: str, corpus_dir: Path, tmp_path: Path
) -> None:
    """Before issue 18 several of these printed a header-only CSV and exited 0."""
    data, reason = _refusals(corpus_dir, tmp_path)[name]
    path = tmp_path / name
    path.write_bytes(data)
    result = run("convert", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("espi-sst: error: ")
    assert reason in result.stderr
    assert "DTD" not in result.stderr and "Traceback" not in result.stderr
    if name != "summaries.xml":  # inspect has something to say about a summary file
        inspected = run("inspect", str(path))
        assert inspected.returncode == 2
        assert reason in inspected.stderr and inspected.stderr.count("\n") == 1


IMPORTED_BY_INSPECT = """
import contextlib, io, sys
from espi_sst.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["inspect"]) == 0
print(" ".join(sorted(sys.modules)))
"""


def test_inspect_of_a_plain_file_imports_nothing_only_odd_inputs_need() -> None:
    """Start-up (bench/startup.py): the pattern expander and the misspelling detector are
    imported only when a pattern or an unknown namespace is met."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY_INSPECT], capture_output=True, text=True, check=True
    )
    assert {"glob", "difflib"}.isdisjoint(result.stdout.split())


def test_convert_reads_gzip_from_stdin(corpus_dir: Path) -> None:
    packed = gzip.compress((corpus_dir / ONE_DAY).read_bytes())
    result = subprocess.run(
        [CLI, "convert", "-"], input=packed, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert data_rows(result.stdout.decode()) == 96
