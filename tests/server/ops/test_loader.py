"""``espi-sst load`` as an operator runs it, on SQLite and PostgreSQL (docs/operations.md,
"Loading data (standalone mode)"): the sample CSVs of examples/load load and are served
over the resource API; every kind of bad row is refused with its file, line and column and
nothing of its batch is written; a re-run changes nothing; a run killed mid-file and run
again ends equal to one clean load; interval data of real corpus files round-trips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus_data import CORPUS
from espi_sst_server import create_app
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import readings_between
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    Base,
    MeterReading,
    RetailCustomer,
    Token,
    UsagePoint,
)
from flask import Flask
from scratch_databases import postgresql_database
from sqlalchemy import func, select, text

from espi_sst import iter_interval_readings
from espi_sst.cli import main

EXAMPLES = Path(__file__).parents[3] / "examples" / "load"
ORDER = ("tariffs", "customers", "accounts", "usage-points", "service-agreements", "interval-data")
ROSA_ELECTRIC = "5e1f0a2c-3b4d-4e5f-8a6b-7c8d9e0f1a01"


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ESPI_DATABASE_URL", database_url)
    monkeypatch.setenv("ESPI_SECRET_KEY", "loader-tests")
    return database_url


@pytest.fixture
def app(database: str) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": database, "SECRET_KEY": "t"})
    yield app
    engine = app.extensions["espi_sst_db"].engine
    engine.dispose()


def load(
    capsys: pytest.CaptureFixture[str], kind: str, *files: Path | str, args: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    code = main(["load", kind, *map(str, files), *args])
    out, err = capsys.readouterr()
    return code, out, err


def load_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ORDER:
        code, out, err = load(capsys, kind, EXAMPLES / f"{kind}.csv")
        assert code == 0, err


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the loader writes, by natural order: what 'equal' means."""
    tables = ("tariff", "retail_customer", "customer_account", "local_time_parameters",
              "usage_point", "reading_type", "meter_reading", "interval_block")  # fmt: skip
    with app.app_context():
        found = {}
        for table in tables:
            columns = [
                c.name
                for c in Base.metadata.tables[table].columns
                if c.name not in ("id", "created_at")
            ]
            rows = db.session.execute(text(f"SELECT {', '.join(columns)} FROM {table}")).all()
            found[table] = sorted(
                (tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows),
                key=repr,
            )
        return found


# ---- the sample files --------------------------------------------------------------------


