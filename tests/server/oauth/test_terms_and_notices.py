"""The SST terms and conditions, and the notices of every grant (issue 12; Title 20
1623(c)(2)(C); concept design 6.4.3 item 6, 7.4, 7.5, Table 17; Mode 1 step 2).

A robot ASP registered for real (``register_application``, terms accepted through the
``espi-sst`` commands) and a customer, alice, through the real pages (sign-in, consent, the
Mode 1 pre-authorization, the authorizations page); the worker delivers the outbox to a
mailbox and to a real HTTP receiver on 127.0.0.1 standing in for the ASP's notify URI.  On
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from espi_sst_server import create_app
from espi_sst_server.errors import ConfigurationError
from espi_sst_server.lifecycle.access import set_qualification
from espi_sst_server.lifecycle.closing import close_service_agreement
from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.lifecycle.terms import accept_terms
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    AuditEvent,
    Authorization,
    OutboxMessage,
    RetailCustomer,
    UsagePoint,
)
from espi_sst_server.worker import Worker
from flask import Flask
from flask.testing import FlaskClient
from oauth_world import (
    REDIRECT,
    authorize_params,
    basic,
    consent,
    csrf_of,
    login,
    pkce,
    redirect_params,
)
from sqlalchemy import select

import espi_sst
from espi_sst.model import espi as m

ISSUER = "http://127.0.0.1:5000"
TERMS_URL = "https://utility.example/sst-terms"
API = "/espi/1_1/resource"


class Receiver:
    """The ASP's notify endpoint: a real HTTP server on 127.0.0.1 keeping each BatchList."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def lists(self) -> list[list[str]]:
        """The resources of each BatchList received, in order (parsed by the library)."""
        found = []
        for body in self.bodies:
            (batch,) = espi_sst.parse(body).resources(m.BatchList)
            found.append(list(batch.resources))
        return found


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def bodies(self) -> list[tuple[str, str]]:
        return [(str(x["Subject"]), x.get_content()) for x in self.messages]


@dataclass
class World:
    database_url: str
    tmp: Path
    receiver: Receiver
    mailbox: Mailbox
    client_id: str
    secret: str
    points: list[str]

    def app(self, version: str = "2025-01", **extra: Any) -> Flask:
        """An app on the world's database with the terms ``version`` in force (its text is
        a file whose SHA-256 the app computes)."""
        terms = self.tmp / f"terms-{version}.txt"
        terms.write_text(f"SST terms and conditions, version {version}\n")
        return create_app(
            {
                "DATABASE_URL": self.database_url,
                "ISSUER": ISSUER,
                "TESTING": True,
                "SECRET_KEY": "test",
                "UTILITY_NAME": "Test Utility",
                "NOTIFY_ALLOW_LOOPBACK": True,
                "NOTIFIER": lambda _app: self.mailbox,
                "TERMS_VERSION": version,
                "TERMS_URL": f"{TERMS_URL}-{version}",
                "TERMS_FILE": str(terms),
                **extra,
            }
        )

    def cli(self, version: str, *args: str) -> subprocess.CompletedProcess[str]:
        """The real ``espi-sst`` command, configured like :meth:`app`."""
        terms = self.tmp / f"terms-{version}.txt"
        terms.write_text(f"SST terms and conditions, version {version}\n")
        env = dict(
            os.environ,
            ESPI_DATABASE_URL=self.database_url,
            ESPI_SECRET_KEY="test",
            ESPI_TERMS_VERSION=f'"{version}"',
            ESPI_TERMS_URL=f"{TERMS_URL}-{version}",
            ESPI_TERMS_FILE=str(terms),
            ESPI_NOTIFY_ALLOW_LOOPBACK="true",
        )
        return subprocess.run(
            [sys.executable, "-m", "espi_sst.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture()
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    receiver, mailbox = Receiver(), Mailbox()
    made = World(database_url, tmp_path, receiver, mailbox, "", "", [])
    app = made.app()
    with app.app_context():
        with db.transaction() as session:
            alice = RetailCustomer(
                uuid="11111111-1111-4111-8111-111111111111",
                username="alice",
                password_hash=hash_password("correct horse"),
                display_name="Alice Example",
                email="alice@example.com",
                created_at=now(),
            )
            session.add(alice)
            session.flush()
            for index, title in enumerate(["Home - electric", "Cabin - electric"], 1):
                point = UsagePoint(
                    uuid=f"33333333-3333-4333-8333-00000000000{index}",
                    customer_id=alice.id,
                    title=title,
                    service_kind=0,
                    service_agreement=f"SA-{index}",
                    udc="PGE",
                    lse="PGE",
                )
                session.add(point)
                made.points.append(point.uuid)
        done = register_application(
            db.session,
            name="Robot ASP",
            redirect_uris=[REDIRECT],
            notify_uri=receiver.url,
            client_id="asp-robot",
        )
        made.client_id, made.secret = done.client_id, str(done.client_secret)
        with db.transaction() as session:
            robot = session.scalar(select(Application).where(Application.client_id == "asp-robot"))
            assert robot is not None
            assert accept_terms(session, robot, "2025-01", actor="operator:t", now=now())
    app.extensions["espi_sst_db"].engine.dispose()
    yield made
    receiver.server.shutdown()
    receiver.server.server_close()


def _grant(world: World, app: Flask, client: FlaskClient, **form: Any) -> dict[str, Any]:
    """alice consents on the real page; the robot redeems the code: the token response."""
    verifier, challenge = pkce()
    params = authorize_params(world.client_id, challenge)
    login(client, "alice", "correct horse")
    form.setdefault("usage_points", world.points)
    answer = redirect_params(consent(client, params, **form))
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(world.client_id, world.secret),
    )
    assert token.status_code == 200, token.data
    return dict(token.json or {})


def _client_token(world: World, client: FlaskClient) -> str:
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "FB=3_19_35"},
        headers=basic(world.client_id, world.secret),
    )
    assert answer.status_code == 200, answer.data
    return str(answer.json["access_token"])  # type: ignore[index]


