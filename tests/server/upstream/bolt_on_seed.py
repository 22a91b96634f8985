"""The bolt-on's own world beside the stand-in custodian (``foreign_custodian.py``), shared by
the one-node tests (``test_unmodified_custodian.py``) and the two-node ones
(``tests/server/scaleout/test_across_nodes_bolt_on.py``, issue 21).

:func:`seed_bolt_on` gives the bolt-on the utility's own data (the custodian's customers,
their rates keyed by the custodian's UsagePoint ids, no usage) and registers the ASPs;
:func:`introspection_settings` is the configuration that points a bolt-on at the custodian
in RFC 7662 introspection mode (as ``create_app`` keys; ``ESPI_``-prefixed for a process).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from espi_sst_server.demo import seed
from espi_sst_server.demo.seed import demo_uuid
from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import delete_readings
from espi_sst_server.storage.models import (
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
)
from flask import Flask
from foreign_custodian import ForeignCustodian
from sqlalchemy import delete, select

ASP_ID = "acme-thermostats"
ASP_SECRET = "acme-secret-at-the-custodian"
DATA_ONLY_ID = "acme-insights"
REDIRECT = "https://acme.example/callback"
GBC_SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
)
SST_SCOPE = "sst:rin sst:bill_comparison sst:rate_change"
RESOURCE_SERVER = ("pge-sst-bolt-on", "bolt-on-secret-at-the-custodian")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def introspection_settings(custodian: ForeignCustodian, bound: int) -> dict[str, Any]:
    """A bolt-on in front of ``custodian``: plain ESPI forwarded to it, tokens checked by
    its RFC 7662 introspection, each answer cached at most ``bound`` seconds."""
    return {
        "PORTAL_PATH": "/sst/portal",
        "UPSTREAM_RESOURCE_URL": f"{custodian.url}/espi/1_1/resource",
        "TOKEN_VALIDATION": "introspection",
        "PROBE_CACHE_SECONDS": bound,
        "NOTIFY_ALLOW_LOOPBACK": True,
        "INTROSPECTION_URL": f"{custodian.url}/oauth/introspect",
        "INTROSPECTION_CLIENT_ID": RESOURCE_SERVER[0],
        "INTROSPECTION_CLIENT_SECRET": RESOURCE_SERVER[1],
        "INTROSPECTION_CACHE_SECONDS": bound,
    }


def seed_bolt_on(app: Flask, custodian: ForeignCustodian) -> None:
    """The utility's own data beside the custodian: customers (the same accounts: one
    identity provider), their rates, keyed by the custodian's UsagePoint ids; no usage."""
    with app.app_context(), db.transaction() as session:
        seed(session, now=int(time.time()))
        delete_readings(session)
        for table in (UsageSummary, MeterReading, ReadingType):
            session.execute(delete(table))
    first, second = custodian.customers[0], custodian.customers[1]
    # the first customer: blake's unbundled point and casey's bundled one; the second: alex's
    plan = [
        (first, [("blake", first.usage_points[0]), ("casey", first.usage_points[1])]),
        (second, [("alex", second.usage_points[0])]),
    ]
    with app.app_context(), db.transaction() as session:
        for foreign, points in plan:
            owner = session.scalar(
                select(RetailCustomer).where(RetailCustomer.username == points[0][0])
            )
            assert owner is not None
            owner.username = foreign.username
            owner.password_hash = hash_password(foreign.password)
            owner.email = foreign.email
            for demo_name, custodian_id in points:
                point = session.scalar(
                    select(UsagePoint).where(
                        UsagePoint.uuid == demo_uuid("usage-point", demo_name, "electric")
                    )
                )
                assert point is not None
                point.uuid = custodian_id
                point.customer_id = owner.id
        registered = register_application(
            session,
            name="Acme Thermostats",
            redirect_uris=[REDIRECT],
            notify_uri=f"http://127.0.0.1:{_free_port()}/notify",
            client_id=ASP_ID,
            scope=f"{GBC_SCOPE} basic billing usage {SST_SCOPE}",
            asp_class="rate-change",  # its SST scope includes sst:rate_change (6.4.2.2)
        )
        app.config["TEST_ASP_SECRET"] = registered.client_secret
        data_only = register_application(
            session,
            name="Acme Insights",
            redirect_uris=[REDIRECT],
            notify_uri=f"http://127.0.0.1:{_free_port()}/notify",
            client_id=DATA_ONLY_ID,
            scope=f"{GBC_SCOPE} basic billing usage sst:rin sst:bill_comparison",
        )  # data-only (the default class, concept design 6.4.2.1)
        app.config["TEST_DATA_ONLY_SECRET"] = data_only.client_secret
