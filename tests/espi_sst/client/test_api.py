"""One customer's grant as typed calls (espi_sst/client/api.py), against a scripted custodian.

* token upkeep: one refresh for an expired token even with 8 threads racing for it (a
  reused rotating refresh token ends the grant, RFC 9700 4.14.2), under the client's lock
  for the grant, one forced refresh on a 401, and :class:`AuthorizationEnded` when the
  grant is over;
* retries (espi_sst.retry): 429 honours Retry-After within a bound, 5xx is retried only
  when safe;
* every 4xx as a typed error (espi_sst/client/errors.py); the Idempotency-Key of a rate
  change.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from fake_custodian import (
    AUTHORIZATION_ID,
    POINT,
    USAGE_POINTS,
    FakeCustodian,
    Reply,
    closed_port,
    feed_reply,
    home,
    rate_change_entry,
    stored_grant,
)

from espi_sst.client import (
    AuthorizationEnded,
    ClientError,
    InsufficientScope,
    InvalidPasscode,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerError,
    UsagePointInfo,
)
from espi_sst.model import sst


# ---- token upkeep ------------------------------------------------------------------------
def test_an_expired_token_is_refreshed_once_and_the_rotated_token_saved(
    custodian: FakeCustodian,
) -> None:
    client = stored_grant(custodian, expired=True)
    first = client.token_store.load(AUTHORIZATION_ID)
    assert first is not None
    custodian.script(USAGE_POINTS, feed_reply(custodian))
    with client.connect(AUTHORIZATION_ID) as connection:
        assert connection.usage_points() == home(custodian)
        assert connection.usage_points() == home(custodian)
    saved = client.token_store.load(AUTHORIZATION_ID)
    assert saved is not None
    assert saved["refresh_token"] != first["refresh_token"]
    assert saved["expires_at"] > time.time() + 3000
    assert custodian.counts["refresh_token"] == 1
    assert custodian.counts[USAGE_POINTS] == 2  # no 401 on the way
    used = {s.headers["Authorization"] for s in custodian.seen[USAGE_POINTS]}
    assert used == {"Bearer " + saved["access_token"]}


def test_eight_threads_on_an_expired_token_refresh_it_once(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian, expired=True)
    custodian.script(USAGE_POINTS, feed_reply(custodian))
    start = threading.Barrier(8, timeout=10)
    answers: list[list[UsagePointInfo]] = []
    failures: list[BaseException] = []

    def call() -> None:
        try:
            with client.connect(AUTHORIZATION_ID) as connection:
                start.wait()
                answers.append(connection.usage_points())
        except BaseException as exc:  # reported below, with the refresh count
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert failures == []
    assert answers == [home(custodian)] * 8
    assert custodian.counts["refresh_token"] == 1
    assert custodian.counts[USAGE_POINTS] == 8


def test_a_grants_refresh_lock_belongs_to_its_client(custodian: FakeCustodian) -> None:
    """Connections refresh under their client's lock for the grant (it was a module-global
    dict keyed by ``id(client)``, which outlived clients); another client's do not wait."""
    client = stored_grant(custodian, expired=True)
    other = stored_grant(custodian)
    custodian.script(USAGE_POINTS, feed_reply(custodian), feed_reply(custodian))
    answered = threading.Event()

    def call() -> None:
        with client.connect(AUTHORIZATION_ID) as connection:
            connection.usage_points()
            answered.set()

    with client.grant_lock(AUTHORIZATION_ID):
        waiting = threading.Thread(target=call)
        waiting.start()
        assert not answered.wait(0.5), "the connection must wait for its client's grant lock"
        assert custodian.counts["refresh_token"] == 0
        with other.connect(AUTHORIZATION_ID) as connection:
            assert connection.usage_points() == home(custodian)
    assert answered.wait(10)
    waiting.join(timeout=10)
    assert custodian.counts["refresh_token"] == 1
    assert client.grant_lock(AUTHORIZATION_ID) is client.grant_lock(AUTHORIZATION_ID)
    assert other.grant_lock(AUTHORIZATION_ID) is not client.grant_lock(AUTHORIZATION_ID)