def _status_of(client: FlaskClient, url: str, bearer: str) -> int:
    """What the ASP reads when it follows a notification: the Authorization's ESPI status."""
    answer = client.get(urlsplit(url).path, headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status_code == 200, answer.data
    (content,) = espi_sst.parse(answer.data).resources(m.Authorization)
    return int(content.status or 0)


def _delivered(world: World, app: Flask) -> None:
    Worker(app).run_once()
    with app.app_context():
        waiting = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        ).all()
        assert waiting == [], [(x.kind, x.last_error) for x in waiting]


# ---- terms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"TERMS_VERSION": "2025-01"}, "TERMS_URL is required"),
        ({"TERMS_URL": "https://u.example/t"}, "TERMS_URL set without TERMS_VERSION"),
        ({"TERMS_VERSION": "2025 01", "TERMS_URL": "https://u.example/t"}, "TERMS_VERSION"),
        (
            {"TERMS_VERSION": "1", "TERMS_URL": "javascript:alert(1)", "TERMS_SHA256": "0" * 64},
            "must be an https URL",
        ),
        ({"TERMS_VERSION": "1", "TERMS_URL": "https://u.example/t"}, "needs TERMS_FILE"),
        (
            {"TERMS_VERSION": "1", "TERMS_URL": "https://u.example/t", "TERMS_SHA256": "abc"},
            "64 hexadecimal digits",
        ),
        (
            {"TERMS_VERSION": "1", "TERMS_URL": "https://u.example/t", "TERMS_FILE": "/nope"},
            "TERMS_FILE '/nope' cannot be read",
        ),
        ({"TERMS_ENFORCE_ON_EXISTING": "yes"}, "must be true or false"),
    ],
)
def test_terms_settings_are_checked_at_start(
    tmp_path: Path, settings: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "t", **settings})


def test_a_terms_file_and_a_digest_that_differ_stop_the_start(tmp_path: Path) -> None:
    text = tmp_path / "terms.txt"
    text.write_text("the real terms\n")
    with pytest.raises(ConfigurationError, match="hashes to"):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                "SECRET_KEY": "t",
                "TERMS_VERSION": "1",
                "TERMS_URL": "https://u.example/t",
                "TERMS_FILE": str(text),
                "TERMS_SHA256": hashlib.sha256(b"other terms\n").hexdigest(),
            }
        )


