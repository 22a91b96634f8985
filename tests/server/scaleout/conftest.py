"""Fixtures of the scale-out tests (two_nodes.py): a scratch PostgreSQL database and a
redis-server per module, seeded once, and nodes A and B serving on them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "limits"))

from redis_server import running_redis  # noqa: E402
from scratch_databases import postgresql_database  # noqa: E402
from two_nodes import seed  # noqa: E402


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """A seeded scratch PostgreSQL database for the module (the nodes' one database)."""
    for url in postgresql_database():
        seed(url)
        yield url


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server for the module (the nodes' one rate-limit store)."""
    with running_redis(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url
