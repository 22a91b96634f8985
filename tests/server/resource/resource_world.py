"""The resource API tests' world, on a fresh database (SQLite, and PostgreSQL when a test
cluster runs: tests/server/conftest.py): two customers, two ASPs, their grants and tokens.

Rows are made with the ORM (no mocks): tokens are ``token`` rows holding the SHA-256 of
the bearer string, authorizations are active ``authorization`` rows linked to the usage
points the customer shared.

* customer A: usage point ``up_a1`` (Pacific time, 119 hourly readings over 2024-03-08 ..
  2024-03-12 local, across the spring DST change; two UsageSummaries) and ``up_a2`` (gas,
  no LocalTimeParameters);
* customer B: usage point ``up_b1``;
* ASP A holds subscription ``sub_a`` (customer A, up_a1 only); ASP B holds ``sub_ab``
  (customer A, both points) and ``sub_b`` (customer B).

Tests get the ids and constants from the ``world`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from espi_sst_server import create_app
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import write_readings
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    Token,
    UsagePoint,
    UsageSummary,
)
from espi_sst_server.storage.zones import zone_of
from flask import Flask
from flask.testing import FlaskClient

FULL_SCOPE = "FB=4_5_15;IntervalDuration=3600;BlockDuration=daily;HistoryLength=13 usage billing"
APP_SCOPE = "FB=4_5_15_35;IntervalDuration=3600;BlockDuration=daily;HistoryLength=13 usage billing"
"""What the two ASPs are registered for: the grants' scope and bulk transfer (FB 35)."""
MAR_8_PST = 1_709_884_800  # 2024-03-08T00:00:00-08:00
MAR_13_PDT = 1_710_313_200  # 2024-03-13T00:00:00-07:00 (DST began 2024-03-10 02:00)
LOCAL_MIDNIGHTS = (
    1_709_884_800,  # Mar 8  (PST)
    1_709_971_200,  # Mar 9  (PST)
    1_710_057_600,  # Mar 10 (PST; 23 hours long)
    1_710_140_400,  # Mar 11 (PDT)
    1_710_226_800,  # Mar 12 (PDT)
)


@dataclass(frozen=True)
class World:
    """The ids and constants the tests ask for."""

    full_scope: str = FULL_SCOPE
    local_midnights: tuple[int, ...] = LOCAL_MIDNIGHTS  # the days of mr_a1's readings
    readings_end: int = MAR_13_PDT  # the end of mr_a1's last reading

    sub_a: str = "10000000-0000-4000-8000-00000000000a"
    sub_ab: str = "10000000-0000-4000-8000-0000000000ab"
    sub_b: str = "10000000-0000-4000-8000-00000000000b"
    sub_gone: str = "10000000-0000-4000-8000-0000000000ff"
    auth_a: str = "20000000-0000-4000-8000-00000000000a"
    auth_ab: str = "20000000-0000-4000-8000-0000000000ab"
    auth_b: str = "20000000-0000-4000-8000-00000000000b"
    auth_gone: str = "20000000-0000-4000-8000-0000000000ff"
    up_a1: str = "30000000-0000-4000-8000-0000000000a1"
    up_a2: str = "30000000-0000-4000-8000-0000000000a2"
    up_b1: str = "30000000-0000-4000-8000-0000000000b1"
    mr_a1: str = "40000000-0000-4000-8000-0000000000a1"
    mr_a2: str = "40000000-0000-4000-8000-0000000000a2"
    mr_b1: str = "40000000-0000-4000-8000-0000000000b1"
    rt_kwh: str = "50000000-0000-4000-8000-000000000001"
    rt_gas: str = "50000000-0000-4000-8000-000000000002"
    ltp_pacific: str = "60000000-0000-4000-8000-000000000001"
    us_jan: str = "70000000-0000-4000-8000-000000000001"
    us_feb: str = "70000000-0000-4000-8000-000000000002"
    us_b: str = "70000000-0000-4000-8000-0000000000b1"
    app_a: str = "80000000-0000-4000-8000-00000000000a"
    app_b: str = "80000000-0000-4000-8000-00000000000b"


WORLD = World()


