"""The authorization server tests' world (imported by their conftest and tests): an app on a real SQLite database with one
customer, two usage points and three ASP clients, and helpers that drive the real pages."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from espi_sst_server import create_app
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, RetailCustomer, UsagePoint
from flask import Flask
from flask.testing import FlaskClient

ISSUER = "http://127.0.0.1:5000"
SCOPE = "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 basic billing usage sst:rin openid"
REDIRECT = "http://127.0.0.1:8765/callback"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class World:
    app: Flask
    customer_username: str
    customer_password: str
    other_username: str
    confidential_id: str
    confidential_secret: str
    public_id: str
    pending_id: str
    usage_points: list[str]
    other_id: str = "asp-other"  # a second qualified confidential client
    other_secret: str = "another-secret"


def _application(
    client_id: str, secret: str | None, name: str, qualification: str = "qualified"
) -> Application:
    return Application(
        uuid=f"00000000-0000-4000-8000-{abs(hash(client_id)) % 10**12:012d}",
        client_id=client_id,
        client_secret_hash=hash_secret(secret) if secret else None,
        client_name=name,
        client_uri="https://asp.example",
        redirect_uris=[REDIRECT],
        notify_uri="https://asp.example/notify",
        scope=SCOPE + " account program_enrollment sst:bill_comparison sst:rate_change",
        grant_types=["authorization_code", "refresh_token"]
        + (["client_credentials"] if secret else []),
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        qualification=qualification,
        software_id="asp",
        software_version="1",
        contacts=[],
        created_at=now(),
    )


@pytest.fixture()
def world(database_url: str) -> Iterator[World]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "ISSUER": ISSUER,
            "TESTING": True,
            "SECRET_KEY": "test",
        }
    )
    with app.app_context():
        with db.transaction() as session:
            customer = RetailCustomer(
                uuid="11111111-1111-4111-8111-111111111111",
                username="alice",
                password_hash=hash_password("correct horse"),
                display_name="Alice Example",
                email="alice@example.com",
                created_at=now(),
            )
            other = RetailCustomer(
                uuid="22222222-2222-4222-8222-222222222222",
                username="bob",
                password_hash=hash_password("battery staple"),
                display_name="Bob Example",
                created_at=now(),
            )
            session.add_all([customer, other])
            session.flush()
            points = []
            for index, title in enumerate(["Home - electric", "Home - gas"], 1):
                point = UsagePoint(
                    uuid=f"33333333-3333-4333-8333-00000000000{index}",
                    customer_id=customer.id,
                    title=title,
                    service_kind=index - 1,
                    service_agreement=f"SA-{index}",
                    udc="PGE",
                    lse="PGE",
                )
                points.append(point)
            session.add_all(points)
            session.add(
                UsagePoint(
                    uuid="44444444-4444-4444-8444-000000000001",
                    customer_id=other.id,
                    title="Bob home",
                    service_kind=0,
                    service_agreement="SA-9",
                    udc="PGE",
                    lse="PGE",
                )
            )
            session.add_all(
                [
                    _application("asp-confidential", "s3cret-value", "Confidential ASP"),
                    _application("asp-public", None, "Public ASP"),
                    _application(
                        "asp-pending", "other-secret", "Pending ASP", qualification="pending"
                    ),
                    _application("asp-other", "another-secret", "Other ASP"),
                ]
            )
    yield World(
        app,
        "alice",
        "correct horse",
        "bob",
        "asp-confidential",
        "s3cret-value",
        "asp-public",
        "asp-pending",
        [p.uuid for p in points],
    )
    app.extensions[
        "espi_sst_db"
    ].engine.dispose()  # release connections before the database is dropped


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def csrf_of(html: bytes) -> str:
    match = CSRF.search(html.decode())
    assert match, "the page carries a CSRF token"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str) -> None:
    page = client.get("/portal/login")
    response = client.post(
        "/portal/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.data)},
    )
    assert response.status_code == 302, response.data


def authorize_params(client_id: str, challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(8),
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def consent(
    client: FlaskClient, params: dict[str, str], decision: str = "approve", **form: Any
) -> Any:
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200, page.data
    data: dict[str, Any] = {
        "csrf_token": csrf_of(page.data),
        "decision": decision,
        "until_revoked": "y",
    }
    data.setdefault("categories", ["basic", "billing", "usage", "sst:rin"])
    data.update(form)
    return client.post("/oauth/authorize", query_string=params, data=data)


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.data
    location = urlsplit(response.headers["Location"])
    raw = location.fragment if location.fragment else location.query
    return {k: v[0] for k, v in parse_qs(raw).items()}


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def exchange(world: World, client: Any, code: str, verifier: str | None, **extra: str) -> Any:
    """Redeem ``code`` at the token endpoint as the confidential client (the test client's
    answer); ``extra`` overrides or adds form fields."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return client.post(
        "/oauth/token", data=data, headers=basic(world.confidential_id, world.confidential_secret)
    )
