"""Rate limits (server/limits/__init__.py, server/limits/clients.py): sign-in per address, the OAuth
client endpoints per authenticated client and their failed authentications per address, the
OTP confirmation decorator per request and per client, the 429 responses, the off switch,
and Redis storage shared by two apps (a real redis-server on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest
import redis
import requests
from edge_world import SECRETS, EdgeWorld, Grant, basic, dispose, make_edge_world
from espi_sst_server import create_app
from espi_sst_server.lifecycle.registration import register_resource_server
from espi_sst_server.limits import otp_confirmation_limit
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import RetailCustomer
from flask import Flask, g, jsonify, request
from flask.testing import FlaskClient
from parallel import serve, together
from redis_server import redis_url, running_redis  # noqa: F401  (redis_url: the fixture)
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

LOOSE = "1000 per minute"


def make_app(tmp_path: Path, name: str = "limits", **config: Any) -> Flask:
    settings: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db",
        "SECRET_KEY": "test",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,  # CSRF is tested elsewhere; here it only adds page fetches
    }
    settings.update(config)
    app: Flask = create_app(settings)
    return app


def sign_in(client: FlaskClient, username: str, address: str = "192.0.2.1") -> Any:
    return client.post(
        "/portal/login",
        data={"username": username, "password": "wrong"},
        environ_base={"REMOTE_ADDR": address},
    )


def token_request(client: FlaskClient, client_id: str, *, basic: bool = True) -> Any:
    if basic:
        return client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, "not-the-secret"),
        )
    return client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id}
    )


def assert_refused(response: Any, *, html: bool, window: int = 60) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= window + 1
    assert response.headers["Cache-Control"] == "no-store"
    if html:
        assert response.mimetype == "text/html"
        assert b"Too many sign-in attempts; try again in" in response.data
    else:
        assert response.mimetype == "application/json"
        assert response.get_json()["error"] == "too_many_requests"
        assert "retry after" in response.get_json()["error_description"]


# ---- sign-in ------------------------------------------------------------------------------
# Per account there is a backoff, not a window (tests/server/portal/test_sign_in_throttle.py);
# here: the per-address window that stays.


def _customer(app: Flask, username: str, password: str, *, totp: str | None = None) -> None:
    with app.app_context():
        db.session.add(
            RetailCustomer(
                uuid=f"66666666-6666-4666-8666-{abs(hash(username)) % 10**12:012d}",
                username=username,
                password_hash=hash_password(password),
                totp_secret=totp,
                display_name=username.title(),
                created_at=now(),
            )
        )
        db.session.commit()


def test_sign_in_has_no_window_limit_per_account(tmp_path: Path) -> None:
    """Issue 11, item 9: "10 per minute;100 per day" per user name was a lock-out anyone
    could trigger; the account's backoff (free failures raised here) replaces it."""
    app = make_app(tmp_path, LOGIN_IP_RATE_LIMIT="3 per minute", SIGN_IN_FREE_FAILURES=50)
    client = app.test_client()
    for number, spelling in enumerate(["alice", "ALICE", "  Alice "] * 4, 1):
        assert sign_in(client, spelling, f"198.51.100.{number}").status_code == 401


def test_an_old_login_rate_limit_setting_is_reported_not_obeyed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path, LOGIN_RATE_LIMIT="1 per minute", SIGN_IN_FREE_FAILURES=50)
    assert "LOGIN_RATE_LIMIT is no longer used" in caplog.text
    client = app.test_client()
    for number in range(3):
        assert sign_in(client, "alice", f"198.51.100.{number}").status_code == 401


def test_successful_sign_ins_count_too(tmp_path: Path) -> None:
    """Counting failures only would test before the view and deduct after it: parallel
    guesses would all pass.  So every attempt counts (docs/server.md, Rate limits)."""
    app = make_app(tmp_path, LOGIN_IP_RATE_LIMIT="2 per minute")
    _customer(app, "dora", "right")
    client = app.test_client()
    for _ in range(2):
        signed_in = client.post("/portal/login", data={"username": "dora", "password": "right"})
        assert signed_in.status_code == 302
    refused = client.post("/portal/login", data={"username": "dora", "password": "right"})
    assert_refused(refused, html=True)


