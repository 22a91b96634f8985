"""The authorization server under attack: each test is an RFC 9700 / RFC 6749 attack or
failure case, written before (or against) the defence, on real pages and a real database."""

from __future__ import annotations

from typing import Any

import pytest
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    AuditEvent,
    Authorization,
    PreAuthorization,
    RetailCustomer,
    Token,
    UsagePoint,
)
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
    exchange,
    login,
    pkce,
    redirect_params,
)
from sqlalchemy import func, select

from espi_sst.scope import Scope


def _code(
    world: World, client_id: str | None = None, **extra: str
) -> tuple[Any, str, dict[str, str], str]:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    params = authorize_params(client_id or world.confidential_id, challenge, **extra)
    response = consent(client, params, usage_points=world.usage_points)
    got = redirect_params(response)
    return client, verifier, got, params["nonce"]


def _userinfo(client: Any, access_token: str) -> Any:
    return client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# ---- the happy path -----------------------------------------------------------------------


def test_code_flow_with_pkce_gives_tokens_espi_uris_and_a_verifiable_id_token(world: World) -> None:
    client, verifier, got, nonce = _code(world)
    assert got["iss"] == ISSUER  # RFC 9207
    assert got["state"].startswith("st-")
    response = exchange(world, client, got["code"], verifier)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["token_type"].lower() == "bearer"
    assert 0 < body["expires_in"] <= 900  # short-lived access token
    assert body["refresh_token"]
    assert "/espi/1_1/resource/Batch/Subscription/" in body["resourceURI"]
    assert "/espi/1_1/resource/Authorization/" in body["authorizationURI"]
    keys = KeySet.import_key_set(client.get("/oauth/jwks.json").json)
    claims = jwt.decode(body["id_token"], keys).claims
    assert claims["iss"] == ISSUER and claims["aud"] == [world.confidential_id]
    assert claims["nonce"] == nonce and claims["sub"] == "11111111-1111-4111-8111-111111111111"
    info = _userinfo(client, body["access_token"])
    assert info.status_code == 200 and info.json["name"] == "Alice Example"
    with world.app.app_context():
        stored = db.session.scalars(select(Token)).all()
        assert stored and all(
            body["access_token"] not in (t.access_token_hash, t.refresh_token_hash) for t in stored
        )


def test_public_client_uses_pkce_without_a_secret(world: World) -> None:
    client, verifier, got, _ = _code(world, world.public_id)
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": got["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": world.public_id,
        },
    )
    assert response.status_code == 200, response.json


# ---- PKCE --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {},  # no challenge at all
        {
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "plain",
        },
        {"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},  # method missing = plain
    ],
    ids=["missing", "plain", "method-missing"],
)
def test_pkce_s256_is_required_of_every_client(world: World, extra: dict[str, str]) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    params = authorize_params(world.confidential_id, None, **extra)  # a confidential client
    got = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert got["error"] == "invalid_request"
    assert got["state"] == params["state"] and got["iss"] == ISSUER


def test_wrong_verifier_is_refused(world: World) -> None:
    client, _verifier, got, _ = _code(world)
    response = exchange(world, client, got["code"], pkce()[0])
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_missing_verifier_is_refused(world: World) -> None:
    client, _verifier, got, _ = _code(world)
    response = exchange(world, client, got["code"], None)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


# ---- redirect URIs and clients -------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT + "/extra",
        "http://127.0.0.1:8765/callback?x=1",
        "http://evil.example/callback",
        "HTTP://127.0.0.1:8765/callback",
    ],
)
def test_redirect_uri_must_match_exactly_and_is_never_followed_when_wrong(
    world: World, redirect_uri: str
) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    params = authorize_params(world.confidential_id, pkce()[1], redirect_uri=redirect_uri)
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert b"This request cannot be completed" in response.data


def test_unknown_client_gets_an_error_page(world: World) -> None:
    client = world.app.test_client()
    response = client.get("/oauth/authorize", query_string=authorize_params("nobody", pkce()[1]))
    assert response.status_code == 400 and "Location" not in response.headers


