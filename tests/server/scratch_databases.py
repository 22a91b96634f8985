"""Throw-away databases for the server tests: one PostgreSQL database per use.

``conftest.py``'s ``database_url`` fixture uses it per test; a module-scoped world (the
bolt-on beside a foreign custodian) uses it directly, once per module.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRESQL_URL = os.environ.get("ESPI_TEST_POSTGRESQL_URL")


def postgresql_database() -> Iterator[str]:
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
