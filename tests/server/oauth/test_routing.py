"""Unbundled routing (concept design 7.3.5): a misrouted authorization is answered to the ASP
with where to send the customer instead, never a dead end at the wrong entity's pages."""

from __future__ import annotations

from oauth_world import World, authorize_params, login, pkce, redirect_params

GATEWAY = {"PGE": {"name": "Pacific Gas and Electric", "url": "https://sst.example.org/SST/v1/PGE"}}


def test_a_cca_without_online_accounts_sends_the_asp_to_the_udc(world: World) -> None:
    world.app.config.update(
        ENTITY_ID="PCE",
        ENTITY_KIND="CCA",
        ONLINE_ACCOUNTS=False,
        UDC_ENTITY="PGE",
        ENTITIES=GATEWAY,
    )
    client = world.app.test_client()  # nobody signed in: the CCA cannot verify anyone
    _verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    answer = redirect_params(client.get("/oauth/authorize", query_string=params))
    assert answer["error"] == "invalid_request" and answer["state"] == params["state"]
    assert answer["sst_route_to"] == "PGE"
    assert answer["sst_route_url"] == "https://sst.example.org/SST/v1/PGE"
    assert "Pacific Gas and Electric" in answer["error_description"]


def test_a_cca_with_online_accounts_signs_its_customers_in(world: World) -> None:
    world.app.config.update(
        ENTITY_ID="PGE", ENTITY_KIND="CCA", ONLINE_ACCOUNTS=True, UDC_ENTITY="PGE"
    )
    client = world.app.test_client()
    _verifier, challenge = pkce()
    response = client.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
    )
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]


def test_a_customer_at_an_entity_that_does_not_serve_them_is_sent_to_the_one_that_does(
    world: World,
) -> None:
    world.app.config.update(ENTITY_ID="SCE", ENTITY_KIND="IOU", ENTITIES=GATEWAY)
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)  # her points: udc PGE
    _verifier, challenge = pkce()
    answer = redirect_params(
        client.get(
            "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
        )
    )
    assert answer["error"] == "invalid_request" and answer["sst_route_to"] == "PGE"
    assert "SCE does not serve" in answer["error_description"]


def test_the_udc_is_the_right_place_for_its_cca_customers(world: World) -> None:
    world.app.config.update(ENTITY_ID="PGE", ENTITY_KIND="IOU")
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    _verifier, challenge = pkce()
    page = client.get(
        "/oauth/authorize", query_string=authorize_params(world.confidential_id, challenge)
    )
    assert page.status_code == 200 and b"decision" in page.data  # the consent page
