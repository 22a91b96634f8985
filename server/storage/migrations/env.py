"""Alembic environment: the engine comes from the app (no alembic.ini to keep in sync)."""

from __future__ import annotations

from alembic import context
from espi_sst_server.storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE support
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