def test_a_new_terms_version_stops_new_grants_until_the_asp_accepts_it(world: World) -> None:
    """6.4.3 item 6: the robot accepted 2025-01; the utility publishes 2025-06.  Its existing
    grant keeps running, but no customer can give it a new one (OAuth or Mode 1) until the
    operator records its acceptance of 2025-06."""
    old = world.app()
    tokens = _grant(world, old, old.test_client())
    old.extensions["espi_sst_db"].engine.dispose()

    app = world.app("2025-06")
    client = app.test_client()
    params = authorize_params(world.client_id, pkce()[1])
    refused = client.get("/oauth/authorize", query_string=params)
    answer = redirect_params(refused)  # to the ASP, before any sign-in or consent page
    assert answer["error"] == "unauthorized_client" and answer["state"] == params["state"]
    assert "accept the SST terms and conditions version 2025-06" in answer["error_description"]
    assert f"{TERMS_URL}-2025-06" in answer["error_description"]
    login(client, "alice", "correct horse")  # signed in, still refused: no consent page
    assert redirect_params(client.get("/oauth/authorize", query_string=params))["error"] == (
        "unauthorized_client"
    )
    # Mode 1: alice cannot pick it in the portal either.
    assert b"Robot ASP" not in client.get("/portal/asps").data
    assert client.get("/portal/asps/asp-robot/preauthorize").status_code == 404

    # Its existing grant keeps running (TERMS_ENFORCE_ON_EXISTING is false by default).
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(f"{API}/Batch/Subscription/{_sid(tokens)}", headers=bearer).status_code == 200

    # The operator records the acceptance: a wrong version is refused, the right one audited.
    wrong = world.cli("2025-06", "asp", "accept-terms", "asp-robot", "2025-01")
    assert wrong.returncode == 2 and "the SST terms in force are version '2025-06'" in wrong.stderr
    done = world.cli("2025-06", "asp", "accept-terms", "asp-robot", "2025-06")
    assert done.returncode == 0, done.stderr
    again = world.cli("2025-06", "asp", "accept-terms", "asp-robot", "2025-06")
    assert "had already accepted" in again.stdout
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200  # the consent page, with the terms linked and versioned
    assert f'href="{TERMS_URL}-2025-06"'.encode() in page.data
    assert b"terms and conditions, version 2025-06" in page.data
    with app.app_context():
        robot = db.session.scalar(select(Application).where(Application.client_id == "asp-robot"))
        assert robot is not None and robot.terms_version == "2025-06"
        digest = hashlib.sha256(b"SST terms and conditions, version 2025-06\n").hexdigest()
        assert robot.terms_sha256 == digest
        rows = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "asp_terms_accepted")
            .order_by(AuditEvent.id)
        ).all()
        assert [r.detail["version"] for r in rows if r.detail] == ["2025-01", "2025-06"]
        assert rows[-1].actor.startswith("operator") and rows[-1].subject == "client:asp-robot"
        assert rows[-1].detail and rows[-1].detail["sha256"] == digest
    app.extensions["espi_sst_db"].engine.dispose()


def test_the_utility_may_stop_existing_grants_of_asps_without_the_terms(world: World) -> None:
    old = world.app()
    tokens = _grant(world, old, old.test_client())
    old.extensions["espi_sst_db"].engine.dispose()
    app = world.app("2025-06", TERMS_ENFORCE_ON_EXISTING=True)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    data = client.get(f"{API}/Batch/Subscription/{_sid(tokens)}", headers=bearer)
    assert data.status_code == 401 and b"terms" in data.data
    refreshed = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(world.client_id, world.secret),
    )
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"  # type: ignore[index]
    # The ASP's own client token still works: it can read its registration.
    assert _client_token(world, client)
    assert world.cli("2025-06", "asp", "accept-terms", "asp-robot", "2025-06").returncode == 0
    assert client.get(f"{API}/Batch/Subscription/{_sid(tokens)}", headers=bearer).status_code == 200
    app.extensions["espi_sst_db"].engine.dispose()


def test_register_client_records_the_terms_accepted(world: World) -> None:
    if not world.database_url.startswith("sqlite"):
        pytest.skip("the command's own work is the same on each database")
    wrong = world.cli(
        "2025-01",
        *("register-client", "--name", "Late ASP", "--redirect-uri", REDIRECT),
        *("--notify-uri", world.receiver.url, "--accept-terms", "2024-01"),
    )
    assert wrong.returncode == 2 and "not the SST terms version in force" in wrong.stderr
    done = world.cli(
        "2025-01",
        *("register-client", "--name", "Late ASP", "--client-id", "asp-late"),
        *("--redirect-uri", REDIRECT, "--notify-uri", world.receiver.url),
        *("--accept-terms", "2025-01"),
    )
    assert done.returncode == 0, done.stderr
    app = world.app()
    with app.app_context():
        late = db.session.scalar(select(Application).where(Application.client_id == "asp-late"))
        assert late is not None and late.terms_version == "2025-01"
        (only_one,) = db.session.scalars(
            select(Application).where(Application.client_name == "Late ASP")
        ).all()  # the wrong version registered nothing
    app.extensions["espi_sst_db"].engine.dispose()


def _sid(tokens: dict[str, Any]) -> str:
    return str(tokens["resourceURI"]).rsplit("/", 1)[1]


# ---- notifications ------------------------------------------------------------------------


