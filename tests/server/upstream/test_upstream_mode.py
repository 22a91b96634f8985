"""Bolt-on mode (issue 7, part 1) with two of our own servers on 127.0.0.1:

* **A**, the "existing deployment": a plain Green Button Connect custodian (``SST_ENABLED``
  false) with its own OAuth server, consent portal and all the usage data; it tells ASPs
  to fetch resources at B (``RESOURCE_BASE_URL``);
* **B**, the bolt-on: ``UPSTREAM_RESOURCE_URL`` = A's resource API, tokens checked by RFC
  7662 introspection at A, and only the utility's rate data (tariffs, customers' rate
  assignments): every interval reading, meter reading and usage summary is deleted from
  B's database before the test.

The ASP runs the client library's flow unchanged: authorize at A's pages, then RINs, rates,
both bill-comparison forms, interval data and a rate change, all at B.  The comparison B
computes from A's data (fetched with the ASP's token) must equal the one A's data gives a
standalone server.  Upstream failures: A stopped -> 503 with Retry-After; A too slow -> 504.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.demo import seed
from espi_sst_server.gateway.registry import parse_gateway_registry
from espi_sst_server.lifecycle.registration import register_resource_server
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.storage import db
from espi_sst_server.storage.interval_data import delete_readings, reading_count
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    MeterReading,
    OutboxMessage,
    ReadingType,
    UsageSummary,
)
from espi_sst_server.worker import Worker
from flask import Flask
from sqlalchemy import delete, select, update
from werkzeug.serving import BaseWSGIServer, make_server

from espi_sst.client import AspClient, MemoryTokenStore
from espi_sst.model import sst

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from demo_process import CustomerBrowser, free_port  # noqa: E402

SEED_NOW = int(time.time())
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change"
)
BOLT_ON_ID = "sst-bolt-on"


@dataclass
class Live:
    app: Flask
    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Flask, port: int) -> Live:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Live(app, f"http://127.0.0.1:{port}", server, thread)


def seeded_app(url: str, config: dict[str, Any]) -> Flask:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "t", "RATELIMIT_ENABLED": False, **config})
    with app.app_context(), db.transaction() as session:
        seed(session, now=SEED_NOW)
    return app


@dataclass
class Pair:
    upstream: Live  # A
    bolt_on: Live  # B
    demo: Any
    upstream_public: str  # A's issuer as ASPs see it
    bolt_on_public: str  # B's base as ASPs see it


@contextmanager
def running_pair(folder: Path, *, gateway: str | None = None) -> Iterator[Pair]:
    """A and B on loopback; with ``gateway``, both are published under it (A as PGEGBC,
    B as PGE) and build their URLs from the gateway's forwarded headers."""
    port_a, port_b = free_port(), free_port()
    a_url, b_url = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    a_public = f"{gateway}/SST/v1/PGEGBC" if gateway else a_url
    b_public = f"{gateway}/SST/v1/PGE" if gateway else b_url
    hops = 1 if gateway else 0
    upstream_app = seeded_app(
        f"sqlite:///{folder}/a.db",
        {
            "ISSUER": a_public,
            "SST_ENABLED": False,
            "RESOURCE_BASE_URL": f"{b_public}/espi/1_1/resource",
            "TRUSTED_PROXY_HOPS": hops,
        },
    )
    with upstream_app.app_context():  # the bolt-on may introspect tokens at A
        registered = register_resource_server(db.session, name="SST bolt-on", client_id=BOLT_ON_ID)
    bolt_on_app = seeded_app(
        f"sqlite:///{folder}/b.db",
        {
            "ISSUER": b_public,
            "TRUSTED_PROXY_HOPS": hops,
            "UPSTREAM_RESOURCE_URL": f"{a_url}/espi/1_1/resource",  # server to server
            "TOKEN_VALIDATION": "introspection",
            "INTROSPECTION_URL": f"{a_url}/oauth/introspect",
            "INTROSPECTION_CLIENT_ID": BOLT_ON_ID,
            "INTROSPECTION_CLIENT_SECRET": registered.client_secret,
            "UPSTREAM_READ_TIMEOUT": 20,
        },
    )
    with bolt_on_app.app_context(), db.transaction() as session:  # B keeps no usage data
        delete_readings(session)
        session.execute(delete(UsageSummary))
        session.execute(delete(MeterReading))
        session.execute(delete(ReadingType))
    a, b = serve(upstream_app, port_a), serve(bolt_on_app, port_b)
    try:
        yield Pair(a, b, _demo_document(upstream_app, a_public), a_public, b_public)
    finally:
        b.stop()
        a.stop()
        for app in (upstream_app, bolt_on_app):
            session = app.extensions.get("espi_sst_upstream_session")
            if session is not None:
                session.close()
            app.extensions["espi_sst_db"].engine.dispose()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("upstream")) as made:
        yield made


