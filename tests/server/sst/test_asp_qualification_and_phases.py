"""The rules of ASP qualification, ASP classes and phases (concept design 6.1, 6.4,
6.4.2.1-6.4.2.2, 6.4.3; docs/sst-rules.md), through HTTP on SQLite and PostgreSQL.

* only qualified ASPs: a pending one (``demo-solar-estimator``) gets no consent page, no
  token and no data -- before issue 12 it got consent, RateInformation 200 and a rate
  change 202;
* classes: a data-only ASP asking for ``sst:rate_change`` gets ``invalid_scope``; a
  downgrade ends the rate-change part of existing grants (tokens narrowed at once, open rate
  changes cancelled, customers e-mailed, the ASP notified, audited);
* phases: ``SST_PHASE`` drives discovery, the consent checkboxes, the token scope and the
  API (404 JSON for a function of a later phase, never 500).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from espi_sst_server import create_app
from espi_sst_server.demo import DemoData
from espi_sst_server.errors import ConfigurationError
from espi_sst_server.lifecycle.registry import load_asp_registry
from espi_sst_server.outbox.queue import open_payload
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, AuditEvent, Authorization, OutboxMessage
from sqlalchemy import select
from sst_world import ASP, SstWorld, make_world
from test_rate_change import _email, post_change, rid_of

PENDING = "demo-solar-estimator"
MOBILE = "demo-rate-coach-mobile"
CALLBACK = "http://127.0.0.1:8765/pending/callback"
TOU_C = {"targetRin": "USCA-PGPG-0100-0000"}
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SCOPE_ALL = (
    "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 "
    "usage billing sst:rin sst:bill_comparison sst:rate_change"
)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def _authorize(client_id: str, redirect_uri: str, scope: str = SCOPE_ALL) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
    }


def _sign_in(world: SstWorld, username: str) -> None:
    page = world.client.get("/portal/login")
    match = CSRF.search(page.get_data(as_text=True))
    assert match
    done = world.client.post(
        "/portal/login",
        data={
            "username": username,
            "password": f"demo-{username}-2026",
            "csrf_token": match.group(1),
        },
    )
    assert done.status_code == 302, done.data


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _redirect_uri(world: SstWorld, client_id: str) -> str:
    return next(c.redirect_uris[0] for c in world.data.clients if c.client_id == client_id)


# ---- only qualified ASPs (6.4, 6.4.4) ---------------------------------------------------------


def test_a_pending_asp_gets_no_consent_no_token_and_no_data(world: SstWorld) -> None:
    """The attack of issue 12: the pending demo ASP asked a customer, got a consent page,
    tokens, RateInformation 200 and a rate change 202.  Now: refused at every door."""
    params = _authorize(PENDING, CALLBACK)
    refused = world.client.get("/oauth/authorize", query_string=params)
    assert refused.status_code == 302  # RFC 6749 4.1.2.1, to its registered redirect URI
    location = refused.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    answer = _query(location)
    assert answer["error"] == "unauthorized_client"
    assert "not yet qualified" in answer["error_description"]
    assert answer["state"] == params["state"] and answer["iss"] == world.config["ISSUER"]

    _sign_in(world, "alex")  # a signed-in customer is refused the same: no consent page
    again = world.client.get("/oauth/authorize", query_string=_authorize(PENDING, CALLBACK))
    assert _query(again.headers["Location"])["error"] == "unauthorized_client"
    assert b"asks for access to your data" not in again.data

    # A redirect URI it did not register: the customer's error page, no redirect.
    stranger = world.client.get(
        "/oauth/authorize", query_string=_authorize(PENDING, "https://evil.example/cb")
    )
    assert stranger.status_code == 403 and "Location" not in stranger.headers
    assert b"unauthorized_client" in stranger.data

    secret = next(c.client_secret for c in world.data.clients if c.client_id == PENDING)
    token = world.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{PENDING}:{secret}".encode()).decode()
        },
    )
    assert token.status_code == 401 and token.json["error"] == "invalid_client"

    # A token issued before the rule (or by a race) gives no data: the one rule (usable.py).
    granted = world.grant("alex", client_id=PENDING)
    for response in (
        world.client.get(granted.url("/RateInformation"), headers=granted.headers),
        post_change(world, granted, {"targetRin": "USCA-PGPG-0010-0000"}),
    ):
        assert response.status_code == 401, response.data
        assert response.json["error"] == "invalid_token"
        assert "not qualified" in response.json["error_description"]
    with world.session() as s:
        assert world.mails(s, _email("alex")) == []  # no passcode went out


# ---- ASP classes (6.4.2.1-6.4.2.2) ----------------------------------------------------------


def test_a_data_only_asp_asking_for_rate_change_gets_invalid_scope(world: SstWorld) -> None:
    with world.session() as s:
        mobile = s.scalar(select(Application).where(Application.client_id == MOBILE))
        assert mobile is not None
        mobile.asp_class = "data-only"
        s.commit()
    _sign_in(world, "casey")
    redirect_uri = _redirect_uri(world, MOBILE)
    refused = world.client.get("/oauth/authorize", query_string=_authorize(MOBILE, redirect_uri))
    assert refused.status_code == 302
    answer = _query(refused.headers["Location"])
    assert answer["error"] == "invalid_scope"
    assert "rate-change ASP" in answer["error_description"]
    allowed = world.client.get(
        "/oauth/authorize",
        query_string=_authorize(MOBILE, redirect_uri, SCOPE_ALL.replace(" sst:rate_change", "")),
    )
    assert allowed.status_code == 200 and b"asks for access to your data" in allowed.data
    assert b'value="sst:rate_change"' not in allowed.data


def _registry(tmp_path: Path, asp_class: str | None, published: str) -> Path:
    entry: dict[str, Any] = {
        "software_id": "espi-sst-demo-asp",
        "name": "Energy Insights",
        "status": "qualified",
    }
    if asp_class is not None:
        entry["class"] = asp_class
    path = tmp_path / f"registry-{published[:10]}.json"
    path.write_text(
        json.dumps({"format": "espi-sst-asp-registry/1", "published": published, "asps": [entry]})
    )
    return path


def test_a_downgrade_ends_the_rate_change_part_of_existing_grants(
    world: SstWorld, tmp_path: Path
) -> None:
    casey = world.grant("casey")
    started = post_change(world, casey, TOU_C)
    assert started.status_code == 202, started.data
    rid = rid_of(started)
    now = 1_900_000_000

    with world.app.app_context():  # an old registry file without "class": nothing changes
        load_asp_registry(db.session, _registry(tmp_path, None, "2025-01-01T00:00:00Z"), now=now)
        db.session.commit()
        assert (
            db.session.scalar(select(Application.asp_class).where(Application.client_id == ASP))
            == "rate-change"
        )
    assert (
        world.client.get(casey.url("/RateChangeRequest"), headers=casey.headers).status_code == 200
    )

    with world.app.app_context():  # the central registry downgrades it
        report = load_asp_registry(
            db.session, _registry(tmp_path, "data-only", "2025-02-01T00:00:00Z"), now=now
        )
        db.session.commit()
    (change,) = report.class_changes
    assert (change.previous, change.asp_class) == ("rate-change", "data-only")
    assert change.grants_narrowed == 1 and change.rate_changes_cancelled == 1

    # The live token lost sst:rate_change at once; the rest of the grant goes on.
    refused = world.client.get(casey.url(f"/RateChangeRequest/{rid}"), headers=casey.headers)
    assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope"
    assert world.client.get(casey.url("/RateInformation"), headers=casey.headers).status_code == 200
    with world.session() as s:
        assert world.request_row(s, rid).status == "cancelled"
        grant = s.scalar(
            select(Authorization).where(Authorization.uuid == casey.authorization_uuid)
        )
        assert grant is not None and "sst:rate_change" not in grant.scope.split()
        assert grant.status == 1  # not ended: only its rate-change part
        told = [
            m
            for m in world.mails(s, _email("casey"))
            if "can no longer change" in m.payload["subject"]
        ]
        assert len(told) == 1
        assert "is cancelled" in open_payload(world.app, told[0])["text"]
        notices = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "asp_notification")
        ).all()
        resources = [r for n in notices for r in open_payload(world.app, n)["resources"]]
        assert any(r.endswith(f"/Authorization/{casey.authorization_uuid}") for r in resources)
        assert any(r.endswith(f"/RateChangeRequest/{rid}") for r in resources)
        audited = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "asp_class_changed")
        ).all()
        assert [a.detail["to"] for a in audited] == ["data-only"]
        assert audited[0].detail["authorizations_narrowed"] == [casey.authorization_uuid]

    _sign_in(world, "dana")  # and it can no longer ask for it
    again = world.client.get(
        "/oauth/authorize", query_string=_authorize(ASP, _redirect_uri(world, ASP))
    )
    assert _query(again.headers["Location"])["error"] == "invalid_scope"


def test_registration_refuses_rate_change_for_a_data_only_asp(world: SstWorld) -> None:
    from espi_sst_server.lifecycle.registration import (
        DEFAULT_SCOPE,
        RegistrationError,
        register_application,
    )

    with world.app.app_context():
        with pytest.raises(RegistrationError, match="--class rate-change"):
            register_application(
                db.session,
                name="Data ASP",
                redirect_uris=["https://data.example/cb"],
                notify_uri="https://data.example/notify",
                scope=DEFAULT_SCOPE,
            )
        done = register_application(
            db.session,
            name="Data ASP",
            redirect_uris=["https://data.example/cb"],
            notify_uri="https://data.example/notify",
        )
        row = db.session.scalar(select(Application).where(Application.client_id == done.client_id))
        assert row is not None and row.asp_class == "data-only"
        assert "sst:rate_change" not in row.scope.split() and "sst:rin" in row.scope.split()


# ---- phases (6.1) ---------------------------------------------------------------------------


def test_phase_one_offers_rins_only_everywhere(sst_database: tuple[str, DemoData]) -> None:
    url, data = sst_database
    phase1 = make_world(url, data, SST_PHASE=1)
    try:
        scopes = phase1.client.get("/.well-known/openid-configuration").json["scopes_supported"]
        assert "sst:rin" in scopes
        assert "sst:bill_comparison" not in scopes and "sst:rate_change" not in scopes

        _sign_in(phase1, "casey")  # consent: only the RIN checkbox of the SST ones
        page = phase1.client.get(
            "/oauth/authorize", query_string=_authorize(ASP, _redirect_uri(phase1, ASP))
        )
        assert page.status_code == 200
        assert b'value="sst:rin"' in page.data
        assert b'value="sst:bill_comparison"' not in page.data
        assert b'value="sst:rate_change"' not in page.data

        mode1 = phase1.client.get(f"/portal/asps/{ASP}/preauthorize")  # Mode 1 (7.2) too
        assert mode1.status_code == 200 and b'value="sst:rin"' in mode1.data
        assert b'value="sst:bill_comparison"' not in mode1.data

        casey = phase1.grant("casey")  # a token minted under phase 3, used under phase 1
        for path in ("/BillComparison", "/UsageSummary?SST=BillComparison", "/RateChangeRequest"):
            response = phase1.client.get(casey.url(path), headers=casey.headers)
            assert response.status_code == 404, (path, response.data)
            assert response.json["error"] == "function_not_offered"
            assert "not offered by this utility yet" in response.json["error_description"]
        created = post_change(phase1, casey, TOU_C)
        assert created.status_code == 404 and created.json["error"] == "function_not_offered"
        assert (
            phase1.client.get(casey.url("/RateInformation"), headers=casey.headers).status_code
            == 200
        )
        point = phase1.client.get(casey.url(), headers=casey.headers).get_data(as_text=True)
        assert "/RateInformation" in point and "/BillComparison" not in point
    finally:
        phase1.app.extensions["espi_sst_db"].engine.dispose()


def test_sst_enabled_false_offers_no_rin_elements(sst_database: tuple[str, DemoData]) -> None:
    """A plain custodian shows no RIN elements; the same grant on the same database with the
    SST on does (so the check could fail)."""
    url, data = sst_database
    plain = make_world(url, data, SST_ENABLED=False)
    sst_on = make_world(url, data)
    try:
        casey = plain.grant("casey")
        summaries = plain.client.get(casey.url("/UsageSummary"), headers=casey.headers)
        assert summaries.status_code == 200 and b"bundledRin" not in summaries.data
        with_sst = sst_on.client.get(casey.url("/UsageSummary"), headers=casey.headers)
        assert with_sst.status_code == 200 and b"bundledRin" in with_sst.data
    finally:
        plain.app.extensions["espi_sst_db"].engine.dispose()
        sst_on.app.extensions["espi_sst_db"].engine.dispose()


@pytest.mark.parametrize("value", [0, 4, "two", True, 2.5])
def test_a_phase_out_of_range_stops_the_start(value: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SST_PHASE .* set it to 1"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SST_PHASE": value})


def test_the_registry_class_is_optional_and_strict() -> None:
    from espi_sst_server.lifecycle.registry import RegistryError, parse_asp_registry

    def document(**extra: Any) -> dict[str, Any]:
        entry = {"software_id": "a", "name": "A", "status": "qualified", **extra}
        return {
            "format": "espi-sst-asp-registry/1",
            "published": "2025-01-01T00:00:00Z",
            "asps": [entry],
        }

    assert parse_asp_registry(document()).entries[0].asp_class is None  # old files load
    assert (
        parse_asp_registry(document(**{"class": "rate-change"})).entries[0].asp_class
        == "rate-change"
    )
    with pytest.raises(RegistryError, match=r"asps\[0\].*class.*data-only, rate-change"):
        parse_asp_registry(document(**{"class": "rate_change"}))