def test_token_request_redirect_uri_must_match_the_code(world: World) -> None:
    client, verifier, got, _ = _code(world)
    response = exchange(world, client, got["code"], verifier, redirect_uri=REDIRECT + "x")
    assert response.json["error"] == "invalid_grant"


# ---- codes and refresh tokens ----------------------------------------------------------------


def test_reused_code_is_refused_and_revokes_what_it_issued(world: World) -> None:
    client, verifier, got, _ = _code(world)
    first = exchange(world, client, got["code"], verifier)
    assert first.status_code == 200
    assert _userinfo(client, first.json["access_token"]).status_code == 200
    second = exchange(world, client, got["code"], verifier)
    assert second.status_code == 400 and second.json["error"] == "invalid_grant"
    assert _userinfo(client, first.json["access_token"]).status_code == 401
    refreshed = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json["refresh_token"]},
        headers=basic(world.confidential_id, world.confidential_secret),
    )
    assert refreshed.status_code == 400
    with world.app.app_context():
        reused = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "code_reused")
        ).all()
    assert [event.detail for event in reused] == [{"tokens_revoked": 1}]


def test_expired_code_is_refused(world: World) -> None:
    client, verifier, got, _ = _code(world)
    with world.app.app_context():
        from espi_sst_server.storage.models import AuthorizationCode

        for row in db.session.scalars(select(AuthorizationCode)):
            row.expires_at = now() - 1
        db.session.commit()
    assert exchange(world, client, got["code"], verifier).json["error"] == "invalid_grant"


def _refresh(world: World, client: Any, refresh_token: str) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(world.confidential_id, world.confidential_secret),
    )


def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    client, verifier, got, _ = _code(world)
    first = exchange(world, client, got["code"], verifier).json
    second = _refresh(world, client, first["refresh_token"])
    assert second.status_code == 200, second.json
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["resourceURI"] == first["resourceURI"]
    assert _userinfo(client, first["access_token"]).status_code == 401  # rotated away
    assert _userinfo(client, second["access_token"]).status_code == 200
    replay = _refresh(world, client, first["refresh_token"])  # an attacker's copy
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    assert _userinfo(client, second["access_token"]).status_code == 401  # whole family gone
    assert _refresh(world, client, second["refresh_token"]).status_code == 400


def test_expired_access_token_is_refused(world: World) -> None:
    client, verifier, got, _ = _code(world)
    body = exchange(world, client, got["code"], verifier).json
    with world.app.app_context():
        for row in db.session.scalars(select(Token)):
            row.access_expires_at = now() - 1
        db.session.commit()
    response = _userinfo(client, body["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# ---- revocation and introspection -------------------------------------------------------------


def test_revocation_and_introspection(world: World) -> None:
    client, verifier, got, _ = _code(world)
    body = exchange(world, client, got["code"], verifier).json
    auth = basic(world.confidential_id, world.confidential_secret)
    active = client.post(
        "/oauth/introspect", data={"token": body["access_token"]}, headers=auth
    ).json
    assert active["active"] is True and active["client_id"] == world.confidential_id
    assert set(active["usage_points"]) == set(world.usage_points)
    unknown = client.post("/oauth/introspect", data={"token": "not-a-token"}, headers=auth).json
    assert unknown == {"active": False}
    assert (
        client.post(
            "/oauth/revoke", data={"token": body["refresh_token"]}, headers=auth
        ).status_code
        == 200
    )
    assert client.post(
        "/oauth/introspect", data={"token": body["access_token"]}, headers=auth
    ).json == {"active": False}
    assert _userinfo(client, body["access_token"]).status_code == 401


def test_another_client_cannot_introspect_or_revoke_a_token(world: World) -> None:
    client, verifier, got, _ = _code(world)
    body = exchange(world, client, got["code"], verifier).json
    other = basic(world.other_id, world.other_secret)
    assert client.post(
        "/oauth/introspect", data={"token": body["access_token"]}, headers=other
    ).json == {"active": False}
    client.post("/oauth/revoke", data={"token": body["access_token"]}, headers=other)
    assert _userinfo(client, body["access_token"]).status_code == 200


def test_client_credentials_for_asp_level_resources(world: World) -> None:
    client = world.app.test_client()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "basic"},
        headers=basic(world.confidential_id, world.confidential_secret),
    )
    assert response.status_code == 200, response.json
    assert "/ApplicationInformation/" in response.json["resourceURI"]
    assert "refresh_token" not in response.json
    assert _userinfo(client, response.json["access_token"]).status_code == 403


