"""The authorization lifecycle (server/lifecycle/access.py; concept design 6.4.4-6.4.6, 7.10, NFR24).

A small world on a real database (SQLite, and PostgreSQL when a test cluster runs):

* alice (e-mail) shares ``up1`` and ``up2`` with ASP ``asp-lc`` (grant ``g_alice``), and
  ``up1`` with ``asp-keep`` (``g_keep``); an older grant of hers to ``asp-lc`` is past its
  end date but not swept yet (``g_old``);
* bob (e-mail) shares ``up3`` with ``asp-lc``; carol (no e-mail) shares ``up4`` with it;
* ``asp-local`` is a pending local test client the central registry never lists.

Each grant has a bearer token; both ASPs have a client_credentials token.  Tests drive the
real HTTP endpoints with Flask's test client, and the real ``espi-sst`` commands.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from espi_sst_server import create_app
from espi_sst_server.lifecycle import access as lifecycle
from espi_sst_server.lifecycle import registry
from espi_sst_server.lifecycle.access import expire_authorizations, set_qualification
from espi_sst_server.lifecycle.closing import close_service_agreement
from espi_sst_server.lifecycle.registry import RegistryError, load_asp_registry, parse_asp_registry
from espi_sst_server.oauth.guard import current_grant
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.portal.identity import hash_password
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    AuditEvent,
    Authorization,
    OutboxMessage,
    RetailCustomer,
    Token,
    UsagePoint,
)
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import DBAPIError

SCOPE = "FB=4_5_15;IntervalDuration=3600;BlockDuration=daily;HistoryLength=13 basic billing usage"
REDIRECT = "https://asp.example/callback"
API = "/espi/1_1/resource"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
EXAMPLE_REGISTRY = Path(__file__).parents[3] / "examples" / "asp-registry.json"


@dataclass(frozen=True)
class World:
    app: Flask
    database_url: str
    ids: dict[str, str]  # name -> uuid (customers, usage points, grants, subscriptions, apps)


def _uuid(prefix: int, n: int) -> str:
    return f"{prefix:08d}-0000-4000-8000-{n:012d}"


def _seed(ids: dict[str, str]) -> None:
    t0 = now() - 86_400
    moment = now()
    with db.transaction() as s:
        people = {}
        for n, (name, email) in enumerate(
            (("alice", "alice@example.com"), ("bob", "bob@example.com"), ("carol", None)), 1
        ):
            ids[name] = _uuid(1, n)
            people[name] = RetailCustomer(
                uuid=ids[name],
                username=name,
                password_hash=hash_password(f"{name} password"),
                display_name=name.title(),
                email=email,
                created_at=t0,
            )
        points = {}
        for n, (key, owner) in enumerate(
            (("up1", "alice"), ("up2", "alice"), ("up3", "bob"), ("up4", "carol")), 1
        ):
            ids[key] = _uuid(2, n)
            points[key] = UsagePoint(
                uuid=ids[key],
                customer=people[owner],
                title=f"Service {key}",
                service_kind=0,
                service_agreement=f"SA-{key}",
                udc="PGE",
                lse="PGE",
            )
        apps = {}
        for n, (client_id, software_id, qualification) in enumerate(
            (
                ("asp-lc", "lc-app", "qualified"),
                ("asp-keep", "keep-app", "qualified"),
                ("asp-local", "local-test", "pending"),
            ),
            1,
        ):
            ids[client_id] = _uuid(3, n)
            apps[client_id] = Application(
                uuid=ids[client_id],
                client_id=client_id,
                client_secret_hash=hash_secret(f"{client_id}-secret"),
                client_name=f"ASP {client_id}",
                client_uri="https://asp.example",
                redirect_uris=[REDIRECT],
                notify_uri="https://asp.example/notify",
                scope=SCOPE,
                grant_types=["authorization_code", "refresh_token", "client_credentials"],
                token_endpoint_auth_method="client_secret_basic",
                qualification=qualification,
                software_id=software_id,
                software_version="1",
                contacts=[],
                created_at=t0,
            )
        s.add_all([*people.values(), *points.values(), *apps.values()])
        grants = {}
        for n, (key, owner, app, shared, ends_at) in enumerate(
            (
                ("g_alice", "alice", "asp-lc", ["up1", "up2"], None),
                ("g_bob", "bob", "asp-lc", ["up3"], None),
                ("g_carol", "carol", "asp-lc", ["up4"], None),
                ("g_old", "alice", "asp-lc", ["up1"], moment - 10),
                ("g_keep", "alice", "asp-keep", ["up1"], moment + 86_400),
            ),
            1,
        ):
            ids[key], ids["sub_" + key] = _uuid(4, n), _uuid(5, n)
            grants[key] = Authorization(
                uuid=ids[key],
                subscription_uuid=ids["sub_" + key],
                customer=people[owner],
                application=apps[app],
                scope=SCOPE,
                status=1,
                created_at=t0,
                updated_at=t0,
                ends_at=ends_at,
                grant_type="authorization_code",
                usage_points=[points[p] for p in shared],
            )
        s.add_all(grants.values())
        tokens: list[tuple[str, str, Authorization | None]] = [
            ("tok-alice", "asp-lc", grants["g_alice"]),
            ("tok-bob", "asp-lc", grants["g_bob"]),
            ("tok-carol", "asp-lc", grants["g_carol"]),
            ("tok-old", "asp-lc", grants["g_old"]),
            ("tok-keep", "asp-keep", grants["g_keep"]),
            ("tok-client-lc", "asp-lc", None),
            ("tok-client-keep", "asp-keep", None),
        ]
        for n, (token, client_id, grant) in enumerate(tokens):
            s.add(
                Token(
                    family=f"family-{n}",
                    client_id=client_id,
                    authorization=grant,
                    access_token_hash=hash_secret(token),
                    refresh_token_hash=hash_secret("refresh-" + token) if grant else None,
                    scope=SCOPE if grant else "FB=35",
                    issued_at=moment - 30,
                    access_expires_at=moment + 3_600,
                    refresh_expires_at=moment + 86_400 if grant else None,
                )
            )


@pytest.fixture()
def world(database_url: str) -> Iterator[World]:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test",
            "ISSUER": "https://utility.example",
            "UTILITY_NAME": "Test Utility",
        }
    )
    ids: dict[str, str] = {}
    with app.app_context():
        _seed(ids)
    yield World(app, database_url, ids)
    app.extensions["espi_sst_db"].engine.dispose()  # before the database is dropped


# ---- helpers ------------------------------------------------------------------------------


def _get(client: FlaskClient, path: str, token: str) -> Any:
    return client.get(API + path, headers={"Authorization": f"Bearer {token}"})


def _points(client: FlaskClient, w: World, grant: str, token: str) -> Any:
    return _get(client, f"/Subscription/{w.ids['sub_' + grant]}/UsagePoint", token)


def _app_info(client: FlaskClient, w: World, client_id: str, token: str) -> int:
    return int(_get(client, f"/ApplicationInformation/{w.ids[client_id]}", token).status_code)


def _basic(client_id: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{client_id}-secret".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _client_token(client: FlaskClient, client_id: str) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "basic"},
        headers=_basic(client_id),
    )


def _refresh(client: FlaskClient, client_id: str, refresh_token: str) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=_basic(client_id),
    )


def _csrf(html: bytes) -> str:
    match = CSRF.search(html.decode())
    assert match, "the page carries a CSRF token"
    return match.group(1)


def _login(client: FlaskClient, name: str) -> None:
    page = client.get("/portal/login")
    response = client.post(
        "/portal/login",
        data={"username": name, "password": f"{name} password", "csrf_token": _csrf(page.data)},
    )
    assert response.status_code == 302, response.data


def _authorize_params(client_id: str) -> tuple[str, dict[str, str]]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def _code_flow(client: FlaskClient, w: World, client_id: str, points: list[str]) -> Any:
    """A real authorization code flow (alice signed in): the token response."""
    verifier, params = _authorize_params(client_id)
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200, page.data
    approved = client.post(
        "/oauth/authorize",
        query_string=params,
        data={
            "csrf_token": _csrf(page.data),
            "decision": "approve",
            "until_revoked": "y",
            "categories": ["basic", "billing", "usage"],
            "usage_points": [w.ids[p] for p in points],
        },
    )
    assert approved.status_code == 302, approved.data
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=_basic(client_id),
    )
    assert response.status_code == 200, response.json
    return response.json


def _grant(w: World, key: str) -> Authorization:
    row = db.session.scalar(select(Authorization).where(Authorization.uuid == w.ids[key]))
    assert row is not None
    return row


def _application(client_id: str) -> Application:
    row = db.session.scalar(select(Application).where(Application.client_id == client_id))
    assert row is not None
    return row


def _token(name: str) -> Token:
    row = db.session.scalar(select(Token).where(Token.access_token_hash == hash_secret(name)))
    assert row is not None
    return row


def _audit(action: str) -> list[AuditEvent]:
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()
    for row in rows:  # NFR24: who, what, when -- on every row
        assert row.actor and row.action and row.subject and row.at > 0
    return list(rows)


def _text(email: OutboxMessage) -> str:
    """The e-mail's body (sealed in the outbox until it is sent)."""
    return str(open_payload(current_app, email)["text"])


