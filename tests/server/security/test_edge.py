"""Input at the edge (server/security/edge.py): NUL characters, JSON nesting and request size are
refused with a clear 400 / 413 before any view or database sees them -- on SQLite and on
PostgreSQL, where a NUL in a bound parameter used to be an unauthenticated 500 (issue 11,
findings 15, 17 and 23)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from edge_world import EdgeWorld, basic, dispose, make_edge_world
from flask.testing import FlaskClient

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture()
def world(database_url: str) -> Iterator[EdgeWorld]:
    made = make_edge_world(database_url, RATELIMIT_ENABLED=False)
    yield made
    dispose(made)


def csrf_token(client: FlaskClient) -> str:
    match = CSRF.search(client.get("/portal/login").get_data(as_text=True))
    assert match, "the sign-in page carries a CSRF token"
    return match.group(1)


def assert_json_refusal(response: Any, status: int = 400, *, mentions: str = "NUL") -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == ("invalid_request" if status == 400 else "request_too_large")
    assert mentions in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


def assert_page_refusal(response: Any, *, mentions: str = "NUL") -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    assert mentions in response.get_data(as_text=True)


# ---- NUL characters (finding 17) -------------------------------------------------------------


def test_nul_in_the_sign_in_form_is_a_400_page(world: EdgeWorld) -> None:
    client = world.app.test_client()
    response = client.post(
        "/portal/login",
        data={"username": "ali\x00ce", "password": "x", "csrf_token": csrf_token(client)},
    )
    assert_page_refusal(response)
    assert "username" in response.get_data(as_text=True)  # says where


def test_nul_at_the_token_endpoint_is_a_400(world: EdgeWorld) -> None:
    client = world.app.test_client()
    posted = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "asp-a\x00", "client_secret": "x"},
    )
    assert_json_refusal(posted)
    in_basic = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("asp\x00", "x")
    )
    assert_json_refusal(in_basic)  # a header field (RFC 9110 5.5 forbids NUL there)


def test_nul_in_the_authorization_request_is_a_400_page(world: EdgeWorld) -> None:
    response = world.app.test_client().get(
        "/oauth/authorize?response_type=code&client_id=asp-a%00&redirect_uri=x"
    )
    assert_page_refusal(response)
    assert "client_id" in response.get_data(as_text=True)


def test_nul_in_a_resource_id_is_a_400(world: EdgeWorld) -> None:
    grant = world.grants["asp-a"]
    client = world.app.test_client()
    response = client.get(grant.url("/MeterReading/abc%00def"), headers=grant.headers)
    assert_json_refusal(response)
    raw = client.get(grant.url("/MeterReading/abc\x00def"), headers=grant.headers)
    assert_json_refusal(raw)


def test_nul_in_a_bearer_token_is_a_400(world: EdgeWorld) -> None:
    grant = world.grants["asp-a"]
    response = world.app.test_client().get(
        grant.url(), headers={"Authorization": "Bearer tok\x00en"}
    )
    assert_json_refusal(response)


@pytest.mark.parametrize("field", ["targetRin", "targetTariffCode"])
def test_nul_in_a_json_body_is_a_400(world: EdgeWorld, field: str) -> None:
    """The rate-change POST (its fields end in database lookups)."""
    grant = world.grants["asp-a"]
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data='{"' + field + '": "E-TOU\\u0000"}',
        content_type="application/json",
        headers={**grant.headers, "Idempotency-Key": "k-1"},
    )
    assert_json_refusal(response)
    assert field in response.get_json()["error_description"]  # says where


def test_nul_in_a_form_body_is_a_400(world: EdgeWorld) -> None:
    grant = world.grants["asp-a"]
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data={"targetTariffCode": "E-TOU\x00"},
        headers={**grant.headers, "Idempotency-Key": "k-1"},
    )
    assert_json_refusal(response)


def test_an_escaped_backslash_before_u0000_is_no_nul(world: EdgeWorld) -> None:
    """``"\\\\u0000"`` is a backslash and the text u0000: legal, and not refused."""
    grant = world.grants["asp-a"]
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data='{"targetRin": "USCA-\\\\u0000"}',
        content_type="application/json",
        headers={**grant.headers, "Idempotency-Key": "k-2"},
    )
    assert response.status_code != 400 or "NUL" not in response.get_json()["error_description"]
    assert response.status_code < 500


def test_a_percent_sign_that_is_not_a_nul_passes(world: EdgeWorld) -> None:
    grant = world.grants["asp-a"]
    response = world.app.test_client().get(
        grant.url("/MeterReading/abc%2500def"), headers=grant.headers
    )
    assert response.status_code == 404  # no such reading; "%00" as text is no NUL


# ---- JSON nesting (finding 15) ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 5000, 100_000])
def test_deeply_nested_json_is_a_400(world: EdgeWorld, depth: int) -> None:
    grant = world.grants["asp-a"]
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data="[" * depth + "]" * depth,
        content_type="application/json",
        headers={**grant.headers, "Idempotency-Key": "k-3"},
    )
    assert_json_refusal(response, mentions="nested")


def test_json_within_the_depth_bound_reaches_the_view(world: EdgeWorld) -> None:
    grant = world.grants["asp-a"]
    nested: Any = "x"
    for _ in range(63):
        nested = {"a": nested}
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data=json.dumps({"targetRin": "USCA-PGPG-0100-0000", "deep": nested}),
        content_type="application/json",
        headers={**grant.headers, "Idempotency-Key": "k-4"},
    )
    assert response.status_code != 400 or "nested" not in response.get_data(as_text=True)
    assert response.status_code < 500


# ---- request size (finding 23) ---------------------------------------------------------------


def test_a_body_over_max_content_length_is_a_413(world: EdgeWorld) -> None:
    grant = world.grants["asp-a"]
    big = json.dumps({"targetRin": "x" * (2 * 1024 * 1024)})
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data=big,
        content_type="application/json",
        headers={**grant.headers, "Idempotency-Key": "k-5"},
    )
    assert_json_refusal(response, 413, mentions="1048576 bytes")


def test_a_chunked_body_without_a_length_is_cut_at_the_limit(world: EdgeWorld) -> None:
    """No Content-Length to check up front: Werkzeug stops reading at the limit.  (A server
    that decodes chunked bodies says so with ``wsgi.input_terminated``, as Werkzeug's and
    gunicorn's do.)"""
    grant = world.grants["asp-a"]
    body = json.dumps({"targetRin": "x" * (2 * 1024 * 1024)}).encode()
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={**grant.headers, "Idempotency-Key": "k-7", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_json_refusal(response, 413, mentions="1048576 bytes")


def test_a_sign_in_form_over_the_limit_is_a_413_page(world: EdgeWorld) -> None:
    client = world.app.test_client()
    response = client.post(
        "/portal/login",
        data={"username": "a" * (2 * 1024 * 1024), "password": "x"},
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "1048576 bytes" in response.get_data(as_text=True)


def test_the_size_limit_is_a_setting(database_url: str) -> None:
    world = make_edge_world(database_url, RATELIMIT_ENABLED=False, MAX_CONTENT_LENGTH=1000)
    try:
        response = world.app.test_client().post(
            "/oauth/token", data={"grant_type": "client_credentials", "pad": "x" * 2000}
        )
        assert_json_refusal(response, 413, mentions="1000 bytes")
    finally:
        dispose(world)


# ---- what the edge must not break ------------------------------------------------------------


def test_an_xml_body_is_not_screened_as_json(world: EdgeWorld) -> None:
    """No endpoint takes XML yet; the rate-change POST answers 415 for it, as before."""
    grant = world.grants["asp-a"]
    response = world.app.test_client().post(
        grant.url("/RateChangeRequest"),
        data=b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">[[[[</feed>',
        content_type="application/atom+xml",
        headers={**grant.headers, "Idempotency-Key": "k-6"},
    )
    assert response.status_code == 415


def test_ordinary_requests_pass(world: EdgeWorld) -> None:
    client = world.app.test_client()
    signed_in = client.post(
        "/portal/login",
        data={"username": "alice", "password": "correct horse", "csrf_token": csrf_token(client)},
    )
    assert signed_in.status_code == 302
    grant = world.grants["asp-a"]
    assert client.get(grant.url(), headers=grant.headers).status_code == 200
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "FB=4_5_15 basic"},
        headers=basic("asp-a", "secret-of-a"),
    )
    assert token.status_code == 200, token.get_json()
