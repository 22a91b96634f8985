"""``espi-sst registry sync`` against a stand-in central authority over real HTTP (issue 20).

A loopback HTTP server in the test plays the authority: it publishes lists signed with
``sign_registry`` (``GET /registry`` with a strong ETag and 304, ``GET /.well-known/jwks.json``)
and records what the entity posts back (``/registry/reports``, ``/complaints``, bearer token).
The entity is the real server app on each database; its tokens are checked over HTTP too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.authority.signed_list import new_signing_key, public_jwks, sign_registry
from espi_sst_server.demo.dev_server import make_dev_server
from espi_sst_server.lifecycle.registry_list import RegistryListError
from espi_sst_server.lifecycle.registry_sync import RegistryFetchError, sync_once
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    AuditEvent,
    Authorization,
    OutboxMessage,
    RetailCustomer,
    Token,
)
from flask import Flask
from joserfc.jwk import ECKey
from sqlalchemy import func, select

ISSUER = "https://authority.example"
TOKEN = "pge-report-token"
TERMS = "2026-01"


@dataclass
class Authority:
    """The stand-in authority: what it publishes, and what it was sent."""

    key: ECKey
    body: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    gets: list[int] = field(default_factory=list)  # status of each GET /registry
    url: str = ""

    def publish(self, payload: dict[str, Any], key: ECKey | None = None) -> None:
        self.body = sign_registry(payload, key or self.key)


def _handler(authority: Authority) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str, etag: str | None = None) -> None:
            self.send_response(status)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/.well-known/jwks.json":
                body = json.dumps(public_jwks([authority.key])).encode()
                return self._send(200, body, "application/json")
            if self.path == "/registry" and not authority.body:
                body = json.dumps({"error": "not_published"}).encode()
                return self._send(404, body, "application/json")
            if self.path == "/registry":
                etag = '"' + hashlib.sha256(authority.body.encode()).hexdigest() + '"'
                if self.headers.get("If-None-Match") == etag:
                    authority.gets.append(304)
                    return self._send(304, b"", "application/jose", etag)
                authority.gets.append(200)
                return self._send(200, authority.body.encode(), "application/jose", etag)
            self._send(404, b"", "text/plain")

        def do_POST(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, b"", "text/plain")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/registry/reports":
                authority.reports.append(body)
            elif self.path == "/complaints":
                authority.complaints.append(body)
            else:
                return self._send(404, b"", "text/plain")
            self._send(202, b"{}", "application/json")

    return Handler


@pytest.fixture
def authority() -> Iterator[Authority]:
    state = Authority(new_signing_key())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Entity:
    app: Flask
    url: str  # the entity's own server, over HTTP
    settings: dict[str, Any]


@pytest.fixture
def entity(database_url: str, authority: Authority, tmp_path: Path) -> Iterator[Entity]:
    settings = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test",
        "UTILITY_NAME": "Test Utility",
        "NOTIFY_ALLOW_LOOPBACK": True,
        "TERMS_VERSION": TERMS,
        "TERMS_URL": "https://terms.example/2026-01",
        "TERMS_SHA256": "a" * 64,
        "REGISTRY_URL": authority.url + "/registry",
        "REGISTRY_JWKS_URL": authority.url + "/.well-known/jwks.json",
        "REGISTRY_ISSUER": ISSUER,
        "REGISTRY_ENTITY_ID": "PGE",
        "REGISTRY_REPORT_TOKEN": TOKEN,
        "REGISTRY_MAX_AGE_SECONDS": 3600,
    }
    probe = make_dev_server("127.0.0.1", 0, None)  # a free port for the issuer
    port = probe.server_port
    probe.server_close()
    app = create_app(settings | {"ISSUER": f"http://127.0.0.1:{port}"})
    server = make_dev_server("127.0.0.1", port, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Entity(app, f"http://127.0.0.1:{port}", settings | {"ISSUER": f"http://127.0.0.1:{port}"})
    server.shutdown()
    server.server_close()
    app.extensions["espi_sst_db"].engine.dispose()


def _stamp(seconds_from_now: int) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _asp(software_id: str = "thermo-1", **changes: Any) -> dict[str, Any]:
    entry = {
        "software_id": software_id,
        "name": "Thermostat Co",
        "legal_entity": "Thermostat Co LLC",
        "status": "qualified",
        "reason": None,
        "asp_class": "data-only",
        "terms_version": TERMS,
        "contacts": [{"role": "technical", "email": "tech@thermo.example"}],
        "redirect_uris": ["http://127.0.0.1:9/cb"],
        "notify_uri": "http://127.0.0.1:9/notify",
        "client_ids": {"PGE": None},
    }
    return entry | changes


def _list(sequence: int, *asps: dict[str, Any], **changes: Any) -> dict[str, Any]:
    payload = {
        "format": "espi-sst-asp-registry/2",
        "issuer": ISSUER,
        "sequence": sequence,
        "published": _stamp(-60),
        "expires": _stamp(86400),
        "terms_version": TERMS,
        "asps": list(asps),
    }
    return payload | changes


def _sync(entity: Entity) -> Any:
    with entity.app.app_context():
        return sync_once(entity.app, db.session, now=now())


def _client(entity: Entity, software_id: str = "thermo-1") -> dict[str, Any]:
    with entity.app.app_context():
        row = db.session.scalar(select(Application).where(Application.software_id == software_id))
        assert row is not None
        return {
            "client_id": row.client_id,
            "uuid": row.uuid,
            "name": row.client_name,
            "redirect_uris": list(row.redirect_uris),
            "qualification": row.qualification,
            "asp_class": row.asp_class,
            "terms_version": row.terms_version,
            "secret_hash": row.client_secret_hash,
        }


def _applications(entity: Entity) -> int:
    with entity.app.app_context():
        return int(db.session.scalar(select(func.count(Application.id))) or 0)


def _cli(entity: Entity, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name, value in entity.settings.items():
        if name != "TESTING":
            env[f"ESPI_{name}"] = value if isinstance(value, str) else json.dumps(value)
    return subprocess.run(
        [str(Path(sys.executable).with_name("espi-sst")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _client_token(entity: Entity, client_id: str, secret: str) -> requests.Response:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return requests.post(
        entity.url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "basic"},
        headers={"Authorization": f"Basic {raw}"},
        timeout=30,
    )


def _app_info(entity: Entity, uuid: str, token: str) -> int:
    return requests.get(
        f"{entity.url}/espi/1_1/resource/ApplicationInformation/{uuid}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).status_code


def test_first_sync_creates_the_client_a_second_is_a_304_a_change_keeps_the_id(
    entity: Entity, authority: Authority
) -> None:
    authority.publish(_list(1, _asp()))
    done = _cli(entity, "registry", "sync", "--once", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "applied" and out["sequence"] == 1
    [created] = out["results"]
    assert created["action"] == "created" and created["software_id"] == "thermo-1"
    secret = created["client_secret"]
    client = _client(entity)
    assert client["client_id"] == created["client_id"]
    assert client["secret_hash"] and client["secret_hash"] != secret  # only its hash is stored
    assert client["qualification"] == "qualified" and client["terms_version"] == TERMS
    # the authority got the report, without the secret
    assert authority.reports == [
        {
            "entity": "PGE",
            "sequence": 1,
            "results": [
                {
                    "software_id": "thermo-1",
                    "action": "created",
                    "client_id": client["client_id"],
                    "error": None,
                }
            ],
        }
    ]
    # the secret works over HTTP: a client_credentials token reads its registration
    token = _client_token(entity, client["client_id"], secret)
    assert token.status_code == 200, token.text
    assert _app_info(entity, client["uuid"], token.json()["access_token"]) == 200

    again = _sync(entity)
    assert again.status == "not_modified" and authority.gets[-1] == 304
    assert len(authority.reports) == 1 and _applications(entity) == 1

    authority.publish(
        _list(
            2,
            _asp(
                name="Thermostat Company",
                redirect_uris=["http://127.0.0.1:9/callback"],
                asp_class="rate-change",
            ),
        )
    )
    changed = _sync(entity)
    assert [r.action for r in changed.results] == ["updated"]
    after = _client(entity)
    assert after["client_id"] == client["client_id"]  # kept
    assert after["secret_hash"] == client["secret_hash"]  # and its secret
    assert after["name"] == "Thermostat Company"
    assert after["redirect_uris"] == ["http://127.0.0.1:9/callback"]
    assert after["asp_class"] == "rate-change"
    assert authority.reports[-1]["results"][0]["action"] == "updated"
    assert authority.reports[-1]["sequence"] == 2


def test_before_any_list_is_published_a_sync_applies_nothing_and_exits_0(
    entity: Entity, authority: Authority
) -> None:
    """The authority answers ``404 not_published`` until it approves an ASP: a normal
    state at the start, not an alarm; another 404 still is one."""
    before = _applications(entity)
    done = _cli(entity, "registry", "sync", "--once")
    assert done.returncode == 0, done.stderr
    assert "published no list yet" in done.stdout
    assert _applications(entity) == before
    with entity.app.app_context():
        assert sync_once(entity.app, db.session, now=now()).status == "not_published"
    entity.app.config["REGISTRY_URL"] = authority.url + "/no-such-list"
    with entity.app.app_context(), pytest.raises(RegistryFetchError, match="HTTP 404"):
        sync_once(entity.app, db.session, now=now())


def test_the_lists_client_id_is_used_when_it_names_one(
    entity: Entity, authority: Authority
) -> None:
    authority.publish(_list(1, _asp(client_ids={"PGE": "asp-existing-at-pge", "SCE": None})))
    outcome = _sync(entity)
    assert [(r.action, r.client_id) for r in outcome.results] == [
        ("created", "asp-existing-at-pge")
    ]


def _customer_grant(entity: Entity, client_id: str) -> str:
    """An active grant of a customer (with e-mail) to the ASP, and its access token."""
    moment, token = now(), "customer-access-token-1"
    with entity.app.app_context():
        application = db.session.scalar(
            select(Application).where(Application.client_id == client_id)
        )
        assert application is not None
        customer = RetailCustomer(
            uuid="00000000-0000-4000-8000-000000000002",
            username="erin",
            password_hash="x",
            display_name="Erin",
            email="erin@example.com",
            created_at=moment,
        )
        grant = Authorization(
            uuid="00000000-0000-4000-8000-000000000003",
            subscription_uuid="00000000-0000-4000-8000-000000000004",
            customer=customer,
            application=application,
            scope=application.scope,
            status=1,
            created_at=moment,
            updated_at=moment,
            grant_type="authorization_code",
        )
        db.session.add_all([customer, grant])
        db.session.add(
            Token(
                family="family-erin",
                client_id=client_id,
                authorization=grant,
                access_token_hash=hash_secret(token),
                scope=application.scope,
                issued_at=moment,
                access_expires_at=moment + 3600,
            )
        )
        db.session.commit()
    return token


def _grant_feed(entity: Entity, token: str) -> int:
    return requests.get(
        f"{entity.url}/espi/1_1/resource/Authorization",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).status_code


def test_a_suspension_ends_the_asps_access_within_one_sync(
    entity: Entity, authority: Authority
) -> None:
    authority.publish(_list(1, _asp(), _asp("solar-2", name="Solar Co")))
    first = _sync(entity)
    secrets = {r.software_id: (r.client_id, r.client_secret) for r in first.results}
    client_id, secret = secrets["thermo-1"]
    assert client_id and secret
    token = _client_token(entity, client_id, secret).json()["access_token"]
    uuid = _client(entity)["uuid"]
    assert _app_info(entity, uuid, token) == 200
    customer_token = _customer_grant(entity, client_id)
    assert _grant_feed(entity, customer_token) == 200

    authority.publish(
        _list(
            2,
            _asp(status="suspended", reason="complaints under review"),
            _asp("solar-2", name="Solar Co"),
        )
    )
    outcome = _sync(entity)
    assert {r.software_id: r.action for r in outcome.results} == {
        "thermo-1": "suspended",
        "solar-2": "unchanged",
    }
    assert _app_info(entity, uuid, token) == 401
    assert _grant_feed(entity, customer_token) == 401  # the customer's grant ended too
    with entity.app.app_context():
        grant = db.session.scalar(select(Authorization))
        assert grant is not None and grant.status == 0 and grant.ended_reason == "dequalified"
        told = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all()
        assert len(told) == 1  # the customer is told, once
    assert _client_token(entity, client_id, secret).status_code in (400, 401)
    assert _client(entity)["qualification"] == "suspended"
    assert [r["action"] for r in authority.reports[-1]["results"]] == ["suspended", "unchanged"]
    with entity.app.app_context():
        changed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "asp_qualification_changed")
        ).all()
        assert [e.detail["to"] for e in changed if e.subject == f"client:{client_id}"] == [
            "suspended"
        ]

    authority.publish(
        _list(
            3, _asp(status="withdrawn", reason="left the market"), _asp("solar-2", name="Solar Co")
        )
    )
    withdrawn = _sync(entity)
    assert withdrawn.results[0].action == "withdrawn"
    assert _client(entity)["qualification"] == "dequalified"


def _refused(entity: Entity, authority: Authority, code: str) -> None:
    before_reports = len(authority.reports)
    with entity.app.app_context():
        last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
        with pytest.raises(RegistryListError) as refused:
            sync_once(entity.app, db.session, now=now())
        db.session.rollback()
        # nothing of the list written: one audit row says what was refused, and why
        written = db.session.scalars(select(AuditEvent).where(AuditEvent.id > last)).all()
        assert [e.action for e in written] == ["registry_refused"]
        assert written[0].detail["reason"] == str(refused.value)
        assert written[0].detail["sha256"] == hashlib.sha256(authority.body.encode()).hexdigest()
    assert refused.value.code == code, str(refused.value)
    assert "\n" not in str(refused.value)
    assert len(authority.reports) == before_reports  # nothing reported either


def test_a_bad_list_is_refused_and_nothing_of_it_applied(
    entity: Entity, authority: Authority
) -> None:
    authority.publish(_list(5, _asp()))
    _sync(entity)
    original = _client(entity)
    suspend = _asp(status="suspended", reason="x")

    # tampered: the payload changed after signing
    authority.publish(_list(6, _asp()))
    head, _payload, signature = authority.body.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(_list(6, suspend)).encode()).rstrip(b"=").decode()
    authority.body = f"{head}.{forged}.{signature}"
    _refused(entity, authority, "registry_bad_signature")
    # signed by a key not in the authority's set
    authority.publish(_list(6, suspend), key=new_signing_key())
    _refused(entity, authority, "registry_unknown_key")
    # unsigned
    authority.body = json.dumps(_list(6, suspend))
    _refused(entity, authority, "registry_unsigned")
    # another issuer
    authority.publish(_list(6, suspend, issuer="https://impostor.example"))
    _refused(entity, authority, "registry_wrong_issuer")
    # expired, and published too long ago
    authority.publish(_list(6, suspend, published=_stamp(-7200), expires=_stamp(-60)))
    _refused(entity, authority, "registry_stale")
    authority.publish(_list(6, suspend, published=_stamp(-7200)))
    _refused(entity, authority, "registry_stale")
    # a lower sequence: a replay of an older list
    authority.publish(_list(4, suspend))
    _refused(entity, authority, "registry_replayed")

    assert _client(entity) == original  # still qualified, nothing changed

    # the CLI says it in one line, exit status 1
    done = _cli(entity, "registry", "sync", "--once")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "replayed" in done.stderr

    authority.publish(_list(6, suspend))  # a good list is applied after all that
    assert _sync(entity).results[0].action == "suspended"


def test_complaints_reach_the_authority_once(entity: Entity, authority: Authority) -> None:
    """A complaint filed in the portal is forwarded at the next sync (even a 304 one), once."""
    from espi_sst_server.lifecycle.complaints import file_complaint

    authority.publish(_list(1, _asp()))
    _sync(entity)
    with entity.app.app_context():
        customer = RetailCustomer(
            uuid="00000000-0000-4000-8000-000000000001",
            username="dana",
            password_hash="x",
            display_name="Dana",
            email="dana@example.com",
            created_at=now(),
        )
        db.session.add(customer)
        application = db.session.scalar(select(Application))
        assert application is not None
        complaint = file_complaint(
            db.session,
            customer=customer,
            application=application,
            category="misleading",
            text="It pressured me to sign up on the phone.",
            had_grant=False,
            now=now(),
        )
        reference = complaint.reference
        db.session.commit()
    outcome = _sync(entity)
    assert outcome.status == "not_modified" and outcome.complaints_forwarded == 1
    [sent] = authority.complaints
    assert sent["entity"] == "PGE" and sent["reference"] == reference
    assert sent["software_id"] == "thermo-1" and sent["category"] == "misleading"
    assert sent["text"] == "It pressured me to sign up on the phone."
    assert dt.datetime.fromisoformat(sent["filed_at"].replace("Z", "+00:00")).tzinfo is not None
    assert _sync(entity).complaints_forwarded == 0 and len(authority.complaints) == 1
