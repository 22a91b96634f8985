"""Server tests run on every supported database: SQLite always, PostgreSQL when a test
cluster is available (``./dev test`` starts one when PostgreSQL is installed; CI requires
it via ESPI_REQUIRE_POSTGRESQL, so a missing database fails there instead of skipping)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRESQL_URL = os.environ.get("ESPI_TEST_POSTGRESQL_URL")


def _postgresql_database() -> Iterator[str]:
    if not POSTGRESQL_URL:
        if os.environ.get("ESPI_REQUIRE_POSTGRESQL"):
            pytest.fail(
                "ESPI_REQUIRE_POSTGRESQL is set but no ESPI_TEST_POSTGRESQL_URL: PostgreSQL did not start"
            )
        pytest.skip("no PostgreSQL test cluster (install postgresql; ./dev test starts one)")
    import psycopg

    admin_url = POSTGRESQL_URL.replace("postgresql+psycopg://", "postgresql://")
    name = "espi_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRESQL_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        from sqlalchemy.engine import Engine  # noqa: F401  (engines are disposed by the app)

        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/espi.db"
    else:
        yield from _postgresql_database()
