"""Races at the token endpoint (issue 11, items 2 and 13): one authorization code or one
refresh token presented by several requests at once, through real sockets, on SQLite and
PostgreSQL.  RFC 6749 4.1.2: a code is used once, a second use is denied and revokes what
the code issued; RFC 9700 4.14.2: a reused rotating refresh token revokes its family."""

from __future__ import annotations

from typing import Any

import requests
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization, AuthorizationCode, Token
from oauth_world import (
    REDIRECT,
    World,
    authorize_params,
    basic,
    consent,
    csrf_of,
    login,
    pkce,
    redirect_params,
)
from parallel import serve, statuses, together
from sqlalchemy import func, select

PARALLEL = 6


def _code(world: World) -> tuple[str, str]:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    got = redirect_params(consent(client, params, usage_points=world.usage_points))
    return got["code"], verifier


def _redeem(base: str, world: World, code: str, verifier: str, **extra: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    } | extra
    return requests.post(
        f"{base}/oauth/token",
        data=data,
        headers=basic(world.confidential_id, world.confidential_secret),
        timeout=30,
    )


def _refresh(base: str, world: World, refresh_token: str) -> Any:
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(world.confidential_id, world.confidential_secret),
        timeout=30,
    )


def _userinfo(base: str, access_token: str) -> int:
    answer = requests.get(
        f"{base}/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=30
    )
    return answer.status_code


def _tokens(world: World) -> tuple[int, int]:
    """(tokens issued, tokens still live) over the whole database."""
    with world.app.app_context():
        issued = db.session.scalar(select(func.count()).select_from(Token))
        live = db.session.scalar(
            select(func.count()).select_from(Token).where(Token.revoked_at.is_(None))
        )
    return int(issued or 0), int(live or 0)


def _winner(answers: list[Any]) -> dict[str, Any]:
    got = statuses(answers)
    assert got == [(200, None)] + [(400, "invalid_grant")] * (PARALLEL - 1), got
    return next(a.json() for a in answers if a.status_code == 200)  # type: ignore[no-any-return]


# ---- item 2: one code, several redemptions at once --------------------------------------------


def test_one_code_redeemed_in_parallel_gives_one_token_and_the_losers_revoke_it(
    world: World,
) -> None:
    """Exactly one 200; every other request is a replay (invalid_grant, never a 500), and
    a replay revokes what the code issued -- so the winner's tokens die too."""
    code, verifier = _code(world)
    with serve(world.app) as base:
        answers = together(PARALLEL, lambda _i: _redeem(base, world, code, verifier))
        winner = _winner(answers)
        assert _userinfo(base, winner["access_token"]) == 401
        assert _refresh(base, world, winner["refresh_token"]).status_code == 400
    assert _tokens(world) == (1, 0)  # one family was ever issued, and it is revoked


def test_a_later_replay_revokes_every_token_of_the_code_not_only_the_last_family(
    world: World,
) -> None:
    """The code was redeemed and its token refreshed; a replay revokes the whole grant's
    tokens, whatever family (a token from before this fix, a second family) they are in."""
    code, verifier = _code(world)
    with serve(world.app) as base:
        first = _redeem(base, world, code, verifier).json()
        refreshed = _refresh(base, world, first["refresh_token"]).json()
        with world.app.app_context():
            # What the unfixed race left behind: another family issued from the same code.
            row = db.session.scalar(select(AuthorizationCode))
            assert row is not None and row.token_family is not None
            other = Token(
                family="an-earlier-family",
                client_id=world.confidential_id,
                authorization_id=row.authorization_id,
                access_token_hash="h-access",
                refresh_token_hash="h-refresh",
                scope=row.scope,
                issued_at=1,
                access_expires_at=2**40,
                refresh_expires_at=2**40,
            )
            db.session.add(other)
            db.session.commit()
        replay = _redeem(base, world, code, verifier)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert _userinfo(base, refreshed["access_token"]) == 401
    assert _tokens(world)[1] == 0


