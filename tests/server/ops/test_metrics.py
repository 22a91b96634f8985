"""``/metrics`` (issue 16, Metrics): who may read it, and that each instrument moves when the
thing it counts happens -- a real OAuth flow, real 429s, a real failed upstream call -- and
that the database gauges say what the database holds.

Counters are per process and these tests share one: each compares a scrape before with one
after.  Scrapes go over real HTTP on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization, OutboxMessage
from flask import Flask
from oauth_world import (  # conftest.py puts tests/server/oauth on the path
    World,
    authorize_params,
    basic,
    consent,
    exchange,
    login,
    pkce,
    redirect_params,
)
from parallel import serve
from scrape import names, samples, value
from sqlalchemy import func, select


def make_app(tmp_path: Path, **config: Any) -> Flask:
    return create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/m.db", "SECRET_KEY": "t", "TESTING": True, **config}
    )


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Flask]:
    made = make_app(tmp_path)
    yield made
    made.extensions["espi_sst_db"].engine.dispose()


def scrape(base: str, **headers: str) -> str:
    answer = requests.get(f"{base}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return answer.text


# ---- who may read it ---------------------------------------------------------------------


def test_loopback_reads_metrics_without_credentials(app: Flask) -> None:
    with serve(app) as base:
        text = scrape(base)
    assert "espi_sst_http_requests_total" in names(text)
    assert "espi_sst_grants" in names(text)


def test_a_proxied_request_is_refused_without_a_token(app: Flask) -> None:
    """What comes through a proxy on this host (nginx, the gateway) comes from elsewhere."""
    with serve(app) as base:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            answer = requests.get(f"{base}/metrics", headers={header: "203.0.113.9"}, timeout=10)
            assert answer.status_code == 403, (header, answer.text)
            assert "ESPI_METRICS_TOKEN" in answer.json()["error_description"]
            assert "espi_sst" not in answer.text


def test_behind_a_trusted_proxy_the_client_address_is_not_loopback(tmp_path: Path) -> None:
    app = make_app(tmp_path, TRUSTED_PROXY_HOPS=1)
    try:
        with serve(app) as base:
            answer = requests.get(
                f"{base}/metrics", headers={"X-Forwarded-For": "198.51.100.7"}, timeout=10
            )
        assert answer.status_code == 403
    finally:
        app.extensions["espi_sst_db"].engine.dispose()


def test_with_a_metrics_token_a_remote_scraper_sends_it(tmp_path: Path) -> None:
    app = make_app(tmp_path, METRICS_TOKEN="scrape-secret-1")
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    try:
        with serve(app) as base:
            missing = requests.get(f"{base}/metrics", headers=proxied, timeout=10)
            assert missing.status_code == 401
            assert missing.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = requests.get(
                f"{base}/metrics",
                headers={**proxied, "Authorization": "Bearer scrape-secret-2"},
                timeout=10,
            )
            assert wrong.status_code == 401
            assert "espi_sst" not in wrong.text
            text = scrape(base, **proxied, Authorization="Bearer scrape-secret-1")
            assert "espi_sst_http_requests_total" in names(text)
            scrape(base)  # loopback still needs no token
    finally:
        app.extensions["espi_sst_db"].engine.dispose()


# ---- requests --------------------------------------------------------------------------------


def test_requests_are_counted_by_endpoint_never_by_path(app: Flask) -> None:
    with serve(app) as base:
        before = scrape(base)
        for _ in range(3):
            assert requests.get(f"{base}/oauth/jwks.json", timeout=10).status_code == 200
        for number in range(4):
            requests.get(f"{base}/no/such/page/{number}", timeout=10)
        after = scrape(base)
    series = dict(endpoint="oauth.jwks_document", method="GET", status="200")
    total = "espi_sst_http_requests_total"
    assert value(after, total, **series) - value(before, total, **series) == 3
    unmatched = dict(endpoint="<unmatched>", method="GET", status="404")
    assert value(after, total, **unmatched) - value(before, total, **unmatched) == 4
    assert "/no/such" not in after  # no raw path ever becomes a label
    latency = "espi_sst_http_request_duration_seconds_count"
    jwks = dict(endpoint="oauth.jwks_document", method="GET")
    assert value(after, latency, **jwks) - value(before, latency, **jwks) == 3


# ---- tokens and grants -------------------------------------------------------------------------


def _grants_in_database(world: World) -> dict[str, int]:
    with world.app.app_context():
        rows = db.session.execute(
            select(Authorization.status, func.count()).group_by(Authorization.status)
        ).all()
    named = {0: "revoked", 1: "active"}
    counts = {"active": 0, "revoked": 0}
    counts.update({named[status]: count for status, count in rows})
    return counts


def _grants_in_scrape(text: str) -> dict[str, int]:
    return {
        status: int(value(text, "espi_sst_grants", status=status))
        for status in ("active", "revoked")
    }


def test_token_counters_follow_a_real_oauth_flow_and_grants_match_the_database(
    world: World,
) -> None:
    client = world.app.test_client()
    with serve(world.app) as base:
        before = scrape(base)
        assert (
            _grants_in_scrape(before) == _grants_in_database(world) == {"active": 0, "revoked": 0}
        )

        login(client, world.customer_username, world.customer_password)
        verifier, challenge = pkce()
        params = authorize_params(world.confidential_id, challenge)
        code = redirect_params(consent(client, params, usage_points=world.usage_points))["code"]
        issued = exchange(world, client, code, verifier)
        assert issued.status_code == 200, issued.data
        refresh_token = issued.get_json()["refresh_token"]
        refreshed = client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            headers=basic(world.confidential_id, world.confidential_secret),
        )
        assert refreshed.status_code == 200, refreshed.data
        middle = scrape(base)
        assert (
            _grants_in_scrape(middle) == _grants_in_database(world) == {"active": 1, "revoked": 0}
        )

        tokens = refreshed.get_json()
        for token, hint in (
            (tokens["access_token"], "access_token"),
            (tokens["refresh_token"], "refresh_token"),
        ):
            revoked = client.post(
                "/oauth/revoke",
                data={"token": token, "token_type_hint": hint},
                headers=basic(world.confidential_id, world.confidential_secret),
            )
            assert revoked.status_code == 200, revoked.data
        after = scrape(base)

    def moved(text: str, name: str, **labels: str) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    assert moved(middle, "espi_sst_tokens_issued_total", grant_type="authorization_code") == 1
    assert moved(middle, "espi_sst_tokens_issued_total", grant_type="refresh_token") == 1
    assert moved(middle, "espi_sst_tokens_refreshed_total") == 1
    assert moved(after, "espi_sst_tokens_revoked_total", token_type="access_token") == 1
    assert moved(after, "espi_sst_tokens_revoked_total", token_type="refresh_token") == 1
    # revoking the refresh token ended the grant (RFC 7009 2.1): the gauge follows the rows
    assert _grants_in_scrape(after) == _grants_in_database(world) == {"active": 0, "revoked": 1}


def test_a_refused_token_request_issues_nothing(world: World) -> None:
    client = world.app.test_client()
    with serve(world.app) as base:
        before = scrape(base)
        refused = client.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": "made-up", "redirect_uri": "x"},
            headers=basic(world.confidential_id, world.confidential_secret),
        )
        assert refused.status_code == 400
        after = scrape(base)
    name = "espi_sst_tokens_issued_total"
    assert value(after, name, grant_type="authorization_code") == value(
        before, name, grant_type="authorization_code"
    )


# ---- rate limits, upstream, outbox ------------------------------------------------------------


def test_rate_limit_rejections_are_counted_by_the_limit(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        LOGIN_IP_RATE_LIMIT="2 per minute",
        TOKEN_FAILURE_IP_RATE_LIMIT="2 per minute",
        WTF_CSRF_ENABLED=False,  # the sign-in form's CSRF would answer 400 before the limit
    )
    try:
        with serve(app) as base, requests.Session() as session:
            before = scrape(base)
            logins = [
                session.post(
                    f"{base}/portal/login", data={"username": "x", "password": "y"}, timeout=10
                ).status_code
                for _ in range(4)
            ]
            tokens = [
                requests.post(
                    f"{base}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("nobody", "wrong"),
                    timeout=10,
                ).status_code
                for _ in range(4)
            ]
            after = scrape(base)
    finally:
        app.extensions["espi_sst_db"].engine.dispose()
    name = "espi_sst_rate_limit_rejections_total"
    # Flask-Limiter's decorator (sign-in) and the counters after authentication (token)
    assert logins.count(429) == 2
    assert (
        value(after, name, limit="LOGIN_IP_RATE_LIMIT")
        - value(before, name, limit="LOGIN_IP_RATE_LIMIT")
        == 2
    )
    assert tokens.count(429) == 2
    assert (
        value(after, name, limit="TOKEN_FAILURE_IP_RATE_LIMIT")
        - value(before, name, limit="TOKEN_FAILURE_IP_RATE_LIMIT")
        == 2
    )


def test_upstream_failures_are_timed_and_counted(app: Flask) -> None:
    import socket

    from espi_sst_server.upstream.forward import UpstreamError, get

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config["UPSTREAM_RETRIES"] = 0
    with serve(app) as base:
        before = scrape(base)
        with app.app_context(), pytest.raises(UpstreamError):
            get(app, f"http://127.0.0.1:{port}/espi/1_1/resource/UsagePoint", bearer="t")
        after = scrape(base)
    errors = dict(operation="get", error="upstream_unavailable")
    total = "espi_sst_upstream_errors_total"
    assert value(after, total, **errors) - value(before, total, **errors) == 1
    timed = "espi_sst_upstream_request_duration_seconds_count"
    assert value(after, timed, operation="get") - value(before, timed, operation="get") == 1


def test_outbox_depth_and_age_per_lane(app: Flask) -> None:
    now = int(time.time())
    with app.app_context(), db.transaction() as session:
        for kind, age, sent, failed in (
            ("email", 300, None, None),
            ("email", 30, None, None),
            ("email", 900, now, None),  # sent: not pending
            ("asp_notification", 60, None, None),
            ("asp_notification", 5000, None, now),  # given up
        ):
            session.add(
                OutboxMessage(
                    kind=kind,
                    destination="x@example.com",
                    payload={},
                    created_at=now - age,
                    next_attempt_at=now,
                    attempts=0,
                    sent_at=sent,
                    failed_at=failed,
                )
            )
    with serve(app) as base:
        text = scrape(base)
    found = samples(text)
    assert found[("espi_sst_outbox_pending_messages", (("lane", "email"),))] == 2
    assert found[("espi_sst_outbox_pending_messages", (("lane", "asp_notification"),))] == 1
    assert 300 <= found[("espi_sst_outbox_oldest_pending_age_seconds", (("lane", "email"),))] < 330
    age = found[("espi_sst_outbox_oldest_pending_age_seconds", (("lane", "asp_notification"),))]
    assert 60 <= age < 90
    assert found[("espi_sst_outbox_failed_messages", (("lane", "asp_notification"),))] == 1
    assert found[("espi_sst_outbox_failed_messages", (("lane", "email"),))] == 0
    assert found[("espi_sst_rate_changes", (("state", "awaitingConfirmation"),))] == 0
