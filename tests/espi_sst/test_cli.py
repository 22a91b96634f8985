"""The ``espi-sst`` command as users run it: the real console script in a subprocess.

Protects the promises of the CLI: one readable line per problem (``FILE:LINE: message``),
stable exit codes (0 ok, 1 invalid, 2 could not run), JSON keys scripts rely on (every RIN
with its role and entity), CSV rows that match the file, and never a traceback; and that
the library's verbs never import the server, whose verbs come through an entry point.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from espi_sst.cli import PROGRESS_THRESHOLD
from espi_sst.tidy import ANALYST_COLUMNS

CLI = str(Path(sys.executable).with_name("espi-sst"))
ESPI = "{http://naesb.org/espi}"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def count_readings(path: Path) -> int:
    return sum(1 for _ in etree.parse(str(path)).iter(f"{ESPI}IntervalReading"))


def test_inspect_json_reports_resources_readings_and_span(corpus_dir: Path) -> None:
    path = corpus_dir / "greenbuttondata-sample_Coastal_Multi_Family_12hr.xml"
    result = run("inspect", "--json", str(path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["resources"]["IntervalBlock"] == 730
    assert summary["resources"]["UsagePoint"] == 1
    assert summary["interval_readings"] == count_readings(path) == 8760
    periods = [
        (
            int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")),
            int(r.findtext(f"{ESPI}timePeriod/{ESPI}duration")),
        )
        for r in etree.parse(str(path)).iter(f"{ESPI}IntervalReading")
    ]
    first = min(start for start, _ in periods)
    last = max(start + duration for start, duration in periods)
    assert summary["first_start"] == datetime.fromtimestamp(first, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert summary["last_end"] == datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(summary["warnings"], list)


def test_inspect_lists_tolerated_deviations(corpus_dir: Path) -> None:
    result = run("inspect", "--json", str(corpus_dir / "pge-cmd_UsageSummaries.xml"))
    codes = {w["code"] for w in json.loads(result.stdout)["warnings"]}
    assert "milliseconds_timestamp" in codes


def test_inspect_without_file_shows_the_bundled_sample() -> None:
    result = run("inspect")
    assert result.returncode == 0, result.stderr
    assert "interval readings: 216" in result.stdout
    assert "IntervalBlock" in result.stdout


def test_validate_valid_file_exits_zero(corpus_dir: Path) -> None:
    result = run("validate", str(corpus_dir / "pge-cmd_IntervalBlock.xml"))
    assert result.returncode == 0
    assert result.stdout.strip().endswith("valid")


def test_validate_invalid_file_prints_file_line_message(corpus_dir: Path) -> None:
    bad = corpus_dir / "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml"
    good = corpus_dir / "pge-cmd_UsageSummaries.xml"
    result = run("validate", "--quiet", str(good), str(bad))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines, "every issue gets a line"
    for line in lines:
        file, number, message = line.split(":", 2)
        assert file == str(bad)
        assert int(number) > 0
        assert message.strip()
    assert any("ServiceDeliveryPoint" in line for line in lines)


def test_validate_malformed_file_names_the_line(corpus_dir: Path) -> None:
    bad = corpus_dir / "pge-cmd_UsageSummary-entry_MALFORMED-undeclared-prefix.xml"
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}:1: not well-formed XML" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_convert_csv_has_one_row_per_reading(corpus_dir: Path, tmp_path: Path) -> None:
    source = corpus_dir / "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml"
    out = tmp_path / "readings.csv"
    result = run("convert", str(source), "--to", "csv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0].keys()) == ANALYST_COLUMNS
    assert len(rows) == count_readings(source) == 96
    first = rows[0]
    assert first["unit"] == "kWh"
    assert first["duration"] == "900"
    first_value = int(etree.parse(str(source)).findtext(f".//{ESPI}IntervalReading/{ESPI}value"))
    assert float(first["value"]) == first_value / 1000  # Wh, multiplier 0 -> kWh
    # The file's LocalTimeParameters say US Central (tzOffset -21600, no DST in December).
    first_start = int(
        etree.parse(str(source)).findtext(f".//{ESPI}IntervalReading/{ESPI}timePeriod/{ESPI}start")
    )
    central = timezone(timedelta(hours=-6))
    assert first["start"] == datetime.fromtimestamp(first_start, central).isoformat()
    assert not list(tmp_path.glob("*.partial")), "no half-written file is left behind"


def test_convert_to_stdout(corpus_dir: Path) -> None:
    result = run("convert", str(corpus_dir / "pge-cmd_IntervalBlock.xml"))
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == list(ANALYST_COLUMNS)
    assert len(rows) - 1 == 2556


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = run("inspect", str(tmp_path / "nope.xml"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1
    assert "no such file" in missing.stderr
    evil = tmp_path / "evil.xml"
    evil.write_text(
        '<!DOCTYPE x [<!ENTITY a "b">]><feed xmlns="http://www.w3.org/2005/Atom">&a;</feed>'
    )
    refused = run("convert", str(evil))
    assert refused.returncode == 2
    assert "DTD" in refused.stderr and "Traceback" not in refused.stderr
    failed_write = run("convert", str(evil), "-o", str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()
    assert failed_write.returncode == 2


def test_usage_error_exit_code() -> None:
    result = run("convert")
    assert result.returncode == 2
    assert "usage:" in result.stderr


def _big_feed(path: Path, days: int) -> None:
    with path.open("w") as out:
        out.write('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">')
        for day in range(days):
            out.write(
                f'<entry><link rel="self" href="/UsagePoint/1/MeterReading/1/IntervalBlock/{day}"/>'
                '<link rel="up" href="/UsagePoint/1/MeterReading/1/IntervalBlock"/>'
                "<content><espi:IntervalBlock>"
            )
            for i in range(96):
                start = 1700000000 + day * 86400 + i * 900
                out.write(
                    f"<espi:IntervalReading><espi:timePeriod><espi:duration>900</espi:duration>"
                    f"<espi:start>{start}</espi:start></espi:timePeriod>"
                    f"<espi:value>{i}</espi:value></espi:IntervalReading>"
                )
            out.write("</espi:IntervalBlock></content></entry>")
        out.write("</feed>")


def test_progress_bar_on_a_terminal_for_big_files(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    _big_feed(big, 300)
    assert big.stat().st_size > PROGRESS_THRESHOLD
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [CLI, "convert", str(big), "-o", str(tmp_path / "big.csv")],
            stderr=secondary,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(primary)
    assert proc.returncode == 0
    assert b"100%" in seen and b"big.xml" in seen


@pytest.mark.parametrize("stream_to_pipe", [True])
def test_no_progress_bar_when_stderr_is_not_a_terminal(
    tmp_path: Path, stream_to_pipe: bool
) -> None:
    big = tmp_path / "big.xml"
    _big_feed(big, 300)
    result = run("convert", str(big), "-o", str(tmp_path / "big.csv"))
    assert result.returncode == 0
    assert "%" not in result.stderr
    with (tmp_path / "big.csv").open() as handle:
        assert sum(1 for _ in handle) == 300 * 96 + 1


# ---- the RINs of an SST feed ------------------------------------------------------------
SST = "urn:espi-sst:sst:1"
SST_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sst"


def expected_rins(path: Path) -> list[tuple[str, str, str, str | None]]:
    """(rin, role, element, entity) of every RIN of the file, read with lxml alone.

    The role comes from the XX placeholders of the RIN text; the entity from the RIN element's
    udc/lse attribute, or the lse next to a currentRate/eligibleRate RIN; an eligibleRate's
    mirrorOf (the CCA rate an IOU rate mirrors) has no entity of its own."""
    rows = []
    for el in etree.parse(str(path)).iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{SST}}}"):
            continue
        local = etree.QName(el).localname
        text = (el.text or "").strip()
        role = "delivery" if text[7:9] == "XX" else "generation" if text[5:7] == "XX" else "bundled"
        parent = etree.QName(el.getparent()).localname
        served = ("bundledRin", "deliveryRin", "generationRin")
        if local in served and not len(el):  # form 1.0: the RIN as text, entity attribute
            rows.append((text, role, local, el.get("udc") or el.get("lse")))
        elif local == "rin" and parent in served:  # form 1.1: <rin> and <lse>/<udc> children
            entity = el.getparent().findtext(f"{{{SST}}}udc") or el.getparent().findtext(
                f"{{{SST}}}lse"
            )
            rows.append((text, role, parent, entity))
        elif local == "rin" and parent in ("currentRate", "eligibleRate"):
            rows.append((text, role, parent, el.getparent().findtext(f"{{{SST}}}lse")))
        elif local == "rin" and parent == "rateEstimate":
            rows.append((text, role, parent, None))
        elif local in ("targetRin", "mirrorOf"):
            rows.append((text, role, local, None))
    return rows


def test_cli_inspect_json_lists_every_rin_with_role_and_entity() -> None:
    """``espi-sst inspect --json`` (the real console script) gives scripts every RIN of an
    unbundled customer's feed with its role and who serves it, under "rins"."""
    path = SST_EXAMPLES / "unbundled-customer-feed.xml"
    result = run("inspect", "--json", str(path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    listed = [(r["rin"], r["role"], r["element"], r["entity"]) for r in summary["rins"]]
    assert sorted(listed, key=str) == sorted(expected_rins(path), key=str)
    assert ("USCA-PGXX-0100-0000", "delivery", "deliveryRin", "PGE") in listed
    assert ("USCA-XXPE-0440-0000", "generation", "generationRin", "PCE") in listed
    assert {r["usage_point"] for r in summary["rins"]} == {
        "https://utility.example.com/DataCustodian/espi/1_1/resource/Subscription/8/UsagePoint/3"
    }
    assert summary["warnings"] == []


# ---- the server's verbs: registered through an entry point, loaded only when chosen -----
RUN_MAIN_THEN_LIST_MODULES = """
import contextlib, io, json, sys
for blocked in sys.argv[2:]:
    sys.modules[blocked] = None  # as if that package were not installed
from espi_sst.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(json.loads(sys.argv[1]))
    except SystemExit as exit:
        code = exit.code
print(json.dumps({
    "code": code,
    "stdout": out.getvalue(),
    "stderr": err.getvalue(),
    "modules": sorted({name.split(".")[0] for name in sys.modules if sys.modules[name]}),
}))
"""
SERVER_STACK = {"flask", "sqlalchemy", "authlib", "espi_sst_server"}


def run_main(*argv: str, blocked: tuple[str, ...] = ()) -> dict[str, Any]:
    """``espi_sst.cli.main(argv)`` in a fresh interpreter: exit code, output, and the
    top-level packages imported by then."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_MAIN_THEN_LIST_MODULES, json.dumps(argv), *blocked],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize(
    "argv",
    [
        ("inspect",),
        ("inspect", "--json", "/no/such/file.xml"),
        ("validate", "/no/such/file.xml"),
        ("convert", "/no/such/file.xml"),
        ("validate", "--help"),
        ("--version",),
    ],
    ids=[
        "inspect-sample",
        "inspect-missing",
        "validate-missing",
        "convert-missing",
        "help",
        "version",
    ],
)
def test_library_verbs_never_import_the_server(argv: tuple[str, ...]) -> None:
    """``espi-sst inspect`` / ``validate`` / ``convert`` load no Flask, SQLAlchemy, Authlib
    or server code (before issue 19 every run imported the whole server: 1.35 s to report
    a missing file)."""
    report = run_main(*argv)
    assert SERVER_STACK.isdisjoint(report["modules"]), SERVER_STACK & set(report["modules"])
    if argv == ("inspect",):
        assert report["code"] == 0 and "interval readings: 216" in report["stdout"]
    if "/no/such/file.xml" in argv:
        assert report["code"] in (1, 2)
        assert "no such file" in report["stdout"] + report["stderr"]


def test_server_verbs_are_registered_and_run() -> None:
    listed = run("--help")
    assert listed.returncode == 0
    for verb in ("validate", "inspect", "convert", "serve", "worker", "demo", "gateway"):
        assert f"    {verb} " in listed.stdout, verb
    serve_help = run("serve", "--help")
    assert serve_help.returncode == 0 and "--issuer" in serve_help.stdout
    report = run_main("asp-registry", "load", "/no/such/registry.json")
    assert "espi_sst_server" in report["modules"]
    assert report["code"] == 2 and "Traceback" not in report["stderr"]


def test_without_the_server_extra_a_server_verb_says_how_to_install_it() -> None:
    report = run_main("serve", blocked=("flask",))
    assert report["code"] == 2
    assert report["stderr"] == (
        "espi-sst: error: the utility server is not installed; install it with: "
        "pip install 'espi-sst[server]'\n"
    )
    listed = run_main("--help", blocked=("flask",))
    assert (
        listed["code"] == 0
        and "serve" in listed["stdout"]
        and "needs the server extra" in (listed["stdout"])
    )


# ---- start-up: a file verb imports only what it uses (issue 17, bench/startup.py) --------
IMPORTED_BY_INSPECT = """
import contextlib, io, sys
from espi_sst.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(["inspect"])
assert code == 0 and "interval readings: 216" in out.getvalue(), out.getvalue()
print(" ".join(sorted(sys.modules)))
"""


def test_inspect_does_not_import_what_other_verbs_need() -> None:
    """``inspect`` builds no conformance parser (its package reads TOML) and loads no entry
    points: ``bench/startup.py`` holds it within 1.5x of a bare ``import espi_sst``."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY_INSPECT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules = set(result.stdout.split())
    unneeded = {"espi_sst.conformance", "importlib.metadata", "tomllib", "csv"}
    assert unneeded.isdisjoint(modules), unneeded & modules


def test_the_conformance_verb_is_still_listed_and_parsed() -> None:
    listed = run("--help")
    assert listed.returncode == 0 and "    conformance " in listed.stdout
    usage = run("conformance", "--help")
    assert usage.returncode == 0 and "--junit" in usage.stdout
    chosen_late = run("inspect", "--help")
    assert chosen_late.returncode == 0 and "--json" in chosen_late.stdout