def test_every_grant_news_reaches_the_customer_and_the_asp(world: World) -> None:
    """7.4, 7.5, Table 17: created (consent page), changed (a service agreement closed),
    ended (revoked in the portal): an e-mail to alice each time, with which ASP, which
    data, until when, the terms and where to revoke; a BatchList naming the Authorization
    to the robot, which reads it with its client token."""
    app = world.app()
    client = app.test_client()
    tokens = _grant(world, app, client)
    authorization_uri = tokens["authorizationURI"]
    _delivered(world, app)
    assert world.receiver.lists() == [[authorization_uri]]
    ((subject, text),) = world.mailbox.bodies()
    assert subject == "Test Utility: you gave Robot ASP access to your data"
    for words in (
        "Basic information",
        "Usage information",
        "Release rate identification (RIN)",
        "Home - electric (service agreement SA-1)",
        "Cabin - electric (service agreement SA-2)",
        "For how long: until you withdraw it.",
        f"terms and conditions, version 2025-01, apply to you and to Robot ASP: {TERMS_URL}-2025-01",
        f"{ISSUER}/portal/authorizations",
    ):
        assert words in text, (words, text)
    assert "Enable rate change" not in text  # not chosen: not listed
    robot = _client_token(world, client)
    assert _status_of(client, authorization_uri, robot) == 1

    with app.app_context():
        close_service_agreement(db.session, world.points[0], now=now(), actor="operator:t")
        db.session.commit()
    _delivered(world, app)
    assert world.receiver.lists()[1:] == [[authorization_uri]]
    subject, text = world.mailbox.bodies()[1]
    assert subject == "Test Utility: your permission for Robot ASP changed"
    assert "the service agreement SA-1 was closed, so it is no longer shared" in text
    assert "SA-2" in text and "(service agreement SA-1)" not in text

    page = client.get("/portal/authorizations")
    grant_uuid = authorization_uri.rsplit("/", 1)[1]
    client.post(
        "/portal/authorizations/revoke",
        data={"authorization": grant_uuid, "csrf_token": csrf_of(page.data)},
    )
    _delivered(world, app)
    assert world.receiver.lists()[2:] == [[authorization_uri]]
    subject, text = world.mailbox.bodies()[2]
    assert subject == "Test Utility: your permission for Robot ASP has ended"
    assert _status_of(client, authorization_uri, robot) == 0  # ESPI status: revoked
    app.extensions["espi_sst_db"].engine.dispose()


def test_mode1_expiry_and_withdrawal_are_announced(world: World) -> None:
    """Mode 1 step 2: alice pre-authorized the robot in the portal; when the robot sends her
    through sign-in, the grant is made and both are told.  The expiry sweep and the ASP's
    withdrawal end grants: each is announced, the withdrawal in one BatchList."""
    app = world.app()
    client = app.test_client()
    login(client, "alice", "correct horse")
    page = client.get("/portal/asps/asp-robot/preauthorize")
    assert page.status_code == 200 and b"version 2025-01" in page.data
    made = client.post(
        "/portal/asps/asp-robot/preauthorize",
        data={
            "csrf_token": csrf_of(page.data),
            "decision": "approve",
            "categories": ["usage"],
            "usage_points": [world.points[1]],
            "until_revoked": "y",
        },
    )
    assert made.status_code == 200
    assert world.mailbox.messages == [] and world.receiver.bodies == []  # no grant yet
    verifier, challenge = pkce()
    answer = redirect_params(
        client.get("/oauth/authorize", query_string=authorize_params(world.client_id, challenge))
    )
    assert "code" in answer  # step 2: no consent page, the pre-authorization was used
    _delivered(world, app)
    with app.app_context():
        (mode1,) = db.session.scalars(select(Authorization)).all()
        mode1_uri = f"{ISSUER}{API}/Authorization/{mode1.uuid}"
    assert world.receiver.lists() == [[mode1_uri]]
    ((subject, text),) = world.mailbox.bodies()
    assert "you gave Robot ASP access" in subject
    assert "Usage information" in text and "Basic information" not in text
    assert "Cabin - electric (service agreement SA-2)" in text and "SA-1" not in text

    # A second grant, with an end date, ended by the worker's expiry sweep.
    day = dt.date.today() + dt.timedelta(days=30)
    # (the other service agreement only: one covering the Mode 1 grant's would replace it)
    tokens = _grant(
        world, app, client, until_revoked="n", until=day.isoformat(), usage_points=[world.points[0]]
    )
    _delivered(world, app)
    dated = next(  # the confirmation: the one that says for how long
        text for subject, text in world.mailbox.bodies()[1:] if "you gave Robot ASP" in subject
    )
    spelled = day.strftime("%B %d, %Y").replace(" 0", " ")
    assert f"For how long: until the end of {spelled}." in dated
    later = now() + 40 * 86400
    Worker(app).run_once(now=later)  # past the end date: the sweep ends it
    Worker(app).run_once(now=later)  # delivers what the sweep queued
    assert world.receiver.lists()[-1] == [tokens["authorizationURI"]]
    assert world.mailbox.bodies()[-1][0].endswith("your permission for Robot ASP has ended")
    assert "reached the end date you chose" in world.mailbox.bodies()[-1][1]

    # The ASP is withdrawn: its remaining grant ends; one BatchList, one e-mail per customer.
    before = len(world.receiver.bodies)
    with app.app_context():
        robot = db.session.scalar(select(Application).where(Application.client_id == "asp-robot"))
        assert robot is not None
        change = set_qualification(
            db.session, robot, "dequalified", reason="audit", actor="registry", now=now()
        )
        db.session.commit()
        assert change.authorizations_ended == 1
    _delivered(world, app)
    assert world.receiver.lists()[before:] == [[mode1_uri]]
    assert (
        world.mailbox.bodies()[-1][0]
        == "Robot ASP no longer has access to your Test Utility account"
    )
    app.extensions["espi_sst_db"].engine.dispose()