def test_sample_files_load_and_the_resource_api_serves_them(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    load_examples(capsys)
    with app.app_context():
        s = db.session
        rosa = s.scalar(select(RetailCustomer).where(RetailCustomer.username == "rosa.m"))
        assert rosa is not None and rosa.uuid == "c0ffee00-1111-4a11-8a11-000000000001"
        assert rosa.password_hash == "!"  # no password: the built-in sign-in refuses her
        point = s.scalar(select(UsagePoint).where(UsagePoint.uuid == ROSA_ELECTRIC))
        assert point is not None and point.tariff is not None and point.tariff.code == "E-TOU-C"
        assert point.account is not None and point.account.account_number == "4400112233"
        assert (
            point.customer_id == rosa.id and point.read_day == 5 and point.features == ["heat_pump"]
        )
        assert point.local_time is not None and point.local_time.tz_offset == -28_800
        lee = s.scalar(select(UsagePoint).where(UsagePoint.service_agreement == "7700200001"))
        assert lee is not None and lee.generation_tariff is not None
        assert lee.generation_tariff.code == "PCE-E-TOU-C" and not lee.bundled
        reading = s.scalar(select(MeterReading).where(MeterReading.usage_point_id == point.id))
        assert reading is not None
        stored = readings_between(s, reading.id)
        assert len(stored) == 192 and sum(1 for r in stored if r[4] == 8) == 4
        # a grant and a token as the resource tests make them (no OAuth flow needed here)
        t0 = now()
        asp = Application(uuid="80000000-0000-4000-8000-0000000000c1", client_id="asp-load",
                          client_secret_hash=None, client_name="Loader ASP", client_uri=None,
                          redirect_uris=["https://asp.example/cb"], notify_uri="https://asp.example/n",
                          scope="FB=4_5_15;IntervalDuration=900 usage", grant_types=["authorization_code"],
                          token_endpoint_auth_method="none", qualification="qualified",
                          software_id="loader", software_version="1", contacts=[], created_at=t0)  # fmt: skip
        grant = Authorization(uuid="20000000-0000-4000-8000-0000000000c1",
                              subscription_uuid="10000000-0000-4000-8000-0000000000c1",
                              customer=rosa, application=asp, scope=asp.scope, status=1,
                              created_at=t0, updated_at=t0, grant_type="authorization_code",
                              usage_points=[point])  # fmt: skip
        s.add_all([asp, grant, Token(family="f", client_id="asp-load", authorization=grant,
                                     access_token_hash=hash_secret("tok-load"), scope=asp.scope,
                                     issued_at=t0, access_expires_at=t0 + 600)])  # fmt: skip
        s.commit()
        mr_uuid = reading.uuid
    client = app.test_client()
    path = (f"/espi/1_1/resource/Subscription/10000000-0000-4000-8000-0000000000c1/UsagePoint/"
            f"{ROSA_ELECTRIC}/MeterReading/{mr_uuid}/IntervalBlock")  # fmt: skip
    response = client.get(path, headers={"Authorization": "Bearer tok-load"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    import espi_sst

    served = [(r.start, r.duration, r.value, r.cost, r.quality)
              for r in espi_sst.parse(response.get_data()).interval_readings()]  # fmt: skip
    assert served == [tuple(r) for r in stored]
    # two local days of Pacific time: two IntervalBlocks
    assert response.get_data().count(b"<espi:IntervalBlock") == 2


def test_a_rerun_changes_nothing(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    load_examples(capsys)
    before = snapshot(app)
    for kind in ORDER:
        code, out, err = load(capsys, kind, EXAMPLES / f"{kind}.csv", args=("--json",))
        assert code == 0, err
        assert '"inserted": 0' in out and '"updated": 0' in out and '"unchanged": 0' not in out
    assert snapshot(app) == before
    assert sum(len(rows) for rows in before.values()) >= 20


def test_dry_run_writes_nothing(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = load(capsys, "tariffs", EXAMPLES / "tariffs.csv", args=("--dry-run",))
    assert code == 0 and "4 rows inserted" in out and "dry run" in out
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Base.metadata.tables["tariff"])) == 0
        )


# ---- bad rows ----------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


CUSTOMERS_HEADER = "username,display_name,email\n"


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("customers", "username,email\nann,ann@example.com\n",
         "line 1, column 'display_name': required column missing"),
        ("customers", CUSTOMERS_HEADER + "ann,Ann,ann@example.com\nbob,,bob@example.com\n",
         "line 3, column 'display_name': required, but empty"),
        ("customers", CUSTOMERS_HEADER + "ann,Ann,ann@example.com\nann,Ann B,a@example.com\n",
         "line 3, column 'username': 'ann' appears twice in the file (first on line 2)"),
        ("accounts", "account_number,customer\n1001,nobody\n",
         "line 2, column 'customer': no customer 'nobody'; load it first"),
        ("service-agreements", "service_agreement,rate_effective_date\n7700100001,2025-13-45\n",
         "line 2, column 'rate_effective_date': '2025-13-45' is not a date"),
        ("interval-data", "usage_point,start,duration,value\n7700100001,2026-02-01T00:00:00Z,900,12.5\n",
         "line 2, column 'value': '12.5' is not a whole number"),
        ("customers", b"username,display_name\nJos\xe9,Jos\xe9 Garc\xeda\n",
         "not UTF-8 text"),
        ("customers", "<!DOCTYPE html><html><body>Sign in</body></html>\n",
         "this is an HTML page, not a CSV export"),
        ("customers", "", "the file is empty"),
    ],
)  # fmt: skip
def test_a_bad_row_refuses_its_batch_with_file_line_and_column(
    app: Flask,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    kind: str,
    content: str | bytes,
    message: str,
) -> None:
    for prerequisite in ORDER[: ORDER.index(kind)]:
        assert load(capsys, prerequisite, EXAMPLES / f"{prerequisite}.csv")[0] == 0
    before = snapshot(app)
    path = _write(tmp_path, f"{kind}.csv", content)
    code, out, err = load(capsys, kind, path)
    assert code == 1
    assert f"espi-sst: error: {path}" in err and message in err, err
    assert "Traceback" not in err and "nothing of it was written" in err
    assert snapshot(app) == before  # the good rows of the batch are not in the database either


