"""The SST bolt-on beside a Green Button custodian we did not write, nothing changed on it
(issue 22).

The custodian is ``foreign_custodian.py``: PG&E Share My Data's shapes (``ns0``/``ns1``
prefixes, its scope strings and ids), opaque tokens, RFC 7662 introspection with the
standard members only -- or none at all -- and no idea of the SST.  The statewide gateway
(real nginx) publishes both under one base with the split ``espi-sst gateway`` generates:
the SST resources, UsageSummary and ``/sst/`` go to the bolt-on, everything else to the
custodian, whose own ``resourceURI`` is therefore the URL the ASP uses for both.

The ASP's whole journey runs with the client library, in both token validation modes:
its token from the custodian; the SST add-on consent (pushed request, the customer signs
in at the bolt-on and ticks the SST categories); RINs in UsageSummary; RateInformation;
both BillComparison forms (priced from the custodian's interval data, fetched with the
ASP's token); a rate change confirmed with the passcode the bolt-on mails.  Then the
customer stops sharing at the custodian, and the bolt-on refuses the token within the
documented bound (``PROBE_CACHE_SECONDS`` / ``INTROSPECTION_CACHE_SECONDS``).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.gateway.registry import parse_gateway_registry
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    AuditEvent,
    Authorization,
    OutboxMessage,
)
from espi_sst_server.worker import Worker
from flask import Flask
from sqlalchemy import select

from espi_sst.client import AspClient, MemoryTokenStore
from espi_sst.model import sst

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1] / "integration"))
sys.path.insert(0, str(HERE.parent / "gateway"))
from bolt_on_seed import (  # noqa: E402
    ASP_ID,
    ASP_SECRET,
    DATA_ONLY_ID,
    GBC_SCOPE,
    REDIRECT,
    RESOURCE_SERVER,
    SST_SCOPE,
    introspection_settings,
    seed_bolt_on,
)
from demo_process import CustomerBrowser, free_port  # noqa: E402
from foreign_custodian import ForeignCustodian, running_foreign_custodian  # noqa: E402
from scratch_databases import postgresql_database  # noqa: E402
from test_upstream_mode import Live, serve  # noqa: E402

pytestmark = pytest.mark.slow

BOUND = 2  # PROBE_CACHE_SECONDS and INTROSPECTION_CACHE_SECONDS of the bolt-on here
ENTITY = "PGE"


@dataclass
class World:
    mode: str
    custodian: ForeignCustodian
    bolt_on: Live
    base: str  # the entity's public base at the gateway
    bolt_on_secret: str

    @property
    def app(self) -> Flask:
        return self.bolt_on.app


WORLDS = [
    # each token mode with each recorded shape and each database
    ("introspection", "pge", "sqlite"),
    ("probe", "pge", "postgresql"),
    ("introspection", "gba", "postgresql"),
    ("probe", "gba", "sqlite"),
]


@pytest.fixture(scope="module", params=WORLDS, ids=["-".join(w) for w in WORLDS])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    from gateway_world import nginx_binary

    nginx_binary()  # skip (or fail under ESPI_REQUIRE_NGINX) without nginx
    mode, shape, database = request.param
    folder = tmp_path_factory.mktemp(f"unmodified-{mode}-{shape}")
    if database == "postgresql":
        databases = postgresql_database()
        database_url = next(databases)
    else:
        databases = None
        database_url = f"sqlite:///{folder}/bolt-on.db"
    try:
        yield from _world(mode, shape, database_url, folder)
    finally:
        if databases is not None:
            databases.close()  # drops the database


def _world(mode: str, shape: str, database_url: str, folder: Path) -> Iterator[World]:
    from gateway_world import running_nginx

    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    public = f"{gateway}/SST/v1/{ENTITY}"
    introspection = "standard" if mode == "introspection" else "none"
    with running_foreign_custodian(
        introspection=introspection, shape=shape, public_base=public
    ) as custodian:
        custodian.register_client(ASP_ID, ASP_SECRET, [REDIRECT], GBC_SCOPE)
        custodian.register_client(DATA_ONLY_ID, ASP_SECRET, [REDIRECT], GBC_SCOPE)
        custodian.register_resource_server(*RESOURCE_SERVER)
        settings = introspection_settings(custodian, BOUND)
        if mode != "introspection":  # probe mode: no introspection settings at all
            settings = {
                key: value for key, value in settings.items() if "INTROSPECTION" not in key
            } | {"TOKEN_VALIDATION": mode}
        config: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "t",
            "RATELIMIT_ENABLED": False,
            "ISSUER": public,
            "TRUSTED_PROXY_HOPS": 1,
            **settings,
        }
        app = create_app(config)
        seed_bolt_on(app, custodian)
        bolt_on = serve(app, free_port())
        registry = parse_gateway_registry(
            {
                "format": "espi-sst-gateway-registry/1",
                "public_base_url": gateway,
                "entities": [
                    {
                        "id": ENTITY,
                        "name": "PG&E",
                        "kind": "IOU",
                        "upstream": bolt_on.url,
                        "custodian": custodian.url,
                    }
                ],
            }
        )
        try:
            with running_nginx(
                registry, folder / "nginx", port, rate="1000r/s", address_rate="1000r/s"
            ):
                yield World(mode, custodian, bolt_on, public, app.config["TEST_ASP_SECRET"])
        finally:
            bolt_on.stop()
            session = app.extensions.get("espi_sst_upstream_session")
            if session is not None:
                session.close()
            app.extensions["espi_sst_db"].engine.dispose()


def _asp(world: World) -> AspClient:
    """The ASP's client for the custodian, found by the custodian's own metadata."""
    return AspClient.from_issuer(
        world.custodian.issuer,
        client_id=ASP_ID,
        client_secret=ASP_SECRET,
        redirect_uri=REDIRECT,
        scope=GBC_SCOPE,
        token_store=MemoryTokenStore(),
    )


def _custodian_grant(world: World, asp: AspClient, customer_index: int) -> Any:
    customer = world.custodian.customers[customer_index]
    started = asp.authorization_url()
    callback = world.custodian.sign_in_and_allow(started.url, customer)
    grant = asp.fetch_token(callback, started)
    assert grant.resource_uri is not None and grant.resource_uri.startswith(world.base)
    return grant


def _push(world: World, token: str, resource_uri: str, **extra: str) -> requests.Response:
    return requests.post(
        f"{world.base}/sst/consent/requests",
        auth=(ASP_ID, world.bolt_on_secret),
        data={
            "access_token": token,
            "resource_uri": resource_uri,
            "scope": SST_SCOPE,
            "redirect_uri": REDIRECT,
            "state": "s-123",
            **extra,
        },
        timeout=30,
    )


def _add_on_consent(
    world: World, token: str, resource_uri: str, customer_index: int
) -> dict[str, list[str]]:
    """The SST add-on consent, as the ASP and the customer do it; the callback's query."""
    pushed = _push(world, token, resource_uri)
    assert pushed.status_code == 201, pushed.text
    consent_url = pushed.json()["consent_url"]
    assert consent_url.startswith(f"{world.base}/sst/consent?request_uri=")
    foreign = world.custodian.customers[customer_index]
    browser = CustomerBrowser(
        f"{world.base}/sst",
        {
            "username": foreign.username,
            "password": foreign.password,
            "usage_points": list(foreign.usage_points),
        },
    )
    callback = browser.approve(consent_url, categories=SST_SCOPE.split())
    assert callback.startswith(REDIRECT)
    return parse_qs(urlsplit(callback).query)


