"""Two bolt-on nodes in front of one custodian behave as one bolt-on (issue 21: "the same in
bolt-on mode in front of a test upstream").

Nodes A and B (two_nodes.py: each its own gunicorn master, port and folder; one
``ESPI_SECRET_KEY``, one scratch PostgreSQL database, one redis-server) run in bolt-on mode
in front of ONE stand-in custodian we did not write (tests/server/upstream/
foreign_custodian.py): plain ESPI forwarded to it, its opaque tokens checked by its RFC 7662
introspection, each answer cached at most ``INTROSPECTION_CACHE_SECONDS`` (``BOUND``) per
gunicorn worker.  Over real HTTP:

* the ASP's SST add-on consent pushed to one node is approved by the customer on the other
  node's page; the SST resources then answer on both with the custodian's token, and both
  forward the plain ESPI requests with that token;
* the customer stops sharing at the custodian: each node refuses the token within ``BOUND``
  (+1 s of polling and scheduling slack), measured per node -- the caches are per process,
  so the bound is the same with two nodes, it does not add up;
* one add-on consent approved on A and B at the same moment makes one grant.
"""

from __future__ import annotations

import json
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
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization
from flask import Flask
from sqlalchemy import select
from two_nodes import ISSUER, SECRET_KEY, Node, running_nodes

from espi_sst.client import AspClient, MemoryTokenStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "upstream"))
sys.path.insert(0, str(HERE.parents[1] / "integration"))
from bolt_on_seed import (  # noqa: E402
    ASP_ID,
    ASP_SECRET,
    GBC_SCOPE,
    REDIRECT,
    RESOURCE_SERVER,
    SST_SCOPE,
    introspection_settings,
    seed_bolt_on,
)
from demo_process import CustomerBrowser  # noqa: E402
from foreign_custodian import ForeignCustodian, running_foreign_custodian  # noqa: E402
from parallel import together  # noqa: E402
from scratch_databases import postgresql_database  # noqa: E402

pytestmark = pytest.mark.slow  # two gunicorn nodes start per module

BOUND = 2  # INTROSPECTION_CACHE_SECONDS (and PROBE_CACHE_SECONDS) of both nodes
SLACK = 1  # polling interval, scheduling and the introspection round trip
TRIALS = 3  # parallel approvals on A and B, each a new consent
POLLING_LIMIT = "200 per second"  # the resource limit of both nodes (Redis-shared)
RINS = ("USCA-PGXX-0100-0000", "USCA-XXPE-0440-0000")  # the first customer's first point


@dataclass
class World:
    custodian: ForeignCustodian
    a: Node
    b: Node
    asp_secret: str  # the ASP's secret at the bolt-on (registered by seed_bolt_on)
    app: Flask  # the seeding app, to read the shared database


def _as_environment(settings: dict[str, Any]) -> dict[str, str]:
    """``create_app`` keys as a process's ``ESPI_*`` variables (JSON where not a string, as
    server/config.py reads them)."""
    return {
        f"ESPI_{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in settings.items()
    }


