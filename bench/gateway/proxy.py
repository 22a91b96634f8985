"""The gateway under test: Debian's nginx running what :mod:`espi_sst_server.gateway` generates.

``running_gateway`` writes the configuration for a registry of local upstreams, has
``nginx -t`` check it, and runs nginx as a foreground master started (and stopped, by its
pid) by the benchmark.  ``with_upstream_keepalive`` is the one change the benchmark makes to
a generated file, and only for the keep-alive comparison: an entity's ``proxy_pass`` goes
through an ``upstream`` block with a ``keepalive`` pool, as bench/ANALYSIS_GATEWAY.md
proposes for the generator.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# nginx's notation allows at most 999999r/s and a burst of 100000: far above anything a
# 2-core machine serves, so both limits are evaluated on every request but never refuse.
NEVER_LIMIT: dict[str, object] = {
    "rate": "999999r/s",
    "burst": 100_000,
    "address_rate": "999999r/s",
    "address_burst": 100_000,
}
# The proposed pool: idle connections kept per nginx worker, and how long nginx keeps one
# idle -- below gunicorn's --keep-alive (2 s by default), so gunicorn never closes a
# connection nginx is about to reuse (a POST sent on it would fail with 502).
KEEPALIVE = 32
KEEPALIVE_TIMEOUT = "1s"


@dataclass
class Gateway:
    """A running nginx: its process (the master), prefix folder and public base URL."""

    process: subprocess.Popen[bytes]
    folder: Path
    base_url: str

    @property
    def config(self) -> Path:
        return self.folder / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.folder / "logs" / "error.log"

    def entity_url(self, entity_id: str) -> str:
        return f"{self.base_url}/SST/v1/{entity_id}"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_version(nginx: str) -> str:
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    text = (out.stderr or out.stdout).strip().removeprefix("nginx version: ")
    package = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "nginx"], capture_output=True, text=True
    )
    return f"{text} (Debian {package.stdout.strip()})" if package.returncode == 0 else text


@contextmanager
def running_gateway(
    nginx: str,
    base_url: str,
    upstreams: dict[str, str],
    folder: Path,
    *,
    keepalive: tuple[str, ...] = (),
) -> Iterator[Gateway]:
    """nginx on ``base_url``'s port with one IOU per ``upstreams`` entry (id -> URL);
    ``keepalive`` names the entities whose location gets the proposed upstream pool."""
    from espi_sst_server.gateway import parse_gateway_registry, write_nginx_gateway

    registry = parse_gateway_registry(
        {
            "format": "espi-sst-gateway-registry/1",
            "public_base_url": base_url,
            "entities": [
                {"id": entity, "name": f"Utility {entity}", "kind": "IOU", "upstream": url}
                for entity, url in upstreams.items()
            ],
        },
        source="bench/gateway",
    )
    port = base_url.rsplit(":", 1)[1]
    files = write_nginx_gateway(
        registry,
        folder,
        listen=f"127.0.0.1:{port}",
        daemon=False,
        # As root, nginx would run its workers as nobody, who cannot enter the 0700 folder.
        user=getpass.getuser() if os.geteuid() == 0 else None,
        **NEVER_LIMIT,
    )
    text = files.config.read_text()
    for entity in keepalive:
        text = with_upstream_keepalive(text, entity, upstreams[entity])
    files.config.write_text(text)
    gateway = Gateway(_start(nginx, files.directory), files.directory, base_url)
    try:
        _wait_ready(gateway.process, f"{base_url}/SST/v1/")
        yield gateway
    finally:
        if gateway.process.poll() is None:
            gateway.process.send_signal(signal.SIGTERM)  # fast shutdown: master and workers
            try:
                gateway.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(gateway.process.pid, signal.SIGKILL)  # its own group, ours
                gateway.process.wait()


def with_upstream_keepalive(config: str, entity: str, upstream: str) -> str:
    """The proposed change for one entity: ``proxy_pass`` through an ``upstream`` block.

    ``proxy_http_version 1.1`` and ``proxy_set_header Connection ""`` (which the generator
    already writes) only keep connections open when the pool exists.

    Raises:
        RuntimeError: the generated text no longer looks as expected (e.g. the generator
            writes the pool itself now): the comparison would measure nothing.
    """
    if re.search(r"^\s*upstream\s", config, re.MULTILINE):
        raise RuntimeError("the generated nginx.conf already has an upstream block")
    name = f"sst_{entity.lower()}"
    direct = f"proxy_pass {upstream}/;"
    block = config.find(f"location /SST/v1/{entity}/ {{")
    at = config.find(direct, block) if block >= 0 else -1
    if at < 0 or "\n    server {\n" not in config:
        raise RuntimeError(f"cannot find {entity}'s proxy_pass in the generated nginx.conf")
    config = config[:at] + f"proxy_pass http://{name}/;" + config[at + len(direct) :]
    pool = (
        f"    upstream {name} {{\n"
        f"        server {upstream.removeprefix('http://')};\n"
        f"        keepalive {KEEPALIVE};\n"
        f"        keepalive_timeout {KEEPALIVE_TIMEOUT};\n"
        "    }\n\n"
    )
    return config.replace("\n    server {\n", f"\n{pool}    server {{\n", 1)


def log_problems(error_log: Path) -> list[str]:
    """Whatever nginx logged (warn and above): a refusal by a limit, an upstream error."""
    if not error_log.exists():
        return []
    return [line.strip() for line in error_log.read_text(errors="replace").splitlines()][:5]


def _start(nginx: str, folder: Path) -> subprocess.Popen[bytes]:
    command = [nginx, "-p", str(folder), "-c", "nginx.conf", "-e", str(folder / "logs/error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration: {checked.stderr.strip()}")
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("nginx exited at start; see its logs/error.log")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nginx did not answer {url} within {timeout:g} s")