def _emails() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "email").order_by(OutboxMessage.id)
        )
    )


def _cli(w: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        ESPI_DATABASE_URL=w.database_url,
        ESPI_SECRET_KEY="test",  # the app's: the CLI's e-mail is sealed with its outbox key
        ESPI_UTILITY_NAME="Test Utility",
        ESPI_ISSUER="https://utility.example",
    )
    return subprocess.run(
        [str(Path(sys.executable).with_name("espi-sst")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _registry(tmp_path: Path, published: str, *asps: dict[str, str]) -> Path:
    path = tmp_path / f"registry-{published[:19].replace(':', '')}.json"
    path.write_text(
        json.dumps(
            {"format": "espi-sst-asp-registry/1", "published": published, "asps": list(asps)}
        )
    )
    return path


def _asp(software_id: str, status: str, reason: str | None = None) -> dict[str, str]:
    entry = {"software_id": software_id, "name": f"ASP {software_id}", "status": status}
    if reason:
        entry["reason"] = reason
    return entry


# ---- expiry --------------------------------------------------------------------------------


def test_expiry_sweep_ends_only_past_due_grants_and_revokes_their_tokens(world: World) -> None:
    client = world.app.test_client()
    with world.app.app_context():
        assert expire_authorizations(db.session, now=now()) == 1
        db.session.commit()
        old = _grant(world, "g_old")
        assert (old.status, old.ended_reason) == (0, "expired") and old.revoked_at
        assert _token("tok-old").revoked_at is not None
        for key in ("g_alice", "g_bob", "g_carol", "g_keep"):
            assert _grant(world, key).status == 1 and _grant(world, key).ended_reason is None
        assert _token("tok-alice").revoked_at is None and _token("tok-keep").revoked_at is None
        (event,) = _audit("authorization_ended")
        assert (event.actor, event.subject) == ("system", f"authorization:{world.ids['g_old']}")
        assert event.detail and event.detail["reason"] == "expired"
        assert event.detail["tokens_revoked"] == 1
        # Concept design 7.10: the customer is told which ASP lost access to what, and why.
        (email,) = _emails()
        assert email.destination == "alice@example.com"
        assert email.payload["subject"] == "Test Utility: your permission for ASP asp-lc has ended"
        text = _text(email)
        assert "Hello Alice," in text and "Service up1 (service agreement SA-up1)" in text
        assert "the permission you gave it reached the end date you chose" in text
        assert "Service up2" not in text  # g_old shared only up1
        assert "https://utility.example/portal/authorizations" in text
        # A second sweep (or a second worker) ends nothing twice, and tells no one twice.
        assert expire_authorizations(db.session, now=now()) == 0
        db.session.commit()
        assert len(_audit("authorization_ended")) == 1
        assert len(_emails()) == 1
    assert _points(client, world, "g_old", "tok-old").status_code == 401
    assert _points(client, world, "g_alice", "tok-alice").status_code == 200
    assert _refresh(client, "asp-lc", "refresh-tok-old").status_code == 400


# ---- closing a service agreement -----------------------------------------------------------


def test_closing_one_shared_point_keeps_the_grant_closing_the_last_ends_it(world: World) -> None:
    client = world.app.test_client()
    w = world
    listing = _points(client, w, "g_alice", "tok-alice")
    assert listing.status_code == 200
    assert w.ids["up1"].encode() in listing.data and w.ids["up2"].encode() in listing.data

    done = _cli(w, "close-service-agreement", w.ids["up1"])
    assert done.returncode == 0, done.stderr
    assert f"kept authorization {w.ids['g_alice']}" in done.stdout
    assert f"ended authorization {w.ids['g_keep']}" in done.stdout

    listing = _points(client, w, "g_alice", "tok-alice")
    assert listing.status_code == 200
    assert w.ids["up1"].encode() not in listing.data and w.ids["up2"].encode() in listing.data
    sub = f"/Subscription/{w.ids['sub_g_alice']}/UsagePoint"
    assert _get(client, f"{sub}/{w.ids['up1']}", "tok-alice").status_code == 404
    assert _get(client, f"{sub}/{w.ids['up2']}", "tok-alice").status_code == 200
    assert _points(client, w, "g_keep", "tok-keep").status_code == 401  # its only point
    with w.app.app_context():
        assert _grant(w, "g_alice").status == 1
        keep = _grant(w, "g_keep")
        assert (keep.status, keep.ended_reason) == (0, "service_closed")
        assert _token("tok-keep").revoked_at is not None
        assert _token("tok-alice").revoked_at is None
        # One e-mail per ended grant: g_keep, and g_old (past its end date, not swept yet);
        # g_alice, which keeps up2, changed (concept design 7.4): what it shares now.
        emails = _emails()
        assert [e.destination for e in emails] == ["alice@example.com"] * 3
        ended_mail = [e for e in emails if e.payload["subject"].endswith("has ended")]
        assert [e.payload["subject"] for e in ended_mail] == [
            "Test Utility: your permission for ASP asp-lc has ended",
            "Test Utility: your permission for ASP asp-keep has ended",
        ]
        for email in ended_mail:
            assert "Service up1 (service agreement SA-up1)" in _text(email)
            assert "service agreement SA-up1 was closed" in _text(email)
            assert "Service up2" not in _text(email)
        (changed,) = [e for e in emails if e not in ended_mail]
        assert changed.payload["subject"] == "Test Utility: your permission for ASP asp-lc changed"
        text = _text(changed)
        assert "the service agreement SA-up1 was closed, so it is no longer shared" in text
        assert "Service up2 (service agreement SA-up2)" in text and "Service up1" not in text

    # The consent page no longer offers the closed service agreement.
    _login(client, "alice")
    page = client.get("/oauth/authorize", query_string=_authorize_params("asp-keep")[1])
    assert page.status_code == 200
    assert b"Service up2" in page.data and b"Service up1" not in page.data

    with w.app.app_context():
        done_last = close_service_agreement(db.session, w.ids["up2"], now=now(), actor="operator:t")
        db.session.commit()
        assert done_last.ended == (w.ids["g_alice"],) and done_last.kept == ()
        alice = _grant(w, "g_alice")
        assert (alice.status, alice.ended_reason) == (0, "service_closed")
        again = close_service_agreement(db.session, w.ids["up2"], now=now(), actor="operator:t")
        assert not again.closed
        emails = _emails()
        assert len(emails) == 4  # closing it again told no one again
        assert emails[3].payload["subject"].endswith("permission for ASP asp-lc has ended")
        text = _text(emails[3])
        assert "Service up1 (service agreement SA-up1)" in text  # what g_alice shared
        assert "Service up2 (service agreement SA-up2)" in text
        assert "service agreement SA-up2 was closed" in text
        closed = _audit("service_agreement_closed")
        assert [e.subject for e in closed] == [f"usage_point:{w.ids[p]}" for p in ("up1", "up2")]
        assert closed[0].actor.startswith("operator") and closed[1].actor == "operator:t"
        assert closed[0].detail and closed[0].detail["kept"] == [w.ids["g_alice"]]
        ended = {e.subject: e.detail for e in _audit("authorization_ended")}
        assert ended[f"authorization:{w.ids['g_alice']}"] == {
            "reason": "service_closed",
            "client": "asp-lc",
            "customer": w.ids["alice"],
            "ends_at": None,
            "tokens_revoked": 1,
            "customer_notified": True,
            "usage_point": w.ids["up2"],
        }
    assert _points(client, w, "g_alice", "tok-alice").status_code == 401
    with w.app.app_context():
        # A customer without an e-mail address does not stop the closure.
        carol = close_service_agreement(db.session, w.ids["up4"], now=now(), actor="operator:t")
        db.session.commit()
        assert carol.ended == (w.ids["g_carol"],) and len(_emails()) == 4
        (carol_ended,) = [
            e for e in _audit("authorization_ended") if e.subject.endswith(w.ids["g_carol"])
        ]
        assert carol_ended.detail and carol_ended.detail["customer_notified"] is False

    unknown = _cli(w, "close-service-agreement", "no-such-point")
    assert unknown.returncode == 2 and "no usage point" in unknown.stderr
    assert "Traceback" not in unknown.stderr


# ---- de-qualification by the central registry ----------------------------------------------


def test_dequalification_by_registry_cuts_the_asp_off_at_once(world: World, tmp_path: Path) -> None:
    w = world
    client = w.app.test_client()
    _login(client, "alice")
    live = _code_flow(client, w, "asp-lc", ["up1"])  # a real grant, with a refresh token
    fresh = _client_token(client, "asp-lc")
    assert fresh.status_code == 200, fresh.json
    client_token = fresh.json["access_token"]
    assert _app_info(client, w, "asp-lc", client_token) == 200
    assert _app_info(client, w, "asp-lc", "tok-client-lc") == 200
    assert _points(client, w, "g_alice", "tok-alice").status_code == 200

    path = _registry(
        tmp_path,
        "2025-02-01T00:00:00Z",
        _asp("lc-app", "dequalified", "Failed CCPA audit"),
        _asp("keep-app", "qualified"),
        _asp("ghost-app", "qualified"),
    )
    done = _cli(w, "asp-registry", "load", str(path))
    assert done.returncode == 0, done.stderr
    assert "asp-lc: qualified -> dequalified; 5 authorizations ended" in done.stdout
    assert "1 without an e-mail address" in done.stdout
    assert "not in the registry, left as they are: asp-local" in done.stdout
    assert "listed but not registered here: ghost-app" in done.stdout

    # Every token of the ASP dies at once: customers' and its own client_credentials tokens.
    for token in ("tok-alice", "tok-bob", "tok-carol", live["access_token"]):
        response = client.get(
            API + "/Subscription/x/UsagePoint", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token
    assert _app_info(client, w, "asp-lc", client_token) == 401
    assert _app_info(client, w, "asp-lc", "tok-client-lc") == 401
    assert _points(client, w, "g_keep", "tok-keep").status_code == 200  # another ASP
    assert _app_info(client, w, "asp-keep", "tok-client-keep") == 200

    # ... and it can get no new ones: no token, no refresh, no consent.
    assert _client_token(client, "asp-lc").json["error"] == "invalid_client"
    assert _refresh(client, "asp-lc", live["refresh_token"]).json["error"] == "invalid_client"
    assert _refresh(client, "asp-lc", "refresh-tok-bob").status_code == 401
    page = client.get("/oauth/authorize", query_string=_authorize_params("asp-lc")[1])
    assert page.status_code == 403 and "Location" not in page.headers
    assert b"unauthorized_client" in page.data and b"withdrawn its qualification" in page.data

    with w.app.app_context():
        application = _application("asp-lc")
        assert application.qualification == "dequalified"
        assert application.qualification_reason == "Failed CCPA audit"
        grants = db.session.scalars(
            select(Authorization).where(Authorization.application_id == application.id)
        ).all()
        assert len(grants) == 5 and {(g.status, g.ended_reason) for g in grants} == {
            (0, "dequalified")
        }
        assert (
            db.session.scalar(
                select(Token.id).where(Token.client_id == "asp-lc", Token.revoked_at.is_(None))
            )
            is None
        )
        # One e-mail per affected customer with an address (alice has two grants; carol none),
        # beside the confirmation of the grant alice gave above (notices.grant_created).
        emails = [e for e in _emails() if "you gave" not in e.payload["subject"]]
        assert sorted(e.destination for e in emails) == ["alice@example.com", "bob@example.com"]
        for email in emails:
            assert "ASP asp-lc no longer has access" in email.payload["subject"]
            assert "Failed CCPA audit" in _text(email)
            assert "Test Utility" in _text(email)
        (change,) = _audit("asp_qualification_changed")
        assert change.subject == "client:asp-lc" and change.actor.startswith("registry")
        assert change.detail is not None
        assert (change.detail["from"], change.detail["to"]) == ("qualified", "dequalified")
        assert change.detail["authorizations_ended"] == 5
        assert change.detail["customers_without_email"] == [w.ids["carol"]]
        assert len(_audit("authorization_ended")) == 5
        (loaded,) = _audit("asp_registry_loaded")
        assert loaded.detail and loaded.detail["published"] == "2025-02-01T00:00:00Z"
        assert loaded.detail["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert _application("asp-local").qualification == "pending"  # not listed: left as is

    # Re-qualified: it may ask again, but every old grant stays ended (6.4.5).
    again = _registry(tmp_path, "2025-03-01T00:00:00Z", _asp("lc-app", "qualified"))
    assert _cli(w, "asp-registry", "load", str(again)).returncode == 0
    assert (
        client.get("/oauth/authorize", query_string=_authorize_params("asp-lc")[1]).status_code
        == 200
    )
    assert _points(client, w, "g_alice", "tok-alice").status_code == 401
    with w.app.app_context():
        assert _application("asp-lc").qualification == "qualified"
        assert {g.status for g in db.session.scalars(select(Authorization))} == {0, 1}
        assert _grant(w, "g_alice").status == 0


def test_suspension_also_ends_access_and_a_stale_registry_is_refused(
    world: World, tmp_path: Path
) -> None:
    w = world
    with w.app.app_context():
        report = load_asp_registry(
            db.session,
            _registry(tmp_path, "2025-05-01T00:00:00+02:00", _asp("lc-app", "suspended")),
            now=now(),
        )
        db.session.commit()
        (change,) = report.changes
        assert (change.previous, change.status, change.authorizations_ended) == (
            "qualified",
            "suspended",
            4,
        )
        assert report.not_listed == ("asp-keep", "asp-local")
        assert _grant(w, "g_bob").ended_reason == "dequalified"
        stale = _registry(tmp_path, "2025-04-01T00:00:00Z", _asp("lc-app", "qualified"))
        with pytest.raises(RegistryError) as caught:
            load_asp_registry(db.session, stale, now=now())
        assert caught.value.code == "stale_registry"
        assert _application("asp-lc").qualification == "suspended"
    done = _cli(w, "asp-registry", "load", str(stale), "--allow-older")
    assert done.returncode == 0, done.stderr
    with w.app.app_context():
        assert _application("asp-lc").qualification == "qualified"


# ---- this utility's own block --------------------------------------------------------------


def test_block_survives_a_registry_that_says_qualified(world: World, tmp_path: Path) -> None:
    w = world
    client = w.app.test_client()
    done = _cli(w, "asp", "block", "asp-lc", "--reason", "internal fraud review 42")
    assert done.returncode == 0, done.stderr
    assert "asp-lc: qualified -> blocked; 4 authorizations ended" in done.stdout
    assert _points(client, w, "g_bob", "tok-bob").status_code == 401
    assert _app_info(client, w, "asp-lc", "tok-client-lc") == 401

    qualified = _registry(tmp_path, "2025-02-01T00:00:00Z", _asp("lc-app", "qualified"))
    loaded = _cli(w, "asp-registry", "load", str(qualified))
    assert loaded.returncode == 0, loaded.stderr
    assert "asp-lc: blocked here, kept blocked (registry: qualified)" in loaded.stdout
    with w.app.app_context():
        assert _application("asp-lc").qualification == "blocked"
        assert _grant(w, "g_bob").ended_reason == "blocked"
        for email in _emails():  # the utility's internal reason is not sent to customers
            assert "fraud" not in _text(email)
            assert "Test Utility no longer accepts it" in _text(email)
        (change,) = _audit("asp_qualification_changed")
        assert change.actor.startswith("operator") and change.detail
        assert change.detail["reason"] == "internal fraud review 42"
    _login(client, "alice")
    page = client.get("/oauth/authorize", query_string=_authorize_params("asp-lc")[1])
    assert page.status_code == 403 and b"no longer accepts it" in page.data
    assert _client_token(client, "asp-lc").status_code == 401

    refused = _cli(w, "asp", "unblock", "asp-keep")
    assert refused.returncode == 2 and "asp-keep is qualified, not blocked" in refused.stderr
    unblocked = _cli(w, "asp", "unblock", "asp-lc")
    assert unblocked.returncode == 0, unblocked.stderr
    with w.app.app_context():
        assert _application("asp-lc").qualification == "pending"  # until the registry says
    with w.app.app_context():
        load_asp_registry(db.session, qualified, now=now())
        db.session.commit()
        assert _application("asp-lc").qualification == "qualified"
        assert [(e.detail or {}).get("to") for e in _audit("asp_qualification_changed")] == [
            "blocked",
            "pending",
            "qualified",
        ]


# ---- a token that outlived its ASP's qualification ------------------------------------------


def _insert_token(name: str, client_id: str, grant: Authorization | None) -> None:
    moment = now()
    db.session.add(
        Token(
            family=f"family-{name}",
            client_id=client_id,
            authorization=grant,
            access_token_hash=hash_secret(name),
            scope=SCOPE if grant else "FB=35",
            issued_at=moment,
            access_expires_at=moment + 3_600,
        )
    )


@pytest.mark.parametrize("status", ["blocked", "dequalified", "suspended"])
def test_the_guard_refuses_a_token_of_a_withdrawn_asp(world: World, status: str) -> None:
    """A token issued in a race with the withdrawal (or missed by its sweep) is refused."""
    w = world
    client = w.app.test_client()
    with w.app.app_context():  # the withdrawal without set_qualification's token sweep
        db.session.execute(
            update(Application)
            .where(Application.client_id == "asp-lc")
            .values(qualification=status)
        )
        _insert_token("tok-race", "asp-lc", _grant(w, "g_bob"))
        _insert_token("tok-race-client", "asp-lc", None)
        _insert_token("tok-client-local", "asp-local", None)
        db.session.commit()
    for token in ("tok-race", "tok-bob"):
        response = _points(client, w, "g_bob", token)
        assert response.status_code == 401, token
        assert response.json["error"] == "invalid_token"
        assert "access was withdrawn" in response.json["error_description"]
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    for token in ("tok-race-client", "tok-client-lc"):
        assert _app_info(client, w, "asp-lc", token) == 401, token
    assert _points(client, w, "g_keep", "tok-keep").status_code == 200  # another ASP
    assert (
        _app_info(client, w, "asp-local", "tok-client-local") == 401
    )  # pending: not yet listed (6.4)


def test_the_guard_checks_the_qualification_in_its_one_query(world: World) -> None:
    """The token, its authorization and its ASP's qualification: one round trip per request."""
    engine = world.app.extensions["espi_sst_db"].engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    headers = {"Authorization": "Bearer tok-alice"}
    with world.app.test_request_context(API + "/x", headers=headers):
        event.listen(engine, "before_cursor_execute", count)
        try:
            grant = current_grant()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert grant.client_id == "asp-lc" and grant.authorization is not None
    assert len(statements) == 1, statements
    assert "qualification" in statements[0].lower()


# ---- module layout (house style: modules under 400 lines) -----------------------------------


def test_the_registry_lives_apart_from_the_lifecycle() -> None:
    for module in (lifecycle, registry):
        assert module.__file__ is not None
        lines = len(Path(module.__file__).read_text().splitlines())
        assert lines <= 400, f"{module.__name__} has {lines} lines"
    assert not hasattr(lifecycle, "parse_asp_registry")


# ---- a malformed registry ------------------------------------------------------------------

_GOOD = {"software_id": "lc-app", "name": "LC", "status": "dequalified"}
_BAD_DOCUMENTS: list[tuple[str, Any, str]] = [
    ("status", [_GOOD, {**_GOOD, "software_id": "x", "status": "revoked"}], "asps[1].status"),
    ("unknown field", [_GOOD, {**_GOOD, "software_id": "x", "satus": "x"}], "asps[1].satus"),
    ("missing", [_GOOD, {"software_id": "x", "name": "X"}], "asps[1].status"),
    ("duplicate", [_GOOD, _GOOD], "asps[1].software_id: 'lc-app' is listed twice"),
    ("empty id", [_GOOD, {**_GOOD, "software_id": " "}], "asps[1].software_id"),
    ("reason type", [{**_GOOD, "reason": 7}], "asps[0].reason"),
    ("not a list", {"lc-app": "dequalified"}, "asps: must be a list"),
]


@pytest.mark.parametrize(
    ("asps", "where"), [(a, w) for _, a, w in _BAD_DOCUMENTS], ids=[i for i, _, _ in _BAD_DOCUMENTS]
)
def test_registry_validation_names_entry_and_field(asps: Any, where: str) -> None:
    document = {"format": "espi-sst-asp-registry/1", "published": "2025-01-01T00:00:00Z"}
    with pytest.raises(RegistryError) as caught:
        parse_asp_registry({**document, "asps": asps})
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"format": "espi-sst-asp-registry/1", "published": ', "not JSON (line 1"),
        (
            '{"format": "espi-sst-asp-registry/2", "published": "2025-01-01T00:00:00Z", "asps": []}',
            "format",
        ),
        (
            '{"format": "espi-sst-asp-registry/1", "published": "2025-01-01T00:00:00", "asps": []}',
            "published",
        ),
        (
            '{"format": "espi-sst-asp-registry/1", "format": "x", "published": "x", "asps": []}',
            "twice",
        ),
        ('["espi-sst-asp-registry/1"]', "must be a JSON object"),
    ],
    ids=["truncated", "format", "no zone", "duplicate key", "array"],
)
def test_registry_file_errors(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "registry.json"
    path.write_text(text)
    with pytest.raises(RegistryError) as caught:
        parse_asp_registry(path)
    assert where in str(caught.value) and str(path) in str(caught.value)


def test_a_malformed_registry_applies_nothing(world: World, tmp_path: Path) -> None:
    w = world
    bad = _registry(
        tmp_path,
        "2025-02-01T00:00:00Z",
        _asp("lc-app", "dequalified"),  # valid: must not be applied either
        _asp("keep-app", "revoked"),
    )
    with w.app.app_context():
        with pytest.raises(RegistryError) as caught:
            load_asp_registry(db.session, bad, now=now())
        assert (caught.value.index, caught.value.field) == (1, "status")
    done = _cli(w, "asp-registry", "load", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "asps[1].status: 'revoked'" in done.stderr
    with w.app.app_context():
        assert _application("asp-lc").qualification == "qualified"
        assert db.session.scalar(select(Token.id).where(Token.revoked_at.is_not(None))) is None
        assert _emails() == [] and db.session.scalar(select(AuditEvent.id)) is None
    assert _points(w.app.test_client(), w, "g_alice", "tok-alice").status_code == 200


def test_the_example_registry_is_valid() -> None:
    registry = parse_asp_registry(EXAMPLE_REGISTRY)
    assert {e.status for e in registry.entries} == {"qualified", "suspended", "dequalified"}


# ---- the customer revokes ------------------------------------------------------------------


def test_portal_revoke_ends_the_grant_with_a_reason(world: World) -> None:
    w = world
    client = w.app.test_client()
    _login(client, "alice")
    page = client.get("/portal/authorizations")
    assert page.status_code == 200
    response = client.post(
        "/portal/authorizations/revoke",
        data={"authorization": w.ids["g_alice"], "csrf_token": _csrf(page.data)},
    )
    assert response.status_code == 302
    assert _points(client, w, "g_alice", "tok-alice").status_code == 401
    assert _refresh(client, "asp-lc", "refresh-tok-alice").status_code == 400
    assert _points(client, w, "g_keep", "tok-keep").status_code == 200
    with w.app.app_context():
        grant = _grant(w, "g_alice")
        assert (grant.status, grant.ended_reason) == (0, "revoked_by_customer")
        assert grant.revoked_at and grant.updated_at == grant.revoked_at
        (ended,) = _audit("authorization_ended")
        assert ended.actor == f"customer:{w.ids['alice']}"
        assert ended.subject == f"authorization:{w.ids['g_alice']}"
        assert ended.detail and ended.detail["reason"] == "revoked_by_customer"
        (email,) = _emails()  # a confirmation: she, or someone with her password, did it
        assert email.destination == "alice@example.com"
        assert email.payload["subject"].endswith("permission for ASP asp-lc has ended")
        text = _text(email)
        assert "you withdrew the permission you gave it in the Test Utility portal" in text
        assert "Service up1 (service agreement SA-up1)" in text and "SA-up2" in text
        assert "If you did not do this, contact Test Utility" in text
    page = client.get("/portal/authorizations")
    again = client.post(
        "/portal/authorizations/revoke",
        data={"authorization": w.ids["g_alice"], "csrf_token": _csrf(page.data)},
    )
    assert again.status_code in (302, 404)
    with w.app.app_context():
        assert len(_emails()) == 1 and len(_audit("authorization_ended")) == 1


# ---- the audit log is append-only -----------------------------------------------------------


def test_the_audit_log_is_append_only(world: World) -> None:
    with world.app.app_context():
        set_qualification(
            db.session,
            _application("asp-lc"),
            "blocked",
            reason="test",
            actor="operator:test",
            now=now(),
        )
        db.session.commit()
        count = len(db.session.scalars(select(AuditEvent)).all())
        assert count == 5  # four grants ended, one qualification change
        for statement in (
            update(AuditEvent).values(actor="someone else"),
            delete(AuditEvent),
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(statement)
                db.session.flush()
            db.session.rollback()
        rows = db.session.scalars(select(AuditEvent)).all()
        assert len(rows) == count and "someone else" not in {r.actor for r in rows}