@pytest.fixture(scope="module")
def pair_behind_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Case (c) of issue 7: the existing GBC and the bolt-on, both behind Debian's nginx."""
    from gateway_world import nginx_binary, running_nginx

    nginx_binary()  # skip (or fail under ESPI_REQUIRE_NGINX) without nginx
    folder = tmp_path_factory.mktemp("upstream-gateway")
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    with running_pair(folder, gateway=gateway) as made:
        registry = parse_gateway_registry(
            {
                "format": "espi-sst-gateway-registry/1",
                "public_base_url": gateway,
                "entities": [
                    {
                        "id": "PGEGBC",
                        "name": "PG&E Share My Data",
                        "kind": "IOU",
                        "upstream": made.upstream.url,
                    },
                    {"id": "PGE", "name": "PG&E SST", "kind": "IOU", "upstream": made.bolt_on.url},
                ],
            }
        )
        with running_nginx(
            registry, folder / "nginx", port, rate="1000r/s", address_rate="1000r/s"
        ):
            yield made


def _demo_document(app: Flask, base: str) -> dict[str, Any]:
    """What demo.json would say about A (the same seed gives the same accounts)."""
    from espi_sst_server.demo.clients import CLIENTS
    from espi_sst_server.demo.customers import CUSTOMERS
    from espi_sst_server.demo.seed import demo_uuid

    customers = []
    for spec in CUSTOMERS:
        points = [demo_uuid("usage-point", spec.username, "electric")]
        if spec.gas:
            points.append(demo_uuid("usage-point", spec.username, "gas"))
        customers.append(
            {
                "username": spec.username,
                "password": spec.password(2026),
                "email": spec.email,
                "usage_points": points,
            }
        )
    clients = {spec.client_id: spec for spec in CLIENTS}
    energy = clients["demo-energy-insights"]
    return {
        "base_url": base,
        "customers": customers,
        "client": {
            "client_id": energy.client_id,
            "client_secret": energy.secret(2026),
            "redirect_uri": energy.redirect_uris[0],
        },
    }


def connect(pair: Pair, username: str) -> Any:
    client = pair.demo["client"]
    asp = AspClient.from_issuer(
        pair.upstream_public,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        redirect_uri=client["redirect_uri"],
        scope=SCOPE,
        token_store=MemoryTokenStore(),
    )
    customer = next(c for c in pair.demo["customers"] if c["username"] == username)
    started = asp.authorization_url()
    callback = CustomerBrowser(pair.upstream_public, customer).approve(started.url)
    grant = asp.fetch_token(callback, started)
    assert grant.resource_uri is not None
    assert grant.resource_uri.startswith(pair.bolt_on_public)
    return asp.connect(grant.key), grant


def test_the_client_flow_runs_unchanged_through_the_bolt_on(pair: Pair) -> None:
    client_flow(pair)


