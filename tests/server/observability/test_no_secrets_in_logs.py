"""The redaction guarantee, tried as an attacker would (issue 16, Logs): with every logger at
DEBUG, a customer signs in with her password, consents, the ASP redeems the code with its
client secret and a PKCE verifier, refreshes the token, asks for a rate change, the worker
mails the passcode over real SMTP to the demo's mail sink, and the ASP confirms with it.
Then the whole captured log -- JSON lines, exception text included -- is searched for each
actual secret value: none may be there.  The lines that must be there (one per request,
naming the ASP once it authenticated) are checked too, so an empty log cannot pass.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from espi_sst_server.demo import DemoData
from espi_sst_server.demo.mail_sink import MailSink
from espi_sst_server.observability.logs import configure_logging
from espi_sst_server.worker import Worker
from flask.testing import FlaskClient
from sst_world import SstWorld, make_world

ASP = "demo-energy-insights"
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13"
    " basic billing usage sst:rin sst:rate_change openid"
)
CSRF_MARK = 'name="csrf_token" type="hidden" value="'


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything the process logs, at DEBUG, through the production configuration."""
    stream = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    configure_logging(stream=stream, environ={"ESPI_LOG_FORMAT": "json", "ESPI_LOG_LEVEL": "DEBUG"})
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def mailed(
    sst_database: tuple[str, DemoData], tmp_path: Path
) -> Iterator[tuple[SstWorld, MailSink]]:
    url, data = sst_database
    with MailSink(tmp_path / "mail") as sink:
        made = make_world(
            url,
            data,
            OTP_DIGITS=12,  # a 12-digit code cannot turn up in a log by accident
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=sink.port,
            SMTP_STARTTLS=False,
            MAIL_FROM="Demo Utility <no-reply@utility.example>",
        )
        yield made, sink
        made.app.extensions["espi_sst_db"].engine.dispose()


