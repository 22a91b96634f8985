"""The authority's Alembic chain builds exactly the tables its models declare, on SQLite and
PostgreSQL (alembic check: no operation left to generate), under its own version table."""

from __future__ import annotations

from alembic import command
from espi_sst_server.authority.database import alembic_config, make_engine, upgrade
from sqlalchemy import inspect


def test_the_migrations_match_the_models(authority_database_url: str) -> None:
    engine = make_engine(authority_database_url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second run has nothing to do
        command.check(alembic_config(engine))  # raises when models and migrations differ
        assert "authority_alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