def test_password_grant_is_not_offered(world: World) -> None:
    response = world.app.test_client().post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": "correct horse"},
        headers=basic(world.confidential_id, world.confidential_secret),
    )
    assert response.status_code == 400 and response.json["error"] == "unsupported_grant_type"


# ---- consent -----------------------------------------------------------------------------------


def test_consent_form_without_csrf_token_is_refused(world: World) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    params = authorize_params(world.confidential_id, pkce()[1])
    client.get("/oauth/authorize", query_string=params)
    response = client.post(
        "/oauth/authorize",
        query_string=params,
        data={"decision": "approve", "usage_points": world.usage_points},
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_denied_consent_returns_access_denied_with_state_and_iss(world: World) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    params = authorize_params(world.confidential_id, pkce()[1])
    got = redirect_params(consent(client, params, decision="deny", usage_points=world.usage_points))
    assert got == {"error": "access_denied", "state": params["state"], "iss": ISSUER} | (
        {"error_description": got["error_description"]} if "error_description" in got else {}
    )


def test_consent_narrows_scope_and_usage_points(world: World) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    got = redirect_params(
        consent(client, params, categories=["usage"], usage_points=world.usage_points[:1])
    )
    body = exchange(world, client, got["code"], verifier).json
    assert "billing" not in body["scope"].split() and "usage" in body["scope"].split()
    introspected = client.post(
        "/oauth/introspect",
        data={"token": body["access_token"]},
        headers=basic(world.confidential_id, world.confidential_secret),
    ).json
    assert introspected["usage_points"] == world.usage_points[:1]


def test_consent_page_shows_the_asp_and_its_qualification(world: World) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    page = client.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, pkce()[1])
    )
    assert b"Confidential ASP" in page.data
    assert b"Qualified for the Single Statewide Tool" in page.data
    assert b"Release rate identification (RIN)" in page.data
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_sign_in_is_required_and_next_cannot_leave_the_site(world: World) -> None:
    client = world.app.test_client()
    params = authorize_params(world.confidential_id, pkce()[1])
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]
    page = client.get("/portal/login")
    escaped = client.post(
        "/portal/login",
        data={
            "username": "alice",
            "password": "correct horse",
            "next": "https://evil.example/",
            "csrf_token": csrf_of(page.data),
        },
    )
    assert escaped.headers["Location"].startswith("/portal/")


def test_wrong_password_is_refused_without_saying_which_part(world: World) -> None:
    client = world.app.test_client()
    for username in ("alice", "nobody"):
        page = client.get("/portal/login")
        response = client.post(
            "/portal/login",
            data={"username": username, "password": "wrong", "csrf_token": csrf_of(page.data)},
        )
        assert (
            response.status_code == 401 and b"user name or password is not right" in response.data
        )


# ---- OpenID Connect hybrid ----------------------------------------------------------------------


