"""The Alembic migrations build exactly the schema the models describe, on every database.

A model change without a migration would work in tests that create tables from the models
and break every utility upgrading a real database; this catches it.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from espi_sst_server.storage import upgrade
from espi_sst_server.storage.models import Base
from sqlalchemy import create_engine, inspect


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent: a restart migrates nothing
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
        tables = set(inspect(engine).get_table_names())
        assert {"token", "authorization", "interval_block", "tariff", "audit_event"} <= tables
    finally:
        engine.dispose()