def _passcode(app: Flask) -> str:
    with app.app_context():
        mail = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "email")
            .order_by(OutboxMessage.id.desc())
        ).first()
        assert mail is not None
        text = str(open_payload(app, mail)["text"])
    return next(
        line.rsplit(" ", 1)[1] for line in text.splitlines() if "confirmation code is" in line
    )


def test_the_asp_journey_runs_through_the_bolt_on_beside_an_unmodified_custodian(
    world: World,
) -> None:
    asp = _asp(world)
    grant = _custodian_grant(world, asp, 0)
    connection = asp.connect(grant.key)
    token = connection.session.token["access_token"]
    with connection:
        points = connection.usage_points()  # the custodian's own feed, through the gateway
        assert {p.uuid for p in points} == set(world.custodian.customers[0].usage_points)
        unbundled = next(
            p for p in points if p.uuid == world.custodian.customers[0].usage_points[0]
        )
        # Before the add-on consent: the custodian's data as it is, no SST
        assert connection.rins(unbundled) == []
        refused = requests.get(
            f"{unbundled.url}/RateInformation",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert refused.status_code == 403, refused.text
        assert "add-on consent" in refused.json()["error_description"]

        answer = _add_on_consent(world, token, grant.resource_uri, 0)
        assert answer["sst_consent"] == ["granted"] and answer["state"] == ["s-123"]
        assert answer["scope"] == [SST_SCOPE]

        assert [str(r.value) for r in connection.rins(unbundled)] == [
            "USCA-PGXX-0100-0000",
            "USCA-XXPE-0440-0000",
        ]
        rates = connection.rate_information(unbundled)
        assert {r.role for r in rates.current_rate} == {sst.Role.delivery, sst.Role.generation}
        assert rates.eligible_rate
        by_resource = connection.bill_comparison(unbundled)
        assert by_resource.status is sst.ComparisonStatus.available
        assert by_resource == connection.bill_comparison(unbundled, form="usage_summary")
        # priced from the custodian's interval data, fetched with the ASP's own token
        assert any(
            path.endswith(f"/Subscription/{world.custodian.subscription_of(token)}")
            and bearer == token
            for method, path, bearer in world.custodian.requests
        )
        change = connection.request_rate_change(unbundled, rin="USCA-PGXX-0010-0000")
        assert change.url.startswith(world.base + "/espi/1_1/resource/Subscription/")
        confirmed = connection.confirm_rate_change(change.url, _passcode(world.app))
        assert confirmed.status is sst.RateChangeStatus.confirmed
        Worker(world.app).run_once()
        assert connection.rate_change(change.url).status is sst.RateChangeStatus.accepted
    with world.app.app_context():
        row = db.session.scalar(
            select(Authorization).where(
                Authorization.subscription_uuid == world.custodian.subscription_of(token)
            )
        )
        assert row is not None and row.grant_type == "sst_addon"
        assert row.application.client_id == ASP_ID
        assert (
            row.customer is not None
            and row.customer.username == world.custodian.customers[0].username
        )
        assert (
            db.session.scalar(
                select(AuditEvent).where(AuditEvent.action == "sst_addon_consent_granted")
            )
            is not None
        )


def test_a_revocation_at_the_custodian_is_refused_within_the_bound(world: World) -> None:
    asp = _asp(world)
    grant = _custodian_grant(world, asp, 1)
    connection = asp.connect(grant.key)
    token = connection.session.token["access_token"]
    _add_on_consent(world, token, grant.resource_uri, 1)
    sid = world.custodian.subscription_of(token)
    point = world.custodian.customers[1].usage_points[0]
    url = f"{world.base}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{point}/RateInformation"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=30).status_code == 200
    world.custodian.revoke_subscription(sid)
    revoked_at = time.monotonic()
    status = 200
    while time.monotonic() - revoked_at < BOUND + 3:
        status = requests.get(url, headers=headers, timeout=30).status_code
        if status != 200:
            break
        time.sleep(0.1)
    took = time.monotonic() - revoked_at
    assert status == 401
    assert took <= BOUND + 1, f"refused only after {took:.1f} s (bound {BOUND} s)"


