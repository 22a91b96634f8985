"""The central authority over real HTTP on a free loopback port, on SQLite and PostgreSQL,
with the server's mail sink (server/demo/mail_sink.py) catching its verification e-mail."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from authority_world import ENTITY_TOKENS, STAFF_PASSWORD, LiveAuthority
from espi_sst_server.authority import create_authority_app
from espi_sst_server.authority.accounts import new_user
from espi_sst_server.demo.mail_sink import MailSink
from werkzeug.serving import make_server


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def authority_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/authority.db"
    else:
        yield from _scratch_databases().postgresql_database()


@pytest.fixture
def live_authority(authority_database_url: str, tmp_path: Path) -> Iterator[LiveAuthority]:
    with MailSink(tmp_path / "maildir") as sink:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        app = create_authority_app(
            {
                "AUTHORITY_DATABASE_URL": authority_database_url,
                "AUTHORITY_ISSUER": url,
                "SECRET_KEY": "test secret key for the authority",
                "AUTHORITY_ENTITY_TOKENS": ENTITY_TOKENS,
                "AUTHORITY_SMTP_PORT": sink.port,
                "AUTHORITY_TERMS_VERSION": "2026-01",
                "AUTHORITY_MAX_DOCUMENT_BYTES": 4096,
            }
        )
        sessions = app.extensions["authority_sessions"]
        with sessions() as session:
            staff, secret = new_user(session, "reviewer@authority.example", STAFF_PASSWORD, None)
            staff.email_verified_at = staff.created_at
            session.commit()
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield LiveAuthority(url, sink, "reviewer@authority.example", secret, sessions)
        finally:
            server.shutdown()
            thread.join(5)
            app.extensions["authority_engine"].dispose()
