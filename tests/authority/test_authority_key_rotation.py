"""Rotating the authority's signing key without breaking an entity (docs/central-authority.md,
"Rotating the signing key"): ``espi-sst authority keys prepare|activate|retire`` run as real
processes against the live authority's database (SQLite and PostgreSQL), and two real entity
servers (the server's app, ``registry sync``) fetch its list over HTTP, each with its own
pinned key set.  The entity side is unchanged: a pinned set with several keys is found by
``kid`` (RFC 7515 section 4.1.4, RFC 7517 section 5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from authority_world import ENTITY_TOKENS, LiveAuthority
from espi_sst_server import create_app
from espi_sst_server.authority.keys import signed_by
from espi_sst_server.authority.models import EntityReport, Publication, SigningKey
from espi_sst_server.authority.signed_list import key_from_jwk, sign_registry
from espi_sst_server.lifecycle.registry_list import RegistryListError
from espi_sst_server.lifecycle.registry_sync import SyncOutcome, sync_once
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, AuditEvent
from flask import Flask
from sqlalchemy import func, select
from test_authority_service import _decide, _signed_in_asp, _staff_browser, _submit

TERMS = "2026-01"
_ISSUER: dict[str, str] = {}  # database URL -> the live authority's issuer on it


@pytest.fixture(autouse=True)
def _issuer_of(live_authority: LiveAuthority, authority_database_url: str) -> None:
    _ISSUER[authority_database_url] = live_authority.url


def _keys(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``espi-sst authority keys ...`` as the operator runs it, with the authority's settings
    (its database, issuer and terms version: the live authority's, conftest.py)."""
    program = shutil.which("espi-sst", path=str(Path(sys.executable).parent))
    assert program
    settings = {
        "ESPI_AUTHORITY_DATABASE_URL": database_url,
        "ESPI_AUTHORITY_ISSUER": _ISSUER[database_url],
        "ESPI_AUTHORITY_TERMS_VERSION": TERMS,
    }
    return subprocess.run(
        [program, "authority", "keys", *args],
        env={**os.environ, **settings, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _key_list(database_url: str) -> dict[str, dict[str, Any]]:
    listed = _keys(database_url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {key["kid"]: key for key in json.loads(listed.stdout)}


def _published_kids(authority: LiveAuthority) -> set[str]:
    jwks = requests.get(f"{authority.url}/.well-known/jwks.json", timeout=10).json()
    assert all("d" not in key for key in jwks["keys"])  # never a private member
    return {key["kid"] for key in jwks["keys"]}


def _current_list(authority: LiveAuthority) -> tuple[str | None, int]:
    """The kid the list served now is signed with, and its sequence."""
    body = requests.get(f"{authority.url}/registry", timeout=10).text
    payload = json.loads(_b64(body.split(".")[1]))
    return signed_by(body), int(payload["sequence"])


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Entity:
    """A real entity server (the server's app) syncing from the authority."""

    name: str
    app: Flask
    jwks_file: Path

    def pin(self, authority: LiveAuthority) -> set[str]:
        """Re-pin the authority's key set as it is published now; the kids pinned."""
        jwks = requests.get(f"{authority.url}/.well-known/jwks.json", timeout=10).json()
        self.jwks_file.write_text(json.dumps(jwks))
        return {key["kid"] for key in jwks["keys"]}

    def sync(self) -> SyncOutcome:
        with self.app.app_context():
            return sync_once(self.app, db.session, now=now())

    def refused(self) -> RegistryListError:
        """A sync refused: exactly one audit row ``registry_refused`` is written, nothing else."""
        with self.app.app_context():
            last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
            with pytest.raises(RegistryListError) as refusal:
                sync_once(self.app, db.session, now=now())
            db.session.rollback()
            written = db.session.scalars(select(AuditEvent).where(AuditEvent.id > last)).all()
            assert [event.action for event in written] == ["registry_refused"]
            assert written[0].detail["code"] == refusal.value.code
        return refusal.value

    def last_applied_sequence(self) -> int:
        with self.app.app_context():
            synced = db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "registry_synced")
                .order_by(AuditEvent.id.desc())
            ).first()
            assert synced is not None
            return int(synced.detail["sequence"])

    def client(self) -> tuple[str, str, str]:
        with self.app.app_context():
            row = db.session.scalar(select(Application).where(Application.software_id != ""))
            assert row is not None
            return row.client_id, row.client_name, row.qualification


@pytest.fixture
def entities(live_authority: LiveAuthority, tmp_path: Path) -> Iterator[dict[str, Entity]]:
    """PGE and SCE, each with its own database and its own pinned key-set file."""
    made: dict[str, Entity] = {}
    for name in ("PGE", "SCE"):
        jwks_file = tmp_path / f"{name}-authority-jwks.json"
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db",
                "SECRET_KEY": "test",
                "ISSUER": "http://127.0.0.1:9",
                "UTILITY_NAME": name,
                "TERMS_VERSION": TERMS,
                "TERMS_URL": "https://terms.example/2026-01",
                "TERMS_SHA256": "a" * 64,
                "REGISTRY_URL": live_authority.url + "/registry",
                "REGISTRY_JWKS_FILE": str(jwks_file),
                "REGISTRY_ISSUER": live_authority.url,
                "REGISTRY_ENTITY_ID": name,
                "REGISTRY_REPORT_TOKEN": ENTITY_TOKENS[name],
                "REGISTRY_MAX_AGE_SECONDS": 3600,
            }
        )
        made[name] = Entity(name, app, jwks_file)
    yield made
    for entity in made.values():
        entity.app.extensions["espi_sst_db"].engine.dispose()