def reading_value(index: int) -> tuple[int, int | None, int | None]:
    """value (Wh), cost, quality of the index-th hourly reading of mr-a1."""
    cost = None if index % 7 == 0 else 1_000 * index
    quality = 8 if index % 10 == 3 else None  # a few estimated readings
    return 400 + 13 * index, cost, quality


def seed() -> None:
    """Create the world's rows (inside an app context)."""
    w = WORLD
    t0 = now() - 86_400
    with db.transaction() as s:
        pacific = LocalTimeParameters(
            uuid=w.ltp_pacific,
            title="Pacific Time",
            tz_offset=-28_800,
            dst_offset=3_600,
            dst_start_rule="360E2000",
            dst_end_rule="B40E2000",
        )
        kwh = ReadingType(
            uuid=w.rt_kwh,
            title="Hourly electricity consumption",
            accumulation_behaviour=4,
            commodity=1,
            currency=840,
            data_qualifier=12,
            flow_direction=1,
            interval_length=3_600,
            kind=12,
            phase=769,
            power_of_ten_multiplier=0,
            time_attribute=0,
            uom=72,
        )
        gas = ReadingType(uuid=w.rt_gas, title="Daily gas", commodity=7, kind=12, uom=169)
        alice = RetailCustomer(
            uuid="c0000000-0000-4000-8000-00000000000a",
            username="alice",
            password_hash="x",
            display_name="Alice",
            created_at=t0,
        )
        bob = RetailCustomer(
            uuid="c0000000-0000-4000-8000-00000000000b",
            username="bob",
            password_hash="x",
            display_name="Bob",
            created_at=t0,
        )
        points = {}
        for key, owner, kind in (("up_a1", alice, 0), ("up_a2", alice, 1), ("up_b1", bob, 0)):
            points[key] = UsagePoint(
                uuid=getattr(w, key),
                customer=owner,
                title=f"Service {key}",
                service_kind=kind,
                service_agreement=f"SA-{key}",
                local_time=pacific if key != "up_a2" else None,
                udc="PGE",
                lse="PGE",
            )
        s.add_all([pacific, kwh, gas, alice, bob, *points.values()])
        s.flush()
        mr_a1 = MeterReading(
            uuid=w.mr_a1, usage_point=points["up_a1"], reading_type=kwh, title="Electricity"
        )
        mr_a2 = MeterReading(
            uuid=w.mr_a2, usage_point=points["up_a2"], reading_type=gas, title="Gas"
        )
        mr_b1 = MeterReading(
            uuid=w.mr_b1, usage_point=points["up_b1"], reading_type=kwh, title="Electricity"
        )
        s.add_all([mr_a1, mr_a2, mr_b1])
        s.flush()
        a1 = []
        for index, start in enumerate(range(MAR_8_PST, MAR_13_PDT, 3_600)):
            value, cost, quality = reading_value(index)
            a1.append((start, 3_600, value, cost, quality))
        write_readings(s, mr_a1.id, a1, zone=zone_of(pacific))
        write_readings(
            s, mr_a2.id, [(MAR_8_PST + 86_400 * i, 86_400, 9, None, None) for i in range(3)]
        )
        write_readings(
            s,
            mr_b1.id,
            [(MAR_8_PST + 3_600 * i, 3_600, 77, None, None) for i in range(3)],
            zone=zone_of(pacific),
        )
        s.add_all(
            [
                UsageSummary(
                    uuid=w.us_jan,
                    usage_point=points["up_a1"],
                    billing_period_start=1_704_096_000,  # 2024-01-01T00:00-08:00
                    billing_period_duration=31 * 86_400,
                    bill_last_period=11_578_000,
                    currency=840,
                    consumption_wh=612_000,
                    status_time_stamp=1_706_860_800,
                    tariff_profile="E-TOU-C",
                    read_cycle="15",
                    agency_name="Pacific Gas and Electric",
                ),
                UsageSummary(
                    uuid=w.us_feb,
                    usage_point=points["up_a1"],
                    billing_period_start=1_706_774_400,  # 2024-02-01T00:00-08:00
                    billing_period_duration=29 * 86_400,
                    bill_last_period=None,
                    currency=None,
                    consumption_wh=None,
                    status_time_stamp=1_709_366_400,
                ),
                UsageSummary(
                    uuid=w.us_b,
                    usage_point=points["up_b1"],
                    billing_period_start=1_704_096_000,
                    billing_period_duration=31 * 86_400,
                    status_time_stamp=1_706_860_800,
                ),
            ]
        )
        apps = {}
        for key, client_id in (("app_a", "asp-a"), ("app_b", "asp-b")):
            apps[key] = Application(
                uuid=getattr(w, key),
                client_id=client_id,
                client_secret_hash=hash_secret(f"{client_id}-secret"),
                client_name=f"ASP {client_id}",
                client_uri=f"https://{client_id}.example",
                redirect_uris=[f"https://{client_id}.example/callback"],
                notify_uri=f"https://{client_id}.example/notify",
                scope=APP_SCOPE,
                grant_types=["authorization_code", "refresh_token", "client_credentials"],
                token_endpoint_auth_method="client_secret_basic",
                qualification="qualified",
                software_id=f"{client_id}-app",
                software_version="1.0",
                contacts=[f"ops@{client_id}.example"],
                created_at=t0,
            )
        s.add_all(apps.values())
        grants = {}
        for key, sid, owner, app, shared in (
            ("auth_a", w.sub_a, alice, apps["app_a"], ["up_a1"]),
            ("auth_ab", w.sub_ab, alice, apps["app_b"], ["up_a1", "up_a2"]),
            ("auth_b", w.sub_b, bob, apps["app_b"], ["up_b1"]),
            ("auth_gone", w.sub_gone, alice, apps["app_a"], ["up_a1"]),
        ):
            grants[key] = Authorization(
                uuid=getattr(w, key),
                subscription_uuid=sid,
                customer=owner,
                application=app,
                scope=FULL_SCOPE,
                status=0 if key == "auth_gone" else 1,
                created_at=t0,
                updated_at=t0 + 60,
                ends_at=t0 + 365 * 86_400,
                revoked_at=t0 + 120 if key == "auth_gone" else None,
                grant_type="authorization_code",
                usage_points=[points[p] for p in shared],
            )
        s.add_all(grants.values())
        s.flush()
        moment = now()
        tokens = [
            ("tok-a", "asp-a", grants["auth_a"], FULL_SCOPE, 3_600, None),
            (
                "tok-a-usage",
                "asp-a",
                grants["auth_a"],
                "FB=4_5;IntervalDuration=3600 usage",
                3_600,
                None,
            ),
            ("tok-a-billing", "asp-a", grants["auth_a"], "FB=15 billing", 3_600, None),
            ("tok-a-basic", "asp-a", grants["auth_a"], "basic", 3_600, None),
            ("tok-ab", "asp-b", grants["auth_ab"], FULL_SCOPE, 3_600, None),
            ("tok-b", "asp-b", grants["auth_b"], FULL_SCOPE, 3_600, None),
            ("tok-client-a", "asp-a", None, "FB=35", 3_600, None),
            ("tok-client-b", "asp-b", None, "FB=35", 3_600, None),
            ("tok-expired", "asp-a", grants["auth_a"], FULL_SCOPE, -10, None),
            ("tok-revoked", "asp-a", grants["auth_a"], FULL_SCOPE, 3_600, moment - 5),
            ("tok-auth-revoked", "asp-a", grants["auth_gone"], FULL_SCOPE, 3_600, None),
        ]
        for index, (token, client_id, grant, scope, lifetime, revoked_at) in enumerate(tokens):
            s.add(
                Token(
                    family=f"family-{index}",
                    client_id=client_id,
                    authorization=grant,
                    access_token_hash=hash_secret(token),
                    scope=scope,
                    issued_at=moment - 30,
                    access_expires_at=moment + lifetime,
                    revoked_at=revoked_at,
                )
            )


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "ISSUER": "https://issuer.example",
        }
    )
    with app.app_context():
        seed()
    yield app
    # Release the connections before tests/server/conftest.py drops the database.
    app.extensions["espi_sst_db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def world() -> World:
    return WORLD
