"""``espi-sst migrate`` on an empty database, as an operator runs it before starting new code;
and several processes migrating one fresh PostgreSQL database at once (gunicorn's workers
with ``ESPI_AUTO_MIGRATE`` on), which used to kill one of them on ``alembic_version``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_world import cli
from alembic.script import ScriptDirectory
from espi_sst_server.storage import MIGRATIONS
from scratch_databases import postgresql_database
from sqlalchemy import create_engine, inspect


def _head() -> str:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())


def _revisions() -> list[str]:
    return sorted(path.name[:4] for path in (MIGRATIONS / "versions").glob("0*.py"))


def test_upgrade_an_empty_database_then_current_is_head(database_url: str) -> None:
    empty = cli(database_url, "migrate", "current", "--check")
    assert empty.returncode == 1 and "no revision (empty database)" in empty.stdout
    first = cli(database_url, "migrate", "upgrade", "0003")
    assert first.returncode == 0 and "an empty database -> 0003" in first.stdout, first.stderr
    behind = cli(database_url, "migrate", "current")
    assert behind.returncode == 0 and f"0003 (behind head {_head()})" in behind.stdout
    done = cli(database_url, "migrate", "upgrade")
    assert done.returncode == 0 and f"0003 -> {_head()}" in done.stdout, done.stderr
    current = cli(database_url, "migrate", "current", "--check")
    assert current.returncode == 0 and f": {_head()} (at head)" in current.stdout
    again = cli(database_url, "migrate", "upgrade")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    engine = create_engine(database_url)
    try:
        assert {"application", "authorization", "outbox_message"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()


def test_history_lists_every_revision_oldest_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    assert cli(url, "migrate", "upgrade").returncode == 0
    done = cli(url, "migrate", "history")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == _revisions() and listed[0] == "0001" and listed[-1] == _head()
    assert done.stdout.splitlines()[-1].endswith("<- current")


def test_an_unknown_revision_or_database_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    unknown = cli(url, "migrate", "upgrade", "0999")
    assert unknown.returncode == 1 and "0999" in unknown.stderr
    assert "Traceback" not in unknown.stderr and unknown.stderr.count("\n") == 1
    unreachable = cli("postgresql+psycopg://nobody@127.0.0.1:1/none", "migrate", "current")
    assert unreachable.returncode == 1 and "the database refused" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


@pytest.fixture
def fresh_postgresql() -> Iterator[str]:
    yield from postgresql_database()


def test_workers_starting_together_on_a_fresh_database_all_start(fresh_postgresql: str) -> None:
    """What each gunicorn worker does at start with ESPI_AUTO_MIGRATE on (create_app ->
    storage.upgrade), four at once: all succeed, the schema is at head once."""
    code = (
        "import sys; from sqlalchemy import create_engine; "
        "from espi_sst_server.storage import upgrade; upgrade(create_engine(sys.argv[1]))"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_postgresql], stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], errors
    current = cli(fresh_postgresql, "migrate", "current", "--check")
    assert current.returncode == 0, current.stdout