def test_hybrid_code_id_token_needs_a_nonce_and_binds_the_code(world: World) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    no_nonce = authorize_params(world.confidential_id, challenge, response_type="code id_token")
    del no_nonce["nonce"]
    refused = client.get("/oauth/authorize", query_string=no_nonce)
    assert redirect_params(refused)["error"] == "invalid_request"
    params = authorize_params(world.confidential_id, challenge, response_type="code id_token")
    response = consent(client, params, usage_points=world.usage_points)
    assert "#" in response.headers["Location"]  # fragment response mode
    got = redirect_params(response)
    assert "access_token" not in got  # no token in the front channel
    keys = KeySet.import_key_set(client.get("/oauth/jwks.json").json)
    claims = jwt.decode(got["id_token"], keys).claims
    assert claims["nonce"] == params["nonce"]
    import base64
    import hashlib

    digest = hashlib.sha256(got["code"].encode()).digest()
    assert claims["c_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert exchange(world, client, got["code"], verifier).status_code == 200


def test_replayed_nonce_is_refused(world: World) -> None:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    params = authorize_params(world.confidential_id, pkce()[1], nonce="fixed-nonce")
    redirect_params(consent(client, params, usage_points=world.usage_points))
    again = authorize_params(world.confidential_id, pkce()[1], nonce="fixed-nonce")
    assert (
        redirect_params(client.get("/oauth/authorize", query_string=again))["error"]
        == "invalid_request"
    )


# ---- onboarding Mode 1 and the customer's own revocation -----------------------------------------


def test_mode1_preauthorization_needs_only_sign_in(world: World) -> None:
    with world.app.app_context():
        customer = db.session.scalar(
            select(RetailCustomer).where(RetailCustomer.username == "alice")
        )
        application = db.session.scalar(
            select(Application).where(Application.client_id == world.confidential_id)
        )
        point = db.session.scalar(
            select(UsagePoint).where(UsagePoint.uuid == world.usage_points[0])
        )
        db.session.add(
            PreAuthorization(
                customer_id=customer.id,
                application_id=application.id,
                scope="usage sst:rin",
                created_at=now(),
                usage_points=[point],
            )
        )
        db.session.commit()
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    got = redirect_params(
        client.get(
            "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
        )
    )
    body = exchange(world, client, got["code"], verifier).json
    assert (
        set(body["scope"].split()) >= {"usage", "sst:rin"}
        and "billing" not in body["scope"].split()
    )
    # used once: the next request asks for consent again
    assert (
        client.get(
            "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
        ).status_code
        == 200
    )


def test_customer_revokes_in_the_portal_and_the_tokens_die(world: World) -> None:
    client, verifier, got, _ = _code(world)
    body = exchange(world, client, got["code"], verifier).json
    page = client.get("/portal/authorizations")
    assert b"Confidential ASP" in page.data
    with world.app.app_context():
        from espi_sst_server.storage.models import Authorization

        grant_uuid = db.session.scalar(select(Authorization.uuid))
    client.post(
        "/portal/authorizations/revoke",
        data={"authorization": grant_uuid, "csrf_token": csrf_of(page.data)},
    )
    assert _userinfo(client, body["access_token"]).status_code == 401
    assert _refresh(world, client, body["refresh_token"]).status_code == 400


def test_discovery_metadata(world: World) -> None:
    client = world.app.test_client()
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        meta = client.get(path).json
        assert meta["issuer"] == ISSUER
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert "password" not in meta["grant_types_supported"]
        assert set(meta["response_types_supported"]) == {"code", "code id_token"}
        # Real scope values a client can request (RFC 8414 2), never a pattern like "FB=...".
        assert "FB=..." not in meta["scopes_supported"]
        [espi] = [s for s in meta["scopes_supported"] if s.startswith("FB=")]
        assert Scope.parse(espi).function_blocks


def test_mode1_through_the_portal_pages(world: World) -> None:
    """Sign in at the utility, pick the ASP, pre-authorize; the ASP's request then needs only sign-in."""
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    listing = client.get("/portal/asps")
    assert (
        b"Confidential ASP" in listing.data and b"Pending ASP" not in listing.data
    )  # only qualified
    page = client.get(f"/portal/asps/{world.confidential_id}/preauthorize")
    done = client.post(
        f"/portal/asps/{world.confidential_id}/preauthorize",
        data={
            "csrf_token": csrf_of(page.data),
            "categories": ["usage", "sst:rin"],
            "usage_points": world.usage_points[1:],
            "until_revoked": "y",
            "decision": "approve",
        },
    )
    assert done.status_code == 200 and b"Ready for Confidential ASP" in done.data
    assert client.get(f"/portal/asps/{world.pending_id}/preauthorize").status_code == 404
    verifier, challenge = pkce()
    got = redirect_params(
        client.get(
            "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
        )
    )
    body = exchange(world, client, got["code"], verifier).json
    introspected = client.post(
        "/oauth/introspect",
        data={"token": body["access_token"]},
        headers=basic(world.confidential_id, world.confidential_secret),
    ).json
    assert introspected["usage_points"] == world.usage_points[1:]
    assert "billing" not in body["scope"].split()


def test_totp_second_factor_is_required_when_enrolled(world: World) -> None:
    """A customer with TOTP needs the current code after the password; a wrong code fails."""
    import pyotp

    secret = pyotp.random_base32()
    with world.app.app_context():
        customer = db.session.scalar(
            select(RetailCustomer).where(RetailCustomer.username == "alice")
        )
        customer.totp_secret = secret
        db.session.commit()
    client = world.app.test_client()
    page = client.get("/portal/login")
    step = client.post(
        "/portal/login",
        data={"username": "alice", "password": "correct horse", "csrf_token": csrf_of(page.data)},
    )
    assert step.status_code == 302 and "/portal/login/code" in step.headers["Location"]
    assert client.get("/portal/authorizations").status_code == 302  # not signed in yet
    code_page = client.get("/portal/login/code")
    wrong = client.post(
        "/portal/login/code", data={"code": "000000", "csrf_token": csrf_of(code_page.data)}
    )
    assert wrong.status_code == 401
    right = client.post(
        "/portal/login/code",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(wrong.data)},
    )
    assert right.status_code == 302
    assert client.get("/portal/authorizations").status_code == 200