def test_the_push_refuses_a_token_the_custodian_does_not_accept(world: World) -> None:
    asp = _asp(world)
    grant = _custodian_grant(world, asp, 1)
    token = asp.connect(grant.key).session.token["access_token"]
    forged = _push(world, "not-a-token-of-the-custodian", grant.resource_uri)
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_grant"
    other = _push(world, token, grant.resource_uri.rsplit("/", 1)[0] + "/999999")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    wrong_client = requests.post(
        f"{world.base}/sst/consent/requests",
        auth=(ASP_ID, "wrong"),
        data={"access_token": token, "resource_uri": grant.resource_uri},
        timeout=30,
    )
    assert wrong_client.status_code == 401
    gbc = _push(world, token, grant.resource_uri, scope="FB=1_3 sst:rin")
    assert gbc.status_code == 400 and gbc.json()["error"] == "invalid_scope"


def test_another_customer_cannot_give_the_add_on_consent(world: World) -> None:
    """The customer who signs in at the bolt-on must own what the custodian shares."""
    asp = _asp(world)
    grant = _custodian_grant(world, asp, 1)
    token = asp.connect(grant.key).session.token["access_token"]
    pushed = _push(world, token, grant.resource_uri)
    assert pushed.status_code == 201, pushed.text
    stranger = world.custodian.customers[0]
    browser = CustomerBrowser(
        f"{world.base}/sst",
        {"username": stranger.username, "password": stranger.password, "usage_points": []},
    )
    page = browser.http.get(pushed.json()["consent_url"], timeout=30)
    assert page.status_code == 403
    assert "none of the service agreements" in page.text


