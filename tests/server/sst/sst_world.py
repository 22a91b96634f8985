"""The SST tests' world: the demo utility, seeded once per database kind, cloned per test.

Seeding writes ~210k interval rows, too slow to repeat per test; so one seeded database
is the template: SQLite tests copy the file, PostgreSQL tests ``CREATE DATABASE ...
TEMPLATE`` (a server-side copy).  Each test then has its own database to change.

The seed's "now" is the real time at the start of the session, because the server's SST
services use the real clock (billing cycles, passcode expiry); the worker's ``run_once``
takes an explicit ``now`` to move time forward.

``SstWorld.grant(username, scope)`` adds an authorization of the demo ASP
``demo-energy-insights`` for every usage point of the customer, with a bearer token, the
way the OAuth flow would leave them (the flow itself is tested in tests/server/oauth).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from espi_sst_server import create_app
from espi_sst_server.demo import DemoData, seed
from espi_sst_server.security import hash_secret, new_uuid
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    OutboxMessage,
    RateChangeRequestRecord,
    RetailCustomer,
    Token,
    UsagePoint,
)
from flask import Flask
from flask.testing import FlaskClient
from scratch_databases import pooled
from sqlalchemy import select
from sqlalchemy.orm import Session

SEED_NOW = int(time.time())
FB = "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13"
ALL_SST = f"{FB} usage billing sst:rin sst:bill_comparison sst:rate_change"
ASP = "demo-energy-insights"
PREFIX = "/espi/1_1/resource"
POSTGRESQL_URL = os.environ.get("ESPI_TEST_POSTGRESQL_URL")


def _seed(url: str) -> DemoData:
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "t"})
    with app.app_context(), db.transaction() as session:
        data = seed(session, now=SEED_NOW)
    app.extensions["espi_sst_db"].engine.dispose()
    return data


@dataclass
class Templates:
    sqlite_file: Path | None = None
    postgresql_name: str | None = None
    data: DemoData | None = None


@pytest.fixture(scope="session")
def sst_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    templates = Templates()
    yield templates
    if templates.postgresql_name and POSTGRESQL_URL:
        import psycopg

        with psycopg.connect(_admin_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{templates.postgresql_name}" WITH (FORCE)')


def _admin_url() -> str:
    assert POSTGRESQL_URL
    return POSTGRESQL_URL.replace("postgresql+psycopg://", "postgresql://")


def _sibling(name: str) -> str:
    assert POSTGRESQL_URL
    return POSTGRESQL_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def sst_database(
    request: pytest.FixtureRequest,
    sst_templates: Templates,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> Iterator[tuple[str, DemoData]]:
    """A fresh copy of the seeded demo database of each kind: (url, demo data)."""
    if request.param == "sqlite":
        if sst_templates.sqlite_file is None:
            path = tmp_path_factory.mktemp("sst-template") / "template.db"
            sst_templates.data = _seed(f"sqlite:///{path}")
            sst_templates.sqlite_file = path
        target = tmp_path / "sst.db"
        shutil.copyfile(sst_templates.sqlite_file, target)
        assert sst_templates.data is not None
        yield f"sqlite:///{target}", sst_templates.data
        return
    if not POSTGRESQL_URL:
        if os.environ.get("ESPI_REQUIRE_POSTGRESQL"):
            pytest.fail("ESPI_REQUIRE_POSTGRESQL is set but no ESPI_TEST_POSTGRESQL_URL")
        pytest.skip("no PostgreSQL test cluster (install postgresql; ./dev test starts one)")
    import psycopg

    if sst_templates.postgresql_name is None:
        name = "espi_sst_template_" + uuid.uuid4().hex[:8]
        with psycopg.connect(_admin_url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        sst_templates.data = _seed(_sibling(name))
        sst_templates.postgresql_name = name
    copy = "espi_sst_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{sst_templates.postgresql_name}"')
    try:
        assert sst_templates.data is not None
        yield pooled(_sibling(copy)), sst_templates.data
    finally:
        with psycopg.connect(_admin_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


@dataclass
class Granted:
    token: str
    subscription: str
    authorization_uuid: str
    usage_points: dict[str, str]  # "electric" / "gas" -> usage point uuid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str = "", service: str = "electric") -> str:
        point = self.usage_points[service]
        return f"{PREFIX}/Subscription/{self.subscription}/UsagePoint/{point}{path}"


@dataclass
class SstWorld:
    app: Flask
    client: FlaskClient
    data: DemoData
    url: str
    config: dict[str, Any] = field(default_factory=dict)

    def session(self) -> Session:
        with self.app.app_context():
            engine = self.app.extensions["espi_sst_db"].engine
        return Session(engine, expire_on_commit=False)

    def grant(self, username: str, scope: str = ALL_SST, *, client_id: str = ASP) -> Granted:
        now = int(time.time())
        token = "t-" + uuid.uuid4().hex
        with self.session() as s:
            customer = s.scalar(select(RetailCustomer).where(RetailCustomer.username == username))
            application = s.scalar(select(Application).where(Application.client_id == client_id))
            assert customer is not None and application is not None
            points = list(customer.usage_points)
            authorization = Authorization(
                uuid=new_uuid(),
                subscription_uuid=new_uuid(),
                customer_id=customer.id,
                application_id=application.id,
                scope=scope,
                status=1,
                created_at=now,
                updated_at=now,
                grant_type="authorization_code",
                usage_points=points,
            )
            s.add(authorization)
            s.flush()
            s.add(
                Token(
                    family=new_uuid(),
                    client_id=client_id,
                    authorization_id=authorization.id,
                    access_token_hash=hash_secret(token),
                    scope=scope,
                    issued_at=now,
                    access_expires_at=now + 3600,
                )
            )
            s.commit()
            services = {("electric" if p.service_kind == 0 else "gas"): p.uuid for p in points}
            return Granted(token, authorization.subscription_uuid, authorization.uuid, services)

    def point(self, session: Session, uuid_: str) -> UsagePoint:
        found = session.scalar(select(UsagePoint).where(UsagePoint.uuid == uuid_))
        assert found is not None
        return found

    def customer_points(self, session: Session, username: str) -> list[UsagePoint]:
        return list(
            session.scalars(
                select(UsagePoint)
                .join(RetailCustomer, RetailCustomer.id == UsagePoint.customer_id)
                .where(RetailCustomer.username == username)
            )
        )

    def request_row(self, session: Session, rid: str) -> RateChangeRequestRecord:
        found = session.scalar(
            select(RateChangeRequestRecord).where(RateChangeRequestRecord.uuid == rid)
        )
        assert found is not None
        return found

    def mails(self, session: Session, to: str) -> list[OutboxMessage]:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "email", OutboxMessage.destination == to)
                .order_by(OutboxMessage.id)
            )
        )


def make_world(url: str, data: DemoData, **config: Any) -> SstWorld:
    settings = {
        "DATABASE_URL": url,
        "TESTING": True,
        "SECRET_KEY": "test",
        "ISSUER": "http://127.0.0.1:5999",
        "RATELIMIT_ENABLED": False,
        **config,
    }
    app = create_app(settings)
    return SstWorld(app, app.test_client(), data, url, settings)


@pytest.fixture
def world(sst_database: tuple[str, DemoData]) -> Iterator[SstWorld]:
    url, data = sst_database
    made = make_world(url, data)
    yield made
    made.app.extensions["espi_sst_db"].engine.dispose()