def _approve_an_asp(authority: LiveAuthority) -> None:
    browser = _signed_in_asp(authority)
    assert _submit(authority, browser).status_code == 303
    staff = _staff_browser(authority)
    assert _decide(authority, staff, "1", "approve", "meets 6.4.3").status_code == 303


def test_a_two_step_rotation_never_breaks_an_entity_that_re_pinned(
    live_authority: LiveAuthority, authority_database_url: str, entities: dict[str, Entity]
) -> None:
    database = authority_database_url
    _approve_an_asp(live_authority)
    (old,) = _published_kids(live_authority)
    assert _current_list(live_authority) == (old, 1)

    # 1. prepare: the next key is published at once; the list is still signed by the old one
    prepared = _keys(database, "prepare")
    assert prepared.returncode == 0, prepared.stderr
    (new,) = _published_kids(live_authority) - {old}
    assert new in prepared.stdout and "REGISTRY_JWKS_FILE" in prepared.stdout
    assert _current_list(live_authority) == (old, 1)
    listed = _key_list(database)
    assert (listed[old]["state"], listed[old]["signs_current_list"]) == ("active", True)
    assert (listed[new]["state"], listed[new]["signs_current_list"]) == ("prepared", False)

    # 2. PGE re-pins the two-key set; SCE keeps the old one only. Both accept the list now.
    pge, sce = entities["PGE"], entities["SCE"]
    assert pge.pin(live_authority) == {old, new}
    sce.jwks_file.write_text(
        json.dumps({"keys": [k for k in _jwks(live_authority)["keys"] if k["kid"] == old]})
    )
    for entity in (pge, sce):
        outcome = entity.sync()
        assert outcome.status == "applied" and outcome.sequence == 1
        assert [r.action for r in outcome.results] == ["created"]
    sce_client = sce.client()

    # 3. activating too early is refused, saying why; nothing changes
    early = _keys(database, "activate", new)
    assert early.returncode == 1 and "Traceback" not in early.stderr
    assert "ESPI_AUTHORITY_KEY_PREPARE_HOURS" in early.stderr and "re-pinned" in early.stderr
    assert "--force" in early.stderr
    assert _current_list(live_authority) == (old, 1)
    # ... and once the key has been published for 24 hours it is not, when run with the
    # authority's own settings (it publishes: another issuer would be refused everywhere)
    with live_authority.sessions() as session:
        row = session.get(SigningKey, new)
        row.created_at -= 24 * 3600 + 60
        session.commit()
    elsewhere = _keys(database, "activate", new, ESPI_AUTHORITY_ISSUER="http://127.0.0.1:5100")
    assert elsewhere.returncode == 1 and "ESPI_AUTHORITY_ISSUER" in elsewhere.stderr
    assert _current_list(live_authority) == (old, 1)
    activated = _keys(database, "activate", new)
    assert activated.returncode == 0, activated.stderr
    assert "sequence 2" in activated.stdout
    assert _current_list(live_authority) == (new, 2)  # published with the new key at once
    assert _published_kids(live_authority) == {old, new}  # the old one stays published
    listed = _key_list(database)
    assert (listed[new]["state"], listed[new]["signs_current_list"]) == ("active", True)
    assert (listed[old]["state"], listed[old]["signs_current_list"]) == ("previous", False)

    # 4. PGE (re-pinned) accepts the new key's list; SCE (old key only) refuses it
    outcome = pge.sync()
    assert outcome.status == "applied" and outcome.sequence == 2
    assert [r.action for r in outcome.results] == ["unchanged"]
    refusal = sce.refused()
    assert refusal.code == "registry_unknown_key"
    assert sce.last_applied_sequence() == 1 and sce.client() == sce_client  # nothing applied
    with live_authority.sessions() as session:
        reported = {(r.entity, r.sequence) for r in session.scalars(select(EntityReport)).all()}
    assert reported == {("PGE", 1), ("SCE", 1), ("PGE", 2)}  # SCE reported nothing of it

    # 5. retiring: never the active key; not the old one while a list it signed is fresh
    active = _keys(database, "retire", new)
    assert active.returncode == 1 and "is the active key" in active.stderr
    fresh = _keys(database, "retire", old)
    assert fresh.returncode == 1 and "not expired yet" in fresh.stderr
    assert "sequence 1" in fresh.stderr
    assert _published_kids(live_authority) == {old, new}
    with live_authority.sessions() as session:
        old_private = key_from_jwk(dict(session.get(SigningKey, old).private_jwk))
        first = session.get(Publication, 1)
        first.expires_at = now() - 1  # the list it signed has expired
        session.commit()
    retired = _keys(database, "retire", old)
    assert retired.returncode == 0, retired.stderr
    assert _published_kids(live_authority) == {new}
    assert _key_list(database)[old]["state"] == "retired"
    with live_authority.sessions() as session:
        assert "d" not in session.get(SigningKey, old).private_jwk  # it can never sign again
    assert _current_list(live_authority) == (new, 2)

    # 6. SCE re-pins (now the new key only) and catches up; a fresh list signed by the
    #    retired key, served from anywhere, is refused as signed by an unknown key
    assert sce.pin(live_authority) == {new}
    outcome = sce.sync()
    assert outcome.status == "applied" and outcome.sequence == 2
    genuine = json.loads(
        _b64(requests.get(f"{live_authority.url}/registry", timeout=10).text.split(".")[1])
    )
    forged = sign_registry({**genuine, "sequence": 3}, old_private)
    with _serving(forged) as url:
        sce.app.config["REGISTRY_URL"] = url
        assert sce.refused().code == "registry_unknown_key"
    assert sce.last_applied_sequence() == 2


