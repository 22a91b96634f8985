"""``espi-sst register-client`` as an operator runs it: JSON out, the secret shown once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

NOTIFY = "https://asp.example/notify"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ESPI_DATABASE_URL=f"sqlite:///{tmp_path}/ops.db", ESPI_SECRET_KEY="ops")
    return subprocess.run(
        [str(Path(sys.executable).with_name("espi-sst")), "register-client", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_register_client_prints_credentials_once(tmp_path: Path) -> None:
    done = _cli(
        tmp_path,
        "--name",
        "Thermostat Co",
        "--redirect-uri",
        "https://asp.example/cb",
        "--notify-uri",
        "https://asp.example/notify",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["client_id"].startswith("asp-") and len(out["client_secret"]) >= 40
    assert "only its hash is stored" in done.stderr
    refused = _cli(
        tmp_path,
        "--name",
        "Bad",
        "--redirect-uri",
        "http://asp.example/cb",
        "--notify-uri",
        "https://asp.example/n",
    )
    assert (
        refused.returncode == 2
        and "must use https" in refused.stderr
        and "Traceback" not in refused.stderr
    )


def _software_ids(tmp_path: Path) -> dict[str, str]:
    with sqlite3.connect(tmp_path / "ops.db") as connection:
        return dict(connection.execute("SELECT client_id, software_id FROM application"))


def test_register_client_takes_the_central_registry_software_id(tmp_path: Path) -> None:
    """An ASP is matched to the central registry (``asp-registry load``) by software_id."""
    uris = ("--redirect-uri", "https://asp.example/cb", "--notify-uri", "https://asp.example/n")
    listed = _cli(tmp_path, "--name", "Thermostat Co", "--software-id", "thermo-2025-17", *uris)
    assert listed.returncode == 0, listed.stderr
    by_name = _cli(tmp_path, "--name", "  Solar Co ", *uris)  # the default: the name
    assert by_name.returncode == 0, by_name.stderr
    assert _software_ids(tmp_path) == {
        json.loads(listed.stdout)["client_id"]: "thermo-2025-17",
        json.loads(by_name.stdout)["client_id"]: "Solar Co",
    }
    for bad in (" ", "x" * 257):
        refused = _cli(tmp_path, "--name", "Bad Co", "--software-id", bad, *uris)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "software id" in refused.stderr
    assert len(_software_ids(tmp_path)) == 2


def test_a_lookalike_loopback_redirect_is_refused(tmp_path: Path) -> None:
    for uri in ("http://localhost.evil.example/cb", "http://127.0.0.1.evil.example/cb"):
        refused = _cli(
            tmp_path, "--name", "Lookalike", "--redirect-uri", uri, "--notify-uri", NOTIFY
        )
        assert refused.returncode == 2 and "https" in refused.stderr, uri
    for uri in ("http://127.0.0.1:8765/cb", "http://localhost:9000/cb"):
        done = _cli(
            tmp_path, "--name", f"Native {uri}", "--redirect-uri", uri, "--notify-uri", NOTIFY
        )
        assert done.returncode == 0, done.stderr


def test_register_client_refuses_a_notify_uri_the_server_must_not_call(tmp_path: Path) -> None:
    """Issue 11, item 12: the operator's command applies the outbound policy (no SSRF)."""
    redirect = ("--redirect-uri", "https://asp.example/cb")
    for uri in (
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "https://10.0.0.1/n",
    ):
        refused = _cli(tmp_path, "--name", "Metadata", *redirect, "--notify-uri", uri)
        assert refused.returncode == 2 and "notify URI" in refused.stderr, uri
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "ops.db").exists() or _software_ids(tmp_path) == {}


def test_register_client_keeps_a_given_client_id(tmp_path: Path) -> None:
    args = ["--redirect-uri", "https://asp.example/cb", "--notify-uri", "https://asp.example/n"]
    done = _cli(tmp_path, "--name", "Same ASP", "--client-id", "asp-at-the-gbc", *args)
    assert done.returncode == 0 and json.loads(done.stdout)["client_id"] == "asp-at-the-gbc"
    taken = _cli(tmp_path, "--name", "Other", "--client-id", "asp-at-the-gbc", *args)
    assert taken.returncode == 2 and "taken" in taken.stderr


def test_register_resource_server_may_introspect_only(tmp_path: Path) -> None:
    env = dict(os.environ, ESPI_DATABASE_URL=f"sqlite:///{tmp_path}/ops.db", ESPI_SECRET_KEY="ops")
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("espi-sst")),
            "register-resource-server",
            "--name",
            "SST bolt-on",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "INTROSPECTION_CLIENT_SECRET" in done.stderr
    with sqlite3.connect(tmp_path / "ops.db") as connection:
        grant_types, redirects = connection.execute(
            "SELECT grant_types, redirect_uris FROM application WHERE client_id = ?",
            (out["client_id"],),
        ).fetchone()
    assert json.loads(grant_types) == ["introspection"] and json.loads(redirects) == []


def test_register_client_refuses_a_name_already_registered(tmp_path: Path) -> None:
    """Customers choose an ASP by its name: a second registration under it (any case or
    spacing) is refused, naming the client that has it; a shared software id is allowed
    (RFC 7591 2)."""
    uris = ("--redirect-uri", "https://asp.example/cb", "--notify-uri", NOTIFY)
    first = _cli(tmp_path, "--name", "Thermostat Co", "--software-id", "thermo", *uris)
    assert first.returncode == 0, first.stderr
    client_id = json.loads(first.stdout)["client_id"]
    again = _cli(tmp_path, "--name", "  thermostat   CO ", *uris)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "registered already" in again.stderr and client_id in again.stderr
    sibling = _cli(tmp_path, "--name", "Thermostat Co (EU)", "--software-id", "thermo", *uris)
    assert sibling.returncode == 0, sibling.stderr
    assert sorted(_software_ids(tmp_path).values()) == ["thermo", "thermo"]


def test_a_bad_redirect_uri_is_named_with_the_rule(tmp_path: Path) -> None:
    for uri in ("/cb", "asp.example/cb", "ftp://asp.example/cb"):
        refused = _cli(tmp_path, "--name", "Bad", "--redirect-uri", uri, "--notify-uri", NOTIFY)
        assert refused.returncode == 2 and repr(uri) in refused.stderr
        assert "RFC 6749 3.1.2" in refused.stderr and "Traceback" not in refused.stderr
