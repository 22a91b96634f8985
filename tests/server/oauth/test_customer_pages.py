"""The customer's pages over HTTP (issue 13): the consent page says everything in plain
words, the how-long choice is one control with one server-side rule, the authorizations
page says each grant in the consent page's words, and Revoke goes through a confirmation
step (CSRF kept) to a result message.  The browser walk is tests/integration/
test_customer_pages_browser.py."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

import pytest
from espi_sst_server.portal.forms import HOW_LONG_ERROR
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization, PreAuthorization, RetailCustomer
from oauth_world import (
    SCOPE,
    World,
    authorize_params,
    consent,
    csrf_of,
    login,
    pkce,
    redirect_params,
)
from sqlalchemy import func, select, update

ADDRESS = "2417 E Olive Ave, Fresno, CA 93701"
IN_A_MONTH = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()


def _signed_in(world: World) -> Any:
    with world.app.app_context(), db.transaction() as session:
        session.execute(
            update(RetailCustomer)
            .where(RetailCustomer.username == world.customer_username)
            .values(service_address=ADDRESS)
        )
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    return client


def _grants(world: World) -> list[tuple[str, int | None, int]]:
    with world.app.app_context():
        rows = db.session.execute(
            select(Authorization.uuid, Authorization.ends_at, Authorization.status)
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]


def _text(html: bytes) -> str:
    """The page's words, tags removed and spaces folded (what a person reads)."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())).strip())


# ---- the consent page's words --------------------------------------------------------


def test_the_consent_page_says_who_asks_what_for_how_long_in_plain_words(world: World) -> None:
    client = _signed_in(world)
    world.app.config["PRIVACY_URL"] = "https://utility.example/privacy"
    page = client.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, pkce()[1])
    )
    assert page.status_code == 200
    words = _text(page.data)
    assert "Confidential ASP asks for access to your data" in words
    assert "Qualified for the Single Statewide Tool" in words
    assert "Rate-change company" in words  # its registration holds sst:rate_change
    for label in ("Basic information", "Billing information", "Usage information"):
        assert label in words
    assert "Release rate identification (RIN)" in words
    assert "History of up to 13 months before today." in words
    assert "Usage in 15-minute readings." in words
    assert "New data is delivered once a day." in words
    assert "Electric service agreement SA-1" in words and "Gas service agreement SA-2" in words
    assert ADDRESS in words
    assert "Ongoing access" in words
    assert "Until I revoke it" in words and "Until a date I choose" in words
    # no scope token in what the customer reads (the checkboxes' values are the API's)
    assert "FB=" not in words and "HistoryLength" not in words and "sst:rin" not in words
    html = page.data.decode()
    assert 'href="https://utility.example/privacy"' in html
    assert 'href="/portal/authorizations"' in html  # where to revoke later
    # every input has its label (for= ... id=)
    for input_id in re.findall(r'<input type="(?:checkbox|radio)"[^>]* id="([^"]+)"', html):
        assert f'<label for="{input_id}">' in html
    assert 'for="until"' in html and 'id="until"' in html
    assert re.search(r'value="approve" class="primary"', html)
    assert re.search(r'value="deny" class="secondary"', html)


def test_a_one_time_asp_is_said_to_get_one_time_access(world: World) -> None:
    with world.app.app_context(), db.transaction() as session:
        from espi_sst_server.storage.models import Application

        session.execute(
            update(Application)
            .where(Application.client_id == world.confidential_id)
            .values(grant_types=["authorization_code"])
        )
    client = _signed_in(world)
    page = client.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, pkce()[1])
    )
    assert "One-time access: it can fetch your data once, within 15 minutes." in _text(page.data)


# ---- the end-date rule: one choice, the same on the server --------------------------


def _consent(world: World, client: Any, **form: Any) -> Any:
    return consent(
        client,
        authorize_params(world.confidential_id, pkce()[1]),
        usage_points=world.usage_points,
        **form,
    )


@pytest.mark.parametrize("until", [IN_A_MONTH, "9999-12-31", "not a date", ""])
def test_until_revoked_ignores_whatever_date_came_with_it(world: World, until: str) -> None:
    client = _signed_in(world)
    got = redirect_params(_consent(world, client, until_revoked="y", until=until))
    assert "code" in got
    ((_uuid, ends_at, _status),) = _grants(world)
    assert ends_at is None


def test_until_a_date_uses_the_date(world: World) -> None:
    client = _signed_in(world)
    got = redirect_params(_consent(world, client, until_revoked="n", until=IN_A_MONTH))
    assert "code" in got
    ((_uuid, ends_at, _status),) = _grants(world)
    day = dt.date.fromisoformat(IN_A_MONTH) + dt.timedelta(days=1)
    assert ends_at == int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


def test_until_a_date_without_a_date_gets_the_form_back(world: World) -> None:
    client = _signed_in(world)
    answer = _consent(world, client, until_revoked="n", until="")
    assert answer.status_code == 400
    assert "Choose an end date" in _text(answer.data)
    assert 'id="until-date-choice" aria-describedby="until-hint" checked' in answer.data.decode()
    assert _grants(world) == []


