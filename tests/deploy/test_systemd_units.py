"""The systemd units of deploy/systemd/ (issue 16, "Service units"): what docs/deployment.md
shows is exactly these files, systemd itself accepts them, and the command lines they run
start a server that serves and a worker that stops cleanly.

systemd cannot run here (no systemd as PID 1 in a container), so the sandboxing directives
are checked by systemd's own parser (``systemd-analyze verify``, every warning counted) and
its exposure rating (``systemd-analyze security --offline``), and the commands are run as
plain processes: the same argv, with the venv, port and data paths moved to the test's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
DEPLOYMENT = ROOT / "docs" / "deployment.md"
INSTALLED_BIN = "/opt/espi-sst/bin/"  # where the units expect the virtual environment
VENV_BIN = str(Path(sys.executable).parent) + "/"
UNIT_NAMES = ["espi-sst-web.service", "espi-sst-worker.service", "espi-sst.target"]


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("ESPI_REQUIRE_SYSTEMD"):
            pytest.fail("ESPI_REQUIRE_SYSTEMD is set but systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return found


def unit_text(name: str) -> str:
    return (UNITS / name).read_text()


def service_lines(text: str) -> dict[str, list[str]]:
    """The [Service] settings, continuation lines joined (systemd.syntax(7)), comments out."""
    settings: dict[str, list[str]] = {}
    section = ""
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith(("#", ";"))):
            continue
        if line.startswith("[") and not logical:
            section = line
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        if section == "[Service]":
            key, _, value = logical.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
        logical = ""
    return settings


def in_test_venv(text: str) -> str:
    return text.replace(INSTALLED_BIN, VENV_BIN)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the documentation shows the files, byte for byte ------------------------------------


def documented_blocks() -> dict[str, str]:
    """``deploy/systemd/NAME`` named on the line before a fenced block: NAME -> the block."""
    text = DEPLOYMENT.read_text()
    pattern = re.compile(r"`deploy/systemd/([\w.-]+)`[^\n]*\n\n```ini\n(.*?)```\n", re.DOTALL)
    return {name: body for name, body in pattern.findall(text)}


def test_the_deployment_guide_shows_each_unit_file_exactly() -> None:
    blocks = documented_blocks()
    assert sorted(blocks) == sorted(UNIT_NAMES)
    for name in UNIT_NAMES:
        assert blocks[name] == unit_text(name), f"docs/deployment.md's {name} differs from the file"


def test_the_deployment_guide_has_no_other_unit_inline() -> None:
    """An ``[Unit]`` block that is not one of the files would drift unseen."""
    text = DEPLOYMENT.read_text()
    inline = [b for b in re.findall(r"```ini\n(.*?)```", text, re.DOTALL) if "[Unit]" in b]
    assert sorted(inline) == sorted(unit_text(name) for name in UNIT_NAMES)


def test_the_unit_files_are_the_ones_named() -> None:
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(UNIT_NAMES)


# -- systemd accepts them ----------------------------------------------------------------


@pytest.fixture
def installed_units(tmp_path: Path) -> Path:
    """The units with their programs in this test's virtual environment (verify checks that
    each ExecStart program exists and is executable)."""
    for name in UNIT_NAMES:
        (tmp_path / name).write_text(in_test_venv(unit_text(name)))
    return tmp_path


def test_systemd_analyze_verify_accepts_the_units_without_a_warning(installed_units: Path) -> None:
    analyze = systemd_analyze()
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(installed_units / n) for n in UNIT_NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on an unknown key or a bad value ("ignoring"): any output is a finding.
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_systemd_analyze_verify_catches_a_misspelt_directive(installed_units: Path) -> None:
    """The check above can fail: a typo in a hardening line is reported, not silent."""
    analyze = systemd_analyze()
    broken = installed_units / "espi-sst-web.service"
    broken.write_text(broken.read_text().replace("ProtectSystem=strict", "ProtectSystem=strikt"))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert "ProtectSystem" in result.stderr or "strikt" in result.stderr


def test_verify_needs_the_programs_the_units_run() -> None:
    """Unrewritten, the units name /opt/espi-sst/bin/..., absent here: verify says so (so
    the passing check above really looked at the test's programs)."""
    if Path(INSTALLED_BIN).exists():
        pytest.skip("/opt/espi-sst exists on this machine")
    analyze = systemd_analyze()
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(UNITS / "espi-sst-worker.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "/opt/espi-sst/bin/espi-sst" in result.stderr


@pytest.mark.parametrize("name", ["espi-sst-web.service", "espi-sst-worker.service"])
def test_the_services_are_rated_ok_by_systemd_security(installed_units: Path, name: str) -> None:
    analyze = systemd_analyze()
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(installed_units / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rating = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert rating is not None, result.stdout + result.stderr
    assert float(rating.group(1)) <= 2.5 and rating.group(2) in {"SAFE", "OK"}, rating.group(0)


# -- what the units promise ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["espi-sst-web.service", "espi-sst-worker.service"])
def test_the_services_are_hardened_as_documented(name: str) -> None:
    service = service_lines(unit_text(name))
    expected = {
        "User": ["espi"],
        "EnvironmentFile": ["/etc/espi-sst/env"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "StateDirectory": ["espi-sst"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "KillMode": ["mixed"],
    }
    assert {key: service.get(key) for key in expected} == expected
    assert service["Restart"][0] in {"on-failure", "always"}


def test_systemd_waits_longer_than_gunicorns_graceful_timeout() -> None:
    """gunicorn lets its workers finish for --graceful-timeout after SIGTERM; systemd must
    not SIGKILL them before that (TimeoutStopSec), nor gunicorn kill a worker mid-request
    before nginx's 60 s proxy_read_timeout answers (--timeout, docs/deployment.md)."""
    service = service_lines(unit_text("espi-sst-web.service"))
    argv = shlex.split(service["ExecStart"][0])
    graceful = int(argv[argv.index("--graceful-timeout") + 1])
    timeout = int(argv[argv.index("--timeout") + 1])
    assert int(service["TimeoutStopSec"][0]) > graceful
    assert timeout > 60


# -- the command lines run ------------------------------------------------------------------


def service_command(name: str, key: str, *, port: int) -> list[str]:
    (line,) = service_lines(in_test_venv(unit_text(name)))[key]
    argv = shlex.split(line)
    if "--bind" in argv:
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    if "--workers" in argv:  # two CPU cores shared by the whole suite
        argv[argv.index("--workers") + 1] = "2"
    return argv


def environment(folder: Path, port: int) -> dict[str, str]:
    """What /etc/espi-sst/env would hold, for a throw-away server."""
    return {
        **os.environ,
        "ESPI_DATABASE_URL": f"sqlite:///{folder}/espi-sst.db",
        "ESPI_ISSUER": f"http://127.0.0.1:{port}",
        "ESPI_SECRET_KEY": "service-unit-test",
        "ESPI_AUTO_MIGRATE": "false",
    }


def test_the_web_units_commands_migrate_then_serve_then_stop_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    pre = service_command("espi-sst-web.service", "ExecStartPre", port=port)
    migrated = subprocess.run(
        pre, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr

    argv = service_command("espi-sst-web.service", "ExecStart", port=port)
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        answer = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/oauth/jwks.json", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert answer is not None, (tmp_path / "gunicorn.log").read_text()
        # The signing key is read from (and made in) the migrated database: schema and app work.
        assert answer.status_code == 200
        assert answer.json()["keys"][0]["alg"] == "RS256"
        discovery = requests.get(
            f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=5
        )
        assert discovery.json()["issuer"] == env["ESPI_ISSUER"]
    finally:
        server.send_signal(signal.SIGTERM)  # what KillMode=mixed sends the main process
        graceful = int(argv[argv.index("--graceful-timeout") + 1])
        code = server.wait(timeout=graceful + 5)
        log.close()
    output = (tmp_path / "gunicorn.log").read_text()
    assert code == 0, output
    assert "Shutting down: Master" in output and "Traceback" not in output


def test_the_worker_units_command_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    pre = service_command("espi-sst-web.service", "ExecStartPre", port=port)
    subprocess.run(pre, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    argv = service_command("espi-sst-worker.service", "ExecStart", port=port)
    worker = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    time.sleep(4)  # a few passes at --poll 1
    assert worker.poll() is None, worker.communicate()[0]
    worker.send_signal(signal.SIGTERM)
    timeout_stop = int(service_lines(unit_text("espi-sst-worker.service"))["TimeoutStopSec"][0])
    output, _ = worker.communicate(timeout=timeout_stop)
    assert worker.returncode == 0, output
    assert "Traceback" not in output
