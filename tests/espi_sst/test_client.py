"""The ASP client (espi_sst/client/) against a scripted custodian on a real socket.

tests/integration/test_client_flow.py runs the client against our own server; this file
covers what that server does not easily do on demand (fake_custodian.py plays it):

* discovery: the metadata's issuer must be the one asked for (RFC 8414 3.3), with the
  RFC 8414 well-known URL as fallback;
* the code flow: PKCE S256 (RFC 7636 4.2, checked on the Appendix B vector), ``state``,
  ``iss`` (RFC 9207), ``error=``, and every id_token check (signature, ``aud``, ``exp``,
  ``nonce``), before anything is saved;
* token upkeep: one refresh for an expired token even with 8 threads racing for it (a
  reused rotating refresh token ends the grant, RFC 9700 4.14.2), one forced refresh on a
  401, and :class:`AuthorizationEnded` when the grant is over;
* retries: 429 honours Retry-After within a bound, 5xx is retried only when safe;
* every 4xx as a typed error; the Idempotency-Key of a rate change;
* the notify endpoint refusing whatever is not a BatchList; the token stores.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_custodian import (
    AUTHORIZATION_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    POINT,
    REDIRECT_URI,
    USAGE_POINTS,
    FakeCustodian,
    Reply,
    rate_change_entry,
    rsa_key,
    s256,
    usage_point_feed,
)
from werkzeug.test import Client, EnvironBuilder

import espi_sst
from espi_sst.client import (
    AspClient,
    AuthorizationEnded,
    AuthorizationFlowError,
    ClientError,
    DiscoveryError,
    FileTokenStore,
    InsufficientScope,
    InvalidPasscode,
    MemoryTokenStore,
    NotFound,
    NotificationReceiver,
    RateLimited,
    RequestRefused,
    ServerError,
    UsagePointInfo,
    discover,
)
from espi_sst.model import espi as m
from espi_sst.model import sst

SCOPE = "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 usage openid"


@pytest.fixture
def custodian() -> Iterator[FakeCustodian]:
    with FakeCustodian() as fake:
        yield fake


def asp(custodian: FakeCustodian, **options: Any) -> AspClient:
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "token_store": MemoryTokenStore(),
        **options,
    }
    return AspClient.from_issuer(custodian.base_url, **settings)


def stored_grant(custodian: FakeCustodian, *, expired: bool = False, **options: Any) -> AspClient:
    """A client whose store already holds the customer's grant (the code flow done)."""
    client = asp(custodian, **options)
    client.token_store.save(AUTHORIZATION_ID, custodian.token(expired=expired))
    return client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def feed_reply(custodian: FakeCustodian) -> Reply:
    return Reply(200, usage_point_feed(custodian.base_url))


def home(custodian: FakeCustodian) -> list[UsagePointInfo]:
    return [UsagePointInfo(custodian.base_url + POINT, "1", "Home", 0)]


# ---- discovery ---------------------------------------------------------------------------
def test_discover_reads_the_openid_metadata(custodian: FakeCustodian) -> None:
    metadata = discover(custodian.base_url + "/")
    assert metadata.issuer == custodian.base_url
    assert metadata.token_endpoint == custodian.base_url + "/oauth/token"
    assert metadata.jwks_uri == custodian.base_url + "/oauth/jwks.json"
    assert "openid" in metadata.scopes_supported
    assert custodian.counts["/.well-known/openid-configuration"] == 1
    assert custodian.counts["/.well-known/oauth-authorization-server"] == 0


def test_discover_refuses_metadata_naming_another_issuer(custodian: FakeCustodian) -> None:
    custodian.issuer_override = "https://attacker.example"
    with pytest.raises(DiscoveryError, match="RFC 8414"):
        discover(custodian.base_url)


def test_discover_falls_back_to_the_oauth_authorization_server_metadata(
    custodian: FakeCustodian,
) -> None:
    custodian.openid_configuration = False
    metadata = discover(custodian.base_url)
    assert metadata.authorization_endpoint == custodian.base_url + "/oauth/authorize"
    assert custodian.counts["/.well-known/openid-configuration"] == 1
    assert custodian.counts["/.well-known/oauth-authorization-server"] == 1


def test_discover_of_an_unreachable_issuer_is_a_discovery_error() -> None:
    with pytest.raises(DiscoveryError, match="cannot reach"):
        discover(f"http://127.0.0.1:{closed_port()}", timeout=5)