class ServedClient(FlaskClient):
    """A test client that consumes and closes each answer as a real server does (the
    request line is written when the answer is done)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["buffered"] = True
        return super().open(*args, **kwargs)


def _csrf(html: bytes) -> str:
    text = html.decode()
    start = text.index(CSRF_MARK) + len(CSRF_MARK)
    return text[start : text.index('"', start)]


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_no_secret_of_a_whole_flow_reaches_the_log(
    mailed: tuple[SstWorld, MailSink], captured: io.StringIO
) -> None:
    world, sink = mailed
    customer = next(c for c in world.data.customers if c.username == "casey")
    client = next(c for c in world.data.clients if c.client_id == ASP)
    assert client.client_secret is not None
    world.app.test_client_class = ServedClient
    browser = world.app.test_client()

    # The customer signs in with her password ...
    page = browser.get("/portal/login")
    signed_in = browser.post(
        "/portal/login",
        data={
            "username": customer.username,
            "password": customer.password,
            "csrf_token": _csrf(page.data),
        },
    )
    assert signed_in.status_code == 302, signed_in.data
    # ... and consents; the ASP gets a code at its redirect URI.
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": ASP,
        "redirect_uri": client.redirect_uris[0],
        "scope": SCOPE,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = browser.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200, page.data
    answer = browser.post(
        "/oauth/authorize",
        query_string=params,
        data={
            "csrf_token": _csrf(page.data),
            "decision": "approve",
            "until_revoked": "y",
            "categories": ["basic", "billing", "usage", "sst:rin", "sst:rate_change"],
            "usage_points": list(customer.usage_point_uuids),
        },
    )
    assert answer.status_code == 302, answer.data
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    # The ASP redeems the code, then refreshes.
    asp = world.app.test_client()
    issued = asp.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uris[0],
            "code_verifier": verifier,
        },
        headers=_basic(ASP, client.client_secret),
    )
    assert issued.status_code == 200, issued.data
    first = issued.get_json()
    refreshed = asp.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=_basic(ASP, client.client_secret),
    )
    assert refreshed.status_code == 200, refreshed.data
    tokens = refreshed.get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    # A rate change, its passcode mailed by the worker, confirmed by the ASP.
    resource = first["resourceURI"].split("/espi/1_1/resource", 1)[1]
    subscription = resource.rstrip("/").rsplit("/", 1)[1]
    point = customer.usage_point_uuids[0]
    base = f"/espi/1_1/resource/Subscription/{subscription}/UsagePoint/{point}"
    requested = asp.post(
        f"{base}/RateChangeRequest",
        json={"targetRin": "USCA-PGPG-0100-0000"},  # E-TOU-C, which casey may choose
        headers={**bearer, "Idempotency-Key": "attack-1"},
    )
    assert requested.status_code == 202, requested.data
    Worker(world.app).run_once()
    passcode = next(
        line
        for mail in sink.messages(customer.email)
        for line in mail.text.splitlines()
        if "confirmation code is" in line
    ).rsplit(" ", 1)[1]
    rid = str(requested.headers["Location"]).rsplit("/", 1)[1]
    # A wrong code first (the failure path logs too), then the real one.
    wrong = asp.post(
        f"{base}/RateChangeRequest/{rid}/Confirmation", json={"code": "0" * 12}, headers=bearer
    )
    assert wrong.status_code != 200
    confirmed = asp.post(
        f"{base}/RateChangeRequest/{rid}/Confirmation", json={"code": passcode}, headers=bearer
    )
    assert confirmed.status_code == 200, confirmed.data
    # A replayed refresh token (reuse: the family is revoked) and a bad client secret.
    asp.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=_basic(ASP, client.client_secret),
    )
    asp.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(ASP, "wrong-" + client.client_secret),
    )
    logging.getLogger("attacker.probe").debug(
        "a careless caller: Authorization: Bearer %s, %s",
        tokens["access_token"],
        {"password": customer.password},
    )

    log = captured.getvalue()
    secrets_used = {
        "password": customer.password,
        "client secret": client.client_secret,
        "Basic credentials": _basic(ASP, client.client_secret)["Authorization"].split(" ")[1],
        "authorization code": code,
        "code verifier": verifier,
        "first access token": first["access_token"],
        "first refresh token": first["refresh_token"],
        "refreshed access token": tokens["access_token"],
        "refreshed refresh token": tokens["refresh_token"],
        "id_token": first["id_token"],
        "passcode": passcode,
    }
    for cookie in browser._cookies.values():  # the portal's session cookie
        secrets_used[f"cookie {cookie.key}"] = cookie.value
    leaked = [name for name, value in secrets_used.items() if value and value in log]
    assert leaked == [], f"in the log: {leaked}"

    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line["logger"] == "espi_sst_server.request"]
    assert len(requests_logged) == 11  # every request above
    token_lines = [line for line in requests_logged if line["path"] == "/oauth/token"]
    assert token_lines and all(line["endpoint"] == "oauth.token" for line in token_lines)
    assert {line.get("client_id") for line in token_lines if line["status"] == 200} == {ASP}
    confirm_lines = [line for line in requests_logged if line["path"].endswith("/Confirmation")]
    assert [line["client_id"] for line in confirm_lines] == [ASP, ASP]
    # The authorize request is logged without its query string.
    assert any(line["path"] == "/oauth/authorize" for line in requests_logged)
    assert "code_challenge" not in log
    assert any(
        "[redacted]" in line["message"] for line in lines if line["logger"] == "attacker.probe"
    )
    # The passcode e-mail's job line carries the id of the request that queued it.
    (asked,) = [line for line in requests_logged if line["path"].endswith("/RateChangeRequest")]
    assert asked["request_id"] == requested.headers["X-Request-Id"]
    jobs = [line for line in lines if line["logger"] == "espi_sst_server.job"]
    (job,) = [
        line
        for line in jobs
        if line["request_id"] == asked["request_id"] and line["lane"] == "email"
    ]
    assert job["outcome"] == "sent" and job["attempt"] == 1 and job["job"].startswith("outbox:")


@pytest.mark.parametrize("gateway", ["http", "none"])
def test_a_passcode_sent_by_sms_never_reaches_the_log(
    sst_database: tuple[str, DemoData], tmp_path: Path, captured: io.StringIO, gateway: str
) -> None:
    """The SMS path (issue 13): Dana chose text messages.  With the HTTP adapter posting to
    the demo's SMS sink, and with no gateway at all (the development fallback, which logs
    that nothing was sent), the code is in no log line; a wrong code and the right one are
    relayed and logged as requests, without either code."""
    from espi_sst_server.demo.sms_sink import SmsSink
    from espi_sst_server.storage.models import OutboxMessage
    from sqlalchemy import select

    url, data = sst_database
    with SmsSink(tmp_path / "sms", token="sink-tok") as sink:
        settings: dict[str, Any] = {"OTP_DIGITS": 12}
        if gateway == "http":
            settings.update(SMS_URL=sink.url, SMS_TOKEN="sink-tok")
        world = make_world(url, data, **settings)
        try:
            world.app.test_client_class = ServedClient
            asp = world.app.test_client()
            dana = world.grant("dana")
            requested = asp.post(
                dana.url("/RateChangeRequest"),
                json={"targetRin": "USCA-PGPG-0100-0000"},
                headers={**dana.headers, "Idempotency-Key": "sms-log-1"},
            )
            assert requested.status_code == 202, requested.data
            rid = str(requested.headers["Location"]).rsplit("/", 1)[1]
            with world.app.app_context():  # the code, as the customer's phone would show it
                from espi_sst_server.outbox.queue import open_payload
                from espi_sst_server.storage import db

                (queued,) = db.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == "sms")
                ).all()
                body = open_payload(world.app, queued)["text"]
            passcode = body.split("confirmation code is: ", 1)[1].split(" ", 1)[0]
            assert len(passcode) == 12
            Worker(world.app).run_once()
            if gateway == "http":
                assert passcode in sink.messages("+14085550175")[0].body
            else:
                assert sink.messages() == []
            wrong = asp.post(
                dana.url(f"/RateChangeRequest/{rid}/Confirmation"),
                json={"code": "0" * 12},
                headers=dana.headers,
            )
            assert wrong.status_code == 422
            confirmed = asp.post(
                dana.url(f"/RateChangeRequest/{rid}/Confirmation"),
                json={"code": passcode},
                headers=dana.headers,
            )
            assert confirmed.status_code == 200, confirmed.data
        finally:
            world.app.extensions["espi_sst_db"].engine.dispose()

    log = captured.getvalue()
    assert passcode not in log
    assert "sink-tok" not in log and dana.token not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    (job,) = [
        line
        for line in lines
        if line["logger"] == "espi_sst_server.job" and line.get("lane") == "sms"
    ]
    assert job["outcome"] == "sent"
    if gateway == "none":
        assert any("not sent (no SMS_URL)" in line["message"] for line in lines)
