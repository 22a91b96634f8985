"""One rule of "this grant is usable" (server/lifecycle/usable.py), asked by every path.

The penetration test's code review found that token introspection checked neither a grant's
end date nor the ASP's standing while the resource guard checked both: a bolt-on relying on
introspection would accept a token whose grant had ended.  Each path gets the two cases the
rule decides -- a grant past the end date the customer chose (the expiry sweep has not run
yet, so its status is still active) and an ASP whose access was withdrawn -- on SQLite and
PostgreSQL: the resource guard, introspection, the refresh grant, the code exchange and the
portal's authorizations page.  (Bolt-on mode: tests/server/upstream/test_upstream_mode.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, Authorization
from oauth_world import World, authorize_params, basic, consent, exchange, login, pkce
from oauth_world import redirect_params as params_of
from sqlalchemy import update


def _grant(world: World) -> tuple[Any, dict[str, Any], str, str]:
    """A fresh grant through the real pages: (browser, token response, code, verifier)."""
    browser = world.app.test_client()
    login(browser, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    got = params_of(
        consent(
            browser,
            authorize_params(world.confidential_id, challenge),
            usage_points=world.usage_points,
        )
    )
    exchanged = exchange(world, browser, got["code"], verifier)
    assert exchanged.status_code == 200, exchanged.json
    return browser, exchanged.json, got["code"], verifier


def _end_date_passed(world: World) -> None:
    """The customer's chosen end date is now behind us; the sweep has not run (status 1)."""
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Authorization).values(ends_at=now() - 1))


def _asp_withdrawn(world: World) -> None:
    """The central registry de-qualified the ASP a moment ago; no sweep has ended grants yet."""
    with world.app.app_context(), db.transaction() as session:
        session.execute(
            update(Application)
            .where(Application.client_id == world.confidential_id)
            .values(qualification="dequalified")
        )


CASES: list[Callable[[World], None]] = [_end_date_passed, _asp_withdrawn]
IDS = ["end date passed", "ASP withdrawn"]


@pytest.mark.parametrize("make_unusable", CASES, ids=IDS)
def test_the_resource_guard_refuses_a_grant_that_is_no_longer_usable(
    world: World, make_unusable: Callable[[World], None]
) -> None:
    browser, body, _code, _verifier = _grant(world)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    usable = browser.get(body["resourceURI"], headers=bearer)
    assert usable.status_code == 200
    # The feed is streamed: read it to its end, as a real client does, so its request is
    # over (an unread stream keeps the request's context, and the test client would run
    # the next request inside it).
    assert usable.data.rstrip().endswith(b"</feed>")
    make_unusable(world)
    refused = browser.get(body["resourceURI"], headers=bearer)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"


@pytest.mark.parametrize("make_unusable", CASES, ids=IDS)
def test_introspection_says_inactive_for_a_grant_that_is_no_longer_usable(
    world: World, make_unusable: Callable[[World], None]
) -> None:
    browser, body, _code, _verifier = _grant(world)
    # A registered resource server (the bolt-on) asks; the ASP itself may be withdrawn.
    with world.app.app_context(), db.transaction() as session:
        from espi_sst_server.lifecycle.registration import register_resource_server

        registered = register_resource_server(session, name="bolt-on", client_id="rs-test")
    auth = basic(registered.client_id, str(registered.client_secret))
    before = browser.post("/oauth/introspect", data={"token": body["access_token"]}, headers=auth)
    assert before.json["active"] is True
    make_unusable(world)
    after = browser.post("/oauth/introspect", data={"token": body["access_token"]}, headers=auth)
    assert after.status_code == 200 and after.json == {"active": False}


def test_a_refresh_cannot_mint_tokens_for_a_grant_past_its_end_date(world: World) -> None:
    browser, body, _code, _verifier = _grant(world)
    _end_date_passed(world)
    refreshed = browser.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic(world.confidential_id, world.confidential_secret),
    )
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"


def test_a_code_cannot_be_exchanged_for_a_grant_past_its_end_date(world: World) -> None:
    browser = world.app.test_client()
    login(browser, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    got = params_of(
        consent(
            browser,
            authorize_params(world.confidential_id, challenge),
            usage_points=world.usage_points,
        )
    )
    _end_date_passed(world)
    exchanged = exchange(world, browser, got["code"], verifier)
    assert exchanged.status_code == 400 and exchanged.json["error"] == "invalid_grant"


@pytest.mark.parametrize("make_unusable", CASES, ids=IDS)
def test_the_portal_shows_how_a_grant_the_asp_can_no_longer_use_ended(
    world: World, make_unusable: Callable[[World], None]
) -> None:
    browser, _body, _code, _verifier = _grant(world)
    page = browser.get("/portal/authorizations").data.decode()
    assert ">active<" in page and "Revoke" in page
    make_unusable(world)
    page = browser.get("/portal/authorizations").data.decode()
    # Not swept yet (no ended_reason): the status says why the ASP can no longer use it.
    said = {_end_date_passed: ">expired<", _asp_withdrawn: "is no longer qualified<"}
    assert ">active<" not in page and said[make_unusable] in page
    assert "Revoke" not in page