def test_a_401_forces_one_refresh_then_the_call_succeeds(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    custodian.script(USAGE_POINTS, Reply(401, {"error": "invalid_token"}), feed_reply(custodian))
    with client.connect(AUTHORIZATION_ID) as connection:
        assert connection.usage_points() == home(custodian)
    saved = client.token_store.load(AUTHORIZATION_ID)
    assert saved is not None
    assert custodian.counts["refresh_token"] == 1
    assert custodian.counts[USAGE_POINTS] == 2
    retried = custodian.seen[USAGE_POINTS][-1].headers["Authorization"]
    assert retried == "Bearer " + saved["access_token"]


def test_a_401_after_the_refresh_ends_the_authorization(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    custodian.script(USAGE_POINTS, Reply(401, {"error": "invalid_token"}))
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(AuthorizationEnded) as ended:
        connection.usage_points()
    assert ended.value.status == 401
    assert custodian.counts["refresh_token"] == 1
    assert custodian.counts[USAGE_POINTS] == 2


def test_a_refresh_answered_invalid_grant_ends_the_authorization(
    custodian: FakeCustodian,
) -> None:
    client = stored_grant(custodian, expired=True)
    custodian.script(USAGE_POINTS, feed_reply(custodian))
    custodian.forget_refresh_tokens()
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(AuthorizationEnded):
        connection.usage_points()
    assert custodian.counts["refresh_token"] == 1
    assert custodian.counts[USAGE_POINTS] == 0


# ---- retries -----------------------------------------------------------------------------
def test_a_429_is_retried_after_its_retry_after(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    custodian.script(
        USAGE_POINTS,
        Reply(429, {"error": "slow_down"}, {"Retry-After": "1"}),
        feed_reply(custodian),
    )
    began = time.monotonic()
    with client.connect(AUTHORIZATION_ID) as connection:
        assert connection.usage_points() == home(custodian)
    assert time.monotonic() - began >= 1.0
    assert custodian.counts[USAGE_POINTS] == 2


def test_a_long_retry_after_is_raised_at_once_not_slept(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    custodian.script(USAGE_POINTS, Reply(429, {"error": "slow_down"}, {"Retry-After": "100"}))
    began = time.monotonic()
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(RateLimited) as limited:
        connection.usage_points()
    assert time.monotonic() - began < 5
    assert limited.value.retry_after == 100 and limited.value.status == 429
    assert custodian.counts[USAGE_POINTS] == 1


def test_a_get_answered_503_twice_is_retried_to_success(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    busy = Reply(503, {"error": "temporarily_unavailable"})
    custodian.script(USAGE_POINTS, busy, busy, feed_reply(custodian))
    with client.connect(AUTHORIZATION_ID) as connection:
        assert connection.usage_points() == home(custodian)
    assert custodian.counts[USAGE_POINTS] == 3


def test_an_unsafe_post_answered_503_is_not_retried(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    change = custodian.base_url + POINT + "/RateChangeRequest/5"
    confirmed = rate_change_entry(custodian.base_url, sst.RateChangeStatus.confirmed)
    custodian.script(
        POINT + "/RateChangeRequest/5/Confirmation",
        Reply(503, {"error": "temporarily_unavailable"}),
        Reply(200, confirmed),
    )
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(ServerError) as failed:
        connection.confirm_rate_change(change, "123456")
    assert failed.value.status == 503
    assert custodian.counts[POINT + "/RateChangeRequest/5/Confirmation"] == 1


def test_an_unreachable_custodian_is_a_server_error(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian, max_retries=1)
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(ServerError):
        connection.document(f"http://127.0.0.1:{closed_port()}{USAGE_POINTS}")


# ---- 4xx as typed errors -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "kind", "error"),
    [
        (Reply(403, {"error": "insufficient_scope"}), InsufficientScope, "insufficient_scope"),
        (
            Reply(403, b"", {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}),
            InsufficientScope,
            "insufficient_scope",
        ),
        (Reply(404, {"error": "not_found"}), NotFound, "not_found"),
        (
            Reply(409, {"error": "request_pending", "error_description": "one at a time"}),
            RequestRefused,
            "request_pending",
        ),
    ],
    ids=["403-json", "403-challenge", "404", "409"],
)
def test_client_errors_are_typed(
    custodian: FakeCustodian, reply: Reply, kind: type[ClientError], error: str
) -> None:
    client = stored_grant(custodian)
    custodian.script(USAGE_POINTS, reply, feed_reply(custodian))
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(kind) as raised:
        connection.usage_points()
    assert type(raised.value) is kind
    assert raised.value.status == reply.status and raised.value.code == error
    if isinstance(raised.value, RequestRefused):
        assert raised.value.error == error and raised.value.details["error"] == error
    assert custodian.counts[USAGE_POINTS] == 1


def test_a_wrong_passcode_says_how_many_attempts_are_left(custodian: FakeCustodian) -> None:
    client = stored_grant(custodian)
    confirmation = POINT + "/RateChangeRequest/5/Confirmation"
    custodian.script(confirmation, Reply(422, {"error": "invalid_code", "attempts_left": "3"}))
    with client.connect(AUTHORIZATION_ID) as connection, pytest.raises(InvalidPasscode) as wrong:
        connection.confirm_rate_change(custodian.base_url + POINT + "/RateChangeRequest/5", "1")
    assert wrong.value.attempts_left == 3 and wrong.value.status == 422
    assert json.loads(custodian.seen[confirmation][0].body) == {"code": "1"}


# ---- rate changes ------------------------------------------------------------------------
def test_a_rate_change_carries_an_idempotency_key_and_returns_its_location(
    custodian: FakeCustodian,
) -> None:
    client = stored_grant(custodian)
    location = custodian.base_url + POINT + "/RateChangeRequest/5"
    created = Reply(
        201,
        rate_change_entry(custodian.base_url, sst.RateChangeStatus.awaitingConfirmation),
        {"Location": location},
    )
    collection = POINT + "/RateChangeRequest"
    custodian.script(collection, created)
    with client.connect(AUTHORIZATION_ID) as connection:
        given = connection.request_rate_change(
            custodian.base_url + POINT, rin="USCA-PGPG-0510-0000", idempotency_key="order-17"
        )
        generated = [connection.request_rate_change(home(custodian)[0]) for _ in range(2)]
    assert given.url == location and not given.replayed
    assert given.request.status is sst.RateChangeStatus.awaitingConfirmation
    keys = [s.headers.get("Idempotency-Key") for s in custodian.seen[collection]]
    assert keys[0] == "order-17"
    assert keys[1] and keys[2] and len({*keys}) == 3  # generated, and fresh each time
    assert json.loads(custodian.seen[collection][0].body) == {"targetRin": "USCA-PGPG-0510-0000"}
    assert all(change.url == location for change in generated)


def test_a_rate_change_post_is_retried_with_the_same_idempotency_key(
    custodian: FakeCustodian,
) -> None:
    client = stored_grant(custodian)
    collection = POINT + "/RateChangeRequest"
    custodian.script(
        collection,
        Reply(503, {"error": "temporarily_unavailable"}),
        Reply(
            201,
            rate_change_entry(custodian.base_url, sst.RateChangeStatus.awaitingConfirmation),
            {"Location": custodian.base_url + collection + "/5"},
        ),
    )
    with client.connect(AUTHORIZATION_ID) as connection:
        connection.request_rate_change(custodian.base_url + POINT, tariff_code="EV2-A")
    keys = [s.headers["Idempotency-Key"] for s in custodian.seen[collection]]
    assert len(keys) == 2 and keys[0] == keys[1]
