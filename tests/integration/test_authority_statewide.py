"""The central authority in ``espi-sst demo --statewide``, end to end through HTTP (issue 20).

One ASP signs up and registers once at the authority; the authority's staff approve it; each
entity's scheduled ``registry sync`` (every second here) creates its client there -- two IOUs
(PGE, SCE) and two CCAs (PCE, CPA) -- and a customer authorizes it at PGE, SCE and CPA (PCE's
customers sign in at PGE).  A suspension at the authority stops its data at every entity
within one sync.  Between the authority and the entities sits a proxy (the demo's
``--registry-url``) that can forge the list as an attacker on the path would: a tampered, a
stale, an unsigned and a replayed list are each refused by every entity, each refusal an
audit row there, and nothing of them applied.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from authority_walk import (
    Network,
    Staff,
    client_row,
    csrf,
    entity_rows,
    last_audit_id,
    network_between,
    payload_of,
    register_asp,
    registry_events,
    wait_until,
    with_payload,
)
from demo_process import CustomerBrowser, demo_process, free_port
from espi_sst_server.authority.signed_list import key_from_jwk, sign_registry

from espi_sst.client import AspClient, MemoryTokenStore

SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change"
)
REDIRECT = "http://127.0.0.1:9/callback"  # never followed: the test reads the code from it
SYNC_SECONDS = 1.0
WITH_ACCOUNTS = ("PGE", "SCE", "CPA")  # PCE has no online accounts: its customers go to PGE


@pytest.fixture(scope="module")
def statewide(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], Path, Network]]:
    folder = tmp_path_factory.mktemp("statewide-authority")
    authority_port = free_port()
    with network_between(f"http://127.0.0.1:{authority_port}", 0) as network:
        args = [
            "--statewide",
            "--asp-port",
            "0",
            "--authority-port",
            str(authority_port),
            "--registry-interval",
            str(SYNC_SECONDS),
            "--registry-url",
            f"{network.url}/registry",
        ]
        with demo_process(folder, args=args) as document:
            yield document, folder / "demo", network


def _secrets(document: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(Path(document["authority"]["registry_secrets_file"]).read_text()))


def _created_everywhere(document: dict[str, Any], software_id: str) -> dict[str, Any]:
    """Every entity's new client for ``software_id`` (its sync has run and reported)."""
    return wait_until(
        f"every entity creates a client for {software_id}",
        lambda: (
            {code: s[software_id] for code, s in _secrets(document).items() if software_id in s}
            if all(software_id in _secrets(document).get(c, {}) for c in document["entities"])
            else None
        ),
    )


def _applied(data_dir: Path, entity: str, sequence: int, after: int) -> dict[str, Any]:
    """The entity's audit row for applying list ``sequence`` (waited for)."""
    return wait_until(
        f"{entity} applies list {sequence}",
        lambda: next(
            (
                {"id": row_id, **detail}
                for row_id, action, detail in registry_events(data_dir, entity, after)
                if action == "registry_synced" and detail["sequence"] >= sequence
            ),
            None,
        ),
    )


def _authorized(document: dict[str, Any], entity: str, credentials: dict[str, Any]) -> AspClient:
    client = AspClient.from_issuer(
        document["entities"][entity]["issuer"],
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        redirect_uri=REDIRECT,
        scope=SCOPE,
        token_store=MemoryTokenStore(),
    )
    return client