# ---- bulk ready (ESPI FB 35 with FB 39) ----------------------------------------------------


def test_bulk_notify_tells_the_asp_its_bulk_is_ready(world: World) -> None:
    """After a data load the utility runs ``espi-sst bulk notify``: the worker delivers the
    robot (registered with FB 35 by default) a BatchList naming exactly the bulk URL its
    ApplicationInformation advertises, and that URL serves its grant's data."""
    app = world.app()
    client = app.test_client()
    tokens = _grant(world, app, client)
    _delivered(world, app)
    assert len(world.receiver.lists()) == 1  # the grant's own news
    done = world.cli("2025-01", "bulk", "notify", "--client-id", world.client_id)
    assert done.returncode == 0, done.stderr
    assert f"{world.client_id}: BatchList queued naming " in done.stdout, done.stdout
    _delivered(world, app)
    [[bulk]] = world.receiver.lists()[1:]
    robot = _client_token(world, client)
    headers = {"Authorization": f"Bearer {robot}"}
    info = client.get(f"{API}/ApplicationInformation", headers=headers)
    (application,) = espi_sst.parse(info.data).resources(m.ApplicationInformation)
    advertised = str(application.data_custodian_bulk_request_uri)
    assert urlsplit(bulk).path == urlsplit(advertised).path
    assert urlsplit(bulk).path.startswith(f"{API}/Batch/Bulk/")
    served = client.get(urlsplit(bulk).path, headers=headers)
    assert served.status_code == 200, served.data
    subscription = urlsplit(tokens["resourceURI"]).path.rsplit("/", 1)[1]
    assert subscription.encode() in served.data

    # Every ASP (no --client-id): the robot again; an unknown id is a clear error.
    done = world.cli("2025-01", "bulk", "notify")
    assert done.returncode == 0 and "BatchList queued" in done.stdout, done.stdout
    _delivered(world, app)
    assert world.receiver.lists()[2:] == [[bulk]]
    done = world.cli("2025-01", "bulk", "notify", "--client-id", "nobody")
    assert done.returncode == 2
    assert "no ASP with client_id 'nobody'" in done.stderr and "Traceback" not in done.stderr
    app.extensions["espi_sst_db"].engine.dispose()


def test_bulk_notify_skips_an_asp_without_fb35_or_grants(world: World) -> None:
    """No news for an empty bulk, nor for an ASP not registered for bulk transfer."""
    app = world.app()
    done = world.cli("2025-01", "bulk", "notify", "--client-id", world.client_id)
    assert done.returncode == 0, done.stderr
    assert "not told: no usable grant" in done.stdout, done.stdout
    client = app.test_client()
    _grant(world, app, client)
    with app.app_context():
        with db.transaction() as session:
            robot = session.scalar(select(Application).where(Application.client_id == "asp-robot"))
            assert robot is not None
            robot.scope = (
                "FB=4_5_15;IntervalDuration=3600;BlockDuration=daily;HistoryLength=13 usage"
            )
    done = world.cli("2025-01", "bulk", "notify", "--client-id", world.client_id)
    assert "not told: its registered scope does not claim FB 35" in done.stdout, done.stdout
    _delivered(world, app)
    assert len(world.receiver.lists()) == 1  # only the grant's own news
    app.extensions["espi_sst_db"].engine.dispose()