def test_the_client_flow_runs_unchanged_with_both_behind_the_gateway(
    pair_behind_gateway: Pair,
) -> None:
    client_flow(pair_behind_gateway)


def client_flow(pair: Pair) -> None:
    connection, _grant = connect(pair, "blake")
    with connection:
        points = connection.usage_points()
        assert all(p.url.startswith(pair.bolt_on_public + "/espi/") for p in points)
        (point,) = [p for p in points if p.electric]
        assert [str(r.value) for r in connection.rins(point)] == [
            "USCA-PGXX-0100-0000",
            "USCA-XXPE-0440-0000",
        ]
        rates = connection.rate_information(point)
        assert {r.role for r in rates.current_rate} == {sst.Role.delivery, sst.Role.generation}
        by_resource = connection.bill_comparison(point)
        assert by_resource == connection.bill_comparison(point, form="usage_summary")
        assert by_resource.status is sst.ComparisonStatus.available
        readings = list(connection.interval_readings(point))
        assert readings and all(r.unit == "Wh" for r in readings)
        change = connection.request_rate_change(point, rin="USCA-PGXX-0010-0000")
        assert change.url.startswith(pair.bolt_on_public)
        with pair.bolt_on.app.app_context():
            mail = db.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "email")
                .order_by(OutboxMessage.id.desc())
            ).first()
            assert mail is not None
            text = open_payload(pair.bolt_on.app, mail)["text"]
        code = next(
            line.rsplit(" ", 1)[1] for line in text.splitlines() if "confirmation code is" in line
        )
        assert connection.confirm_rate_change(change.url, code).status is (
            sst.RateChangeStatus.confirmed
        )
        Worker(pair.bolt_on.app).run_once()
        assert connection.rate_change(change.url).status is sst.RateChangeStatus.accepted


def test_the_plain_custodian_has_no_sst_and_the_bolt_on_adds_it(pair: Pair) -> None:
    connection, grant = connect(pair, "alex")
    token = connection.session.token["access_token"]
    with connection:
        (point,) = [p for p in connection.usage_points() if p.electric]
    path = point.url[len(pair.bolt_on.url) :]
    headers = {"Authorization": f"Bearer {token}"}
    plain = requests.get(pair.upstream.url + path + "/UsageSummary", headers=headers, timeout=30)
    added = requests.get(pair.bolt_on.url + path + "/UsageSummary", headers=headers, timeout=30)
    assert plain.status_code == added.status_code == 200
    assert b"urn:espi-sst:sst:1" not in plain.content and b"bundledRin" in added.content
    assert pair.upstream.url.encode() not in added.content  # every href re-based onto B
    missing = requests.get(
        pair.upstream.url + path + "/RateInformation", headers=headers, timeout=30
    )
    assert missing.status_code == 404


def test_bill_comparison_from_upstream_data_equals_the_standalone_one(
    pair: Pair, tmp_path: Path
) -> None:
    connection, _grant = connect(pair, "casey")
    with connection:
        (point,) = [p for p in connection.usage_points() if p.electric]
        through_bolt_on = connection.bill_comparison(point)
    standalone = seeded_app(f"sqlite:///{tmp_path}/s.db", {"ISSUER": "http://127.0.0.1:9"})
    try:
        from espi_sst_server.sst.comparison import current_comparison, to_model
        from espi_sst_server.storage.models import UsagePoint

        with standalone.test_request_context(), standalone.app_context():
            row = db.session.scalar(select(UsagePoint).where(UsagePoint.uuid == point.uuid))
            assert row is not None
            local = to_model(current_comparison(standalone, db.session, row, now=int(time.time())))
    finally:
        standalone.extensions["espi_sst_db"].engine.dispose()
    assert [e.estimated_annual_cost for e in through_bolt_on.rate_estimate] == [
        e.estimated_annual_cost for e in local.rate_estimate
    ]
    with pair.bolt_on.app.app_context():
        assert reading_count(db.session) == 0