def test_one_registration_gives_a_working_client_everywhere_and_a_suspension_stops_data(
    statewide: tuple[dict[str, Any], Path, Network],
) -> None:
    document, data_dir, _network = statewide
    authority = document["authority"]
    assert document["authority_url"] == authority["url"]
    assert requests.get(authority["registry_url"], timeout=10).status_code == 404  # none yet

    register_asp(authority, data_dir / "mail", "acme-energy", REDIRECT)
    staff = Staff(authority)
    approved = staff.decide("acme-energy", "approve", "meets the minimum criteria of 6.4.3")
    credentials = _created_everywhere(document, "acme-energy")
    assert set(credentials) == {"PGE", "SCE", "PCE", "CPA"}
    for code, given in credentials.items():
        row = client_row(data_dir, code, "acme-energy")
        assert row is not None and row["client_id"] == given["client_id"], code
        assert row["qualification"] == "qualified" and row["redirect_uris"] == [REDIRECT]
        assert given["sequence"] == approved

    blake = next(c for c in document["customers"] if c["username"] == "blake")
    with ExitStack() as stack:
        connections = {}
        for code in WITH_ACCOUNTS:
            client = _authorized(document, code, credentials[code])
            started = client.authorization_url()
            browser = CustomerBrowser(document["entities"][code]["issuer"], blake)
            grant = client.fetch_token(browser.approve(started.url), started)
            connection = stack.enter_context(client.connect(grant.key))
            (point,) = [p for p in connection.usage_points() if p.electric]
            assert connection.rins(point), code  # the SST data, at each entity
            assert connection.session.get(point.url, timeout=10).status_code == 200
            connections[code] = (connection, point)

        # the customer complains at PGE's portal; the complaint reaches the authority's
        # staff queue with PGE's next sync (concept design 6.4.6)
        pge = CustomerBrowser(document["entities"]["PGE"]["issuer"], blake)
        form = pge.http.get(f"{pge.base}/portal/complaints", timeout=10)
        assert form.status_code == 200 and "acme-energy" in form.text.lower()
        filed = pge.http.post(
            f"{pge.base}/portal/complaints",
            data={
                "application": credentials["PGE"]["client_id"],
                "category": "misleading",
                "text": "The app changed my rate plan without asking me first, twice.",
                "csrf_token": csrf(form.text),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert filed.status_code == 302, filed.text[:500]
        reference = filed.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        wait_until(
            f"complaint {reference} reaches the authority's staff queue",
            lambda: reference in staff.queue(),
        )

        marks = {code: last_audit_id(data_dir, code) for code in document["entities"]}
        decided = time.time()
        suspended = staff.decide("acme-energy", "suspend", "complaints upheld")
        assert suspended == approved + 1
        for code in document["entities"]:
            row = _applied(data_dir, code, suspended, marks[code])
            (result,) = [r for r in row["results"] if r["software_id"] == "acme-energy"]
            assert result["action"] == "suspended", (code, result)
            at = entity_rows(data_dir, code, "SELECT at FROM audit_event WHERE id = ?", row["id"])
            # the first sync after the decision applied it (one interval, plus the clocks'
            # whole seconds and a slow machine's scheduling)
            assert at[0][0] <= decided + SYNC_SECONDS + 5, code
            assert client_row(data_dir, code, "acme-energy")["qualification"] == "suspended"
        for code, (connection, point) in connections.items():
            refused = connection.session.get(point.url, timeout=10)
            assert refused.status_code == 401, (code, refused.status_code, refused.text[:200])

    # the list published at the suspension names the client id each entity reported back
    listed = payload_of(requests.get(authority["registry_url"], timeout=10).text)
    (asp,) = [a for a in listed["asps"] if a["software_id"] == "acme-energy"]
    assert asp["status"] == "suspended"
    assert asp["client_ids"] == {code: c["client_id"] for code, c in credentials.items()}


def _refused_everywhere(
    document: dict[str, Any], data_dir: Path, network: Network, forge: Any, code: str
) -> list[str]:
    """Every entity refuses what ``forge`` makes of the current list, with ``code``; the
    refusals' reasons."""
    marks = {entity: last_audit_id(data_dir, entity) for entity in document["entities"]}
    network.forge = forge
    try:
        reasons = []
        for entity in document["entities"]:
            refusal = wait_until(
                f"{entity} refuses the forged list ({code})",
                lambda entity=entity: next(
                    (
                        detail
                        for _id, action, detail in registry_events(data_dir, entity, marks[entity])
                        if action == "registry_refused"
                    ),
                    None,
                ),
            )
            assert refusal["code"] == code, (entity, refusal)
            applied = [
                a
                for _i, a, _d in registry_events(data_dir, entity, marks[entity])
                if a == "registry_synced"
            ]
            assert applied == [], (entity, "nothing of a forged list is applied")
            reasons.append(refusal["reason"])
        return reasons
    finally:
        network.forge = None


def _authority_key(data_dir: Path) -> Any:
    """The authority's own private key, from its database: a list signed with it but
    published too long ago is what a stale mirror, or a replay of an old capture, serves."""
    import sqlite3

    uri = f"file:{data_dir / 'authority.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        (jwk,) = connection.execute(
            "SELECT private_jwk FROM authority_signing_keys ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    return key_from_jwk(json.loads(jwk))


def test_a_tampered_stale_unsigned_or_replayed_list_is_refused_by_every_entity(
    statewide: tuple[dict[str, Any], Path, Network],
) -> None:
    document, data_dir, network = statewide
    authority = document["authority"]
    register_asp(authority, data_dir / "mail", "watt-wise", REDIRECT)
    staff = Staff(authority)
    staff.decide("watt-wise", "approve", "meets the minimum criteria of 6.4.3")
    _created_everywhere(document, "watt-wise")
    genuine = network.current_list()
    before = {code: client_row(data_dir, code, "watt-wise") for code in document["entities"]}

    def tampered(current: str) -> str:  # the attacker's redirect URI, the signature kept
        payload = payload_of(current)
        for asp in payload["asps"]:
            if asp["software_id"] == "watt-wise":
                asp["redirect_uris"] = ["https://attacker.example/cb"]
        payload["sequence"] += 1
        return with_payload(current, payload)

    _refused_everywhere(document, data_dir, network, tampered, "registry_bad_signature")

    key = _authority_key(data_dir)

    def stale(current: str) -> str:  # the authority's own signature, three days old
        payload = payload_of(current)
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        payload["published"] = old.strftime("%Y-%m-%dT%H:%M:%SZ")
        payload["sequence"] += 1
        return sign_registry(payload, key)

    _refused_everywhere(document, data_dir, network, stale, "registry_stale")

    def unsigned(current: str) -> str:
        return json.dumps(payload_of(current))

    _refused_everywhere(document, data_dir, network, unsigned, "registry_unsigned")
    for code in document["entities"]:
        assert client_row(data_dir, code, "watt-wise") == before[code], code

    # a genuine suspension, then the earlier genuine list replayed to undo it
    marks = {code: last_audit_id(data_dir, code) for code in document["entities"]}
    suspended = staff.decide("watt-wise", "suspend", "attestation withdrawn")
    for code in document["entities"]:
        _applied(data_dir, code, suspended, marks[code])
    assert payload_of(genuine)["sequence"] < suspended
    reasons = _refused_everywhere(
        document, data_dir, network, lambda _current: genuine, "registry_replayed"
    )
    assert all("replay" in reason for reason in reasons), reasons
    for code in document["entities"]:
        assert client_row(data_dir, code, "watt-wise")["qualification"] == "suspended", code
