"""``espi-sst register-client`` as an operator runs it: JSON out, the secret shown once."""

from __future__ import annotations

import json
import os
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
