"""A small world for the edge tests (tests/server/security/test_edge.py, the client and
resource parts of tests/server/limits/test_rate_limits.py): an app on a real database with
one customer, her usage point, two confidential ASPs and a public one, each ASP holding a
grant of hers and a bearer token -- the rows the OAuth flow would leave (the flow itself:
tests/server/oauth)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from espi_sst_server import create_app
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import hash_secret, new_uuid, now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    RetailCustomer,
    Token,
    UsagePoint,
)
from flask import Flask

PREFIX = "/espi/1_1/resource"
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 "
    "basic billing usage sst:rin sst:rate_change"
)
REDIRECT = "http://127.0.0.1:8765/callback"
SECRETS = {"asp-a": "secret-of-a", "asp-b": "secret-of-b", "asp-public": None}


@dataclass(frozen=True)
class Grant:
    client_id: str
    token: str
    refresh_token: str
    subscription: str
    usage_point: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str = "") -> str:
        return f"{PREFIX}/Subscription/{self.subscription}/UsagePoint/{self.usage_point}{path}"

    @property
    def batch(self) -> str:
        return f"{PREFIX}/Batch/Subscription/{self.subscription}"


@dataclass(frozen=True)
class EdgeWorld:
    app: Flask
    grants: dict[str, Grant]  # client id -> its grant of alice's usage point


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _application(client_id: str, secret: str | None) -> Application:
    return Application(
        uuid=new_uuid(),
        client_id=client_id,
        client_secret_hash=hash_secret(secret) if secret else None,
        client_name=client_id.upper(),
        client_uri="https://asp.example",
        redirect_uris=[REDIRECT],
        notify_uri="https://asp.example/notify",
        scope=SCOPE,
        grant_types=["authorization_code", "refresh_token"]
        + (["client_credentials"] if secret else []),
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        qualification="qualified",
        software_id=client_id,
        software_version="1",
        contacts=[],
        created_at=now(),
    )


def make_edge_world(database_url: str, **config: Any) -> EdgeWorld:
    settings: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "ISSUER": "http://127.0.0.1:5000",
        "TESTING": True,
        "SECRET_KEY": "test",
    }
    settings.update(config)
    app = create_app(settings)
    grants: dict[str, Grant] = {}
    with app.app_context(), db.transaction() as session:
        alice = RetailCustomer(
            uuid=new_uuid(),
            username="alice",
            password_hash=hash_password("correct horse"),
            display_name="Alice Example",
            email="alice@example.com",
            created_at=now(),
        )
        session.add(alice)
        session.flush()
        point = UsagePoint(
            uuid=new_uuid(),
            customer_id=alice.id,
            title="Home - electric",
            service_kind=0,
            service_agreement="SA-1",
            udc="PGE",
            lse="PGE",
        )
        session.add(point)
        for client_id, secret in SECRETS.items():
            application = _application(client_id, secret)
            session.add(application)
            session.flush()
            moment = now()
            authorization = Authorization(
                uuid=new_uuid(),
                subscription_uuid=new_uuid(),
                customer_id=alice.id,
                application_id=application.id,
                scope=SCOPE,
                status=1,
                created_at=moment,
                updated_at=moment,
                grant_type="authorization_code",
                usage_points=[point],
            )
            session.add(authorization)
            session.flush()
            token, refresh = f"token-of-{client_id}", f"refresh-of-{client_id}"
            session.add(
                Token(
                    family=new_uuid(),
                    client_id=client_id,
                    authorization_id=authorization.id,
                    access_token_hash=hash_secret(token),
                    refresh_token_hash=hash_secret(refresh),
                    scope=SCOPE,
                    issued_at=moment,
                    access_expires_at=moment + 3600,
                    refresh_expires_at=moment + 86400,
                )
            )
            grants[client_id] = Grant(
                client_id, token, refresh, authorization.subscription_uuid, point.uuid
            )
    return EdgeWorld(app, grants)


def dispose(world: EdgeWorld) -> None:
    """Release the pool before the test database is dropped."""
    world.app.extensions["espi_sst_db"].engine.dispose()