class _DirectorySource:
    """A utility's own customer directory, plugged in through IDENTITY_SOURCE."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def authenticate(self, username: str, password: str) -> RetailCustomer | None:
        self.asked.append(username)
        if (username, password) != ("ALICE@UTILITY", "directory-pass"):
            return None
        return db.session.scalar(select(RetailCustomer).where(RetailCustomer.username == "alice"))

    def needs_second_factor(self, customer: RetailCustomer) -> bool:
        return False

    def verify_second_factor(self, customer: RetailCustomer, code: str) -> bool:
        return False


def test_a_utility_plugs_in_its_own_identity_source(world: World) -> None:
    source = _DirectorySource()
    world.app.extensions["espi_sst_identity"] = source
    client = world.app.test_client()
    page = client.get("/portal/login")
    refused = client.post(
        "/portal/login",
        data={"username": "alice", "password": "correct horse", "csrf_token": csrf_of(page.data)},
    )
    assert refused.status_code == 401  # the table's password is not the directory's
    page = client.get("/portal/login")
    ok = client.post(
        "/portal/login",
        data={
            "username": "ALICE@UTILITY",
            "password": "directory-pass",
            "csrf_token": csrf_of(page.data),
        },
    )
    assert ok.status_code == 302 and source.asked == ["alice", "ALICE@UTILITY"]


def test_an_authorization_past_its_end_date_stops_working(world: World) -> None:
    """The customer chose an end date: after it, neither the token nor a refresh works."""
    client, verifier, got, _ = _code(world)
    body = exchange(world, client, got["code"], verifier).json
    with world.app.app_context():
        from espi_sst_server.storage.models import Authorization

        grant = db.session.scalar(select(Authorization))
        grant.ends_at = now() - 1
        db.session.commit()
    assert _userinfo(client, body["access_token"]).status_code == 401
    assert _refresh(world, client, body["refresh_token"]).status_code == 400


def test_scope_beyond_the_registration_is_invalid_scope_not_an_empty_grant(world: World) -> None:
    """RFC 6749 4.1.2.1: the client learns its request is wrong; no consent page, no grant."""
    with world.app.app_context(), db.transaction() as session:
        application = session.scalars(
            select(Application).where(Application.client_id == world.confidential_id)
        ).one()
        application.scope = application.scope.replace(" sst:rate_change", "")
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    _verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    params["scope"] += " sst:rate_change"
    response = client.get("/oauth/authorize", query_string=params)
    answer = redirect_params(response)
    assert answer["error"] == "invalid_scope" and answer["state"] == params["state"]
    assert answer["iss"] == ISSUER
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Authorization)) == 0
