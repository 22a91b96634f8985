"""The ready-made rate adapters (docs/utility-integration.md, "Ready-made adapters") through the
real resource API, on SQLite and PostgreSQL, against the seeded demo utility:

* ``TableCatalog``: rates and assignments from CSV exports or SQL queries, checked strictly,
  copied into the ``tariff`` and ``usage_point`` rows, reloaded when the export changes, and
  usable by the rate change workflow end to end;
* the CCA RIN cache (``load_cca_file``, ``espi-sst cca-rins load``), in the cached and the
  non-cached mode.

The comparison sources are in test_adapter_comparisons.py.  Each test writes its own tables
under ``tmp_path``; the examples in ``examples/utility-adapters/`` are checked to load and to
fit the demo utility.
"""

from __future__ import annotations

import csv
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from adapter_support import (
    EXAMPLES,
    documents,
    open_world_fixture,  # noqa: F401  (the open_world fixture)
    replace_file,
    write_csv,
)
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.sst.cca_cache import CcaFileError, load_cca_file
from espi_sst_server.sst.precomputed import load_precomputed
from espi_sst_server.sst.table_catalog import (
    RateTableError,
    current_table,
    load_rate_table,
    sync_rate_table,
)
from espi_sst_server.storage.models import AuditEvent, Tariff, UsagePoint
from espi_sst_server.storage.zones import zone_of
from espi_sst_server.worker import Worker
from sqlalchemy import select, update
from sst_world import Granted, SstWorld

import espi_sst
from espi_sst.model import sst
from espi_sst.sst import usage_summary_generation_status, usage_summary_rins

TABLE_CATALOG = "espi_sst_server.sst.table_catalog:table_catalog"
RATE_HEADER = ["rin", "tariff_code", "name", "role", "lse", "eligibility", "iou_mirror_of"]
ASSIGNMENT_HEADER = ["usage_point", "tariff_code", "generation_tariff_code", "effective_date", "features"]  # fmt: skip
CCA_HEADER = ["service_agreement_or_usage_point", "generation_rin", "tariff_code", "name", "effective_date"]  # fmt: skip
E_TOU_D = ["USCA-PGPG-0110-0000", "E-TOU-D", "PG&E E-TOU-D Time-of-Use (Peak 5-8 p.m. Weekdays)", "bundled", "PGE", "", ""]  # fmt: skip
CASEY_EMAIL = "casey.nguyen@example.com"


# ---- helpers --------------------------------------------------------------------------------