def test_sign_in_is_limited_per_address(tmp_path: Path) -> None:
    app = make_app(tmp_path, LOGIN_IP_RATE_LIMIT="3 per minute")
    client = app.test_client()
    for name in ("ann", "ben", "cat"):
        assert sign_in(client, name, "203.0.113.7").status_code == 401
    assert_refused(sign_in(client, "dan", "203.0.113.7"), html=True)
    assert sign_in(client, "dan", "203.0.113.8").status_code == 401  # another address


def test_the_sign_in_page_itself_is_not_counted(tmp_path: Path) -> None:
    app = make_app(tmp_path, LOGIN_IP_RATE_LIMIT="1 per minute")
    client = app.test_client()
    for _ in range(3):
        assert client.get("/portal/login").status_code == 200
    assert sign_in(client, "alice").status_code == 401


def test_an_operators_app_wide_limit_still_applies(tmp_path: Path) -> None:
    """The server drops Flask-Limiter's per-request walk when no app-wide limit is set
    (limits/__init__.py, issue 17); an operator who sets ``RATELIMIT_DEFAULT`` keeps it: the
    sign-in page, which no limit of ours counts, is then refused on its third GET."""
    app = make_app(tmp_path, RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    for _ in range(2):
        assert client.get("/portal/login").status_code == 200
    assert client.get("/portal/login").status_code == 429
    plain = make_app(tmp_path, "plain").test_client()
    for _ in range(5):
        assert plain.get("/portal/login").status_code == 200


def test_second_factor_is_limited_per_address(tmp_path: Path) -> None:
    """The code step has its own window per address (the password step's is apart)."""
    app = make_app(tmp_path, LOGIN_IP_RATE_LIMIT="3 per minute")
    _customer(app, "carol", "pw", totp=pyotp.random_base32())
    client = app.test_client()
    here = {"REMOTE_ADDR": "198.51.100.1"}
    step = client.post(
        "/portal/login", data={"username": "carol", "password": "pw"}, environ_base=here
    )
    assert step.status_code == 302 and "/portal/login/code" in step.headers["Location"]
    for _ in (1, 2, 3):
        wrong = client.post("/portal/login/code", data={"code": "000000"}, environ_base=here)
        assert wrong.status_code == 401
    refused = client.post("/portal/login/code", data={"code": "000000"}, environ_base=here)
    assert_refused(refused, html=True)
    elsewhere = client.post(
        "/portal/login/code", data={"code": "000000"}, environ_base={"REMOTE_ADDR": "198.51.100.9"}
    )
    assert elsewhere.status_code == 401


# ---- OAuth client endpoints (server/limits/clients.py) -----------------------------------------
#
# Failed client authentications count per remote address; the per-client limit counts only
# requests whose client authenticated (a public client: per client and address).  So a
# stranger who knows an ASP's client id cannot spend its budget (issue 11, finding 1).

ATTACKER, ASP_HOST, OTHER_HOST = "203.0.113.66", "198.51.100.10", "198.51.100.20"
CLIENT_SCOPE = "FB=4_5_15 basic"


@pytest.fixture()
def asps(tmp_path: Path) -> Iterator[Callable[..., EdgeWorld]]:
    """``asps(**config)``: the edge world (three ASPs, their grants) on SQLite."""
    made: list[EdgeWorld] = []

    def make(**config: Any) -> EdgeWorld:
        world = make_edge_world(f"sqlite:///{tmp_path}/asps-{len(made)}.db", **config)
        made.append(world)
        return world

    yield make
    for world in made:
        dispose(world)


def client_token(
    client: FlaskClient, client_id: str, secret: str, address: str = ASP_HOST, **form: str
) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": CLIENT_SCOPE, **form},
        headers=basic(client_id, secret),
        environ_base={"REMOTE_ADDR": address},
    )


def test_wrong_secrets_under_an_asps_id_do_not_lock_the_asp_out(database_url: str) -> None:
    """The reported attack: 40 wrong-secret requests in a second under an ASP's client id.
    The attacker's address is refused; the ASP, from its own address, is not."""
    world = make_edge_world(database_url, TOKEN_RATE_LIMIT="20 per minute")
    try:
        client = world.app.test_client()
        answers = [
            client_token(client, "asp-a", f"guess-{n}", ATTACKER).status_code for n in range(40)
        ]
        assert set(answers) == {401, 429} and answers[0] == 401
        assert answers[-1] == 429
        assert_refused(client_token(client, "asp-a", "secret-of-a", ATTACKER), html=False)
        granted = client_token(client, "asp-a", "secret-of-a", ASP_HOST)
        assert granted.status_code == 200, granted.get_json()
        assert granted.get_json()["access_token"]
    finally:
        dispose(world)