def test_parallel_first_requests_of_a_new_grant_all_succeed(world: World) -> None:
    """Race (issue 11's rule: concurrency bugs get parallel tests on the real database):
    the first requests of a grant the bolt-on has not seen all make its row at once."""
    from parallel import together

    asp = _asp(world)
    grant = _custodian_grant(world, asp, 0)
    token = asp.connect(grant.key).session.token["access_token"]
    sid = world.custodian.subscription_of(token)
    points = world.custodian.customers[0].usage_points
    base = f"{world.base}/espi/1_1/resource/Subscription/{sid}/UsagePoint"

    def fetch(index: int) -> int:
        url = f"{base}/{points[index % len(points)]}/UsageSummary"
        return requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ).status_code

    assert together(8, fetch) == [200] * 8
    with world.app.app_context():
        rows = db.session.scalars(
            select(Authorization).where(Authorization.subscription_uuid == sid)
        ).all()
        assert len(rows) == (1 if world.mode == "introspection" else 0)
        if rows:
            assert {p.uuid for p in rows[0].usage_points} == set(points)


def test_parallel_approvals_of_one_add_on_consent_make_one_grant(world: World) -> None:
    from parallel import together

    asp = _asp(world)
    grant = _custodian_grant(world, asp, 1)
    token = asp.connect(grant.key).session.token["access_token"]
    pushed = _push(world, token, grant.resource_uri)
    foreign = world.custodian.customers[1]
    browser = CustomerBrowser(
        f"{world.base}/sst",
        {"username": foreign.username, "password": foreign.password, "usage_points": []},
    )
    page = browser.http.get(pushed.json()["consent_url"], timeout=30)
    form = {
        "csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1),  # type: ignore[union-attr]
        "decision": "approve",
        "categories": SST_SCOPE.split(),
        "usage_points": list(foreign.usage_points),
    }

    def approve(_index: int) -> int:
        return browser.http.post(page.url, data=form, allow_redirects=False, timeout=60).status_code

    assert together(4, approve) == [302] * 4
    with world.app.app_context():
        sid = world.custodian.subscription_of(token)
        rows = db.session.scalars(
            select(Authorization).where(Authorization.subscription_uuid == sid)
        ).all()
        assert len(rows) == 1 and rows[0].grant_type == "sst_addon"


def test_ending_the_add_on_here_ends_only_the_sst(world: World) -> None:
    """The customer ends the SST add-on in the bolt-on's portal: the SST stops at once,
    the custodian's Green Button data keep flowing, and a new add-on consent restores it."""
    asp = _asp(world)
    grant = _custodian_grant(world, asp, 1)
    connection = asp.connect(grant.key)
    token = connection.session.token["access_token"]
    _add_on_consent(world, token, grant.resource_uri, 1)
    sid = world.custodian.subscription_of(token)
    point = world.custodian.customers[1].usage_points[0]
    base = f"{world.base}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{point}"
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        b"bundledRin" in requests.get(f"{base}/UsageSummary", headers=headers, timeout=30).content
    )
    foreign = world.custodian.customers[1]
    browser = CustomerBrowser(
        f"{world.base}/sst",
        {"username": foreign.username, "password": foreign.password, "usage_points": []},
    )
    assert browser.revoke_all() >= 1

    refused = requests.get(f"{base}/RateInformation", headers=headers, timeout=30)
    assert refused.status_code == 403
    assert "ended this application's SST access" in refused.json()["error_description"]
    plain = requests.get(f"{base}/UsageSummary", headers=headers, timeout=30)
    assert plain.status_code == 200 and b"UsageSummary" in plain.content
    assert b"bundledRin" not in plain.content

    _add_on_consent(world, token, grant.resource_uri, 1)
    again = requests.get(f"{base}/RateInformation", headers=headers, timeout=30)
    assert again.status_code == 200


def test_the_add_on_consent_follows_the_asp_class(world: World) -> None:
    """A data-only ASP (concept design 6.4.2.1) asks the bolt-on for sst:rate_change:
    invalid_scope, as at /oauth/authorize; the data-only categories are granted."""
    asp = AspClient.from_issuer(
        world.custodian.issuer,
        client_id=DATA_ONLY_ID,
        client_secret=ASP_SECRET,
        redirect_uri=REDIRECT,
        scope=GBC_SCOPE,
        token_store=MemoryTokenStore(),
    )
    grant = _custodian_grant(world, asp, 1)
    token = asp.connect(grant.key).session.token["access_token"]

    def push(scope: str) -> requests.Response:
        return requests.post(
            f"{world.base}/sst/consent/requests",
            auth=(DATA_ONLY_ID, world.app.config["TEST_DATA_ONLY_SECRET"]),
            data={
                "access_token": token,
                "resource_uri": grant.resource_uri,
                "scope": scope,
                "redirect_uri": REDIRECT,
                "state": "s-1",
            },
            timeout=30,
        )

    refused = push(SST_SCOPE)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    assert push("sst:rin sst:bill_comparison").status_code == 201