def demo_rates() -> list[list[str]]:
    """The example rate table: the demo utility's rates."""
    with (EXAMPLES / "rates.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == RATE_HEADER
    return rows[1:]


def with_rate(rows: list[list[str]], code: str, **changes: str) -> list[list[str]]:
    out = []
    for row in rows:
        if row[1] == code:
            row = [changes.get(name, value) for name, value in zip(RATE_HEADER, row, strict=True)]
        out.append(row)
    return out


def days_ago(days: int) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


def rate_information(world: SstWorld, granted: Granted) -> sst.RateInformation:
    response = world.client.get(granted.url("/RateInformation"), headers=granted.headers)
    assert response.status_code == 200, response.data
    (found,) = documents(response.data, sst.RateInformation)
    return found


def eligible(info: sst.RateInformation) -> set[str]:
    return {r.tariff_code for r in info.eligible_rate if not r.iou_mirror}


# ---- TableCatalog: loading and checking -----------------------------------------------------


def test_example_tables_load_and_fit_the_demo_utility(
    open_world: Callable[..., SstWorld],
) -> None:
    setting = {
        "rates": str(EXAMPLES / "rates.csv"),
        "assignments": str(EXAMPLES / "assignments.csv"),
    }
    table = load_rate_table(setting)
    assert list(table.rates)[:2] == ["E-TOU-C", "E-TOU-C-DELIVERY"]
    assert table.rates["E-ELEC"].eligibility == {"requires_any": ["ev", "heat_pump", "battery"]}
    assert table.rates["PCE-E-1"].iou_mirror_of == "USCA-PGPG-0010-0000"
    assert table.code_by_rin["USCA-XXPE-0440-0000"] == "PCE-E-TOU-C"
    assert [a.features for a in table.assignments] == [
        ["heat_pump"],
        [],
        [],
        ["solar", "heat_pump"],
    ]
    world = open_world()
    with world.session() as s:
        assert {t.code for t in s.scalars(select(Tariff))} == set(table.rates)
        report = sync_rate_table(s, table)
        assert report.unknown == [] and report.mismatched == []
        assert report.tariffs_added == []  # the demo's own rates, by code
        s.rollback()
        cca = load_cca_file(s, EXAMPLES / "cca-rins-PCE.csv", cca="PCE", now=int(time.time()))
        assert cca.unknown == ["5550001234"] and cca.not_served == []
        s.rollback()
    batches = load_precomputed(str(EXAMPLES / "precomputed-comparisons.csv"))
    assert {key[0] for key in batches} == {"2051992777", "2330078986", "7700112233"}


def _refused(tmp_path: Path, rates: list[list[str]], assignments: list[list[str]] | None) -> str:
    setting: dict[str, Any] = {"rates": str(write_csv(tmp_path / "rates.csv", RATE_HEADER, rates))}
    if assignments is not None:
        path = write_csv(tmp_path / "assignments.csv", ASSIGNMENT_HEADER, assignments)
        setting["assignments"] = str(path)
    with pytest.raises(RateTableError) as caught:
        load_rate_table(setting)
    return str(caught.value)


BAD_RATE_ROWS = [
    # (the row replacing E-ELEC on line 4, the line and column named, a phrase of the reason)
    (["USCA-PGPG-505-0000", "E-ELEC", "E-ELEC", "bundled", "PGE", "", ""], 4, "rin", "not a RIN"),
    (
        ["USCA-PGXX-0505-0000", "E-ELEC", "E-ELEC", "bundled", "PGE", "", ""],
        4,
        "role",
        "delivery RIN",
    ),  # fmt: skip
    (["USCA-PGPG-0505-0000", "E-ELEC", "E-ELEC", "tiered", "PGE", "", ""], 4, "role", "not one of"),
    (
        ["USCA-PGPG-0505-0000", "E-1", "E-ELEC", "bundled", "PGE", "", ""],
        8,
        "tariff_code",
        "also on line 4",
    ),  # fmt: skip
    (
        ["USCA-PGPG-0100-0000", "E-ELEC", "E-ELEC", "bundled", "PGE", "", ""],
        4,
        "rin",
        "RIN of line 2",
    ),  # fmt: skip
    (
        ["USCA-PGPG-0505-0000", "E-ELEC", "E-ELEC", "bundled", "PGE", "needs:ev", ""],
        4,
        "eligibility",
        "requires_any",
    ),  # fmt: skip
    (
        ["USCA-PGPG-0505-0000", "E-ELEC", "E-ELEC", "bundled", "PGE", "excludes:Solar Roof", ""],
        4,
        "eligibility",
        "feature name",
    ),  # fmt: skip
    (["USCA-PGPG-0505-0000", "E-ELEC", "", "bundled", "PGE", "", ""], 4, "name", "empty"),
    (
        ["USCA-XXPE-0499-0000", "E-ELEC", "X", "generation", "PCE", "", "USCA-PGPG-0999-0000"],
        4,
        "iou_mirror_of",
        "not a bundled rate",
    ),  # fmt: skip
    (
        ["USCA-PGPG-0505-0000", "E-ELEC", "E-ELEC", "bundled", "PGE", "", "USCA-PGPG-0100-0000"],
        4,
        "iou_mirror_of",
        "only a generation rate",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("row", "line", "column", "reason"), BAD_RATE_ROWS)
def test_a_bad_rate_row_is_refused_with_file_line_and_column(
    tmp_path: Path, row: list[str], line: int, column: str, reason: str
) -> None:
    rates = [row if r[1] == "E-ELEC" else r for r in demo_rates()]
    message = _refused(tmp_path, rates, None)
    assert f"rates.csv, line {line}, column {column!r}: " in message
    assert reason in message


BAD_ASSIGNMENTS = [
    (["2051992777", "E-TOU-Z", "", "", ""], "tariff_code", "not in the rates table"),
    (["2051992777", "PCE-E-1", "", "", ""], "tariff_code", "generation rate"),
    (["2051992777", "E-TOU-C", "PCE-E-1", "", ""], "generation_tariff_code", "bundled rate"),
    (["2051992777", "E-TOU-C-DELIVERY", "E-1", "", ""], "generation_tariff_code", "bundled"),
    (["2051992777", "E-TOU-C", "", "2026-13-01", ""], "effective_date", "not a date"),
    (["2051992777", "E-TOU-C", "", "2026-01-01T00:00:00", ""], "effective_date", "no UTC offset"),
    (["6455591030", "E-1", "", "", ""], "usage_point", "also on line 2"),
]


@pytest.mark.parametrize(("row", "column", "reason"), BAD_ASSIGNMENTS)
def test_a_bad_assignment_is_refused_with_file_line_and_column(
    tmp_path: Path, row: list[str], column: str, reason: str
) -> None:
    good = [["6455591030", "E-1", "", "2021-11-20", ""]]
    if column == "usage_point":
        good.append(["0961533896", "E-ELEC", "", "", "solar"])
    message = _refused(tmp_path, demo_rates(), [*good, row])
    line = len(good) + 2
    assert f"assignments.csv, line {line}, column {column!r}: " in message
    assert reason in message


def test_unknown_or_missing_columns_are_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "rates.csv", [*RATE_HEADER[:5], "elegibility"], [])
    with pytest.raises(RateTableError, match=r"line 1, column 'elegibility': unknown column"):
        load_rate_table({"rates": str(path)})
    path = write_csv(tmp_path / "rates.csv", RATE_HEADER[1:], [])
    with pytest.raises(RateTableError, match=r"line 1, column 'rin': required column missing"):
        load_rate_table({"rates": str(path)})


# ---- TableCatalog: through the resource API -------------------------------------------------


def test_table_catalog_serves_the_export_and_follows_a_new_one(
    open_world: Callable[..., SstWorld], tmp_path: Path
) -> None:
    rates = with_rate(demo_rates(), "E-ELEC", eligibility="requires_any:ev") + [E_TOU_D]
    rates_file = write_csv(tmp_path / "rates.csv", RATE_HEADER, rates)
    since = days_ago(40)
    assignments = write_csv(
        tmp_path / "assignments.csv",
        ASSIGNMENT_HEADER,
        [["2051992777", "E-TOU-C", "", since, "heat_pump"]],
    )
    setting = {"rates": str(rates_file), "assignments": str(assignments)}
    world = open_world(RATE_CATALOG=TABLE_CATALOG, RATE_TABLE=setting)
    alex = world.grant("alex")
    info = rate_information(world, alex)
    (current,) = info.current_rate
    assert str(current.rin) == "USCA-PGPG-0100-0000"
    with world.session() as s:
        point = world.point(s, alex.usage_points["electric"])
        midnight = datetime.fromisoformat(since).replace(tzinfo=zone_of(point.local_time))
        assert current.effective_date == int(midnight.timestamp()) == point.rate_effective_date
        # Copied into the tariff table: the new rate added, E-ELEC's eligibility replaced
        # and its pricing kept (the sample comparison still prices it).
        tariffs = {t.code: t for t in s.scalars(select(Tariff))}
        assert (
            tariffs["E-TOU-D"].rin == "USCA-PGPG-0110-0000"
            and tariffs["E-TOU-D"].definition is None
        )
        assert tariffs["E-ELEC"].definition["eligibility"] == {"requires_any": ["ev"]}
        assert tariffs["E-ELEC"].definition["energy_prices"]
    assert eligible(info) == {"E-TOU-C", "E-1", "E-TOU-D"}  # heat pump alone: E-ELEC no more

    # The utility drops in a new export: alex has an EV now.  No restart.
    replace_file(
        assignments, ASSIGNMENT_HEADER, [["2051992777", "E-TOU-C", "", since, "heat_pump|ev"]]
    )
    assert eligible(rate_information(world, alex)) == {
        "E-TOU-C",
        "E-1",
        "E-TOU-D",
        "E-ELEC",
        "EV2-A",
    }
    with world.session() as s:
        assert world.point(s, alex.usage_points["electric"]).features == ["heat_pump", "ev"]

    # An export older than the rate the SST holds does not undo it.
    replace_file(assignments, ASSIGNMENT_HEADER, [["2051992777", "E-1", "", days_ago(400), ""]])
    (current,) = rate_information(world, alex).current_rate
    assert current.tariff_code == "E-TOU-C"


def test_a_bad_new_export_is_logged_and_the_last_good_one_kept(
    open_world: Callable[..., SstWorld], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rates_file = write_csv(tmp_path / "rates.csv", RATE_HEADER, demo_rates() + [E_TOU_D])
    world = open_world(RATE_CATALOG=TABLE_CATALOG, RATE_TABLE={"rates": str(rates_file)})
    casey = world.grant("casey")
    assert "E-TOU-D" in eligible(rate_information(world, casey))
    broken = [[*E_TOU_D[:3], "delivery", *E_TOU_D[4:]]]
    replace_file(rates_file, RATE_HEADER, demo_rates() + broken)
    with caplog.at_level(logging.ERROR, logger="espi_sst_server.sst._tables"):
        assert "E-TOU-D" in eligible(rate_information(world, casey))
    assert "rates.csv, line 14, column 'role'" in caplog.text
    assert "keeping the last good version" in caplog.text


def _passcode(world: SstWorld, email: str) -> str:
    with world.session() as s:
        mails = [m for m in world.mails(s, email) if "confirm" in m.payload["subject"]]
    text = open_payload(world.app, mails[-1])["text"]
    line = next(x for x in text.splitlines() if "confirmation code is" in x)
    return line.rsplit(" ", 1)[1]


def test_rate_change_to_a_rate_only_the_table_knows_is_accepted_and_applied(
    open_world: Callable[..., SstWorld], tmp_path: Path
) -> None:
    rates = [r for r in demo_rates() if r[1] not in ("EV2-A", "PCE-EV2-A")] + [E_TOU_D]
    setting = {"rates": str(write_csv(tmp_path / "rates.csv", RATE_HEADER, rates))}
    world = open_world(RATE_CATALOG=TABLE_CATALOG, RATE_TABLE=setting)
    casey = world.grant("casey")
    headers = {**casey.headers, "Idempotency-Key": "table-1"}
    # A rate the export no longer lists is not a rate here, even if a tariff row remains.
    gone = world.client.post(
        casey.url("/RateChangeRequest"), json={"targetRin": "USCA-PGPG-0520-0000"}, headers=headers
    )
    assert gone.status_code == 422 and gone.json["error"] == "unknown_rate"
    posted = world.client.post(
        casey.url("/RateChangeRequest"), json={"targetRin": "USCA-PGPG-0110-0000"}, headers=headers
    )
    assert posted.status_code == 202, posted.data
    rid = str(posted.headers["Location"]).rsplit("/", 1)[1]
    confirmed = world.client.post(
        casey.url(f"/RateChangeRequest/{rid}/Confirmation"),
        json={"code": _passcode(world, CASEY_EMAIL)},
        headers=casey.headers,
    )
    assert confirmed.status_code == 200, confirmed.data
    Worker(world.app).run_once()
    status = world.client.get(casey.url(f"/RateChangeRequest/{rid}"), headers=casey.headers)
    (found,) = documents(status.data, sst.RateChangeRequest)
    assert found.status is sst.RateChangeStatus.accepted, found
    assert found.target_tariff_code == "E-TOU-D" and found.effective_date
    Worker(world.app).run_once(now=found.effective_date + 60)
    with world.session() as s:
        point = world.point(s, casey.usage_points["electric"])
        assert point.tariff is not None and point.tariff.code == "E-TOU-D"


def _utility_database(path: Path, rates: list[list[str]], assignments: list[list[str]]) -> str:
    """The utility's own database (a separate SQLite file), with its own table names."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE rate_schedule (midas_rin TEXT, code TEXT, title TEXT, role TEXT, "
            "lse TEXT, rules TEXT, mirrors TEXT)"
        )
        connection.executemany("INSERT INTO rate_schedule VALUES (?, ?, ?, ?, ?, ?, ?)", rates)
        connection.execute(
            "CREATE TABLE sa_rate (sa_id TEXT, rate_code TEXT, gen_code TEXT, since DATE)"
        )
        connection.executemany("INSERT INTO sa_rate VALUES (?, ?, ?, ?)", assignments)
    connection.close()
    return f"sqlite:///{path}"


def test_table_catalog_from_sql_queries_on_the_utility_database(
    open_world: Callable[..., SstWorld], tmp_path: Path
) -> None:
    since = days_ago(20)
    url = _utility_database(
        tmp_path / "cis.db",
        [[*r[:5], r[5] or None, r[6] or None] for r in demo_rates()],
        [["2330078986", "E-TOU-C-DELIVERY", "PCE-E-TOU-C", since]],
    )
    setting = {
        "rates": {
            "url": url,
            "query": "SELECT midas_rin AS rin, code AS tariff_code, title AS name, role, lse, "
            "rules AS eligibility, mirrors AS iou_mirror_of FROM rate_schedule",
        },
        "assignments": {
            "url": url,
            "query": "SELECT sa_id AS usage_point, rate_code AS tariff_code, "
            "gen_code AS generation_tariff_code, since AS effective_date FROM sa_rate",
        },
        "refresh_seconds": 0,
    }
    world = open_world(RATE_CATALOG=TABLE_CATALOG, RATE_TABLE=setting)
    blake = world.grant("blake")
    info = rate_information(world, blake)
    assert [str(r.rin) for r in info.current_rate] == ["USCA-PGXX-0100-0000", "USCA-XXPE-0440-0000"]
    mirrors = {str(r.mirror_of) for r in info.eligible_rate if r.iou_mirror}
    assert "USCA-XXPE-0410-0000" in mirrors  # PCE-E-1, shown with the PG&E rate it mirrors
    # The CCA moved blake to its E-1 product; the next query sees it (refresh_seconds 0).
    with sqlite3.connect(tmp_path / "cis.db") as connection:
        connection.execute("UPDATE sa_rate SET gen_code = 'PCE-E-1'")
    connection.close()
    info = rate_information(world, blake)
    assert [str(r.rin) for r in info.current_rate] == ["USCA-PGXX-0100-0000", "USCA-XXPE-0410-0000"]
    # A query that fails names the database, not the password.
    with pytest.raises(RateTableError, match=r"query at sqlite:///.*cis\.db: the query failed"):
        load_rate_table({"rates": {"url": url, "query": "SELECT * FROM no_such_table"}})


# ---- the CCA RIN cache ----------------------------------------------------------------------


def _forget_generation_rates(world: SstWorld) -> None:
    """A UDC that has not been told its CCA customers' generation rates yet."""
    with world.session() as s:
        s.execute(update(UsagePoint).values(generation_tariff_id=None))
        s.commit()


def _served_rins(world: SstWorld, granted: Granted) -> tuple[list[str], Any]:
    response = world.client.get(granted.url("/UsageSummary"), headers=granted.headers)
    assert response.status_code == 200
    summary = documents(response.data, espi_sst.model.espi.UsageSummary)[-1]
    rins = [str(r.value) for r in usage_summary_rins(summary)]
    return rins, usage_summary_generation_status(summary)


def test_a_cca_file_fills_the_generation_rin_cache(open_world: Callable[..., SstWorld]) -> None:
    world = open_world(CACHED_CCA_RINS=True)
    _forget_generation_rates(world)
    blake = world.grant("blake")
    assert _served_rins(world, blake)[0] == ["USCA-PGXX-0100-0000"]
    with world.session() as s:
        report = load_cca_file(
            s, EXAMPLES / "cca-rins-PCE.csv", cca="PCE", now=int(time.time()), actor="test"
        )
        s.commit()
    assert (report.listed, report.assigned, report.unchanged) == (2, 1, 0)
    assert report.unknown == ["5550001234"] and report.tariffs_added == []
    rins, status = _served_rins(world, blake)
    assert rins == ["USCA-PGXX-0100-0000", "USCA-XXPE-0440-0000"] and status is None
    info = rate_information(world, blake)
    assert [r.role for r in info.current_rate] == [sst.Role.delivery, sst.Role.generation]
    assert info.generation_rin_status is None
    with world.session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "cca_rins_loaded"))
        assert event is not None and event.subject == "cca:PCE" and event.detail["assigned"] == 1

    # The same cache, a UDC configured not to serve CCA RINs: ask the CCA instead.
    for setting in (False, ["CleanPowerSF"]):
        other = open_world(CACHED_CCA_RINS=setting)
        granted = other.grant("blake")
        rins, status = _served_rins(other, granted)
        assert rins == ["USCA-PGXX-0100-0000"]
        assert status is not None and status.lse == "PCE"
        assert status.availability is sst.GenerationRinAvailability.notAvailableHere
        assert rate_information(other, granted).generation_rin_status is not None


