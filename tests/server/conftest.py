"""Server tests run on every supported database: SQLite always, PostgreSQL when a test
cluster is available (``./dev test`` starts one when PostgreSQL is installed; CI requires
it via ESPI_REQUIRE_POSTGRESQL, so a missing database fails there instead of skipping)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scratch_databases import postgresql_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/espi.db"
    else:
        yield from postgresql_database()