def test_failed_client_authentications_are_limited_per_address(
    asps: Callable[..., EdgeWorld],
) -> None:
    world = asps(TOKEN_FAILURE_IP_RATE_LIMIT="3 per minute")
    client = world.app.test_client()
    for client_id in ("asp-a", "asp-b", "no-such-asp"):  # any client id: one address
        assert client_token(client, client_id, "wrong", ATTACKER).status_code == 401
    assert_refused(client_token(client, "asp-z", "wrong", ATTACKER), html=False)
    assert_refused(client_token(client, "asp-b", "secret-of-b", ATTACKER), html=False)
    assert client_token(client, "asp-b", "secret-of-b", OTHER_HOST).status_code == 200
    assert client_token(client, "asp-a", "wrong", OTHER_HOST).status_code == 401


def test_an_authenticated_clients_burst_is_limited_per_client(
    asps: Callable[..., EdgeWorld],
) -> None:
    world = asps(TOKEN_RATE_LIMIT="3 per minute")
    client = world.app.test_client()
    for number in range(3):  # from any address: the client is the bucket
        granted = client_token(client, "asp-a", "secret-of-a", f"198.51.100.{number + 1}")
        assert granted.status_code == 200
    assert_refused(client_token(client, "asp-a", "secret-of-a", "198.51.100.9"), html=False)
    assert client_token(client, "asp-b", "secret-of-b", "198.51.100.9").status_code == 200
    # the Basic user is form-encoded (RFC 6749 2.3.1): asp%2Da is asp-a, one bucket
    assert_refused(client_token(client, "asp%2Da", "secret-of-a"), html=False)


def test_wrong_secrets_do_not_count_against_the_client(asps: Callable[..., EdgeWorld]) -> None:
    world = asps(TOKEN_RATE_LIMIT="2 per minute", TOKEN_FAILURE_IP_RATE_LIMIT=LOOSE)
    client = world.app.test_client()
    for number in range(5):
        assert client_token(client, "asp-a", f"guess-{number}", ATTACKER).status_code == 401
    assert client_token(client, "asp-a", "secret-of-a").status_code == 200
    assert client_token(client, "asp-a", "secret-of-a").status_code == 200
    assert_refused(client_token(client, "asp-a", "secret-of-a"), html=False)


def refresh(client: FlaskClient, grant: Grant, address: str, token: str | None = None) -> Any:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token or grant.refresh_token,
            "client_id": grant.client_id,
        },
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_public_clients_budget_is_not_a_strangers_to_spend(
    asps: Callable[..., EdgeWorld],
) -> None:
    """A public client authenticates by its id alone: a stranger could name it.  Its budget
    is counted per client *and* address, so the stranger spends only his own share."""
    world = asps(TOKEN_RATE_LIMIT="3 per minute")
    client = world.app.test_client()
    public = world.grants["asp-public"]
    for number in range(3):
        assert refresh(client, public, ATTACKER, f"stolen-{number}").status_code == 400
    assert_refused(refresh(client, public, ATTACKER, "stolen-4"), html=False)
    renewed = refresh(client, public, ASP_HOST)  # the app on a customer's device
    assert renewed.status_code == 200, renewed.get_json()


def test_each_client_endpoint_counts_apart(asps: Callable[..., EdgeWorld]) -> None:
    world = asps(TOKEN_RATE_LIMIT="1 per minute", TOKEN_FAILURE_IP_RATE_LIMIT="1 per minute")
    client = world.app.test_client()
    token = world.grants["asp-a"].token
    for path in ("/oauth/revoke", "/oauth/introspect"):
        wrong = client.post(path, data={"token": token}, headers=basic("asp-a", "no"))
        assert wrong.status_code == 401
        assert_refused(
            client.post(path, data={"token": token}, headers=basic("asp-a", "no")), html=False
        )
    # the token endpoint has its own buckets: neither the failures nor the client used up
    assert client_token(client, "asp-a", "secret-of-a", "127.0.0.1").status_code == 200
    assert_refused(client_token(client, "asp-a", "secret-of-a", "127.0.0.2"), html=False)
    answer = client.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic("asp-a", "secret-of-a"),
        environ_base={"REMOTE_ADDR": OTHER_HOST},
    )
    assert answer.status_code == 200 and answer.get_json()["active"] is True


