"""Every example in examples/ runs and does what its docstring says (issue 6, part 4).

The Green Button CSV example runs on a real utility file; the command-line ASP and the
MIDAS example run against ``espi-sst demo`` (its fake MIDAS server included) as separate
processes, the customer's approval given through the real portal pages.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from demo_process import CustomerBrowser, demo_process  # noqa: E402


def run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_green_button_to_csv_writes_every_reading(tmp_path: Path) -> None:
    source = CORPUS / "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml"
    target = tmp_path / "out.csv"
    done = run("green_button_to_csv.py", str(source), str(target))
    assert done.returncode == 0, done.stderr
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    expected = len(etree.parse(str(source)).getroot().findall(".//{*}IntervalReading"))
    assert len(rows) == expected > 0
    assert rows[0]["unit"] and rows[0]["start_local"][10] == "T"
    assert f"{expected} readings" in done.stdout


def test_green_button_to_csv_explains_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")
    done = run("green_button_to_csv.py", str(bad), str(tmp_path / "out.csv"))
    assert done.returncode == 1 and "DTD" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    with demo_process(tmp_path, args=["--asp-port", "0"]) as document:
        yield document


def test_command_line_asp_and_midas_prices(demo: dict[str, Any], tmp_path: Path) -> None:
    client = next(c for c in demo["clients"] if c["client_id"] == "demo-rate-coach-mobile")
    redirect = client["redirect_uris"][0]
    store = tmp_path / "tokens.json"
    common = [
        "--issuer",
        demo["issuer"],
        "--client-id",
        client["client_id"],
        "--redirect-uri",
        redirect,
    ]
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "command_line_asp.py"),
            *common,
            "--token-store",
            str(store),
            "--no-browser",
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "Open this URL" in process.stdout.readline()
        url = process.stdout.readline().strip()
        blake = next(c for c in demo["customers"] if c["username"] == "blake")
        callback = CustomerBrowser(demo["base_url"], blake).approve(
            url, ["billing", "usage", "sst:rin", "sst:bill_comparison"]
        )
        deadline = time.monotonic() + 10
        while True:  # the example's loopback listener may take a moment to bind
            try:
                requests.get(callback, timeout=10)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "USCA-PGXX-0100-0000" in out and "USCA-XXPE-0440-0000" in out
    assert "bill comparison: available" in out and "* E-TOU-C-DELIVERY" in out
    assert store.stat().st_mode & 0o077 == 0 and len(json.loads(store.read_text())) == 1

    prices = run(
        "midas_prices.py", *common, "--token-store", str(store), "--midas", demo["midas_url"]
    )
    assert prices.returncode == 0, prices.stderr
    lines = [line for line in prices.stdout.splitlines() if line.startswith("  USCA-")]
    assert len(lines) == 2 and all("$/kWh" in line or "until" in line for line in lines), (
        prices.stdout
    )
