"""The portal tests' world: an app on a fresh database (SQLite, and PostgreSQL when a test
cluster runs: tests/server/conftest.py) with three customers, and browsers that use the
real pages (CSRF tokens included), each from its own remote address.

* ``alice`` -- password ``correct horse``, e-mail alice@example.com, a usage point;
* ``carol`` -- password ``carol's password``, a TOTP second factor (``CAROL_TOTP``), e-mail;
* ``bob`` -- password ``battery staple``, no e-mail address.

``clock`` moves the real clock (``time.time``) forward for everything in the process --
sessions, backoff, cookie signatures, Flask-Limiter's windows -- so "after the wait" is
tested without waiting.  ``serve`` runs the app on a real socket for parallel requests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    AuditEvent,
    OutboxMessage,
    RetailCustomer,
    SignInThrottle,
    UsagePoint,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CAROL_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ALICE_UUID = "11111111-1111-4111-8111-111111111111"
CAROL_UUID = "55555555-5555-4555-8555-555555555555"
LOOSE = "10000 per minute"
ASP = "asp-public"
REDIRECT = "http://127.0.0.1:8765/callback"
SCOPE = "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 basic usage"


def authorize_query(client_id: str = ASP) -> dict[str, str]:
    """A valid authorization request of the world's public ASP (PKCE S256)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }


def csrf_of(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    match = CSRF.search(text)
    assert match, "the page carries a CSRF token"
    return match.group(1)


class Clock:
    """``time.time`` moved forward by ``offset`` seconds (monkeypatched for the test)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Browser:
    """One browser (its own cookies) at one remote address, using the real pages."""

    client: FlaskClient
    address: str

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, environ_base={"REMOTE_ADDR": self.address}, **kwargs)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.client.post(
            path, data=data, environ_base={"REMOTE_ADDR": self.address}, **kwargs
        )

    def sign_in(self, username: str, password: str) -> Any:
        page = self.get("/portal/login")
        return self.post(
            "/portal/login",
            {"username": username, "password": password, "csrf_token": csrf_of(page.data)},
        )

    def enter_code(self, code: str) -> Any:
        page = self.get("/portal/login/code")
        assert page.status_code == 200, page.status_code
        return self.post("/portal/login/code", {"code": code, "csrf_token": csrf_of(page.data)})

    def sign_out(self) -> Any:
        page = self.get("/portal/authorizations")
        return self.post("/portal/logout", {"csrf_token": csrf_of(page.data)})

    def signed_in(self) -> bool:
        page = self.get("/portal/authorizations")
        if page.status_code == 200:
            return True
        assert page.status_code == 302 and "/portal/login" in page.headers["Location"]
        return False

    def cookie(self, name: str = "session") -> str | None:
        found = self.client.get_cookie(name)
        return found.value if found is not None else None


@dataclass
class Portal:
    app: Flask
    _addresses: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def browser(self, address: str | None = None) -> Browser:
        if address is None:
            number = next(self._addresses)
            address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        return Browser(self.app.test_client(), address)

    def rows(self, model: type[Any]) -> list[Any]:
        with self.app.app_context():
            found = list(db.session.scalars(select(model)).all())
            db.session.expunge_all()
            return found

    def emails(self) -> list[OutboxMessage]:
        return [row for row in self.rows(OutboxMessage) if row.kind == "email"]

    def opened(self, message: OutboxMessage) -> dict[str, Any]:
        """An outbox row's payload with its sealed body opened (server/outbox/queue.py)."""
        with self.app.app_context():
            return open_payload(self.app, message)

    def audit(self) -> list[AuditEvent]:
        return self.rows(AuditEvent)

    def throttles(self) -> list[SignInThrottle]:
        return self.rows(SignInThrottle)


def _customers() -> list[RetailCustomer]:
    return [
        RetailCustomer(
            uuid=ALICE_UUID,
            username="alice",
            password_hash=hash_password("correct horse"),
            display_name="Alice Example",
            email="alice@example.com",
            created_at=now(),
        ),
        RetailCustomer(
            uuid="22222222-2222-4222-8222-222222222222",
            username="bob",
            password_hash=hash_password("battery staple"),
            display_name="Bob Example",
            created_at=now(),
        ),
        RetailCustomer(
            uuid=CAROL_UUID,
            username="carol",
            password_hash=hash_password("carol's password"),
            totp_secret=CAROL_TOTP,
            display_name="Carol Example",
            email="carol@example.com",
            created_at=now(),
        ),
    ]


@pytest.fixture()
def make_portal(database_url: str) -> Iterator[Callable[..., Portal]]:
    """``make_portal(**config)``: the world's app with these settings (once per test)."""
    apps: list[Flask] = []

    def make(**config: Any) -> Portal:
        assert not apps, "one app per test: they would share the database"
        settings: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "portal-test-key",
            "TESTING": True,
            "LOGIN_IP_RATE_LIMIT": LOOSE,
        }
        settings.update(config)
        app: Flask = create_app(settings)
        apps.append(app)
        with app.app_context(), db.transaction() as session:
            customers = _customers()
            session.add_all(customers)
            session.flush()
            session.add(
                UsagePoint(
                    uuid="33333333-3333-4333-8333-000000000001",
                    customer_id=customers[0].id,
                    title="Home - electric",
                    service_kind=0,
                    service_agreement="SA-1",
                    udc="PGE",
                    lse="PGE",
                )
            )
            session.add(
                Application(
                    uuid="00000000-0000-4000-8000-000000000001",
                    client_id=ASP,
                    client_secret_hash=None,
                    client_name="Public ASP",
                    client_uri="https://asp.example",
                    redirect_uris=[REDIRECT],
                    notify_uri="https://asp.example/notify",
                    scope=SCOPE,
                    grant_types=["authorization_code", "refresh_token"],
                    token_endpoint_auth_method="none",
                    qualification="qualified",
                    software_id="asp",
                    software_version="1",
                    contacts=[],
                    created_at=now(),
                )
            )
        return Portal(app)

    yield make
    for app in apps:
        app.extensions["espi_sst_db"].engine.dispose()  # before the database is dropped


@pytest.fixture()
def portal(make_portal: Callable[..., Portal]) -> Portal:
    return make_portal()


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


class HttpBrowser:
    """A browser over a real socket (requests), for parallel tests."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def close(self) -> None:
        self.http.close()

    def sign_in(self, username: str, password: str) -> requests.Response:
        page = self.http.get(f"{self.base}/portal/login", timeout=30)
        return self.http.post(
            f"{self.base}/portal/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
            allow_redirects=False,
            timeout=30,
        )

    def code_form(self) -> dict[str, str]:
        page = self.http.get(f"{self.base}/portal/login/code", timeout=30)
        assert page.status_code == 200, page.status_code
        return {"csrf_token": csrf_of(page.text)}

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.http.post(f"{self.base}{path}", data=data, allow_redirects=False, timeout=60)