@pytest.fixture(scope="module")
def world(shared_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("bolt-on-nodes")
    databases = postgresql_database()  # skips (or fails under ESPI_REQUIRE_POSTGRESQL)
    database_url = next(databases)
    try:
        with running_foreign_custodian(introspection="standard", shape="pge") as custodian:
            custodian.register_client(ASP_ID, ASP_SECRET, [REDIRECT], GBC_SCOPE)
            custodian.register_resource_server(*RESOURCE_SERVER)
            settings = introspection_settings(custodian, BOUND)
            app = create_app(
                {
                    "DATABASE_URL": database_url,
                    "SECRET_KEY": SECRET_KEY,
                    "ISSUER": ISSUER,
                    **settings,
                }
            )
            seed_bolt_on(app, custodian)  # migrates and seeds before any node starts
            try:
                # The polling below is ~16 requests a second on one token; the shared
                # limits themselves are test_across_nodes_limits.py's subject.
                env = _as_environment(settings) | {"ESPI_RESOURCE_RATE_LIMIT": POLLING_LIMIT}
                with running_nodes(folder, database_url, shared_redis, env=env) as (a, b):
                    yield World(custodian, a, b, app.config["TEST_ASP_SECRET"], app)
            finally:
                session = app.extensions.get("espi_sst_upstream_session")
                if session is not None:
                    session.close()
                app.extensions["espi_sst_db"].engine.dispose()
    finally:
        databases.close()  # drops the database


def _custodian_token(world: World, customer_index: int) -> tuple[str, str]:
    """The ASP's Green Button consent at the custodian: (access token, resourceURI)."""
    asp = AspClient.from_issuer(
        world.custodian.issuer,
        client_id=ASP_ID,
        client_secret=ASP_SECRET,
        redirect_uri=REDIRECT,
        scope=GBC_SCOPE,
        token_store=MemoryTokenStore(),
    )
    started = asp.authorization_url()
    callback = world.custodian.sign_in_and_allow(
        started.url, world.custodian.customers[customer_index]
    )
    grant = asp.fetch_token(callback, started)
    assert grant.resource_uri is not None
    token = asp.connect(grant.key).session.token["access_token"]
    return str(token), grant.resource_uri


def _push(world: World, node: Node, token: str, resource_uri: str) -> str:
    """The ASP pushes its add-on consent request to ``node``: the consent URL there."""
    pushed = requests.post(
        f"{node.url}/sst/consent/requests",
        auth=(ASP_ID, world.asp_secret),
        data={
            "access_token": token,
            "resource_uri": resource_uri,
            "scope": SST_SCOPE,
            "redirect_uri": REDIRECT,
            "state": "s-across",
        },
        timeout=30,
    )
    assert pushed.status_code == 201, (node.name, pushed.text, node.log_text())
    consent_url = str(pushed.json()["consent_url"])
    assert consent_url.startswith(f"{node.url}/sst/consent?request_uri="), consent_url
    return consent_url


def _browser(world: World, node: Node, customer_index: int) -> CustomerBrowser:
    """The customer signed in at ``node``'s portal (the session row is shared)."""
    customer = world.custodian.customers[customer_index]
    return CustomerBrowser(
        f"{node.url}/sst",
        {
            "username": customer.username,
            "password": customer.password,
            "usage_points": list(customer.usage_points),
        },
    )


def _consent_across(
    world: World, push_to: Node, approve_at: Node, customer_index: int
) -> tuple[str, str]:
    """Pushed to one node, approved on the other's page: (token, subscription id)."""
    token, resource_uri = _custodian_token(world, customer_index)
    consent_url = _push(world, push_to, token, resource_uri)
    elsewhere = consent_url.replace(push_to.url, approve_at.url, 1)
    callback = _browser(world, approve_at, customer_index).approve(
        elsewhere, categories=SST_SCOPE.split()
    )
    answer = parse_qs(urlsplit(callback).query)
    assert answer["sst_consent"] == ["granted"] and answer["state"] == ["s-across"], callback
    return token, world.custodian.subscription_of(token)


def _point_url(node: Node, sid: str, point: str, tail: str) -> str:
    return f"{node.url}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{point}{tail}"


def _get(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_an_add_on_consent_pushed_to_one_node_is_approved_on_the_other(world: World) -> None:
    a, b = world.a, world.b
    customer = world.custodian.customers[0]
    point = customer.usage_points[0]
    token, sid = _consent_across(world, push_to=a, approve_at=b, customer_index=0)
    for node in (a, b):
        summary = _get(_point_url(node, sid, point, "/UsageSummary"), token)
        assert summary.status_code == 200, (node.name, summary.text[:500])
        for rin in RINS:  # the SST elements merged into the custodian's UsageSummary
            assert rin.encode() in summary.content, (node.name, rin)
        rates = _get(_point_url(node, sid, point, "/RateInformation"), token)
        assert rates.status_code == 200, (node.name, rates.text[:500])
        assert b"RateInformation" in rates.content
        # plain ESPI: forwarded to the custodian with the ASP's own token
        before = len(world.custodian.requests)
        points = _get(f"{node.url}/espi/1_1/resource/Subscription/{sid}/UsagePoint", token)
        assert points.status_code == 200, (node.name, points.text[:500])
        assert all(uid.encode() in points.content for uid in customer.usage_points)
        forwarded = world.custodian.requests[before:]
        assert any(
            method == "GET" and path.endswith(f"/Subscription/{sid}/UsagePoint") and bearer == token
            for method, path, bearer in forwarded
        ), (node.name, forwarded)
    with world.app.app_context():
        rows = db.session.scalars(
            select(Authorization).where(Authorization.subscription_uuid == sid)
        ).all()
        assert [row.grant_type for row in rows] == ["sst_addon"]


def test_a_revocation_at_the_custodian_is_refused_by_both_nodes_within_the_bound(
    world: World,
) -> None:
    """Each node's refusal, timed from the revocation: the first 401 and the last 200 (a
    worker whose cache still holds the answer), both within ``BOUND`` + ``SLACK``."""
    a, b = world.a, world.b
    token, sid = _consent_across(world, push_to=b, approve_at=a, customer_index=1)
    point = world.custodian.customers[1].usage_points[0]
    urls = {node.name: _point_url(node, sid, point, "/RateInformation") for node in (a, b)}
    for _ in range(4):  # warm the cache of every worker of both nodes
        for name, url in urls.items():
            assert _get(url, token).status_code == 200, name
    world.custodian.revoke_subscription(sid)
    revoked_at = time.monotonic()
    first_refusal: dict[str, float] = {}
    last_acceptance: dict[str, float] = {}
    seen: dict[str, list[tuple[float, int]]] = {name: [] for name in urls}
    while time.monotonic() - revoked_at < BOUND + SLACK + 1:  # bounded: ~4 s of polling
        for name, url in urls.items():
            status = _get(url, token).status_code
            took = time.monotonic() - revoked_at
            seen[name].append((round(took, 2), status))
            assert status in (200, 401), (name, status, seen[name])
            if status == 401:
                first_refusal.setdefault(name, took)
            else:
                last_acceptance[name] = took
        time.sleep(0.1)
    print(
        "revocation refused (s): "
        + json.dumps(
            {
                name: {
                    "first_refusal": round(first_refusal.get(name, -1), 2),
                    "last_acceptance": round(last_acceptance.get(name, 0.0), 2),
                }
                for name in urls
            }
        )
    )
    for name in urls:
        assert name in first_refusal, f"node {name} never refused: {seen[name]}"
        assert first_refusal[name] <= BOUND + SLACK, (name, seen[name])
        assert last_acceptance.get(name, 0.0) <= BOUND + SLACK, (name, seen[name])
        tail = [status for took, status in seen[name] if took > BOUND + SLACK]
        assert tail and set(tail) == {401}, (name, seen[name])


def _approve_on_both_at_once(world: World, pushed_to: Node) -> str:
    """One pushed consent, its page from the node it was pushed to, the same form posted to
    A, B, A and B at the same moment (one browser, one session): the subscription id."""
    token, resource_uri = _custodian_token(world, 1)
    consent_url = _push(world, pushed_to, token, resource_uri)
    browser = _browser(world, world.a, 1)
    page = browser.http.get(consent_url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert csrf is not None
    form = {
        "csrf_token": csrf.group(1),
        "decision": "approve",
        "categories": SST_SCOPE.split(),
        "usage_points": list(world.custodian.customers[1].usage_points),
    }
    nodes = (world.a, world.b, world.a, world.b)
    targets = [page.url.replace(pushed_to.url, node.url, 1) for node in nodes]

    def approve(index: int) -> int:
        answer = browser.http.post(targets[index], data=form, allow_redirects=False, timeout=60)
        return answer.status_code

    assert together(len(targets), approve) == [302] * len(targets)
    return world.custodian.subscription_of(token)


def test_one_add_on_consent_approved_on_both_nodes_at_once_makes_one_grant(
    world: World,
) -> None:
    for trial in range(TRIALS):
        sid = _approve_on_both_at_once(world, (world.a, world.b)[trial % 2])
        with world.app.app_context():
            rows = db.session.scalars(
                select(Authorization).where(Authorization.subscription_uuid == sid)
            ).all()
            assert [row.grant_type for row in rows] == ["sst_addon"], (trial, rows)
