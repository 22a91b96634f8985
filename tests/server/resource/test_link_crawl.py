"""Every href the resource API writes resolves (issue 14: the ``up`` links of Authorization
and ApplicationInformation once answered 404).

A crawler starts where an ASP starts -- a customer grant's token response (``resourceURI``,
``authorizationURI``) and the ASP's own client_credentials view (its ApplicationInformation,
the Authorization collection, the advertised bulk URL) -- and follows every ``atom:link/@href``
of every document it is served (feeds and entries; self, up, related), plus the URIs the
content carries (``resourceURI``, ``authorizationURI``, ``dataCustodianBulkRequestURI``,
``dataCustodianResourceEndpoint``'s children are links already), as long as they are under
the server's resource base.  Each must answer 200 with a schema-valid body, read with the
token an ASP would use: the customer's for the subscription's resources, the client's for
Authorization, ApplicationInformation and Batch/Bulk.  The failures are listed all at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from flask.testing import FlaskClient

import espi_sst
from espi_sst.model import ApplicationInformation, Authorization

if TYPE_CHECKING:
    from resource_world import World

BASE = "http://localhost/espi/1_1/resource"
ASP_LEVEL = ("/Authorization", "/ApplicationInformation", "/Batch/Bulk")
"""Paths read with the ASP's client_credentials token (GBC: ESPI FB 3, 33, 35)."""


def crawl(
    client: FlaskClient, starts: list[str], token_for: Callable[[str, str], str | None]
) -> tuple[set[str], list[str], set[str]]:
    """Breadth-first over every href under BASE; (hrefs read, failures, hrefs no token reads).

    ``token_for(path, referrer_token)`` picks the bearer token for a path (relative to BASE);
    None when no live token may read it (the subscription of an ended grant, which its
    Authorization still names): such hrefs are returned apart, for the test to check.
    """
    seen: set[str] = set()
    unreadable: set[str] = set()
    failures: list[str] = []
    queue: deque[tuple[str, str]] = deque((href, "") for href in starts)
    while queue:
        href, referrer_token = queue.popleft()
        href = href.split("?")[0]
        if href in seen or not href.startswith(BASE):
            continue
        seen.add(href)
        token = token_for(href[len(BASE) :], referrer_token)
        if token is None:
            unreadable.add(href)
            continue
        response = client.get(href, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            failures.append(f"{response.status_code} {href} (token {token})")
            continue
        problems = espi_sst.validate(response.data, profile="official")
        if problems:
            failures.append(f"schema-invalid {href}: {problems[:2]}")
            continue
        document = espi_sst.parse(response.data)
        feed_links = document.feed.links if document.feed is not None else []
        hrefs = [link.href for link in feed_links if link.href]
        for entry in document.entries:
            hrefs += [link.href for link in entry.links if link.href]
            content = entry.content
            if isinstance(content, Authorization):
                hrefs += [u for u in (content.resource_uri, content.authorization_uri) if u]
            if isinstance(content, ApplicationInformation):
                hrefs += [u for u in (content.data_custodian_bulk_request_uri,) if u]
        queue.extend((h, token) for h in hrefs)
    return seen - unreadable, failures, unreadable


def customer_token_for(customer: str, client_token: str) -> Callable[[str, str], str | None]:
    def choose(path: str, _referrer: str) -> str | None:
        if path.startswith(("/ApplicationInformation", "/Batch/Bulk")):
            return client_token
        return customer

    return choose


def client_token_for(
    client_token: str, by_subscription: dict[str, str | None]
) -> Callable[[str, str], str | None]:
    """The client token for ASP-level paths; a subscription's customer token for its tree
    (None: an ended grant's); shared resources (ReadingType, LocalTimeParameters) with the
    customer token that found them, or, found in the bulk, the ASP's first customer's."""
    first_customer = next(t for t in by_subscription.values() if t is not None)

    def choose(path: str, referrer: str) -> str | None:
        if path.startswith(ASP_LEVEL):
            return client_token
        for sid, token in by_subscription.items():
            if f"Subscription/{sid}" in path:
                return token
        return first_customer if referrer == client_token else referrer

    return choose


@pytest.fixture(autouse=True)
def _no_bulk_rate_limit(app: Flask) -> None:
    """A crawl reads every feed of an ASP at once: the per-ASP limit on the costly feeds
    (2 per second; 20 per second on any, tests/server/limits) would answer 429, which is not what is tested here."""
    app.config["RESOURCE_BULK_RATE_LIMIT"] = ""
    app.config["RESOURCE_RATE_LIMIT"] = ""


def test_every_link_of_a_customer_grant_resolves(client: FlaskClient, world: World) -> None:
    starts = [
        f"{BASE}/Batch/Subscription/{world.sub_a}",  # the token response's resourceURI
        f"{BASE}/Authorization/{world.auth_a}",  # its authorizationURI
    ]
    seen, failures, unreadable = crawl(client, starts, customer_token_for("tok-a", "tok-client-a"))
    assert failures == [], "\n".join(failures)
    assert unreadable == set()
    # The crawl reached the whole graph, the collections the up links name included.
    for path in (
        f"/Subscription/{world.sub_a}/UsagePoint",
        f"/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/MeterReading/{world.mr_a1}/IntervalBlock",
        f"/ReadingType/{world.rt_kwh}",
        "/ReadingType",
        "/LocalTimeParameters",
        "/Authorization",
    ):
        assert BASE + path in seen


@pytest.mark.parametrize(
    ("client_token", "app_key", "subscriptions"),
    [
        ("tok-client-a", "app_a", {"sub_a": "tok-a", "sub_gone": None}),
        ("tok-client-b", "app_b", {"sub_ab": "tok-ab", "sub_b": "tok-b"}),
    ],
)
def test_every_link_of_the_asp_view_resolves(
    client: FlaskClient,
    world: World,
    client_token: str,
    app_key: str,
    subscriptions: dict[str, str | None],
) -> None:
    starts = [
        f"{BASE}/ApplicationInformation/{getattr(world, app_key)}",
        f"{BASE}/Authorization",
    ]
    by_subscription = {getattr(world, key): token for key, token in subscriptions.items()}
    seen, failures, unreadable = crawl(
        client, starts, client_token_for(client_token, by_subscription)
    )
    assert failures == [], "\n".join(failures)
    assert f"{BASE}/ApplicationInformation" in seen
    for sid, token in by_subscription.items():
        assert f"{BASE}/Batch/Subscription/{sid}" in (seen if token else unreadable)
    # Only an ended grant's subscription, named by its Authorization, is beyond every token.
    assert unreadable == {
        f"{BASE}/Batch/Subscription/{sid}" for sid, t in by_subscription.items() if t is None
    }
    assert any(href.startswith(f"{BASE}/Batch/Bulk/") for href in seen)
