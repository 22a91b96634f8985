"""client_credentials tokens carry only what an ASP-level token can use (issue 11, item 19).

The endpoints that take a client_credentials token (ApplicationInformation, Batch/Bulk,
ReadServiceStatus: ``current_grant(client_level=True)``) need ESPI function blocks and no
customer category.  Categories (usage, billing, basic, sst:*) and openid are a customer's
to grant, so a client token never carries them: RFC 6749 3.3 lets the server narrow the
request, and the response's ``scope`` says what was granted.
"""

from __future__ import annotations

from typing import Any

from oauth_world import World, basic

from espi_sst.scope import Scope


def _client_token(world: World, scope: str) -> Any:
    return world.app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(world.confidential_id, world.confidential_secret),
    )


def _introspected_scope(world: World, access_token: str) -> str:
    answer = (
        world.app.test_client()
        .post(
            "/oauth/introspect",
            data={"token": access_token},
            headers=basic(world.confidential_id, world.confidential_secret),
        )
        .json
    )
    assert answer["active"] is True
    return str(answer["scope"])


def test_customer_categories_and_openid_are_not_granted_to_a_client_token(
    world: World,
) -> None:
    answer = _client_token(world, "FB=3_19;IntervalDuration=900 usage basic sst:rate_change openid")
    assert answer.status_code == 200, answer.json
    granted = Scope.parse(answer.json["scope"])
    assert granted.categories == frozenset() and not granted.openid
    assert granted.function_blocks == {3, 19}
    assert _introspected_scope(world, answer.json["access_token"]) == answer.json["scope"]
    info = world.app.test_client().get(
        answer.json["resourceURI"],
        headers={"Authorization": f"Bearer {answer.json['access_token']}"},
    )
    assert info.status_code == 200  # what a client token is for still works


def test_function_blocks_beyond_the_registration_are_not_granted(world: World) -> None:
    """Authlib's client_credentials grant issues whatever scope is asked: here the
    registration bounds it (FB=35, bulk, is not registered by this ASP)."""
    answer = _client_token(world, "FB=3_19_35")
    assert answer.status_code == 200, answer.json
    assert Scope.parse(answer.json["scope"]).function_blocks == {3, 19}


def test_a_request_for_categories_only_gets_the_registered_function_blocks(
    world: World,
) -> None:
    """Nothing asked for is grantable to a client: the request is ignored (RFC 6749 3.3)
    and the registration's ESPI scope is the default, said in the response."""
    answer = _client_token(world, "basic usage")
    assert answer.status_code == 200, answer.json
    granted = Scope.parse(answer.json["scope"])
    assert granted.categories == frozenset() and not granted.openid
    assert granted.function_blocks == {1, 3, 4, 5, 13, 14, 15, 19, 37, 39}
