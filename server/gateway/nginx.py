"""The statewide gateway as an nginx configuration (concept design 2.2.2, 6.2, 7.12, 7.16).

The SST is a thin API proxy gateway with no data of its own: one public entry,
``/SST/v1/{entity}/...``, routed to each participating entity's server, which stays the
custodian of its customers (7.16: "the SST API Proxy Gateway layer has no awareness nor
responsibility to manage access of ASP on behalf of customers").  What the gateway does own
is table 14's gateway column: TLS 1.2+ against man-in-the-middle attacks, and rate limiting
against credential stuffing and brute force.  Hence, per entity, a plain reverse proxy:

* the prefix is stripped and told to the upstream in ``X-Forwarded-Prefix`` together with
  the public scheme, host and port, so the upstream (``TRUSTED_PROXY_HOPS = 1``: Werkzeug's
  ProxyFix) builds every URL under the gateway.  The gateway *sets* these headers, never
  appends, so a client cannot forge them; likewise ``X-SSL-Client-DN`` is the verified
  client certificate's subject or nothing.
* nothing is cached (every answer is one customer's data under one token) and nothing is
  written to disk: request bodies fit the body buffer, responses the proxy buffers
  (``proxy_max_temp_file_size 0``), so customer data never lands in temp files.
* the upstream's session cookie (path ``/``) is moved under the entity's prefix, so the
  PG&E portal's cookie is never sent to SCE's, although both live on one host.
* requests are limited per client: the verified client certificate's subject when there is
  one, else the ``Authorization`` header (an ASP's bearer token or basic credentials), else
  the remote address; a looser limit per address stops spraying of made-up credentials.
  A refusal is 429 with ``Retry-After`` and a JSON body, as the servers' own limits answer.

``GET /SST/v1/`` serves the directory (``directory.py``) from a file written with the
configuration; unknown paths get a JSON 404 naming that directory.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .directory import serialize_directory
from .registry import SST_PREFIX, GatewayRegistry

CONFIG_NAME = "nginx.conf"
DIRECTORY_NAME = "directory.json"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's; for https upstreams
VERIFY_CLIENT = ("optional", "on")

_LISTEN = re.compile(r"(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}", re.ASCII)
_RATE = re.compile(r"([1-9]\d{0,5})r/([sm])", re.ASCII)
_SIZE = re.compile(r"\d{1,6}[km]?", re.ASCII)
_UNSAFE_PATH = re.compile(r"[\s\"'\\;{}$#]")
_UPSTREAM_PATH = re.compile(r"[A-Za-z0-9._~/-]*", re.ASCII)
# Mozilla's "intermediate" TLS 1.2 suites (TLS 1.3 suites are OpenSSL's defaults).
_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)


@dataclass(frozen=True)
class GatewayFiles:
    """What :func:`write_nginx_gateway` wrote."""

    directory: Path  # the prefix directory: nginx -p DIR -c nginx.conf
    config: Path
    directory_json: Path


def render_nginx_config(
    registry: GatewayRegistry,
    *,
    listen: str = "127.0.0.1:8443",
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    client_ca: str | os.PathLike[str] | None = None,
    verify_client: str = "optional",
    rate: str = "10r/s",
    burst: int = 20,
    address_rate: str = "50r/s",
    address_burst: int = 100,
    prefix_dir: str | os.PathLike[str] | None = None,
    daemon: bool = True,
    worker_processes: int | str = "auto",
    user: str | None = None,
    client_max_body_size: str = "1m",
    upstream_ca: str | os.PathLike[str] = SYSTEM_CA_BUNDLE,
) -> str:
    """A complete ``nginx.conf`` for the gateway.

    Args:
        registry: the participating entities (:func:`~.registry.load_gateway_registry`).
        listen: nginx's ``listen`` address (``host:port`` or a port).
        tls_cert, tls_key: PEM files; both or neither.  With them the gateway terminates
            TLS 1.2 / 1.3 (7.16: TLS1.2+) and sends HSTS.
        client_ca: PEM CA bundle for mutual TLS (needs TLS); ASP certificates it signs are
            verified and their subject DN passed upstream as ``X-SSL-Client-DN``.
        verify_client: ``optional`` (default: customers' browsers reach the portals through
            the gateway without certificates) or ``on`` (every client needs one).
        rate, burst: per client (nginx notation, ``10r/s`` or ``600r/m``).
        address_rate, address_burst: per remote address, above all of its clients.
        prefix_dir: where the pid file, logs, temp files and directory.json live (absolute
            paths in the file); None: paths relative to ``nginx -p DIR``.
        daemon: False writes ``daemon off;`` (a foreground master, for tests and systemd).
        worker_processes: nginx's count, or ``auto`` (one per CPU).
        user: the workers' user when nginx starts as root (None: nginx's default).
        client_max_body_size: the largest request body; bodies are kept in memory.
        upstream_ca: CA bundle that https upstreams' certificates are verified against.

    Raises:
        ValueError: an option nginx would refuse or that would be unsafe to write.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("give both tls_cert and tls_key, or neither")
    tls = tls_cert is not None
    if client_ca is not None and not tls:
        raise ValueError("mutual TLS (client_ca) needs TLS: give tls_cert and tls_key")
    if verify_client not in VERIFY_CLIENT:
        raise ValueError(f"verify_client must be one of {', '.join(VERIFY_CLIENT)}")
    if not _LISTEN.fullmatch(listen):
        raise ValueError(f"listen {listen!r} is not host:port or a port")
    retry_after = _retry_after(rate, "rate")
    _retry_after(address_rate, "address_rate")
    for name, value in (("burst", burst), ("address_burst", address_burst)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100_000:
            raise ValueError(f"{name} must be a whole number from 0 to 100000")
    if not _SIZE.fullmatch(client_max_body_size):
        raise ValueError(f"client_max_body_size {client_max_body_size!r} is not like 1m or 512k")
    if not (str(worker_processes) == "auto" or str(worker_processes).isdigit()):
        raise ValueError("worker_processes must be a number or auto")
    if user is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", user):
        raise ValueError(f"user {user!r} is not a user name")

    def place(name: str) -> str:
        return _path(Path(prefix_dir) / name if prefix_dir is not None else name)

    has_https_upstream = any(e.upstream.startswith("https:") for e in registry.entities)
    hsts = ['add_header Strict-Transport-Security "max-age=31536000" always;'] if tls else []
    out = _Writer()
    out.line("# The espi-sst statewide gateway (concept design 2.2.2, 7.16), generated by")
    out.line(f"# `espi-sst gateway` from {_comment(registry.source)}: regenerate, do not edit.")
    if user is not None:
        out.line(f"user {user};")
    out.line(f"worker_processes {worker_processes};")
    if not daemon:
        out.line("daemon off;")
    out.line("master_process on;")
    out.line(f"pid {place('nginx.pid')};")
    out.line(f"error_log {place('logs/error.log')} warn;")
    out.line()
    with out.block("events"):
        out.line("worker_connections 1024;")
    out.line()
    with out.block("http"):
        out.line("server_tokens off;")
        out.line("types { }")
        out.line("default_type application/octet-stream;")
        out.line(
            "log_format sst '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent "
            "$request_time upstream=$upstream_addr $upstream_status $upstream_response_time';"
        )
        out.line(f"access_log {place('logs/access.log')} sst;")
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            out.line(f"{kind}_temp_path {place('temp/' + kind)};")
        out.line()
        out.line("# Bodies stay in memory (never in a temp file), and slow clients are cut off.")
        out.line(f"client_max_body_size {client_max_body_size};")
        out.line(f"client_body_buffer_size {client_max_body_size};")
        out.line("client_header_timeout 15s;")
        out.line("client_body_timeout 15s;")
        out.line("send_timeout 60s;")
        out.line("keepalive_timeout 30s;")
        out.line("absolute_redirect off;  # nginx's own redirects stay on the public origin")
        out.line()
        out.line("# Who a client is, for rate limits: certificate DN > Authorization > address.")
        with out.block("map $http_authorization $sst_client_by_credentials"):
            out.line('""      "address:$remote_addr";')
            out.line('default "authorization:$http_authorization";')
        if client_ca is not None:
            with out.block("map $ssl_client_verify $sst_client"):
                out.line('SUCCESS "dn:$ssl_client_s_dn";')
                out.line("default $sst_client_by_credentials;")
            with out.block("map $ssl_client_verify $sst_client_dn"):
                out.line("SUCCESS $ssl_client_s_dn;")
                out.line('default "";')
        client_key = "$sst_client" if client_ca is not None else "$sst_client_by_credentials"
        out.line(f"limit_req_zone {client_key} zone=sst_client:20m rate={rate};")
        out.line(f"limit_req_zone $binary_remote_addr zone=sst_address:10m rate={address_rate};")
        out.line("limit_req_status 429;")
        out.line("limit_req_log_level warn;")
        out.line()
        with out.block("server"):
            out.line(f"listen {listen}{' ssl' if tls else ''};")
            out.line(f"server_name {urlsplit(registry.public_base_url).hostname};")
            if tls:
                out.line(f"ssl_certificate {_path(tls_cert)};")  # type: ignore[arg-type]
                out.line(f"ssl_certificate_key {_path(tls_key)};")  # type: ignore[arg-type]
                out.line("ssl_protocols TLSv1.2 TLSv1.3;")
                out.line(f"ssl_ciphers {_TLS12_CIPHERS};")
                out.line("ssl_prefer_server_ciphers off;")
                out.line("ssl_session_cache shared:sst_tls:10m;")
                out.line("ssl_session_timeout 1d;")
                out.line("ssl_session_tickets off;")
            if client_ca is not None:
                out.line(f"ssl_client_certificate {_path(client_ca)};")
                out.line(f"ssl_verify_client {verify_client};")
                out.line("ssl_verify_depth 3;")
            out.line()
            out.line(f"limit_req zone=sst_client burst={burst} nodelay;")
            out.line(f"limit_req zone=sst_address burst={address_burst} nodelay;")
            out.line("error_page 413 @sst_too_large;")
            out.line("error_page 429 @sst_rate_limited;")
            out.line("error_page 502 @sst_bad_gateway;")
            out.line("error_page 504 @sst_gateway_timeout;")
            if tls:
                out.line("error_page 495 496 497 = @sst_client_certificate;")
            out.line()
            out.line("# The directory of participating entities (GET /SST/v1/).")
            with out.block(f"location = {SST_PREFIX}/"):
                out.line(f"rewrite ^ {SST_PREFIX}/directory last;")
            with out.block(f"location = {SST_PREFIX}/directory"):
                out.line(f"alias {place(DIRECTORY_NAME)};")
                out.line("types { }")
                out.line("default_type application/json;")
                out.line('add_header Cache-Control "no-cache" always;')
                out.line("add_header X-Content-Type-Options nosniff always;")
                out.lines(hsts)
            client_dn = "$sst_client_dn" if client_ca is not None else '""'
            ca = _path(upstream_ca) if has_https_upstream else ""
            for entity in registry.entities:
                out.line()
                _entity_location(out, registry, entity.id, entity.upstream, client_dn, ca, hsts)
            out.line()
            _json_location(
                out,
                f"location {SST_PREFIX}/",
                404,
                {
                    "error": "unknown_entity",
                    "error_description": "no such entity at this gateway; see the directory",
                    "directory": registry.directory_url,
                },
                hsts,
            )
            _json_location(
                out,
                "location /",
                404,
                {
                    "error": "not_found",
                    "error_description": f"the SST API is under {SST_PREFIX}/",
                    "directory": registry.directory_url,
                },
                hsts,
            )
            _json_location(
                out,
                "location @sst_rate_limited",
                429,
                {
                    "error": "too_many_requests",
                    "error_description": f"too many requests; retry after {retry_after} s",
                },
                [*hsts, f"add_header Retry-After {retry_after} always;"],
            )
            _json_location(
                out,
                "location @sst_too_large",
                413,
                {
                    "error": "request_too_large",
                    "error_description": f"the body is larger than {client_max_body_size}",
                },
                hsts,
            )
            _json_location(
                out,
                "location @sst_bad_gateway",
                502,
                {
                    "error": "upstream_unavailable",
                    "error_description": "the entity server did not answer; try later",
                },
                [*hsts, "add_header Retry-After 30 always;"],
            )
            _json_location(
                out,
                "location @sst_gateway_timeout",
                504,
                {
                    "error": "upstream_timeout",
                    "error_description": "the entity server did not answer in time",
                },
                hsts,
            )
            if tls:
                _json_location(
                    out,
                    "location @sst_client_certificate",
                    400,
                    {
                        "error": "invalid_client_certificate",
                        "error_description": "a valid TLS client certificate is required",
                    },
                    hsts,
                )
    return out.text()


def write_nginx_gateway(
    registry: GatewayRegistry,
    directory: str | os.PathLike[str],
    **options: object,
) -> GatewayFiles:
    """Write ``nginx.conf`` and ``directory.json`` into ``directory`` (created as needed).

    Paths in the configuration are absolute, so ``nginx -p DIR -c nginx.conf`` and
    ``nginx -c DIR/nginx.conf`` both work; ``logs/`` and ``temp/`` are created here
    because nginx does not create a missing log directory.  Options: as
    :func:`render_nginx_config` (``prefix_dir`` is this directory).
    """
    folder = Path(directory).resolve()
    text = render_nginx_config(registry, prefix_dir=folder, **options)  # type: ignore[arg-type]
    for sub in ("logs", "temp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    directory_json = folder / DIRECTORY_NAME
    directory_json.write_text(serialize_directory(registry), encoding="utf-8")
    config = folder / CONFIG_NAME
    config.write_text(text, encoding="utf-8")
    return GatewayFiles(folder, config, directory_json)


def _entity_location(
    out: _Writer,
    registry: GatewayRegistry,
    entity_id: str,
    upstream: str,
    client_dn: str,
    upstream_ca: str,
    hsts: list[str],
) -> None:
    """One entity's reverse proxy (``client_dn``: the nginx value of ``X-SSL-Client-DN``)."""
    prefix = registry.base_path(entity_id)
    upstream_path = urlsplit(upstream).path.rstrip("/")
    if not _UPSTREAM_PATH.fullmatch(upstream_path):
        raise ValueError(f"{entity_id}: upstream path {upstream_path!r} has unusual characters")
    with out.block(f"location {prefix}/"):
        out.line(f"proxy_pass {upstream}/;")
        out.line("proxy_http_version 1.1;")
        out.line('proxy_set_header Connection "";')
        out.line("proxy_set_header Host $host;")
        out.line("proxy_set_header X-Forwarded-For $remote_addr;")
        out.line("proxy_set_header X-Forwarded-Proto $scheme;")
        out.line("proxy_set_header X-Forwarded-Host $host;")
        out.line("proxy_set_header X-Forwarded-Port $server_port;")
        out.line(f"proxy_set_header X-Forwarded-Prefix {prefix};")
        out.line('proxy_set_header Forwarded "";')
        # Empty unless a verified client certificate: a client's own header never passes.
        out.line(f"proxy_set_header X-SSL-Client-DN {client_dn};")
        out.line("proxy_connect_timeout 5s;")
        out.line("proxy_send_timeout 60s;")
        out.line("proxy_read_timeout 60s;  # bill comparisons may take a while (6.2.2.1)")
        out.line("proxy_buffering on;")
        out.line("proxy_buffer_size 16k;")
        out.line("proxy_buffers 32 16k;")
        out.line("proxy_busy_buffers_size 32k;")
        out.line("proxy_max_temp_file_size 0;  # customer data never in a temp file")
        out.line("proxy_no_cache 1;")
        out.line("proxy_cache_bypass 1;")
        out.line(f"proxy_redirect {upstream}/ {prefix}/;")
        escaped = upstream_path.replace(".", r"\.")
        out.line(f"proxy_cookie_path ~^{escaped}(/(?!SST/v1/).*)?$ {prefix}$1;")
        if upstream.startswith("https:"):
            out.line("proxy_ssl_server_name on;")
            out.line("proxy_ssl_protocols TLSv1.2 TLSv1.3;")
            out.line("proxy_ssl_verify on;")
            out.line("proxy_ssl_verify_depth 3;")
            out.line(f"proxy_ssl_trusted_certificate {upstream_ca};")
        out.lines(hsts)


def _json_location(
    out: _Writer, head: str, status: int, body: dict[str, str], headers: list[str]
) -> None:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
    if any(c in text for c in "'\\$"):  # nginx would read these as quoting or variables
        raise ValueError(f"cannot write {text!r} into nginx.conf")
    with out.block(head):
        out.line("default_type application/json;")
        out.line("add_header Cache-Control no-store always;")
        out.lines(headers)
        out.line(f"return {status} '{text}\\n';")


def _retry_after(rate: str, name: str) -> int:
    """Seconds until a refused client may try again: one request's share of the rate."""
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if not match:
        raise ValueError(f"{name} {rate!r} is not like 10r/s or 600r/m")
    per, unit = int(match.group(1)), match.group(2)
    return max(1, math.ceil((1 if unit == "s" else 60) / per))


def _path(value: str | os.PathLike[str]) -> str:
    text = os.fspath(value)
    if not text or _UNSAFE_PATH.search(text):
        raise ValueError(f"path {text!r} has characters nginx.conf cannot carry safely")
    return text


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


class _Writer:
    """Indented lines with ``with block("server"):`` sections."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0

    def line(self, text: str = "") -> None:
        self._lines.append(("    " * self._depth + text) if text else "")

    def lines(self, texts: list[str]) -> None:
        for text in texts:
            self.line(text)

    def block(self, head: str) -> _Block:
        return _Block(self, head)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


class _Block:
    def __init__(self, writer: _Writer, head: str) -> None:
        self._writer, self._head = writer, head

    def __enter__(self) -> None:
        self._writer.line(self._head + " {")
        self._writer._depth += 1

    def __exit__(self, *_exc: object) -> None:
        self._writer._depth -= 1
        self._writer.line("}")
