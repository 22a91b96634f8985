"""``espi-sst demo`` as a developer runs it: one command, a seeded server on 127.0.0.1,
``demo.json`` with the accounts, and the pages answering."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_command_serves_the_seeded_utility(tmp_path: Path) -> None:
    port = _free_port()
    cli = str(Path(sys.executable).with_name("espi-sst"))
    process = subprocess.Popen(
        [cli, "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        demo_json = tmp_path / "demo" / "demo.json"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if demo_json.exists():
                try:
                    if (
                        requests.get(f"http://127.0.0.1:{port}/portal/login", timeout=2).status_code
                        == 200
                    ):
                        break
                except requests.ConnectionError:
                    pass
            time.sleep(0.3)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        document = json.loads(demo_json.read_text())
        assert document["base_url"] == document["issuer"] == f"http://127.0.0.1:{port}"
        kinds = {c["kind"] for c in document["customers"]}
        assert {"bundled", "unbundled", "gas", "solar"} <= kinds
        assert all(c["username"] and c["password"] for c in document["customers"])
        assert any(c["client_secret"] is None for c in document["clients"])  # a public client
        assert all(c["redirect_uris"] for c in document["clients"])
        meta = requests.get(
            f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=5
        ).json()
        assert meta["issuer"] == document["issuer"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert "demo customers" in out and "Traceback" not in err