def test_a_cca_file_is_all_or_nothing(open_world: Callable[..., SstWorld], tmp_path: Path) -> None:
    world = open_world()
    _forget_generation_rates(world)
    blake = world.grant("blake")
    good = ["2330078986", "USCA-XXPE-0445-0000", "PCE-E-ELEC", "PCE ECOplus E-ELEC", "2026-01-08"]
    cases = [
        (
            ["2051992777", "USCA-PGXX-0100-0000", "PCE-X", "X", "2026-01-08"],
            "generation_rin",
            "delivery RIN",
        ),  # fmt: skip
        (
            ["2051992777", "USCA-XXPE-0446-0000", "E-1", "X", "2026-01-08"],
            "tariff_code",
            "bundled rate of PGE",
        ),  # fmt: skip
        (
            ["2051992777", "USCA-XXPE-0440-0000", "PCE-NEW", "X", "2026-01-08"],
            "generation_rin",
            "already the RIN of tariff PCE-E-TOU-C",
        ),  # fmt: skip
        (
            ["2330078986", "USCA-XXPE-0445-0000", "PCE-E-ELEC", "PCE ECOplus E-ELEC", "2026-01-08"],
            CCA_HEADER[0],
            "also on line 2",
        ),  # fmt: skip
        (
            ["2051992777", "USCA-XXPE-0445-0000", "PCE-E-ELEC", "Another name", "2026-01-08"],
            "name",
            "line 2",
        ),  # fmt: skip
        (
            ["2051992777", "USCA-XXPE-0445-0000", "PCE-E-ELEC", "PCE ECOplus E-ELEC", ""],
            "effective_date",
            "empty",
        ),  # fmt: skip
    ]
    for bad, column, reason in cases:
        path = write_csv(tmp_path / "pce.csv", CCA_HEADER, [good, bad])
        with world.session() as s, pytest.raises(CcaFileError) as caught:
            load_cca_file(s, path, cca="PCE", now=int(time.time()))
        assert f"pce.csv, line 3, column {column!r}: " in str(caught.value)
        assert reason in str(caught.value)
    future = [*good[:4], (date.today() + timedelta(days=40)).isoformat()]
    with world.session() as s, pytest.raises(CcaFileError, match="line 2, column 'effective_date'"):
        load_cca_file(s, write_csv(tmp_path / "f.csv", CCA_HEADER, [future]), cca="PCE", now=int(time.time()))  # fmt: skip
    with world.session() as s:
        point = world.point(s, blake.usage_points["electric"])
        assert point.generation_tariff_id is None  # nothing of any refused file applied
        # Another LSE's customer in the file is reported and left alone.
        alex = [
            "2051992777",
            "USCA-XXPE-0445-0000",
            "PCE-E-ELEC",
            "PCE ECOplus E-ELEC",
            "2026-01-08",
        ]
        path = write_csv(tmp_path / "pce.csv", CCA_HEADER, [good, alex])
        report = load_cca_file(s, path, cca="PCE", now=int(time.time()))
        assert report.not_served == ["2051992777"] and report.assigned == 1
        assert report.tariffs_updated == ["PCE-E-ELEC"]  # renamed as the CCA names it


