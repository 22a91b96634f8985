"""The central authority over real HTTP on a free loopback port, on SQLite and PostgreSQL,
with the server's mail sink (server/demo/mail_sink.py) catching its verification e-mail."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))  # scratch_databases

from espi_sst_server.authority import create_authority_app  # noqa: E402
from espi_sst_server.authority.accounts import new_user  # noqa: E402
from espi_sst_server.demo.mail_sink import MailSink  # noqa: E402
from scratch_databases import postgresql_database  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

ENTITY_TOKENS = {"PGE": "pge-token-0123456789", "SCE": "sce-token-0123456789"}
STAFF_PASSWORD = "staff password 1234"


@dataclass
class LiveAuthority:
    url: str
    sink: MailSink
    staff_email: str
    staff_totp_secret: str
    sessions: object


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def authority_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/authority.db"
    else:
        yield from postgresql_database()


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
