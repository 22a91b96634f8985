"""Storage: SQLAlchemy 2 on SQLite (embedded default) or PostgreSQL, migrated by Alembic.

One :class:`Database` per app (in ``app.extensions``); ``db`` reaches the current app's,
so two apps in one process (a test with an upstream and a bolt-on server) never share an
engine.  A request's session is removed at the end of the app context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from .models import Base

MIGRATIONS = Path(__file__).parent / "migrations"


POOLERS = ("", "session", "transaction")


def pooler_connect_args(pooler: object) -> dict[str, Any]:
    """psycopg's connect arguments for ``DATABASE_POOLER`` (docs/deployment.md).

    ``"transaction"``: PgBouncer in ``pool_mode = transaction`` hands each transaction any
    of its server connections, so a statement psycopg 3 prepared on one (it prepares a query
    on its sixth run, ``prepare_threshold`` 5) is missing on the next -- "prepared statement
    \"_pg3_0\" does not exist".  PgBouncer 1.21 can track protocol-level prepared statements
    (``max_prepared_statements``); 1.18 (Debian 12) cannot, so psycopg never prepares
    (``prepare_threshold=None``).  Nothing else the server does holds state past a
    transaction: no SET, LISTEN, temporary table or session advisory lock (the migration lock
    is ``pg_advisory_xact_lock``).
    """
    value = "" if pooler is None else str(pooler).strip().lower()
    if value not in POOLERS:  # server/config.py refuses it first, with a ConfigurationError
        raise ValueError(f"DATABASE_POOLER {pooler!r} is not one of {POOLERS}")
    return {"prepare_threshold": None} if value == "transaction" else {}


class Database:
    """The app's engine and request-scoped session."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory: scoped_session[Session] | None = None

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        options: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False}
        else:
            options["pool_pre_ping"] = True
            options["connect_args"] = pooler_connect_args(app.config.get("DATABASE_POOLER"))
        self.engine = create_engine(url, **options)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._factory = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))
        app.teardown_appcontext(self._remove)
        app.extensions["espi_sst_db"] = self
        if app.config["AUTO_MIGRATE"]:
            upgrade(self.engine)

    @property
    def session(self) -> Session:
        assert self._factory is not None, "Database.init_app was not called"
        return self._factory()

    def stream_session(self) -> Session:
        """A session of its own for a streamed response body (``resource/feed_response.py``):
        the request's session is removed when the view returns, before the body is written,
        which would detach every row the stream still reads.  The stream closes it."""
        assert self._factory is not None, "Database.init_app was not called"
        return self._factory.session_factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        session = self.session
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def read_only_request(self) -> None:
        """Declare the request's session a reader: on PostgreSQL its statements then run in
        autocommit, without the ``BEGIN`` and ``ROLLBACK`` round trips around them.

        What each statement sees is unchanged: under PostgreSQL's default READ COMMITTED
        every statement takes its own snapshot inside a transaction too (PostgreSQL
        documentation, 13.2.1), and a SELECT's ACCESS SHARE locks conflict only with DDL.
        A view calls this before its first query, and only if it writes nothing: a write
        would commit at once.  SQLite's driver opens no transaction for reads, so there it
        changes nothing.  Measured on the UsageSummary GET (issue 17, bench/server).
        """
        if self.engine is None or self.engine.dialect.name != "postgresql":
            return
        session = self.session
        if not session.in_transaction():  # a connection already begun keeps its mode
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def _remove(self, _exc: BaseException | None = None) -> None:
        if self._factory is not None:
            self._factory.remove()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


class _CurrentDatabase:
    """``db``: the current app's :class:`Database` (``init_app`` creates one per app)."""

    def init_app(self, app: Flask) -> None:
        Database().init_app(app)

    @property
    def _database(self) -> Database:
        database: Database = current_app.extensions["espi_sst_db"]
        return database

    @property
    def engine(self) -> Engine | None:
        return self._database.engine

    @property
    def session(self) -> Session:
        return self._database.session

    def transaction(self) -> Any:
        return self._database.transaction()

    def read_only_request(self) -> None:
        self._database.read_only_request()

    def stream_session(self) -> Session:
        return self._database.stream_session()


db = _CurrentDatabase()

__all__ = ["Base", "Database", "db", "upgrade"]