def _cli(world: SstWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        ESPI_DATABASE_URL=world.url,
        ESPI_SECRET_KEY="ops",
        ESPI_UTILITY_NAME="Test Utility",
        ESPI_ISSUER="https://utility.example",
    )
    return subprocess.run(
        [str(Path(sys.executable).with_name("espi-sst")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cca_rins_load_command(open_world: Callable[..., SstWorld], tmp_path: Path) -> None:
    world = open_world()
    _forget_generation_rates(world)
    done = _cli(world, "cca-rins", "load", "PCE", str(EXAMPLES / "cca-rins-PCE.csv"))
    assert done.returncode == 0, done.stderr
    assert "PCE: 2 service agreements listed; 1 generation rates set, 0 unchanged" in done.stdout
    assert "not usage points here: 5550001234" in done.stdout
    bad = write_csv(
        tmp_path / "bad.csv", CCA_HEADER, [["2330078986", "nope", "X", "X", "2026-01-01"]]
    )
    refused = _cli(world, "cca-rins", "load", "PCE", str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "bad.csv, line 2, column 'generation_rin'" in refused.stderr
    with world.session() as s:
        point = s.scalar(select(UsagePoint).where(UsagePoint.service_agreement == "2330078986"))
        assert point is not None and point.generation_tariff is not None
        assert point.generation_tariff.rin == "USCA-XXPE-0440-0000"


def test_adapters_name_a_missing_setting(open_world: Callable[..., SstWorld]) -> None:
    world = open_world(RATE_CATALOG=TABLE_CATALOG)
    alex = world.grant("alex")
    with pytest.raises(Exception, match="RATE_TABLE is not set"):
        world.client.get(alex.url("/RateInformation"), headers=alex.headers)
    with pytest.raises(Exception, match="RATE_TABLE must be"):
        current_table({"rate": "x.csv"})


def test_a_broken_adapter_is_a_json_500_that_keeps_its_reason_in_the_log(
    open_world: Callable[..., SstWorld], caplog: pytest.LogCaptureFixture
) -> None:
    world = open_world(RATE_CATALOG=TABLE_CATALOG, PROPAGATE_EXCEPTIONS=False)
    alex = world.grant("alex")
    answer = world.client.get(alex.url("/RateInformation"), headers=alex.headers)
    assert answer.status_code == 500
    assert answer.json == {
        "error": "server_error",
        "error_description": "the resource server failed",
    }
