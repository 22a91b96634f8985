"""The statewide gateway on loopback: our own utility servers behind Debian's nginx.

Each entity's server is a real ``create_app`` on a werkzeug thread, configured as it would
be behind the gateway (``ISSUER`` under the gateway, ``TRUSTED_PROXY_HOPS = 1``); a small
WSGI wrapper records the headers each one receives from nginx.  nginx runs the
configuration :mod:`espi_sst_server.gateway` generates, as a foreground master on a free
port.  Tests skip without nginx unless ``ESPI_REQUIRE_NGINX`` is set (CI: .ci/run installs
it), so a missing nginx fails there instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from espi_sst_server import create_app
from espi_sst_server.demo import DemoData, seed
from espi_sst_server.gateway import (
    GatewayFiles,
    GatewayRegistry,
    parse_gateway_registry,
    write_nginx_gateway,
)
from espi_sst_server.storage import db
from werkzeug.serving import WSGIRequestHandler, make_server

RECORDED = (
    "REMOTE_ADDR",
    "HTTP_HOST",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_SSL_CLIENT_DN",
    "HTTP_FORWARDED",
    "HTTP_COOKIE",
    "PATH_INFO",
)


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if os.environ.get("ESPI_REQUIRE_NGINX"):
            pytest.fail("ESPI_REQUIRE_NGINX is set but nginx is not installed")
        pytest.skip("Debian's nginx is not installed (.ci/run installs it)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # nginx's access log has every request


class Recorder:
    """WSGI middleware keeping the gateway-related environ of every request (before ProxyFix)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.seen: list[dict[str, str | None]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.seen.append({key: environ.get(key) for key in RECORDED})
        return self.app(environ, start_response)


@dataclass
class Upstream:
    """One entity's own server, as the gateway reaches it."""

    entity_id: str
    url: str
    app: Any
    recorder: Recorder
    demo: DemoData | None = None


@dataclass
class World:
    gateway: str  # http://127.0.0.1:PORT, the registry's public_base_url
    upstreams: dict[str, Upstream]
    registry: GatewayRegistry
    files: GatewayFiles
    extra: dict[str, Any] = field(default_factory=dict)

    def issuer(self, entity_id: str) -> str:
        return f"{self.gateway}/SST/v1/{entity_id}"


@contextmanager
def upstream_servers(
    folder: Path, gateway: str, entity_ids: Iterable[str], *, seeded: Iterable[str] = ()
) -> Iterator[dict[str, Upstream]]:
    """Start one server per entity; ``seeded`` ones get the demo utility's data."""
    seeded = set(seeded)
    servers = []
    found: dict[str, Upstream] = {}
    try:
        for entity_id in entity_ids:
            app = create_app(
                {
                    "DATABASE_URL": f"sqlite:///{folder}/{entity_id.lower()}.db",
                    "ISSUER": f"{gateway}/SST/v1/{entity_id}",
                    "TRUSTED_PROXY_HOPS": 1,
                    "SECRET_KEY": f"gateway-test-{entity_id}",
                    "UTILITY_NAME": entity_id,
                }
            )
            demo = None
            if entity_id in seeded:
                with app.app_context(), db.transaction() as session:
                    demo = seed(session, now=int(time.time()))
            recorder = Recorder(app)
            server = make_server(
                "127.0.0.1", 0, recorder, threaded=True, request_handler=_QuietHandler
            )
            servers.append((server, app))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_address[1]}"
            found[entity_id] = Upstream(entity_id, url, app, recorder, demo)
        yield found
    finally:
        for server, app in servers:
            server.shutdown()
            server.server_close()
            app.extensions["espi_sst_db"].engine.dispose()


@dataclass
class RecordingServer:
    """A stand-in server that answers every request with a JSON account of what it got."""

    name: str
    url: str  # http://127.0.0.1:PORT[/path]: its base, as the registry names it
    seen: list[dict[str, Any]] = field(default_factory=list)


def _recording_app(server: RecordingServer) -> Callable[..., Any]:
    """Any method, any path: 200 with ``{"server", "method", "path", "raw_path", "query",
    "headers"}``.  ``?set_cookie=PATH`` adds ``Set-Cookie: seen=1; Path=PATH`` and
    ``?redirect=LOCATION`` answers 302 to it, for the gateway's cookie and redirect moves."""
    import json
    from urllib.parse import parse_qs

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        record = {
            "server": server.name,
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "raw_path": environ.get("RAW_URI") or environ.get("REQUEST_URI", ""),
            "query": environ.get("QUERY_STRING", ""),
            "body": environ["wsgi.input"].read(length).decode() if length else "",
            "headers": {
                key[5:].replace("_", "-").title(): value
                for key, value in environ.items()
                if key.startswith("HTTP_")
            },
        }
        server.seen.append(record)
        asked = parse_qs(record["query"])
        headers = [("Content-Type", "application/json")]
        if "set_cookie" in asked:
            headers.append(("Set-Cookie", f"seen=1; Path={asked['set_cookie'][0]}"))
        status = "200 OK"
        if "redirect" in asked:
            status = "302 Found"
            headers.append(("Location", asked["redirect"][0]))
        start_response(status, headers)
        return [json.dumps(record).encode()]

    return app


