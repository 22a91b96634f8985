"""PgBouncer in transaction pooling mode (issue 21, "Connection pooling"): what breaks and
the setting that fixes it, shown on a real PgBouncer (tests/server/pgbouncer.py).

In transaction mode each transaction may run on another server connection.  psycopg 3
prepares a query on a connection after ``prepare_threshold`` (5) runs; the next
transaction through PgBouncer may land on a server connection that never saw it.  The
test forces that deterministically: a pool of two, the first connection's statement
prepared on one server connection, a second client holding that one in an open
transaction.  ``DATABASE_POOLER = "transaction"`` (server/storage) turns preparing off.
The whole server suite runs through PgBouncer with ``ESPI_TEST_PGBOUNCER=1``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from espi_sst_server import create_app
from espi_sst_server.errors import ConfigurationError
from espi_sst_server.storage import pooler_connect_args
from pgbouncer import available, pgbouncer
from scratch_databases import POSTGRESQL_URL

pytestmark = pytest.mark.skipif(not available(), reason="pgbouncer is not installed")


def _needs_postgresql() -> str:
    if not POSTGRESQL_URL:
        pytest.skip("no PostgreSQL test cluster")
    return POSTGRESQL_URL


def _run_on_another_server_connection(url: str, connect_args: dict[str, object]) -> int:
    one = psycopg.connect(url, autocommit=True, **connect_args)  # type: ignore[arg-type]
    two = psycopg.connect(url, **connect_args)  # type: ignore[arg-type]
    try:
        for i in range(7):  # prepared on the 6th run, on the server connection it got
            one.execute("SELECT %s::int + 1", (i,)).fetchone()
        two.execute("SELECT 1")  # takes that server connection, in an open transaction
        row = one.execute("SELECT %s::int + 1", (41,)).fetchone()
        assert row is not None
        return int(row[0])
    finally:
        one.close()
        two.close()


def test_prepared_statements_break_in_transaction_mode_unless_the_pooler_setting_is_on() -> None:
    direct = _needs_postgresql()
    with pgbouncer(direct, pool_size=2) as bouncer:
        url = bouncer.url(direct).replace("postgresql+psycopg://", "postgresql://")
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            _run_on_another_server_connection(url, pooler_connect_args(""))
        assert _run_on_another_server_connection(url, pooler_connect_args("transaction")) == 42


def test_an_app_behind_pgbouncer_migrates_and_serves() -> None:
    direct = _needs_postgresql()
    from scratch_databases import postgresql_database

    databases = postgresql_database()
    database = next(databases)
    try:
        with pgbouncer(direct) as bouncer:
            app = create_app(
                {
                    "DATABASE_URL": bouncer.url(database),
                    "DATABASE_POOLER": "transaction",
                    "SECRET_KEY": "t",
                    "TESTING": True,
                }
            )
            try:
                client = app.test_client()
                for _ in range(20):  # past psycopg's prepare threshold on every connection
                    assert client.get("/readyz").status_code == 200
                    assert client.get("/oauth/jwks.json").status_code == 200
            finally:
                app.extensions["espi_sst_db"].engine.dispose()
    finally:
        databases.close()


def test_an_unknown_pooler_setting_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_POOLER is 'pgbouncer'.*transaction"):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                "DATABASE_POOLER": "pgbouncer",
                "SECRET_KEY": "t",
                "TESTING": True,
            }
        )
