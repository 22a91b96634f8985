"""What the consent pages do with what an ASP registered (issue 11, item 25, and Mode 1).

Registration now refuses a ``client_uri`` that is not https (tests/server/outbox/test_outbound.py),
but rows registered before, or loaded by other means, are not re-checked: the pages must
never turn such a value into a link a customer can click.  And the Mode 1 pre-authorization
page has the same Allow / Deny buttons as the flow's consent page: Deny must record nothing.
"""

from __future__ import annotations

import pytest
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, PreAuthorization
from oauth_world import World, authorize_params, csrf_of, login, pkce
from sqlalchemy import func, select, update


@pytest.mark.parametrize(
    "client_uri", ["javascript:alert(document.cookie)", "data:text/html,<script>x</script>"]
)
def test_a_stored_client_uri_that_is_not_http_is_never_a_link(
    world: World, client_uri: str
) -> None:
    with world.app.app_context(), db.transaction() as session:
        session.execute(
            update(Application)
            .where(Application.client_id == world.confidential_id)
            .values(client_uri=client_uri)
        )
    browser = world.app.test_client()
    login(browser, world.customer_username, world.customer_password)
    _verifier, challenge = pkce()
    pages = [
        browser.get(
            "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
        ),
        browser.get(f"/portal/asps/{world.confidential_id}/preauthorize"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.data.decode()
        scheme = client_uri.split(":", 1)[0]
        assert f'href="{scheme}:' not in html


def test_an_https_client_uri_is_a_link(world: World) -> None:
    browser = world.app.test_client()
    login(browser, world.customer_username, world.customer_password)
    _verifier, challenge = pkce()
    page = browser.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
    )
    assert 'href="https://asp.example"' in page.data.decode()


def test_deny_on_the_mode1_page_records_no_preauthorization(world: World) -> None:
    browser = world.app.test_client()
    login(browser, world.customer_username, world.customer_password)
    page = browser.get(f"/portal/asps/{world.confidential_id}/preauthorize")
    denied = browser.post(
        f"/portal/asps/{world.confidential_id}/preauthorize",
        data={
            "csrf_token": csrf_of(page.data),
            "categories": ["usage"],
            "usage_points": world.usage_points[:1],
            "until_revoked": "y",
            "decision": "deny",
        },
    )
    assert denied.status_code in (200, 302, 303)
    assert b"Ready for" not in denied.data
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PreAuthorization)) == 0