# ---- starting the code flow --------------------------------------------------------------
def test_authorization_url_carries_pkce_s256_state_and_nonce(custodian: FakeCustodian) -> None:
    # RFC 7636 Appendix B: our S256 helper is the standard's before it judges the client.
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    client = asp(custodian)
    started = client.authorization_url()
    sent = query(started.url)
    assert started.url.startswith(custodian.base_url + "/oauth/authorize?")
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] == s256(started.code_verifier)
    assert 43 <= len(started.code_verifier) <= 128  # RFC 7636 4.1
    assert sent["state"] == started.state and len(started.state) >= 22
    assert started.nonce and sent["nonce"] == started.nonce
    assert sent["client_id"] == CLIENT_ID and sent["redirect_uri"] == REDIRECT_URI
    assert sent["scope"] == SCOPE and sent["response_type"] == "code"
    again = client.authorization_url()
    assert (again.state, again.code_verifier, again.nonce) != (
        started.state,
        started.code_verifier,
        started.nonce,
    )


def test_nonce_only_when_openid_is_asked_for(custodian: FakeCustodian) -> None:
    started = asp(custodian).authorization_url(scope="usage sst:rate_change")
    assert started.nonce is None
    assert "nonce" not in query(started.url)
    assert query(started.url)["scope"] == "usage sst:rate_change"


# ---- the redirect back -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("promised", "callback", "message"),
    [
        (False, lambda c, url: c.approve(url).replace("state=", "state=forged"), "state"),
        (False, lambda c, url: c.approve(url, iss="https://attacker.example"), "RFC 9207"),
        (True, lambda c, url: c.approve(url, iss=None), "lacks the iss"),
    ],
    ids=["state-mismatch", "iss-mismatch", "iss-missing-but-promised"],
)
def test_a_forged_redirect_is_refused_before_the_code_is_exchanged(
    custodian: FakeCustodian, promised: bool, callback: Any, message: str
) -> None:
    custodian.iss_parameter_supported = promised
    client = asp(custodian)
    started = client.authorization_url()
    with pytest.raises(AuthorizationFlowError, match=message):
        client.fetch_token(callback(custodian, started.url), started)
    assert custodian.counts["authorization_code"] == 0
    assert client.token_store.load(AUTHORIZATION_ID) is None


def test_a_refusal_is_an_authorization_flow_error_with_its_code(custodian: FakeCustodian) -> None:
    client = asp(custodian)
    started = client.authorization_url()
    with pytest.raises(AuthorizationFlowError) as refused:
        client.fetch_token(custodian.approve(started.url, error="access_denied"), started)
    assert refused.value.code == "access_denied"
    assert custodian.counts["/oauth/token"] == 0


@pytest.mark.parametrize(
    ("claims", "signer"),
    [
        ({"nonce": "another-login"}, "custodian-1"),
        ({"aud": "another-asp"}, "custodian-1"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "custodian-1"),
        ({"iss": "https://attacker.example"}, "custodian-1"),
        ({}, "stranger"),  # same kid, another key: the signature is wrong
        ({}, "unknown-kid"),
    ],
    ids=["nonce", "aud", "expired", "iss", "wrong-key", "unknown-kid"],
)
def test_a_bad_id_token_is_refused_and_nothing_is_saved(
    custodian: FakeCustodian, claims: dict[str, Any], signer: str
) -> None:
    custodian.id_token_claims = claims
    if signer == "stranger":
        custodian.signing_key = rsa_key("custodian-1", copy=1)
    elif signer == "unknown-kid":
        custodian.signing_key = rsa_key("unknown-kid")
    client = asp(custodian)
    started = client.authorization_url()
    with pytest.raises(AuthorizationFlowError, match="id_token"):
        client.fetch_token(custodian.approve(started.url), started)
    assert custodian.counts["authorization_code"] == 1
    assert client.token_store.load(AUTHORIZATION_ID) is None