def test_upstream_down_or_slow_is_a_clear_503_or_504(pair: Pair, tmp_path: Path) -> None:
    connection, grant = connect(pair, "dana")
    token = connection.session.token["access_token"]
    connection.close()
    headers = {"Authorization": f"Bearer {token}"}
    subscription = grant.subscription_uri[len(pair.bolt_on.url) :]
    # The upstream's resource API unreachable (a closed port): 503 + Retry-After, quickly.
    app = pair.bolt_on.app
    saved = app.config["UPSTREAM_RESOURCE_URL"]
    app.config["UPSTREAM_RESOURCE_URL"] = f"http://127.0.0.1:{free_port()}/espi/1_1/resource"
    try:
        started = time.monotonic()
        down = requests.get(
            pair.bolt_on.url + subscription + "/UsagePoint", headers=headers, timeout=30
        )
        assert down.status_code == 503 and down.headers["Retry-After"].isdigit()
        assert down.json()["error"] == "upstream_unavailable"
        assert time.monotonic() - started < 10
        # An upstream that accepts but never answers: 504 after the read timeout, not a hang.
        silent = _silent_server()
        app.config["UPSTREAM_RESOURCE_URL"] = f"{silent.url}/espi/1_1/resource"
        app.config["UPSTREAM_READ_TIMEOUT"] = 0.5
        app.config["UPSTREAM_RETRIES"] = 1
        started = time.monotonic()
        slow = requests.get(
            pair.bolt_on.url + subscription + "/UsagePoint", headers=headers, timeout=30
        )
        assert slow.status_code == 504 and slow.json()["error"] == "upstream_timeout"
        assert "Retry-After" in slow.headers and time.monotonic() - started < 5
        silent.stop()
    finally:
        app.config["UPSTREAM_RESOURCE_URL"] = saved
        app.config["UPSTREAM_READ_TIMEOUT"] = 20
        app.config["UPSTREAM_RETRIES"] = 2


