"""``espi-sst register-client`` as an operator runs it: JSON out, the secret shown once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


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
        tmp_path, "--name", "Bad", "--redirect-uri", "http://asp.example/cb", "--notify-uri", "x"
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