@contextmanager
def recording_servers(names: dict[str, str]) -> Iterator[dict[str, RecordingServer]]:
    """One :class:`RecordingServer` per ``{name: base path}`` on loopback, until the block ends."""
    started = []
    found: dict[str, RecordingServer] = {}
    try:
        for name, path in names.items():
            record = RecordingServer(name, "")
            server = make_server(
                "127.0.0.1", 0, _recording_app(record), threaded=True, request_handler=_QuietHandler
            )
            started.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            record.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
            found[name] = record
        yield found
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


def california(gateway: str, upstreams: dict[str, Upstream]) -> GatewayRegistry:
    """PG&E and SCE (IOUs) and Peninsula Clean Energy (a CCA in PG&E's territory)."""
    return parse_gateway_registry(
        {
            "format": "espi-sst-gateway-registry/1",
            "public_base_url": gateway,
            "entities": [
                {
                    "id": "PGE",
                    "name": "Pacific Gas and Electric",
                    "kind": "IOU",
                    "upstream": upstreams["PGE"].url,
                },
                {
                    "id": "SCE",
                    "name": "Southern California Edison",
                    "kind": "IOU",
                    "upstream": upstreams["SCE"].url,
                },
                {
                    "id": "PCE",
                    "name": "Peninsula Clean Energy",
                    "kind": "CCA",
                    "upstream": upstreams["PCE"].url,
                    "udc": "PGE",
                    "online_accounts": False,
                },
            ],
        }
    )


@contextmanager
def running_nginx(
    registry: GatewayRegistry, folder: Path, port: int, **options: Any
) -> Iterator[GatewayFiles]:
    """nginx with the generated configuration on 127.0.0.1:``port`` until the block ends."""
    nginx = nginx_binary()
    files = write_nginx_gateway(
        registry,
        folder,
        listen=f"127.0.0.1:{port}",
        daemon=False,
        worker_processes=1,
        # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700
        # folders to read directory.json.
        user="root" if os.geteuid() == 0 else None,
        **options,
    )
    error_log = files.directory / "logs" / "error.log"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(files.directory), "-c", "nginx.conf", "-e", str(error_log)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    with (files.directory / "nginx.out").open("w") as output:
        process = subprocess.Popen(
            [nginx, "-p", str(files.directory), "-c", "nginx.conf", "-e", str(error_log)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError("nginx exited: " + (files.directory / "nginx.out").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("nginx did not start listening") from None
                time.sleep(0.05)
        yield files
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown of the master and its workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def gateway_world(
    folder: Path, *, seeded: Iterable[str] = ("PGE",), **options: Any
) -> Iterator[World]:
    """Three upstreams (PGE seeded), the registry, and nginx in front of them."""
    port = free_port()
    gateway = f"{'https' if options.get('tls_cert') else 'http'}://127.0.0.1:{port}"
    with ExitStack() as stack:
        upstreams = stack.enter_context(
            upstream_servers(folder, gateway, ("PGE", "SCE", "PCE"), seeded=seeded)
        )
        registry = california(gateway, upstreams)
        files = stack.enter_context(running_nginx(registry, folder / "gateway", port, **options))
        yield World(gateway, upstreams, registry, files)


@dataclass(frozen=True)
class Pki:
    """A test CA, the gateway's certificate for 127.0.0.1, and an ASP's client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_subject: str  # RFC 4514, as nginx's $ssl_client_s_dn gives it


def make_pki(folder: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(common: str, org: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(NameOID.COMMON_NAME, common),
            ]
        )

    def issue(
        subject: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name,
        signer: ec.EllipticCurvePrivateKey,
        *,
        ca: bool,
        usage: list[x509.ObjectIdentifier] | None = None,
        ip: str | None = None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        if ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                critical=False,
            )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        return builder.sign(signer, hashes.SHA256())

    def save(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Path:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("SST Test ASP CA", "SST Test")
    ca_cert = issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = issue(
        name("127.0.0.1", "SST Test Gateway"),
        server_key,
        ca_name,
        ca_key,
        ca=False,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        ip="127.0.0.1",
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_name = name("demo-energy-insights", "Demo Energy Insights")
    client_cert = issue(
        client_name,
        client_key,
        ca_name,
        ca_key,
        ca=False,
        usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    save(folder / "ca.pem", ca_cert, ca_key)
    save(folder / "server.pem", server_cert, server_key)
    save(folder / "client.pem", client_cert, client_key)
    return Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        client_subject=client_name.rfc4514_string(),
    )