def test_disabled_rate_limits_refuse_nothing(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        RATELIMIT_ENABLED=False,
        LOGIN_IP_RATE_LIMIT="1 per minute",
        TOKEN_RATE_LIMIT="1 per minute",
    )
    client = app.test_client()
    for _ in range(4):
        assert sign_in(client, "alice").status_code == 401
        assert token_request(client, "asp-a").status_code == 401


def test_disabled_rate_limits_refuse_no_client(asps: Callable[..., EdgeWorld]) -> None:
    world = asps(
        RATELIMIT_ENABLED=False,
        TOKEN_RATE_LIMIT="1 per minute",
        TOKEN_FAILURE_IP_RATE_LIMIT="1 per minute",
    )
    client = world.app.test_client()
    for _ in range(3):
        assert client_token(client, "asp-a", "wrong").status_code == 401
        assert client_token(client, "asp-a", "secret-of-a").status_code == 200


# ---- the resource API per ASP (server/limits/resources.py) ----------------------------------------
#
# Counted once the bearer token is validated, by the ASP it belongs to (issue 11, finding
# 24): a stranger's tokens are refused 401 and spend no ASP's budget.


def resource_get(client: FlaskClient, grant: Grant, path: str | None = None) -> Any:
    return client.get(path or grant.url(), headers=grant.headers)


def test_the_resource_api_is_limited_per_asp(database_url: str) -> None:
    world = make_edge_world(database_url, RESOURCE_RATE_LIMIT="3 per minute")
    try:
        client = world.app.test_client()
        a, b = world.grants["asp-a"], world.grants["asp-b"]
        for _ in range(3):
            assert resource_get(client, a).status_code == 200
        refused = resource_get(client, a, a.url("/MeterReading"))
        assert_refused(refused, html=False)
        assert set(refused.get_json()) == {"error", "error_description"}
        assert resource_get(client, b).status_code == 200  # another ASP: its own budget
    finally:
        dispose(world)


def test_a_stranger_cannot_spend_an_asps_resource_budget(asps: Callable[..., EdgeWorld]) -> None:
    world = asps(RESOURCE_RATE_LIMIT="2 per minute")
    client = world.app.test_client()
    a = world.grants["asp-a"]
    for number in range(5):
        forged = client.get(a.url(), headers={"Authorization": f"Bearer forged-{number}"})
        assert forged.status_code == 401
    assert client.get(a.url()).status_code == 401  # no token at all
    assert resource_get(client, a).status_code == 200
    assert resource_get(client, a).status_code == 200
    assert_refused(resource_get(client, a), html=False)


def test_bulk_feeds_have_their_own_tighter_limit(asps: Callable[..., EdgeWorld]) -> None:
    """Batch/Subscription (and the Subscription and IntervalBlock feeds) cost seconds each."""
    world = asps(RESOURCE_RATE_LIMIT=LOOSE, RESOURCE_BULK_RATE_LIMIT="2 per minute")
    client = world.app.test_client()
    a, b = world.grants["asp-a"], world.grants["asp-b"]
    assert resource_get(client, a, a.batch).status_code == 200
    assert resource_get(client, a, a.batch.replace("/Batch", "")).status_code == 200
    assert_refused(resource_get(client, a, a.batch), html=False)
    assert resource_get(client, a).status_code == 200  # single resources: the general limit
    assert resource_get(client, b, b.batch).status_code == 200  # another ASP


def test_bulk_requests_count_in_the_general_limit_too(asps: Callable[..., EdgeWorld]) -> None:
    world = asps(RESOURCE_RATE_LIMIT="2 per minute", RESOURCE_BULK_RATE_LIMIT=LOOSE)
    client = world.app.test_client()
    a = world.grants["asp-a"]
    assert resource_get(client, a, a.batch).status_code == 200
    assert resource_get(client, a).status_code == 200
    assert_refused(resource_get(client, a, a.batch), html=False)


