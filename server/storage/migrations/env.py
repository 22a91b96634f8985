"""Alembic environment: the engine comes from the app (no alembic.ini to keep in sync).

On PostgreSQL the whole upgrade runs in one transaction that first takes a transaction-level
advisory lock (PostgreSQL documentation, 10.3 "Advisory Locks"): gunicorn's workers each
migrate at start (``ESPI_AUTO_MIGRATE``), and on a fresh database two of them used to create
the same tables at once -- one died on a duplicate key in ``alembic_version``.  Now the
second waits for the first to commit, then reads the version it wrote and has nothing to
do.  SQLite serialises writers itself (one database file, ``busy_timeout``).
"""

from __future__ import annotations

from alembic import context
from espi_sst_server.storage.models import Base
from sqlalchemy import text

MIGRATION_LOCK = 0x65737069  # "espi": one key for every espi-sst schema change

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE support
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
