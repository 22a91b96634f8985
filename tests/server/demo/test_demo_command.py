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
        # The sample ASP (examples/asp_app) on the demo clients' registered port; fake MIDAS.
        assert document["asp_url"] == "http://127.0.0.1:8765/"
        assert "Connect my utility" in requests.get(document["asp_url"], timeout=5).text
        midas = requests.get(
            f"{document['midas_url']}/api/valuedata",
            params={"ID": "USCA-PGPG-0100-0000", "QueryType": "realtime"},
            timeout=5,
        )
        assert midas.status_code == 200 and midas.json()["ValueInformation"]
        # Operations (issue 16): the probes and the metrics, from demo.json's URLs
        base = f"http://127.0.0.1:{port}"
        assert document["health_url"] == f"{base}/healthz"
        assert document["ready_url"] == f"{base}/readyz"
        assert document["metrics_url"] == f"{base}/metrics"
        assert requests.get(document["health_url"], timeout=5).json() == {"status": "alive"}
        assert requests.get(document["ready_url"], timeout=5).json()["status"] == "ready"
        assert "espi_sst_grants" in requests.get(document["metrics_url"], timeout=5).text
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert "demo customers" in out and "Traceback" not in err
    for url in ("healthz", "readyz", "metrics"):
        assert f"http://127.0.0.1:{port}/{url}" in out  # the banner shows where to look


def test_demo_refuses_an_asp_port_its_clients_are_not_registered_at(tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("espi-sst"))
    done = subprocess.run(
        [cli, "demo", "--asp-port", "8766", "--data-dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--asp-port 8765" in done.stderr
    assert "Traceback" not in done.stderr