def test_a_hanging_upstream_is_answered_504_within_the_deadline_then_recovered(
    pair: Pair,
) -> None:
    """Issue 15 (the soak's bolt-on lane): every upstream call of one request shares
    UPSTREAM_DEADLINE_SECONDS.  Without it six 1 s attempts and their pauses held the
    request (and a worker) about 9 s; nginx and gunicorn time out at a fixed bound."""
    connection, grant = connect(pair, "dana")
    token = connection.session.token["access_token"]
    connection.close()
    headers = {"Authorization": f"Bearer {token}"}
    url = pair.bolt_on.url + grant.subscription_uri[len(pair.bolt_on.url) :] + "/UsagePoint"
    app = pair.bolt_on.app
    keys = ("UPSTREAM_RESOURCE_URL", "UPSTREAM_READ_TIMEOUT", "UPSTREAM_RETRIES",
            "UPSTREAM_DEADLINE_SECONDS")  # fmt: skip
    saved = {key: app.config[key] for key in keys}
    silent = _silent_server()  # accepts connections, never answers
    app.config.update(
        UPSTREAM_RESOURCE_URL=f"{silent.url}/espi/1_1/resource",
        UPSTREAM_READ_TIMEOUT=1.0,
        UPSTREAM_RETRIES=5,
        UPSTREAM_DEADLINE_SECONDS=2.0,
    )
    try:
        started = time.monotonic()
        slow = requests.get(url, headers=headers, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        silent.stop()
        app.config.update(saved)
    assert slow.status_code == 504, slow.text
    assert slow.json()["error"] == "upstream_timeout"
    assert slow.headers["Retry-After"].isdigit()
    assert 1.9 < elapsed < 3.0, elapsed  # the deadline, not six read timeouts
    # the upstream answers again: so does the bolt-on, with nothing to reset
    back = requests.get(url, headers=headers, timeout=30)
    assert back.status_code == 200 and b"UsagePoint" in back.content


def test_a_token_revoked_upstream_is_refused_by_the_bolt_on(pair: Pair) -> None:
    connection, grant = connect(pair, "alex")
    with connection:
        assert connection.usage_points()
    token = connection.session.token["access_token"]
    client = pair.demo["client"]
    revoked = requests.post(
        f"{pair.upstream.url}/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert revoked.status_code == 200
    time.sleep(pair.bolt_on.app.config["INTROSPECTION_CACHE_SECONDS"] + 0.5)
    answer = requests.get(
        grant.subscription_uri + "/UsagePoint",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    print("DEBUG", answer.status_code, answer.text)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


class _Silent:
    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def stop(self) -> None:
        self.sock.close()


def _silent_server() -> _Silent:
    return _Silent()


def test_an_asp_blocked_at_the_bolt_on_is_refused_even_if_the_upstream_still_accepts_it(
    pair: Pair,
) -> None:
    connection, grant = connect(pair, "casey")
    token = connection.session.token["access_token"]
    connection.close()
    client_id = pair.demo["client"]["client_id"]
    with pair.bolt_on.app.app_context(), db.transaction() as session:
        application = session.scalars(
            select(Application).where(Application.client_id == client_id)
        ).one()
        application.qualification = "blocked"
    try:
        answer = requests.get(
            grant.subscription_uri + "/UsagePoint",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 401 and "withdrawn" in answer.json()["error_description"]
    finally:
        with pair.bolt_on.app.app_context(), db.transaction() as session:
            application = session.scalars(
                select(Application).where(Application.client_id == client_id)
            ).one()
            application.qualification = "qualified"


def test_an_asp_blocked_at_the_bolt_on_gets_nothing_with_a_client_credentials_token(
    pair: Pair,
) -> None:
    """The one rule (server/lifecycle/usable.py) holds for ASP-level tokens too: the bolt-on knows
    the ASP, so its standing here counts, whatever the upstream still accepts."""
    client = pair.demo["client"]
    issued = requests.post(
        f"{pair.upstream.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "FB=3_19_35"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["resourceURI"].startswith(pair.bolt_on_public)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(body["resourceURI"], headers=bearer, timeout=30).status_code == 200
    with pair.bolt_on.app.app_context(), db.transaction() as session:
        application = session.scalars(
            select(Application).where(Application.client_id == client["client_id"])
        ).one()
        application.qualification = "blocked"
    try:
        time.sleep(pair.bolt_on.app.config["INTROSPECTION_CACHE_SECONDS"] + 0.5)
        answer = requests.get(body["resourceURI"], headers=bearer, timeout=30)
        assert answer.status_code == 401 and "withdrawn" in answer.json()["error_description"]
    finally:
        with pair.bolt_on.app.app_context(), db.transaction() as session:
            application = session.scalars(
                select(Application).where(Application.client_id == client["client_id"])
            ).one()
            application.qualification = "qualified"


def test_a_grant_past_its_end_date_upstream_is_refused_by_the_bolt_on(pair: Pair) -> None:
    """The upstream's introspection follows the guard's rule: a grant whose end date has
    passed (the expiry sweep not yet run) is inactive, so the bolt-on refuses it too -- for
    what the bolt-on serves itself (RateInformation), not only what it forwards."""
    connection, grant = connect(pair, "dana")
    token = connection.session.token["access_token"]
    connection.close()
    dana = next(c for c in pair.demo["customers"] if c["username"] == "dana")
    rates = f"{grant.subscription_uri}/UsagePoint/{dana['usage_points'][0]}/RateInformation"
    with pair.upstream.app.app_context(), db.transaction() as session:
        ended = session.execute(
            update(Authorization)
            .where(Authorization.uuid == grant.authorization_uri.rsplit("/", 1)[1])
            .values(ends_at=int(time.time()) - 1)
        )
        assert ended.rowcount == 1
    answer = requests.get(rates, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