def test_a_parallel_burst_gets_exactly_the_limit(tmp_path: Path) -> None:
    """The reported burst (200 GETs, no 429), through real sockets, released together: the
    limit holds exactly, and nothing fails."""
    world = make_edge_world(f"sqlite:///{tmp_path}/burst.db", RESOURCE_RATE_LIMIT="10 per minute")
    a = world.grants["asp-a"]

    def one(base: str) -> int:
        with requests.Session() as session:
            answer = session.get(base + a.url(), headers=a.headers, timeout=30)
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) >= 1
        return answer.status_code

    try:
        with serve(world.app) as base:
            statuses = together(30, lambda _i: one(base))
    finally:
        dispose(world)
    assert statuses.count(200) == 10
    assert statuses.count(429) == 20


def test_the_bolt_on_limits_each_asp_after_introspection(tmp_path: Path) -> None:
    """Bolt-on mode (TOKEN_VALIDATION=introspection): the bolt-on counts the ASP the
    upstream's introspection names, before forwarding (the costly part) -- a real upstream
    on a loopback socket."""
    upstream = make_edge_world(f"sqlite:///{tmp_path}/upstream.db")
    with upstream.app.app_context():
        registered = register_resource_server(db.session, name="bolt-on", client_id="bolt-on")
    server = make_server("127.0.0.1", 0, upstream.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    bolt_on = make_app(
        tmp_path,
        "bolt-on",
        UPSTREAM_RESOURCE_URL=f"{base}/espi/1_1/resource",
        TOKEN_VALIDATION="introspection",
        INTROSPECTION_URL=f"{base}/oauth/introspect",
        INTROSPECTION_CLIENT_ID=registered.client_id,
        INTROSPECTION_CLIENT_SECRET=registered.client_secret,
        RESOURCE_RATE_LIMIT="2 per minute",
    )
    try:
        bearers = {}
        for client_id in ("asp-a", "asp-b"):
            issued = upstream.app.test_client().post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": "FB=3_19_35"},
                headers=basic(client_id, SECRETS[client_id]),
            )
            assert issued.status_code == 200, issued.get_json()
            bearers[client_id] = {"Authorization": "Bearer " + issued.get_json()["access_token"]}
        client = bolt_on.test_client()
        status = "/espi/1_1/resource/ReadServiceStatus"
        assert client.get(status, headers=bearers["asp-a"]).status_code == 200
        assert client.get(status, headers=bearers["asp-a"]).status_code == 200
        assert_refused(client.get(status, headers=bearers["asp-a"]), html=False)
        assert client.get(status, headers=bearers["asp-b"]).status_code == 200
        assert client.get(status, headers={"Authorization": "Bearer forged"}).status_code == 401
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        session = bolt_on.extensions.get("espi_sst_upstream_session")
        if session is not None:
            session.close()
        dispose(upstream)


# ---- the OTP confirmation decorator, on a throw-away view ------------------------------------


def otp_app(tmp_path: Path, **config: Any) -> Flask:
    app = make_app(tmp_path, **config)

    @app.before_request
    def _grant() -> None:  # stands in for a token check that ran before the view
        if "X-Test-Client" in request.headers:
            g.espi_grant = SimpleNamespace(client_id=request.headers["X-Test-Client"])

    @otp_confirmation_limit
    def confirm(rid: str) -> Response:
        return jsonify(confirmed=rid)

    def plain_confirm(rid: str) -> Response:
        return jsonify(confirmed=rid)

    app.add_url_rule("/sst/rate-change/<rid>/confirm", view_func=confirm, methods=["POST"])
    app.add_url_rule(
        "/espi/1_1/resource/RateChange/<rid>/confirm",
        endpoint="espi_confirm",
        view_func=otp_confirmation_limit(plain_confirm),
        methods=["POST"],
    )
    return app