def test_a_wrong_verifier_or_redirect_uri_does_not_use_up_the_code(world: World) -> None:
    """Only a successful exchange uses the code: a request that fails after the code is
    claimed (PKCE verifier, redirect_uri) rolls the claim back, so an attacker holding a
    stolen code without its verifier cannot burn it for the real client -- and cannot use
    it either."""
    code, verifier = _code(world)
    with serve(world.app) as base:
        wrong = _redeem(base, world, code, pkce()[0])
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        elsewhere = _redeem(base, world, code, verifier, redirect_uri=REDIRECT + "/other")
        assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_grant"
        with world.app.app_context():
            assert db.session.scalar(select(AuthorizationCode.used_at)) is None
        right = _redeem(base, world, code, verifier)
        assert right.status_code == 200, right.text
        assert _userinfo(base, right.json()["access_token"]) == 200
    assert _tokens(world) == (1, 1)


# ---- item 13: one refresh token, several refreshes at once ----------------------------------


def test_one_refresh_token_used_in_parallel_refreshes_once_and_the_family_dies(
    world: World,
) -> None:
    """Exactly one 200; the others present a refresh token already used -- reuse, so the
    whole family is revoked, including the successor the winner just received."""
    code, verifier = _code(world)
    with serve(world.app) as base:
        first = _redeem(base, world, code, verifier).json()
        answers = together(PARALLEL, lambda _i: _refresh(base, world, first["refresh_token"]))
        winner = _winner(answers)
        assert winner["refresh_token"] != first["refresh_token"]
        assert _userinfo(base, winner["access_token"]) == 401
        assert _refresh(base, world, winner["refresh_token"]).status_code == 400
    assert _tokens(world) == (2, 0)  # the first token and the one successor, both revoked


def test_a_refresh_token_of_another_client_is_refused_and_stays_usable(world: World) -> None:
    """Presenting another client's refresh token fails without claiming it."""
    code, verifier = _code(world)
    with serve(world.app) as base:
        first = _redeem(base, world, code, verifier).json()
        stolen = requests.post(
            f"{base}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            headers=basic(world.pending_id, "other-secret"),
            timeout=30,
        )
        assert stolen.status_code in (400, 401) and stolen.json()["error"] in (
            "invalid_grant",
            "invalid_client",
            "unauthorized_client",
        )
        assert _refresh(base, world, first["refresh_token"]).status_code == 200


# ---- a Mode 1 pre-authorization is used once, also by parallel requests -----------------------


def test_one_preauthorization_used_by_parallel_requests_grants_once(world: World) -> None:
    """prompt=none makes a pre-authorization usable without any page, so a script can
    send the same request many times at once: one grant, the others consent_required."""
    from test_prompt import _preauthorize

    _preauthorize(world)
    with serve(world.app) as base:
        browser = requests.Session()
        page = browser.get(f"{base}/portal/login", timeout=30)
        signed_in = browser.post(
            f"{base}/portal/login",
            data={
                "username": world.customer_username,
                "password": world.customer_password,
                "csrf_token": csrf_of(page.content),
            },
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302
        cookies = browser.cookies.get_dict()

        def ask() -> Any:
            params = authorize_params(world.confidential_id, pkce()[1], prompt="none")
            return requests.get(
                f"{base}/oauth/authorize",
                params=params,
                cookies=cookies,
                allow_redirects=False,
                timeout=30,
            )

        answers = together(PARALLEL, lambda _i: ask())
    outcomes = sorted(
        "code" if "code" in got else got["error"]
        for got in (redirect_params(_Redirect(a)) for a in answers)
    )
    assert outcomes == ["code"] + ["consent_required"] * (PARALLEL - 1)
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Authorization)) == 1


class _Redirect:
    """A requests answer as redirect_params reads a Flask test response."""

    def __init__(self, answer: Any) -> None:
        self.status_code = answer.status_code
        self.headers = answer.headers
        self.data = answer.content