def test_a_bad_row_in_a_later_batch_keeps_the_committed_ones(
    app: Flask, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = "".join(f"user{i},User {i},u{i}@example.com\n" for i in range(5))
    path = _write(tmp_path, "c.csv", CUSTOMERS_HEADER + rows + "bad,,x@example.com\n")
    code, out, err = load(capsys, "customers", path, args=("--batch-size", "2"))
    assert code == 1 and "line 7, column 'display_name'" in err
    with app.app_context():
        names = set(db.session.scalars(select(RetailCustomer.username)))
    assert names == {"user0", "user1", "user2", "user3"}  # batches 1-2 committed, 3 refused


# ---- interrupted, then resumed -----------------------------------------------------------


def _espi_sst() -> str:
    return str(Path(sys.executable).with_name("espi-sst"))


def test_a_load_killed_mid_file_and_run_again_equals_one_clean_load(
    app: Flask, capsys: pytest.CaptureFixture[str], tmp_path: Path, database: str
) -> None:
    for kind in ORDER[:-1]:
        assert load(capsys, kind, EXAMPLES / f"{kind}.csv")[0] == 0
    lines = ["usage_point,start,duration,value,quality"]
    start = 1_767_600_000  # 2026-01-05T08:00:00Z
    for i in range(30_000):  # ~10 months of 15-minute readings
        lines.append(
            f"7700100001,{start + 900 * i},900,{100 + i % 977},{'9' if i % 500 == 0 else ''}"
        )
    big = _write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    process = subprocess.Popen(
        [_espi_sst(), "load", "interval-data", str(big), "--batch-size", "500", "--progress-every", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert process.stderr is not None
    committed = 0
    for line in process.stderr:
        if "committed" in line:
            committed += 1
            if committed == 3:
                process.send_signal(signal.SIGKILL)
                break
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    with app.app_context():
        point = db.session.scalar(select(UsagePoint).where(UsagePoint.uuid == ROSA_ELECTRIC))
        assert point is not None
        mr = db.session.scalar(
            select(MeterReading.id).where(MeterReading.usage_point_id == point.id)
        )
        assert mr is not None
        partial = len(readings_between(db.session, mr))
        db.session.rollback()
    assert 1_500 <= partial < 30_000  # some batches in, not all
    code, out, err = load(capsys, "interval-data", big, args=("--batch-size", "500", "--json"))
    assert code == 0, err
    assert f'"unchanged": {partial}' in out and f'"inserted": {30_000 - partial}' in out
    resumed = snapshot(app)
    # one clean load of the same files into a fresh database
    scratch = postgresql_database() if database.startswith("postgresql") else None
    clean_url = next(scratch) if scratch else f"sqlite:///{tmp_path}/clean.db"
    os.environ["ESPI_DATABASE_URL"] = clean_url
    for kind in ORDER[:-1]:
        assert load(capsys, kind, EXAMPLES / f"{kind}.csv")[0] == 0
    assert load(capsys, "interval-data", big)[0] == 0
    clean = create_app({"TESTING": True, "DATABASE_URL": clean_url, "SECRET_KEY": "t"})
    clean_rows = snapshot(clean)
    for table in resumed:
        assert clean_rows[table] == resumed[table], (
            table,
            [r[:4] for r in clean_rows[table] if r not in resumed[table]][:3],
            [r[:4] for r in resumed[table] if r not in clean_rows[table]][:3],
        )
    clean.extensions["espi_sst_db"].engine.dispose()
    if scratch:
        scratch.close()  # drops the second database


# ---- interval data from ESPI files -------------------------------------------------------

CORPUS_FILES = (
    "pge-opower-2012_electric_interval_data_2011-03-07_to_2012-04-07.xml",
    "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml",
)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_interval_data_round_trips(
    app: Flask, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    for kind in ORDER[:-1]:
        assert load(capsys, kind, EXAMPLES / f"{kind}.csv")[0] == 0
    source = CORPUS / name
    code, out, err = load(
        capsys, "interval-data", source, args=("--usage-point", ROSA_ELECTRIC, "--json")
    )
    assert code == 0, err
    expected: dict[str | None, list[tuple[Any, ...]]] = {}
    for r in iter_interval_readings(source):
        expected.setdefault(r.context.meter_reading, []).append(
            (r.start, r.duration, r.value, r.cost, r.quality)
        )
    with app.app_context():
        point = db.session.scalar(select(UsagePoint).where(UsagePoint.uuid == ROSA_ELECTRIC))
        assert point is not None
        readings = db.session.scalars(
            select(MeterReading).where(MeterReading.usage_point_id == point.id, MeterReading.title != f"{point.title}: delivered")
        ).all()  # fmt: skip
        stored = sorted(sorted(readings_between(db.session, mr.id)) for mr in readings)
    assert stored == sorted(sorted(rows) for rows in expected.values())
    assert sum(map(len, stored)) >= 20
    again = load(capsys, "interval-data", source, args=("--usage-point", ROSA_ELECTRIC, "--json"))
    assert again[0] == 0 and '"inserted": 0' in again[1] and '"updated": 0' in again[1]


def test_an_espi_file_matches_its_usage_point_by_mrid(
    app: Flask, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = CORPUS / "pge-opower-2012_electric_interval_data_2011-03-07_to_2012-04-07.xml"
    code, out, err = load(capsys, "interval-data", source)
    assert code == 1 and "column 'UsagePoint'" in err and "--usage-point" in err
    gz = tmp_path / "feed.xml.gz"
    import gzip

    gz.write_bytes(gzip.compress(source.read_bytes()))
    code, out, err = load(capsys, "interval-data", gz, args=("--usage-point", ROSA_ELECTRIC))
    assert code == 1 and "no loaded usage point has uuid" in err


def test_a_file_that_is_not_espi_is_refused(
    app: Flask, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write(tmp_path, "page.xml", "<html><body>not found</body>")
    code, out, err = load(capsys, "interval-data", path)
    assert code == 1 and str(path) in err and "Traceback" not in err
