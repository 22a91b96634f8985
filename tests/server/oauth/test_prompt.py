"""``prompt`` and ``max_age`` (OpenID Connect Core 3.1.2.1; issue 11, item 21), through
the real pages: the authorization endpoint, the sign-in form it sends the customer to, the
consent page, and the id_token the token endpoint issues at the end."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    Authorization,
    PreAuthorization,
    RetailCustomer,
    UsagePoint,
)
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_world import (
    ISSUER,
    World,
    authorize_params,
    csrf_of,
    exchange,
    login,
    pkce,
    redirect_params,
)
from sqlalchemy import func, select


def _signed_in(world: World) -> Any:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    return client


def _sent_to_sign_in(response: Any) -> str:
    """The sign-in page URL the authorization endpoint redirected to."""
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    assert urlsplit(location).path == "/portal/login", location
    return str(location)


def _sign_in_at(world: World, client: Any, login_url: str) -> Any:
    """Fill in the sign-in form the customer was sent to; follow where it sends back."""
    page = client.get(login_url)
    assert page.status_code == 200
    next_url = parse_qs(urlsplit(login_url).query)["next"][0]
    done = client.post(
        "/portal/login",
        data={
            "username": world.customer_username,
            "password": world.customer_password,
            "next": next_url,
            "csrf_token": csrf_of(page.data),
        },
    )
    assert done.status_code == 302, done.data
    return client.get(done.headers["Location"])


def _approve(client: Any, world: World, page: Any, url: str) -> dict[str, str]:
    assert page.status_code == 200 and b"asks for access to your data" in page.data, page.data
    answer = client.post(
        url,
        data={
            "csrf_token": csrf_of(page.data),
            "decision": "approve",
            "until_revoked": "y",
            "categories": ["basic", "usage"],
            "usage_points": world.usage_points,
        },
    )
    return redirect_params(answer)


def _auth_time(world: World, client: Any, code: str, verifier: str) -> int:
    body = exchange(world, client, code, verifier).json
    keys = KeySet.import_key_set(client.get("/oauth/jwks.json").json)
    return int(jwt.decode(body["id_token"], keys).claims["auth_time"])


def _preauthorize(world: World) -> None:
    with world.app.app_context(), db.transaction() as session:
        customer = session.scalars(
            select(RetailCustomer).where(RetailCustomer.username == world.customer_username)
        ).one()
        application = session.scalars(
            select(Application).where(Application.client_id == world.confidential_id)
        ).one()
        point = session.scalars(
            select(UsagePoint).where(UsagePoint.uuid == world.usage_points[0])
        ).one()
        session.add(
            PreAuthorization(
                customer_id=customer.id,
                application_id=application.id,
                scope="usage sst:rin",
                created_at=now(),
                usage_points=[point],
            )
        )


def _grants(world: World) -> int:
    with world.app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Authorization)) or 0)


# ---- prompt=none: no page at all -------------------------------------------------------------


def test_prompt_none_without_a_session_answers_login_required(world: World) -> None:
    client = world.app.test_client()
    params = authorize_params(world.confidential_id, pkce()[1], prompt="none")
    got = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert got["error"] == "login_required"
    assert got["state"] == params["state"] and got["iss"] == ISSUER


def test_prompt_none_while_signed_in_asks_for_consent_with_consent_required(
    world: World,
) -> None:
    """Signed in, but no consent to reuse: consent_required, not login_required."""
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], prompt="none")
    got = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert got["error"] == "consent_required"
    assert got["state"] == params["state"] and got["iss"] == ISSUER
    assert _grants(world) == 0


def test_prompt_none_while_signed_in_honours_a_mode1_preauthorization(world: World) -> None:
    """The consent was given beforehand in the portal: a code without any page."""
    _preauthorize(world)
    client = _signed_in(world)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge, prompt="none")
    got = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert "code" in got and got["state"] == params["state"]
    assert _auth_time(world, client, got["code"], verifier) > 0


@pytest.mark.parametrize("prompt", ["none login", "consent none"])
def test_prompt_none_with_another_value_is_invalid_request(world: World, prompt: str) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], prompt=prompt)
    assert redirect_params(client.get("/oauth/authorize", query_string=params))["error"] == (
        "invalid_request"
    )


# ---- prompt=login and max_age: a fresh sign-in, then the flow goes on ---------------------------


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}], ids=["login", "0"])
def test_a_fresh_sign_in_is_asked_even_while_signed_in_and_the_flow_continues(
    world: World, extra: dict[str, str]
) -> None:
    client = _signed_in(world)
    time.sleep(1.1)  # the first sign-in's auth_time is then visibly older
    before = now()
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge, **extra)
    login_url = _sent_to_sign_in(client.get("/oauth/authorize", query_string=params))
    page = _sign_in_at(world, client, login_url)  # no loop: the consent page, once
    got = _approve(client, world, page, page.request.url)
    assert got["state"] == params["state"]
    assert _auth_time(world, client, got["code"], verifier) >= before


def test_max_age_exceeded_asks_for_a_fresh_sign_in(world: World) -> None:
    client = _signed_in(world)
    time.sleep(2.1)
    before = now()
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge, max_age="1")
    login_url = _sent_to_sign_in(client.get("/oauth/authorize", query_string=params))
    page = _sign_in_at(world, client, login_url)
    got = _approve(client, world, page, page.request.url)
    assert _auth_time(world, client, got["code"], verifier) >= before


def test_max_age_not_exceeded_needs_no_new_sign_in(world: World) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], max_age="3600")
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200 and b"asks for access to your data" in page.data


def test_prompt_none_with_max_age_exceeded_answers_login_required(world: World) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], prompt="none", max_age="0")
    got = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert got["error"] == "login_required" and got["state"] == params["state"]


@pytest.mark.parametrize("max_age", ["soon", "-1", "1.5"])
def test_a_malformed_max_age_is_invalid_request(world: World, max_age: str) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], max_age=max_age)
    got = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert got["error"] == "invalid_request" and "max_age" in got["error_description"]


def test_prompt_consent_shows_the_consent_page_despite_a_preauthorization(
    world: World,
) -> None:
    _preauthorize(world)
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], prompt="consent")
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200 and b"asks for access to your data" in page.data