def _jwks(authority: LiveAuthority) -> dict[str, Any]:
    return dict(requests.get(f"{authority.url}/.well-known/jwks.json", timeout=10).json())


class _serving:
    """A loopback server answering ``GET /registry`` with ``body`` (a mirror, or an attacker)."""

    def __init__(self, body: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/jose")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}/registry"

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_activate_force_and_the_refusals_that_force_does_not_lift(
    live_authority: LiveAuthority, authority_database_url: str
) -> None:
    database = authority_database_url
    _approve_an_asp(live_authority)
    (old,) = _published_kids(live_authority)
    unknown = _keys(database, "activate", "no-such-kid")
    assert unknown.returncode == 1 and "keys list" in unknown.stderr
    assert _keys(database, "activate", old).returncode == 1  # already active
    active = _keys(database, "retire", old, "--force")
    assert active.returncode == 1 and "is the active key" in active.stderr  # force or not

    assert _keys(database, "prepare").returncode == 0
    (new,) = _published_kids(live_authority) - {old}
    forced = _keys(database, "activate", new, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _current_list(live_authority) == (new, 2)
    # a rotation rolled back: the previous key, still published, signs again at once
    back = _keys(database, "activate", old, "--force")
    assert back.returncode == 0, back.stderr
    assert _current_list(live_authority) == (old, 3)
    assert _keys(database, "activate", new, "--force").returncode == 0
    assert _current_list(live_authority) == (new, 4)
    # a compromised old key leaves at once with --force, although its list is still fresh
    assert _keys(database, "retire", old).returncode == 1
    gone = _keys(database, "retire", old, "--force")
    assert gone.returncode == 0, gone.stderr
    assert _published_kids(live_authority) == {new}
    again = _keys(database, "activate", old, "--force")
    assert again.returncode == 1 and "retired" in again.stderr  # a retired key never returns
    # a prepared key that was never used can be retired (a rotation abandoned)
    assert _keys(database, "prepare").returncode == 0
    (spare,) = _published_kids(live_authority) - {new}
    assert _keys(database, "retire", spare).returncode == 0
    assert _published_kids(live_authority) == {new}


def test_the_wait_follows_the_setting(
    live_authority: LiveAuthority, authority_database_url: str
) -> None:
    """ESPI_AUTHORITY_KEY_PREPARE_HOURS=0: activation right after prepare, no --force; with
    no list published yet, the first list will be signed with the key."""
    assert _keys(authority_database_url, "prepare").returncode == 0
    listed = _key_list(authority_database_url)
    (new,) = [kid for kid, key in listed.items() if key["state"] == "prepared"]
    done = _keys(authority_database_url, "activate", new, ESPI_AUTHORITY_KEY_PREPARE_HOURS="0")
    assert done.returncode == 0, done.stderr
    assert "no list was published yet" in done.stdout
    _approve_an_asp(live_authority)
    assert _current_list(live_authority) == (new, 1)
