"""Rate limits (server/limits.py): sign-in per address, the token endpoint
per client, the OTP confirmation decorator per request and per client, the 429 responses,
the off switch, and Redis storage shared by two apps (a real redis-server on loopback)."""

from __future__ import annotations

from base64 import b64encode
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest
import redis
from espi_sst_server import create_app
from espi_sst_server.limits import client_key, otp_confirmation_limit
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import RetailCustomer
from flask import Flask, g, jsonify, request
from flask.testing import FlaskClient
from redis_server import redis_url, running_redis  # noqa: F401  (redis_url: the fixture)
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


# ---- OAuth client endpoints -----------------------------------------------------------------


def test_token_endpoint_is_limited_per_client(tmp_path: Path) -> None:
    app = make_app(tmp_path, TOKEN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert token_request(client, "asp-a").status_code == 401  # unknown client, still counted
    assert token_request(client, "asp-a", basic=False).status_code != 429  # the same bucket
    assert_refused(token_request(client, "asp-a"), html=False)
    assert token_request(client, "asp-b").status_code == 401  # another client
    assert token_request(client, "asp-b", basic=False).status_code != 429
    # revocation and introspection count apart from the token endpoint
    revoked = client.post("/oauth/revoke", data={"token": "x"}, auth=("asp-a", "nope"))
    assert revoked.status_code != 429


@pytest.mark.parametrize(
    ("headers", "form", "key"),
    [
        ({"Authorization": "Basic " + b64encode(b"asp%2Da:secret").decode()}, {}, "client:asp-a"),
        ({}, {"client_id": "asp-a"}, "client:asp-a"),
        ({"Authorization": "Basic " + b64encode(b"\xff\xfe:x").decode()}, {}, "ip:192.0.2.9"),
        ({}, {}, "ip:192.0.2.9"),
    ],
)
def test_the_client_key_is_the_client_authlib_authenticates(
    tmp_path: Path, headers: dict[str, str], form: dict[str, str], key: str
) -> None:
    """Basic credentials are form-encoded (RFC 6749 2.3.1): one client, one bucket."""
    app = make_app(tmp_path)
    with app.test_request_context(
        "/oauth/token",
        method="POST",
        headers=headers,
        data=form,
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    ):
        assert client_key() == key


def test_revocation_and_introspection_are_limited_per_client(tmp_path: Path) -> None:
    app = make_app(tmp_path, TOKEN_RATE_LIMIT="1 per minute")
    client = app.test_client()
    for path in ("/oauth/revoke", "/oauth/introspect"):
        assert client.post(path, data={"token": "x"}, auth=("asp-a", "nope")).status_code != 429
        assert_refused(client.post(path, data={"token": "x"}, auth=("asp-a", "no")), html=False)
        assert client.post(path, data={"token": "x"}, auth=("asp-b", "nope")).status_code != 429


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
