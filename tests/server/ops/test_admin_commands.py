"""The admin commands as an operator runs them: ``espi-sst`` in a subprocess on the database
the server writes, on SQLite and PostgreSQL.  ``--json`` is parsed and compared with the
rows; the tables are read as a person reads them; writes are checked in the database, in
the audit log, and (a rotated secret) at the token endpoint over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from admin_world import NOW, World, cli, cli_json, make_world
from espi_sst_server.outbox.queue import ASP_NOTIFICATION, deliver_due
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, AuditEvent, OutboxMessage
from parallel import serve
from sqlalchemy import select


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    made = make_world(database_url)
    yield made
    made.listener.close()
    made.app.extensions["espi_sst_db"].engine.dispose()


def _audit(world: World, action: str) -> list[AuditEvent]:
    with world.app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def test_asp_list_and_show(world: World) -> None:
    listed = cli_json(world, "asp", "list")
    assert [asp["client_id"] for asp in listed] == [world.thermo, world.solar]
    thermo = cli_json(world, "asp", "show", world.thermo)
    assert thermo == listed[0]
    assert thermo["name"] == "Thermo Co" and thermo["software_id"] == "thermo-2026"
    assert thermo["class"] == "rate-change" and thermo["qualification"] == "qualified"
    assert thermo["public"] is False and listed[1]["public"] is True
    assert thermo["redirect_uris"] == ["https://thermo.example/cb"]
    assert thermo["notify_uri"] == world.listener.url
    assert thermo["grants"] == {"active": 1, "revoked_by_customer": 1}
    assert listed[1]["grants"] == {}
    assert thermo["created_at"].endswith("Z")
    text = "\n".join(str(value) for value in thermo.values())
    with world.app.app_context():
        row = db.session.scalar(select(Application).where(Application.client_id == world.thermo))
        assert row is not None and row.client_secret_hash is not None
        assert row.client_secret_hash not in text  # never the hash
    table = cli(world, "asp", "list")
    assert table.returncode == 0
    header, *lines = table.stdout.splitlines()
    assert header.split()[:4] == ["CLIENT_ID", "NAME", "CLASS", "QUALIFICATION"]
    assert lines[0].startswith(world.thermo) and "active 1, revoked_by_customer 1" in lines[0]


def test_grants_list_filters_and_show(world: World) -> None:
    every = cli_json(world, "grants", "list")
    assert [grant["id"] for grant in every] == [world.revoked_grant, world.active_grant]
    assert cli_json(world, "grants", "list", "--status", "active") == [every[1]]
    assert cli_json(world, "grants", "list", "--status", "ended") == [every[0]]
    assert cli_json(world, "grants", "list", "--status", "expired") == []
    assert cli_json(world, "grants", "list", "--customer", "alice") == every
    assert cli_json(world, "grants", "list", "--client-id", world.solar) == []
    ended = cli_json(world, "grants", "show", world.revoked_grant)
    assert ended["status"] == "revoked_by_customer"
    assert (
        ended["ended_at"] == "2026-01-01T00:00:00Z"
        and ended["ended_reason"] == "revoked_by_customer"
    )
    assert ended["created_by"] == ended["ended_by"] == f"customer:{world.customer}"
    assert ended["client_id"] == world.thermo and ended["customer"] == world.customer
    assert ended["scope_in_words"] == [
        "Billing information",
        "Usage information",
        "Enable rate change",
    ]
    assert [point["service_agreement"] for point in ended["usage_points"]] == ["SA-1"]
    active = cli_json(world, "grants", "show", "44444441-4444-4444-8444-444444444444")
    assert active["id"] == world.active_grant and active["ended_by"] is None
    assert active["expires_at"] == "2027-01-01T00:00:00Z"


def test_rate_changes_list_and_show(world: World) -> None:
    listed = cli_json(world, "rate-changes", "list", "--state", "submitted")
    assert [change["id"] for change in listed] == [world.rate_change]
    assert cli_json(world, "rate-changes", "list", "--state", "accepted") == []
    assert cli_json(world, "rate-changes", "list", "--client-id", world.solar) == []
    shown = cli_json(world, "rate-changes", "show", world.rate_change)
    assert shown["state"] == "submitted" and shown["to_rin"] == "USCA-PGPG-EELC-0000"
    assert shown["usage_point_rin_now"] == "USCA-PGPG-ETOU-C000"
    assert shown["processing_attempts"] == 2 and shown["grant"] == world.active_grant
    assert shown["submitted_at"] == "2025-12-31T23:55:00Z"


def test_outbox_list_and_show_never_show_a_body(world: World) -> None:
    listed = cli_json(world, "outbox", "list")
    states = {message["id"]: message["state"] for message in listed}
    assert states == {
        world.failed_notification: "failed",
        world.delivered_notification: "delivered",
        world.pending_email: "pending",
    }
    assert [m["id"] for m in cli_json(world, "outbox", "list", "--lane", "email")] == [
        world.pending_email
    ]
    assert [
        m["id"] for m in cli_json(world, "outbox", "list", "--lane", "asp", "--state", "failed")
    ] == [world.failed_notification]
    failed = cli_json(world, "outbox", "show", str(world.failed_notification))
    assert failed["attempts"] == 10 and "503" in failed["last_error"]
    assert failed["client_id"] == world.thermo and failed["lane"] == "asp"
    email = cli(world, "outbox", "show", str(world.pending_email))
    assert email.returncode == 0 and "Hello" in email.stdout
    assert "123456" not in email.stdout and "sealed" not in email.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("asp", "show", "asp-nobody"),
        ("grants", "show", "not-a-grant"),
        ("grants", "list", "--client-id", "asp-nobody"),
        ("grants", "list", "--customer", "nobody"),
        ("rate-changes", "show", "nope"),
        ("outbox", "show", "12345"),
        ("outbox", "show", "abc"),
        ("outbox", "retry", "12345"),
        ("asp", "rotate-secret", "asp-nobody"),
    ],
)
def test_a_bad_id_is_one_line_and_exit_1(world: World, args: tuple[str, ...]) -> None:
    done = cli(world, *args)
    assert done.returncode == 1, done
    assert done.stderr.startswith("espi-sst: error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("grants", "list", "--status", "gone"),
        ("rate-changes", "list", "--state", "done"),
        ("outbox", "list", "--lane", "fax"),
        ("outbox", "purge"),
        ("outbox", "purge", "--delivered-before", "yesterday"),
    ],
)
def test_a_bad_filter_is_a_usage_error(world: World, args: tuple[str, ...]) -> None:
    done = cli(world, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "error:" in done.stderr


def test_rotate_secret_refuses_the_old_secret_at_the_token_endpoint(world: World) -> None:
    def token(secret: str) -> requests.Response:
        return requests.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "FB=3"},
            auth=(world.thermo, secret),
            timeout=30,
        )

    with serve(world.app) as base:
        assert token(world.thermo_secret).status_code == 200  # the old secret works before
        done = cli(world, "asp", "rotate-secret", world.thermo)
        assert done.returncode == 0, done.stderr
        new = json.loads(done.stdout)["client_secret"]
        assert new != world.thermo_secret and len(new) >= 40
        assert "only its hash is stored" in done.stderr
        refused = token(world.thermo_secret)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert token(new).status_code == 200
    rotated = _audit(world, "client_secret_rotated")
    assert [event.subject for event in rotated] == [f"client:{world.thermo}"]
    assert rotated[0].actor.startswith("operator")
    assert new not in str(rotated[0].detail)
    public = cli(world, "asp", "rotate-secret", world.solar)
    assert public.returncode == 1 and "public client" in public.stderr


def test_outbox_retry_sends_a_given_up_notification_again(world: World) -> None:
    before = len(world.listener.requests)
    done = cli(world, "outbox", "retry", str(world.failed_notification))
    assert done.returncode == 0 and "retried 1" in done.stdout, done.stderr
    shown = cli_json(world, "outbox", "show", str(world.failed_notification))
    assert shown["state"] == "pending" and shown["attempts"] == 0
    with world.app.app_context():
        report = deliver_due(world.app, db.session, now=NOW + 10**8, kind=ASP_NOTIFICATION)
    assert report.sent == 1
    assert len(world.listener.requests) == before + 1
    assert b"https://u.example/a" in world.listener.requests[-1]
    assert cli_json(world, "outbox", "show", str(world.failed_notification))["state"] == "delivered"
    again = cli(world, "outbox", "retry", str(world.failed_notification))
    assert again.returncode == 1 and "delivered" in again.stderr
    assert [event.subject for event in _audit(world, "outbox_retried")] == [
        f"outbox:{world.failed_notification}"
    ]


def test_outbox_retry_all_failed_skips_purged_email(world: World) -> None:
    with world.app.app_context():
        email = db.session.get(OutboxMessage, world.pending_email)
        assert email is not None
        email.failed_at = NOW
        email.payload = {"subject": "Hello"}  # as the worker leaves a given-up e-mail
        db.session.commit()
    done = cli_json(world, "outbox", "retry", "--all-failed")
    assert done["retried"] == [world.failed_notification]
    assert [item["id"] for item in done["skipped"]] == [world.pending_email]
    assert "purged" in done["skipped"][0]["reason"]


def test_outbox_purge_refuses_undelivered_unless_forced(world: World) -> None:
    refused = cli(world, "outbox", "purge", str(world.pending_email))
    assert refused.returncode == 1 and "--force" in refused.stderr
    kept = {message["id"] for message in cli_json(world, "outbox", "list")}
    assert world.pending_email in kept
    by_date = cli(world, "outbox", "purge", "--delivered-before", "2099-01-01")
    assert by_date.returncode == 0 and "purged 1" in by_date.stdout, by_date.stderr
    forced = cli(world, "outbox", "purge", str(world.pending_email), "--force")
    assert forced.returncode == 0, forced.stderr
    left = [message["id"] for message in cli_json(world, "outbox", "list")]
    assert left == [world.failed_notification]
    purged = _audit(world, "outbox_purged")
    assert [event.subject for event in purged] == [
        f"outbox:{world.delivered_notification}",
        f"outbox:{world.pending_email}",
    ]
    assert all(event.actor.startswith("operator") for event in purged)
