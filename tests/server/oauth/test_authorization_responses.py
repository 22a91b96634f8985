"""Where the authorization endpoint puts its answer (issue 11, items 5, 6, 16 and 20).

OAuth 2.0 Multiple Response Types: ``code`` answers in the query (default) or the
fragment; ``code id_token`` in the fragment only -- "query MUST NOT be used" -- so the
id_token never lands in a URL query that servers log.  Every answer, success, error or
denial, carries ``state`` (RFC 6749 4.1.2) and ``iss`` (RFC 9207) in the SAME component as
the rest: a client reads one of them, never both.  An unsupported ``response_mode`` is
refused before the consent page, so no grant exists that its ASP never received.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization, AuthorizationCode
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_world import (
    ISSUER,
    REDIRECT,
    World,
    authorize_params,
    basic,
    consent,
    csrf_of,
    login,
    pkce,
)
from sqlalchemy import func, select

HYBRID = "code id_token"


def _parts(response: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(query, fragment) parameters of a redirect to the client."""
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    url = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    fragment = {k: v[0] for k, v in parse_qs(url.fragment).items()}
    return query, fragment


def _signed_in(world: World) -> Any:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    return client


def _grants(world: World) -> int:
    with world.app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Authorization)) or 0)


def _claims(client: Any, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/oauth/jwks.json").json)
    return dict(jwt.decode(id_token, keys).claims)


# ---- item 5 / 16: which response modes are accepted -----------------------------------------


@pytest.mark.parametrize(
    ("response_type", "mode", "where"),
    [
        (HYBRID, "query", "fragment"),  # would put the id_token in the query
        (HYBRID, "form_post", "fragment"),  # not advertised, not implemented
        (HYBRID, "bogus", "fragment"),
        ("code", "form_post", "query"),
        ("code", "bogus", "query"),
    ],
)
def test_an_unsupported_response_mode_is_refused_before_the_consent_page(
    world: World, response_type: str, mode: str, where: str
) -> None:
    """invalid_request in the response type's default mode, with state and iss there; no
    consent page, so no grant is created that the ASP would never receive."""
    client = _signed_in(world)
    params = authorize_params(
        world.confidential_id, pkce()[1], response_type=response_type, response_mode=mode
    )
    query, fragment = _parts(client.get("/oauth/authorize", query_string=params))
    answer, other = (fragment, query) if where == "fragment" else (query, fragment)
    assert other == {}
    assert answer["error"] == "invalid_request" and "response_mode" in answer["error_description"]
    assert answer["state"] == params["state"] and answer["iss"] == ISSUER
    # The consent form posted anyway (a crafted POST with the session's CSRF token).
    page = client.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, "x" * 43)
    )
    posted = client.post(
        "/oauth/authorize",
        query_string=params,
        data={
            "csrf_token": csrf_of(page.data),
            "decision": "approve",
            "until_revoked": "y",
            "categories": ["usage"],
            "usage_points": world.usage_points,
        },
    )
    assert _parts(posted)[0 if where == "query" else 1]["error"] == "invalid_request"
    assert _grants(world) == 0


def test_discovery_advertises_only_the_modes_it_implements(world: World) -> None:
    meta = world.app.test_client().get("/.well-known/openid-configuration").json
    assert meta["response_modes_supported"] == ["query", "fragment"]


# ---- item 6: state and iss beside the rest, success, error and denial -----------------------


def test_code_with_response_mode_fragment_answers_in_the_fragment(world: World) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], response_mode="fragment")
    query, fragment = _parts(consent(client, params, usage_points=world.usage_points))
    assert query == {}
    assert set(fragment) == {"code", "state", "iss"}
    assert fragment["state"] == params["state"] and fragment["iss"] == ISSUER


def test_code_answers_in_the_query_by_default(world: World) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1])
    query, fragment = _parts(consent(client, params, usage_points=world.usage_points))
    assert fragment == {}
    assert set(query) == {"code", "state", "iss"} and query["state"] == params["state"]


@pytest.mark.parametrize(
    ("response_type", "mode", "where"),
    [("code", None, "query"), ("code", "fragment", "fragment"), (HYBRID, None, "fragment")],
)
def test_a_denial_carries_state_and_iss_where_the_error_is(
    world: World, response_type: str, mode: str | None, where: str
) -> None:
    client = _signed_in(world)
    extra = {"response_type": response_type} | ({"response_mode": mode} if mode else {})
    params = authorize_params(world.confidential_id, pkce()[1], **extra)
    query, fragment = _parts(
        consent(client, params, decision="deny", usage_points=world.usage_points)
    )
    answer, other = (fragment, query) if where == "fragment" else (query, fragment)
    assert other == {}
    assert answer["error"] == "access_denied"
    assert answer["state"] == params["state"] and answer["iss"] == ISSUER


def test_a_hybrid_request_error_carries_state_and_iss_in_the_fragment(world: World) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], response_type=HYBRID)
    del params["nonce"]
    query, fragment = _parts(client.get("/oauth/authorize", query_string=params))
    assert query == {}
    assert fragment["error"] == "invalid_request"
    assert fragment["state"] == params["state"] and fragment["iss"] == ISSUER


def test_an_unsupported_response_type_with_a_token_answers_in_the_fragment(
    world: World,
) -> None:
    """response_type=token (implicit, refused by RFC 9700) defaults to the fragment."""
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], response_type="token")
    query, fragment = _parts(client.get("/oauth/authorize", query_string=params))
    assert query == {}
    assert fragment["error"] == "unsupported_response_type"
    assert fragment["state"] == params["state"] and fragment["iss"] == ISSUER


def test_the_hybrid_answer_is_code_id_token_state_and_iss_in_the_fragment(world: World) -> None:
    """No expires_in or scope: they describe an access token the front channel never gets."""
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1], response_type=HYBRID)
    query, fragment = _parts(consent(client, params, usage_points=world.usage_points))
    assert query == {}
    assert set(fragment) == {"code", "id_token", "state", "iss"}
    assert fragment["state"] == params["state"] and fragment["iss"] == ISSUER


# ---- item 20: no personal claims in the front channel -----------------------------------------


def test_the_front_channel_id_token_carries_no_personal_claims(world: World) -> None:
    """The fragment's id_token is seen by the browser and whatever scripts run at the
    redirect URI: it says who signed in (sub) and binds the code, nothing more.  Name and
    e-mail come from the token endpoint's id_token and userinfo (with ``basic``)."""
    client = _signed_in(world)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge, response_type=HYBRID)
    _query, fragment = _parts(consent(client, params, usage_points=world.usage_points))
    front = _claims(client, fragment["id_token"])
    assert set(front) == {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "c_hash"}
    assert front["sub"] == "11111111-1111-4111-8111-111111111111"
    back = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": fragment["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(world.confidential_id, world.confidential_secret),
    ).json
    claims = _claims(client, back["id_token"])
    assert claims["name"] == "Alice Example" and claims["email"] == "alice@example.com"
    assert claims["auth_time"] == front["auth_time"] and claims["sub"] == front["sub"]


def test_the_back_channel_id_token_names_the_customer_only_with_basic(world: World) -> None:
    """The customer unticked basic: no name or e-mail anywhere, although it was asked."""
    client = _signed_in(world)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge, response_type=HYBRID)
    _query, fragment = _parts(
        consent(client, params, categories=["usage"], usage_points=world.usage_points)
    )
    back = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": fragment["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(world.confidential_id, world.confidential_secret),
    ).json
    claims = _claims(client, back["id_token"])
    assert "name" not in claims and "email" not in claims
    assert "name" not in _claims(client, fragment["id_token"])
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == 1