def test_a_good_id_token_gives_its_claims_and_the_token_is_saved(
    custodian: FakeCustodian,
) -> None:
    client = asp(custodian)
    started = client.authorization_url()
    grant = client.fetch_token(custodian.approve(started.url), started)
    assert grant.id_token_claims is not None
    assert grant.id_token_claims["nonce"] == started.nonce
    assert grant.id_token_claims["aud"] == CLIENT_ID
    assert grant.id_token_claims["sub"] == "customer-1"
    # The key is the ESPI Authorization id, the last segment of authorizationURI.
    assert grant.key == AUTHORIZATION_ID
    assert grant.subscription_uri == custodian.base_url + USAGE_POINTS.rsplit("/", 1)[0]
    saved = client.token_store.load(AUTHORIZATION_ID)
    assert saved is not None and saved["access_token"].startswith("at-")
    assert saved["refresh_token"].startswith("rt-") and saved["scope"] == SCOPE


def test_without_openid_no_id_token_is_needed_nor_iss_unless_promised(
    custodian: FakeCustodian,
) -> None:
    client = asp(custodian)
    started = client.authorization_url(scope="usage")
    grant = client.fetch_token(custodian.approve(started.url, iss=None), started)
    assert grant.id_token_claims is None and grant.scope == "usage"
    assert custodian.counts["/oauth/jwks.json"] == 0
    assert client.token_store.load(AUTHORIZATION_ID) is not None


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


# ---- the notify endpoint -----------------------------------------------------------------
BATCH_LIST = espi_sst.serialize(
    m.BatchList(resources=["https://gbc.example/espi/1_1/resource/Batch/Subscription/7"])
)


def test_a_batch_list_reaches_the_callback() -> None:
    received: list[list[str]] = []
    answer = Client(NotificationReceiver(received.append)).post(
        "/notify", data=BATCH_LIST, content_type="application/atom+xml"
    )
    assert answer.status_code == 204
    assert received == [["https://gbc.example/espi/1_1/resource/Batch/Subscription/7"]]


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE b [<!ENTITY x "boom">]>\n'
        b'<BatchList xmlns="http://naesb.org/espi"><resources>&x;</resources></BatchList>',
        espi_sst.serialize(m.UsagePoint(service_category=m.ServiceCategory(kind=0))),
        b"not xml at all",
        b"",
        BATCH_LIST + b" " * (1 << 20),  # a good BatchList, too long
    ],
    ids=["doctype-entity", "not-a-batch-list", "not-xml", "empty", "over-1-MiB"],
)
def test_anything_but_a_batch_list_is_refused(body: bytes) -> None:
    received: list[list[str]] = []
    answer = Client(NotificationReceiver(received.append)).post(
        "/notify", data=body, content_type="application/atom+xml"
    )
    assert answer.status_code == 400
    assert received == []


class Unreadable(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("an oversized notification body was read")


def test_an_oversized_notification_is_refused_before_it_is_read() -> None:
    received: list[list[str]] = []
    environ = EnvironBuilder(method="POST", path="/notify").get_environ()
    environ.update({"CONTENT_LENGTH": str((1 << 20) + 1), "wsgi.input": Unreadable()})
    statuses: list[str] = []
    NotificationReceiver(received.append)(environ, lambda status, _headers: statuses.append(status))
    assert statuses == ["400 Bad Request"]
    assert received == []


def test_the_notify_endpoint_only_takes_post() -> None:
    received: list[list[str]] = []
    answer = Client(NotificationReceiver(received.append)).get("/notify")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert received == []


# ---- token stores ------------------------------------------------------------------------
def test_the_file_token_store_is_private_and_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "asp" / "tokens.json"
    store = FileTokenStore(path)
    store.save("42", {"access_token": "a", "refresh_token": "r"})
    store.save("43", {"access_token": "b"})
    assert path.stat().st_mode & 0o777 == 0o600
    reopened = FileTokenStore(path)
    assert reopened.load("42") == {"access_token": "a", "refresh_token": "r"}
    reopened.delete("42")
    assert FileTokenStore(path).load("42") is None
    assert FileTokenStore(path).load("43") == {"access_token": "b"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]  # no temporaries left


@pytest.mark.parametrize("content", ['{"42": {"access_tok', "[1, 2]"], ids=["torn", "not-object"])
def test_a_corrupt_token_file_is_a_clear_value_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="tokens.json"):
        FileTokenStore(path).load("42")


def test_the_memory_token_store_hands_out_copies() -> None:
    store = MemoryTokenStore()
    token = {"access_token": "a"}
    store.save("42", token)
    token["access_token"] = "changed by the caller"
    loaded = store.load("42")
    assert loaded == {"access_token": "a"}
    loaded["access_token"] = "changed again"
    assert store.load("42") == {"access_token": "a"}
    store.delete("42")
    assert store.load("42") is None
