"""Issue 15: the short reliability soak -- load with eight faults injected, and nothing lost.

Runs ``bench/soak/run.py --short --json`` (a subprocess: it starts its own PostgreSQL,
Redis, gunicorn -w 4 behind nginx, the background worker, the mail sink and the ASPs'
notify endpoints on free loopback ports, and stops them) and checks its last line:

* every fault of the schedule was injected and recovered from (a kill -9 of a web worker;
  of the background worker inside a billing submission and inside a notification delivery;
  PostgreSQL stopped 10 s and started; the SMTP sink down; an ASP endpoint never answering;
  in bolt-on mode, the upstream custodian slow, then down; in SQLite mode, the disk -- a
  small tmpfs -- full);
* the bolt-on lane (bench/soak/bolt_on.py): while the upstream was slow its customers got
  504s, while it was down 503s, each a JSON error with ``Retry-After`` -- never a 500 or a
  hang past the bolt-on's bound -- and after it came back every customer got data again;
* ``lost == 0`` and ``duplicated == 0``: no rate change decided never or twice, no e-mail
  missing or repeated, no notification unacknowledged -- counted by bench/soak/accounting.py
  from the database and the sinks (tests/soak/test_soak_accounting.py shows that those
  counts do see a rate change applied twice, a lost mail or a lost notification);
* ``errors_outside_faults == 0``: no 5xx at the gateway and no client failure outside the
  fault windows;
* no grant in an impossible state.

Skips when PostgreSQL, redis-server or nginx is not installed, unless ESPI_REQUIRE_POSTGRESQL /
ESPI_REQUIRE_REDIS / ESPI_REQUIRE_NGINX say it must be there (CI sets them: .ci/run).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "soak" / "run.py"
FAULTS = (
    "web worker killed",
    "background worker killed mid rate-change",
    "background worker killed mid notification",
    "PostgreSQL stopped",
    "SMTP sink down",
    "notify endpoint never answers",
    "bolt-on: upstream GBC slow",
    "SQLite mode: disk full",
)


def _require(present: bool, variable: str, what: str) -> None:
    if present:
        return
    if os.environ.get(variable):
        pytest.fail(f"{variable} is set but {what} is not installed")
    pytest.skip(f"{what} is not installed (.ci/run installs it): the soak needs it")


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    _require(bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")), "ESPI_REQUIRE_POSTGRESQL",
             "PostgreSQL")  # fmt: skip
    _require(shutil.which("redis-server") is not None, "ESPI_REQUIRE_REDIS", "redis-server")
    _require(shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists(),
             "ESPI_REQUIRE_NGINX", "nginx")  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(RUN), "--short", "--json"],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines, f"run.py printed nothing; stderr:\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert "unavailable" not in result, result
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return result


def test_every_fault_was_injected_and_recovered(figures: dict[str, Any]) -> None:
    faults = figures["faults"]
    assert len(faults) == len(FAULTS) == figures["faults_planned"]
    for expected, fault in zip(FAULTS, faults, strict=True):
        assert expected in fault["name"], fault
        if "SQLite" in expected and os.geteuid() != 0:  # a tmpfs needs root
            assert not fault["injected"] and "root needed" in fault["error"], fault
            continue
        assert fault["injected"], fault
        assert fault["recovered"], fault
        assert fault["time_to_recover_s"] is not None and fault["time_to_recover_s"] >= 0


def test_the_faults_hit_the_work_they_were_aimed_at(figures: dict[str, Any]) -> None:
    by_name = {fault["name"].split(" (")[0]: fault for fault in figures["faults"]}
    rate_change = next(f for n, f in by_name.items() if "mid rate-change" in n)
    assert rate_change["job"], rate_change  # a rate change was inside billing when killed
    delivery = next(f for n, f in by_name.items() if "mid notification" in n)
    assert delivery["key"], delivery  # a notification was at the ASP, unanswered
    # The held notification was sent again with the same key (the ASP read it twice and
    # can drop the repeat by that key): a repeat, not a loss.
    assert delivery["received_times"] >= 2, delivery
    hanging = next(f for n, f in by_name.items() if "never answers" in n)
    assert hanging["others_acknowledged"] > 0, "one ASP's dead endpoint stalled the others"


def test_nothing_lost_nothing_duplicated(figures: dict[str, Any]) -> None:
    assert figures["rate_changes_confirmed"] > 0 and figures["passcode_mails"] > 0
    assert figures["notifications"] > 0 and figures["load"]["revocations"] > 0
    counts = {k: v for k, v in figures.items() if k.endswith(("_lost", "_twice", "_duplicated"))}
    counts["sqlite"] = figures.get("sqlite")
    assert figures["lost"] == 0, json.dumps(counts)  # a string: shown whole, not cut
    assert figures["duplicated"] == 0, json.dumps(counts)
    assert figures["rate_changes_lost"] == figures["rate_changes_applied_twice"] == 0
    assert figures["passcode_mails_lost"] == figures["passcode_mails_duplicated"] == 0
    assert figures["notifications_lost"] == 0
    assert figures["grants_impossible"] == 0, figures["grants_impossible_by_kind"]


def test_the_bolt_on_answered_a_slow_then_down_upstream_as_promised(
    figures: dict[str, Any],
) -> None:
    fault = next(f for f in figures["faults"] if "upstream GBC" in f["name"])
    assert fault["slow"]["5xx_by_status"].get("504", 0) > 0, fault  # timed out, said so
    assert fault["down"]["5xx_by_status"].get("503", 0) > 0, fault  # refused, said so
    assert set(fault["5xx_by_status"]) <= {"502", "503", "504"}, fault
    lane = figures["bolt_on"]
    assert lane["improper_5xx"] == 0, lane["first_improper"]  # JSON, Retry-After, no 500
    assert lane["over_bound"] == 0, lane["first_over_bound"]  # no worker held past the bound
    assert lane["outside"]["requests"] > 0 and lane["outside"]["5xx"] == 0, lane
    assert lane["customers_fed_after_recovery"] == lane["customers"] > 0, lane


def test_sqlite_mode_survived_a_full_disk(figures: dict[str, Any]) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting the small tmpfs needs root")
    sqlite = figures["sqlite"]
    assert sqlite["integrity_check"] == "ok"
    assert sqlite["rate_changes_confirmed"] > 0
    full = next(f for f in figures["faults"] if "disk full" in f["name"])
    assert full["filled_bytes"] > 0
    assert full["requests"] > 0  # the load went on while the disk was full


def test_no_error_outside_the_fault_windows(figures: dict[str, Any]) -> None:
    assert figures["outside_faults"]["requests"] > 0
    assert figures["errors_outside_faults"] == 0, (
        figures["outside_faults"], figures["first_failures_outside_faults"])  # fmt: skip
    assert figures["passed"] is True
