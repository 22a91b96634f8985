"""What the authority's tests share with their fixtures (conftest.py): the entities' tokens,
the staff password, the running authority's handle, and how to serve one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from espi_sst_server.authority import create_authority_app
from espi_sst_server.authority.accounts import new_user
from espi_sst_server.authority.models import StaffUser
from espi_sst_server.demo.mail_sink import MailSink
from sqlalchemy import select
from werkzeug.serving import make_server

ENTITY_TOKENS = {"PGE": "pge-token-0123456789", "SCE": "sce-token-0123456789"}
STAFF_PASSWORD = "staff password 1234"
STAFF_EMAIL = "reviewer@authority.example"


@dataclass
class LiveAuthority:
    url: str
    sink: MailSink
    staff_email: str
    staff_totp_secret: str
    sessions: Any


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving_authority(database_url: str, sink: MailSink, **config: Any) -> Iterator[LiveAuthority]:
    """An authority app on a free loopback port (``config`` over the tests' settings), with
    its staff member; several may share one database (two instances behind one Redis)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_authority_app(
        {
            "AUTHORITY_DATABASE_URL": database_url,
            "AUTHORITY_ISSUER": url,
            "SECRET_KEY": "test secret key for the authority",
            "AUTHORITY_ENTITY_TOKENS": ENTITY_TOKENS,
            "AUTHORITY_SMTP_PORT": sink.port,
            "AUTHORITY_TERMS_VERSION": "2026-01",
            "AUTHORITY_MAX_DOCUMENT_BYTES": 4096,
            **config,
        }
    )
    sessions = app.extensions["authority_sessions"]
    secret = ""
    with sessions() as session:
        if session.scalar(select(StaffUser).where(StaffUser.email == STAFF_EMAIL)) is None:
            staff, secret = new_user(session, STAFF_EMAIL, STAFF_PASSWORD, None)
            staff.email_verified_at = staff.created_at
            session.commit()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveAuthority(url, sink, STAFF_EMAIL, secret, sessions)
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["authority_engine"].dispose()