@pytest.mark.parametrize("choice", [None, "", "maybe", "yn"])
def test_no_clear_choice_of_how_long_is_refused_not_guessed(
    world: World, choice: str | None
) -> None:
    client = _signed_in(world)
    params = authorize_params(world.confidential_id, pkce()[1])
    page = client.get("/oauth/authorize", query_string=params)
    data: dict[str, Any] = {
        "csrf_token": csrf_of(page.data),
        "decision": "approve",
        "categories": ["usage"],
        "usage_points": world.usage_points,
        "until": IN_A_MONTH,
    }
    if choice is not None:
        data["until_revoked"] = choice
    answer = client.post("/oauth/authorize", query_string=params, data=data)
    assert answer.status_code == 400
    assert HOW_LONG_ERROR in _text(answer.data)
    assert _grants(world) == []


def test_the_preauthorization_follows_the_same_rule(world: World) -> None:
    client = _signed_in(world)
    path = f"/portal/asps/{world.confidential_id}/preauthorize"
    page = client.get(path)
    assert "Until a date I choose" in _text(page.data)
    base = {"categories": ["usage"], "usage_points": world.usage_points, "decision": "approve"}
    missing = client.post(
        path, data={**base, "csrf_token": csrf_of(page.data), "until": IN_A_MONTH}
    )
    assert missing.status_code == 400 and HOW_LONG_ERROR in _text(missing.data)
    kept = client.post(
        path,
        data={
            **base,
            "csrf_token": csrf_of(page.data),
            "until_revoked": "y",
            "until": "9999-12-31",
        },
    )
    assert kept.status_code == 200
    with world.app.app_context():
        assert db.session.scalar(select(PreAuthorization.ends_at)) is None
        assert db.session.scalar(select(func.count()).select_from(PreAuthorization)) == 1


# ---- the authorizations page, revoke with confirmation --------------------------------


def test_authorizations_say_the_grant_in_the_consent_words_and_revoke_asks_first(
    world: World,
) -> None:
    client = _signed_in(world)
    redirect_params(_consent(world, client, categories=["basic", "usage"]))
    ((uuid, _ends, _status),) = _grants(world)

    listing = client.get("/portal/authorizations")
    words = _text(listing.data)
    assert "Confidential ASP" in words and "Status: active" in words
    assert "Basic information" in words and "Usage information" in words
    assert "Billing information" not in words  # not ticked
    assert "History of up to 13 months before today." in words
    assert SCOPE.split()[0] not in listing.data.decode() and "FB=" not in words
    assert "until you revoke it" in words
    confirm_link = f"/portal/authorizations/{uuid}/revoke"
    assert f'href="{confirm_link}"' in listing.data.decode()

    confirm = client.get(confirm_link)  # the confirmation step changes nothing
    assert confirm.status_code == 200
    assert "Stop sharing with Confidential ASP?" in _text(confirm.data)
    assert "Yes, revoke access" in _text(confirm.data) and "No, keep sharing" in _text(confirm.data)
    assert _grants(world)[0][2] == 1

    no_csrf = client.post("/portal/authorizations/revoke", data={"authorization": uuid})
    assert no_csrf.status_code == 400 and _grants(world)[0][2] == 1  # CSRF kept

    done = client.post(
        "/portal/authorizations/revoke",
        data={"authorization": uuid, "csrf_token": csrf_of(confirm.data)},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith(f"?revoked={uuid}")
    assert _grants(world)[0][2] == 0
    result = _text(client.get(done.headers["Location"]).data)
    assert "You ended Confidential ASP's access." in result
    assert "Status: ended by you" in result and "Status: active" not in result
    # an ended grant has nothing to confirm: back to the list
    assert client.get(confirm_link).status_code == 302


def test_the_confirmation_page_of_someone_elses_grant_is_not_found(world: World) -> None:
    client = _signed_in(world)
    redirect_params(_consent(world, client))
    ((uuid, _ends, _status),) = _grants(world)
    stranger = world.app.test_client()
    login(stranger, world.other_username, "battery staple")
    assert stranger.get(f"/portal/authorizations/{uuid}/revoke").status_code == 404
    assert world.app.test_client().get(f"/portal/authorizations/{uuid}/revoke").status_code == 302


def test_the_portal_home_page_invites_to_sign_in_then_links_the_pages(world: World) -> None:
    anonymous = world.app.test_client().get("/portal/")
    assert anonymous.status_code == 200
    assert "Sign in" in _text(anonymous.data)
    assert 'href="/portal/login?next=/portal/"' in anonymous.data.decode()
    client = _signed_in(world)
    home = client.get("/portal/")
    assert home.status_code == 200
    words = _text(home.data)
    assert "Welcome, Alice Example" in words
    assert 'href="/portal/authorizations"' in home.data.decode()
    assert 'href="/portal/asps"' in home.data.decode()


@pytest.mark.parametrize(
    ("ended_reason", "said"),
    [
        ("revoked_by_customer", "Status: ended by you"),
        ("revoked_by_asp", "Status: ended by Confidential ASP"),
        ("expired", "Status: expired"),
    ],
)
def test_each_way_a_grant_ends_has_its_words(world: World, ended_reason: str, said: str) -> None:
    client = _signed_in(world)
    redirect_params(_consent(world, client))
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Authorization).values(status=0, ended_reason=ended_reason))
    words = _text(client.get("/portal/authorizations").data)
    assert said in words and "Status: active" not in words
    assert "What it was allowed to see and do" in words and "Revoke" not in words
