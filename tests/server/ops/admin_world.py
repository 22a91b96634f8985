"""A small utility for the admin commands: two ASPs, a customer with two grants (one active,
one revoked by the customer), a rate change, and outbox messages in every state -- written
through the server's own code where it has a function for it (registration, consent audit,
grant end, outbox enqueue and delivery), so the commands read what the server writes.

``cli(world, ...)`` runs ``espi-sst`` as an operator does: a subprocess on the same database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from espi_sst_server import create_app
from espi_sst_server.lifecycle.access import end_authorization
from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.outbox.queue import (
    MAX_ATTEMPTS,
    deliver_due,
    enqueue_asp_notification,
    enqueue_email,
)
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    OutboxMessage,
    RateChangeRequestRecord,
    RetailCustomer,
    Tariff,
    UsagePoint,
)
from espi_sst_server.storage.rows import audit
from flask import Flask
from listener import Listener
from sqlalchemy import select

SECRET_KEY = "admin-commands"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
ESPI = Path(sys.executable).with_name("espi-sst")


@dataclass
class World:
    app: Flask
    url: str
    thermo: str  # client_id, confidential, rate-change class
    thermo_secret: str
    solar: str  # client_id, public
    active_grant: str
    revoked_grant: str
    customer: str
    rate_change: str
    pending_email: int
    failed_notification: int
    delivered_notification: int
    listener: Listener


def cli(world_or_url: World | str, *args: str) -> subprocess.CompletedProcess[str]:
    url = world_or_url if isinstance(world_or_url, str) else world_or_url.url
    env = dict(os.environ, ESPI_DATABASE_URL=url, ESPI_SECRET_KEY=SECRET_KEY)
    return subprocess.run([str(ESPI), *args], capture_output=True, text=True, env=env, timeout=120)


def cli_json(world: World, *args: str) -> Any:
    done = cli(world, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def make_world(url: str) -> World:
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "TESTING": True,
            "NOTIFY_ALLOW_LOOPBACK": True,
        }
    )
    listener = Listener("fail")
    with app.app_context():
        session = db.session
        thermo = register_application(
            session,
            name="Thermo Co",
            software_id="thermo-2026",
            redirect_uris=["https://thermo.example/cb"],
            notify_uri=listener.url,
            asp_class="rate-change",
        )
        solar = register_application(
            session,
            name="Solar Co",
            redirect_uris=["http://127.0.0.1:8765/cb"],
            notify_uri="https://solar.example/notify",
            public=True,
        )
        application = session.scalar(
            select(Application).where(Application.client_id == thermo.client_id)
        )
        assert application is not None
        tariff = Tariff(
            code="E-TOU-C",
            name="Time of use C",
            rin="USCA-PGPG-ETOU-C000",
            role="bundled",
            lse="PGE",
        )
        target = Tariff(
            code="E-ELEC",
            name="Electrification",
            rin="USCA-PGPG-EELC-0000",
            role="bundled",
            lse="PGE",
        )
        customer = RetailCustomer(
            uuid="11111111-1111-4111-8111-111111111111",
            username="alice",
            password_hash="x",
            display_name="Alice",
            email="alice@example.com",
            created_at=NOW - 86_400 * 400,
        )
        point = UsagePoint(
            uuid="22222222-2222-4222-8222-222222222222",
            customer=customer,
            title="Home electric",
            service_kind=0,
            service_agreement="SA-1",
            udc="PGE",
            lse="PGE",
            tariff=tariff,
        )
        session.add_all([tariff, target, customer, point])
        session.flush()
        grants = []
        for index in range(2):
            grant = Authorization(
                uuid=f"3333333{index}-3333-4333-8333-333333333333",
                subscription_uuid=f"4444444{index}-4444-4444-8444-444444444444",
                customer=customer,
                application=application,
                scope="FB=1_3_4;IntervalDuration=900 usage billing sst:rate_change",
                status=1,
                created_at=NOW - 3600 * (2 - index),
                updated_at=NOW,
                ends_at=NOW + 86_400 * 365,
                grant_type="authorization_code",
                usage_points=[point],
            )
            session.add(grant)
            session.flush()
            audit(
                session,
                grant.created_at,
                f"customer:{customer.uuid}",
                "consent_granted",
                f"authorization:{grant.uuid}",
            )
            grants.append(grant)
        session.commit()
        end_authorization(
            session,
            grants[0],
            reason="revoked_by_customer",
            actor=f"customer:{customer.uuid}",
            now=NOW,
        )
        record = RateChangeRequestRecord(
            uuid="55555555-5555-4555-8555-555555555555",
            usage_point=point,
            authorization=grants[1],
            application=application,
            idempotency_key="k1",
            request_fingerprint="f" * 64,
            target_tariff=target,
            target_rin=target.rin,
            target_tariff_code=target.code,
            status="submitted",
            requested_at=NOW - 600,
            updated_at=NOW - 300,
            confirmed_at=NOW - 400,
            submitted_at=NOW - 300,
            processing_attempts=2,
        )
        session.add(record)
        session.commit()
        # The outbox: drop what the grant's end queued, then one message per state.
        for message in session.scalars(select(OutboxMessage)):
            session.delete(message)
        session.commit()
        enqueue_asp_notification(
            session, application=application, resources=["https://u.example/a"], now=NOW
        )
        session.commit()
        moment = NOW
        for _ in range(MAX_ATTEMPTS):  # the listener answers 503: the worker gives up
            moment += 3600
            deliver_due(app, session, now=moment)
        failed = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.failed_at.is_not(None))
        )
        listener.answer = "ok"
        enqueue_asp_notification(
            session, application=application, resources=["https://u.example/b"], now=moment
        )
        session.commit()
        deliver_due(app, session, now=moment)
        delivered = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.sent_at.is_not(None))
        )
        enqueue_email(
            session,
            to="alice@example.com",
            subject="Hello",
            text="code 123456",
            now=moment + 9_999_999,
        )
        session.commit()
        pending = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)
            )
        )
        assert failed is not None and delivered is not None and pending is not None
        return World(
            app=app,
            url=url,
            thermo=thermo.client_id,
            thermo_secret=str(thermo.client_secret),
            solar=solar.client_id,
            active_grant=grants[1].uuid,
            revoked_grant=grants[0].uuid,
            customer=customer.uuid,
            rate_change=record.uuid,
            pending_email=pending,
            failed_notification=failed,
            delivered_notification=delivered,
            listener=listener,
        )
