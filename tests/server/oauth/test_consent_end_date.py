"""The end date a customer chooses for a grant (issue 11, item 15): in the flow's consent
page (Mode 2) and in the portal's pre-authorization (Mode 1).  A date out of range --
9999-12-31 made the server fail with a 500 -- gets the form back with a clear error; no
grant, no pre-authorization is written."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from espi_sst_server.portal.forms import LONGEST_SHARING_YEARS
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization, PreAuthorization
from oauth_world import World, authorize_params, consent, csrf_of, login, pkce, redirect_params
from sqlalchemy import func, select

TODAY = dt.datetime.now(dt.UTC).date()
LATEST = dt.date(TODAY.year + LONGEST_SHARING_YEARS, 12, 31)


def _count(world: World, model: Any) -> int:
    with world.app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _signed_in(world: World) -> Any:
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    return client


def _consent_until(world: World, client: Any, until: str, decision: str = "approve") -> Any:
    params = authorize_params(world.confidential_id, pkce()[1])
    return consent(
        client,
        params,
        decision=decision,
        until_revoked="n",
        until=until,
        usage_points=world.usage_points,
    )


def _preauthorize_until(world: World, client: Any, until: str) -> Any:
    path = f"/portal/asps/{world.confidential_id}/preauthorize"
    page = client.get(path)
    return client.post(
        path,
        data={
            "csrf_token": csrf_of(page.data),
            "categories": ["usage"],
            "usage_points": world.usage_points,
            "until_revoked": "n",
            "until": until,
            "decision": "approve",
        },
    )


BAD_DATES = [
    "9999-12-31",  # the pen test's: OverflowError past the last representable day
    (LATEST + dt.timedelta(days=1)).isoformat(),  # just past the longest sharing period
    (TODAY - dt.timedelta(days=1)).isoformat(),  # yesterday
    "31/12/2030",  # not a date in the form's format
]


@pytest.mark.parametrize("until", BAD_DATES)
def test_a_consent_end_date_out_of_range_gets_the_form_back_with_a_clear_error(
    world: World, until: str
) -> None:
    client = _signed_in(world)
    answer = _consent_until(world, client, until)
    assert answer.status_code == 400
    assert b"asks for access to your data" in answer.data  # the consent page again
    assert b"Choose an end date" in answer.data and LATEST.strftime("%Y").encode() in answer.data
    assert _count(world, Authorization) == 0


@pytest.mark.parametrize("until", BAD_DATES)
def test_a_preauthorization_end_date_out_of_range_gets_the_form_back(
    world: World, until: str
) -> None:
    client = _signed_in(world)
    answer = _preauthorize_until(world, client, until)
    assert answer.status_code == 400
    assert b"Choose an end date" in answer.data and LATEST.strftime("%Y").encode() in answer.data
    assert _count(world, PreAuthorization) == 0


def test_the_latest_end_date_is_accepted_in_both_modes(world: World) -> None:
    client = _signed_in(world)
    got = redirect_params(_consent_until(world, client, LATEST.isoformat()))
    assert "code" in got
    assert _preauthorize_until(world, client, LATEST.isoformat()).status_code == 200
    end = int(dt.datetime.combine(LATEST + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp())
    with world.app.app_context():
        assert db.session.scalar(select(Authorization.ends_at)) == end
        assert db.session.scalar(select(PreAuthorization.ends_at)) == end


def test_a_denial_is_not_held_up_by_the_end_date(world: World) -> None:
    client = _signed_in(world)
    got = redirect_params(_consent_until(world, client, "9999-12-31", decision="deny"))
    assert got["error"] == "access_denied"
