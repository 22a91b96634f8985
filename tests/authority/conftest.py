"""The central authority over real HTTP on a free loopback port, on SQLite and PostgreSQL,
with the server's mail sink (server/demo/mail_sink.py) catching its verification e-mail."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from authority_world import LiveAuthority, serving_authority
from espi_sst_server.demo.mail_sink import MailSink


def _scratch_databases() -> ModuleType:
    """tests/server/scratch_databases.py (the server tests' throw-away PostgreSQL databases),
    the module already imported when the server's tests run in the same session."""
    if "scratch_databases" not in sys.modules:
        path = Path(__file__).parents[1] / "server" / "scratch_databases.py"
        spec = importlib.util.spec_from_file_location("scratch_databases", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["scratch_databases"] = module
        spec.loader.exec_module(module)
    return sys.modules["scratch_databases"]


@pytest.fixture(params=["sqlite", "postgresql"])
def authority_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/authority.db"
    else:
        yield from _scratch_databases().postgresql_database()


@pytest.fixture
def live_authority(authority_database_url: str, tmp_path: Path) -> Iterator[LiveAuthority]:
    with MailSink(tmp_path / "maildir") as sink:
        with serving_authority(authority_database_url, sink) as authority:
            yield authority
