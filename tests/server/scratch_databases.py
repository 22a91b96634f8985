"""Throw-away databases for the server tests: one PostgreSQL database per use.

``conftest.py``'s ``database_url`` fixture uses it per test; a module-scoped world (the
bolt-on beside a foreign custodian) uses it directly, once per module.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

POSTGRESQL_URL = os.environ.get("ESPI_TEST_POSTGRESQL_URL")
_POOLER: Any = None


def pooled(url: str) -> str:
    """``url`` itself, or through PgBouncer in transaction mode when ``ESPI_TEST_PGBOUNCER``
    is set (tests/server/pgbouncer.py).

    One PgBouncer serves the whole test session (started at the first use, stopped at
    exit), and ``ESPI_DATABASE_POOLER=transaction`` is set for every app created after it,
    worker processes included: the setting the docs require behind such a pooler.
    """
    global _POOLER
    if not os.environ.get("ESPI_TEST_PGBOUNCER"):
        return url
    if _POOLER is None:
        import atexit
        from contextlib import ExitStack

        from pgbouncer import pgbouncer

        assert POSTGRESQL_URL
        stack = ExitStack()
        _POOLER = stack.enter_context(pgbouncer(POSTGRESQL_URL))
        atexit.register(stack.close)
        os.environ.setdefault("ESPI_DATABASE_POOLER", "transaction")
    return str(_POOLER.url(url))


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
        yield pooled(POSTGRESQL_URL.rsplit("/", 1)[0] + "/" + name)
    finally:
        from sqlalchemy.engine import Engine  # noqa: F401  (engines are disposed by the app)

        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
