"""The authority's Alembic environment: the engine comes from the app; the version table is
``authority_alembic_version`` so the authority can share a database with an entity's server
without the two chains meeting.  PostgreSQL: one transaction under an advisory lock, like the
server's (server/storage/migrations/env.py)."""

from __future__ import annotations

from alembic import context
from espi_sst_server.authority.models import AuthorityBase
from sqlalchemy import text

MIGRATION_LOCK = 0x61757468  # "auth"

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=AuthorityBase.metadata,
        version_table="authority_alembic_version",
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