def confirm(client: FlaskClient, rid: str, token: str = "tok-1", **headers: str) -> Any:
    return client.post(
        f"/sst/rate-change/{rid}/confirm",
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def test_otp_confirmation_is_limited_per_request(tmp_path: Path) -> None:
    app = otp_app(tmp_path, OTP_RATE_LIMIT="2 per 15 minutes", OTP_CLIENT_RATE_LIMIT=LOOSE)
    client = app.test_client()
    assert confirm(client, "r1", "tok-1").status_code == 200
    assert confirm(client, "r1", "tok-2").status_code == 200  # another client, same request
    assert_refused(confirm(client, "r1", "tok-3"), html=False, window=900)
    assert confirm(client, "r2", "tok-1").status_code == 200


def test_otp_confirmation_is_limited_per_client(tmp_path: Path) -> None:
    app = otp_app(tmp_path, OTP_RATE_LIMIT=LOOSE, OTP_CLIENT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert confirm(client, "r1", "tok-1").status_code == 200
    assert confirm(client, "r2", "tok-1").status_code == 200
    assert_refused(confirm(client, "r3", "tok-1"), html=False)
    assert confirm(client, "r3", "tok-2").status_code == 200  # another token: another client
    # a checked grant names the client: its tokens share one bucket
    assert confirm(client, "r4", "tok-5", **{"X-Test-Client": "asp-x"}).status_code == 200
    assert confirm(client, "r5", "tok-6", **{"X-Test-Client": "asp-x"}).status_code == 200
    assert_refused(confirm(client, "r6", "tok-7", **{"X-Test-Client": "asp-x"}), html=False)


def test_resource_api_refusals_are_json_like_its_other_errors(tmp_path: Path) -> None:
    app = otp_app(tmp_path, OTP_RATE_LIMIT="1 per minute", OTP_CLIENT_RATE_LIMIT=LOOSE)
    client = app.test_client()
    path = "/espi/1_1/resource/RateChange/r1/confirm"
    assert client.post(path, headers={"Authorization": "Bearer t"}).status_code == 200
    refused = client.post(path, headers={"Authorization": "Bearer t"})
    assert_refused(refused, html=False)
    assert set(refused.get_json()) == {"error", "error_description"}


# ---- Redis: the real server, shared by two apps -------------------------------------------------


@pytest.fixture()
def empty_redis(redis_url: str) -> str:  # noqa: F811  (the fixture imported above)
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


def test_two_apps_on_one_redis_share_the_limit(tmp_path: Path, empty_redis: str) -> None:
    config = {"RATELIMIT_STORAGE_URI": empty_redis, "LOGIN_IP_RATE_LIMIT": "3 per minute"}
    first = make_app(tmp_path, "first", **config).test_client()
    second = make_app(tmp_path, "second", **config).test_client()
    assert sign_in(first, "alice").status_code == 401
    assert sign_in(second, "bob").status_code == 401
    assert sign_in(first, "carol").status_code == 401
    assert_refused(sign_in(second, "dan"), html=True)
    assert sign_in(first, "dan", "192.0.2.2").status_code == 401  # another address
    keys = redis.Redis.from_url(empty_redis).keys("*")
    assert keys, "the counters are in Redis"
    assert not any(b"alice" in key.lower() for key in keys), "no user names in Redis"


def test_a_lost_redis_falls_back_to_counting_in_memory(tmp_path: Path) -> None:
    with running_redis(tmp_path) as (url, process):
        app = make_app(
            tmp_path,
            RATELIMIT_STORAGE_URI=url,
            LOGIN_IP_RATE_LIMIT="2 per minute",
        )
        client = app.test_client()
        assert sign_in(client, "alice").status_code == 401
        process.terminate()
        process.wait(timeout=10)
        # no 500s, and the limit still holds (counted afresh in this process)
        assert sign_in(client, "alice").status_code == 401
        assert sign_in(client, "alice").status_code == 401
        assert_refused(sign_in(client, "alice"), html=True)


def test_client_limits_count_together_in_redis(tmp_path: Path, empty_redis: str) -> None:
    config = {
        "RATELIMIT_STORAGE_URI": empty_redis,
        "TOKEN_RATE_LIMIT": "2 per minute",
        "TOKEN_FAILURE_IP_RATE_LIMIT": "2 per minute",
    }
    worlds = [make_edge_world(f"sqlite:///{tmp_path}/{n}.db", **config) for n in ("a", "b")]
    try:
        first, second = (w.app.test_client() for w in worlds)
        assert client_token(first, "asp-a", "wrong", ATTACKER).status_code == 401
        assert client_token(second, "asp-a", "wrong", ATTACKER).status_code == 401
        assert_refused(client_token(first, "asp-a", "secret-of-a", ATTACKER), html=False)
        assert client_token(second, "asp-a", "secret-of-a").status_code == 200
        assert client_token(first, "asp-a", "secret-of-a").status_code == 200
        assert_refused(client_token(second, "asp-a", "secret-of-a"), html=False)
        keys = redis.Redis.from_url(empty_redis).keys("*")
        assert any(b"asp-a" in key for key in keys), "the client's counter is in Redis"
    finally:
        for world in worlds:
            dispose(world)
