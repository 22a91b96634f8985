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

An entity whose registry entry names its existing ``custodian`` is *split*: the custodian
is another vendor's unmodified product and keeps its own URLs, the SST bolt-on (``upstream``)
answers beside it under the same prefix.  The bolt-on gets the SST resources below a usage
point (RateInformation, BillComparison, RateChangeRequest and all below them), the
UsageSummary documents (they carry the RINs, Cal. PUC 1623(c)) and its own pages under
``/sst/``, through regex locations anchored at the prefix and matched against nginx's
normalized URI (decoded, dot segments resolved, slashes merged), which is also the URI sent
on, so the bolt-on always sees the path that was routed.  Everything else goes to the
custodian with the prefix replaced by its path and no ``X-Forwarded-Prefix`` (it builds its
URLs from its own configured public base); its relative redirects and cookies under its
own path are moved under the prefix, and the bolt-on's cookies under ``prefix/sst/``.

``{prefix}/metrics`` (each server's Prometheus exposition) is never proxied: the gateway
answers it 404.  ``GET /SST/v1/`` serves the directory (``directory.py``) from a file written with the
configuration; unknown paths get a JSON 404 naming that directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import _conf
from ._conf import Writer, comment, safe_path
from .directory import RESOURCE_PATH, serialize_directory
from .registry import SST_PREFIX, Entity, GatewayRegistry

CONFIG_NAME = "nginx.conf"
DIRECTORY_NAME = "directory.json"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's; for https upstreams
VERIFY_CLIENT = ("optional", "on")
# Beside an unmodified custodian, what the bolt-on answers under the entity's prefix: the SST
# resources below a usage point (sst_routes.py), the UsageSummary documents (the RINs) and
# its own SST pages and API.  Everything else is the custodian's.
SST_RESOURCES = ("RateInformation", "BillComparison", "RateChangeRequest")
BOLT_ON_PAGES = "/sst"
METRICS_PATH = "/metrics"
"""Each server's Prometheus exposition: answered 404 by the gateway, never proxied."""

_LISTEN = re.compile(r"(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}", re.ASCII)
_SIZE = re.compile(r"\d{1,6}[km]?", re.ASCII)
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
    wait = _conf.retry_after(rate, "rate")
    _conf.retry_after(address_rate, "address_rate")
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
        return safe_path(Path(prefix_dir) / name if prefix_dir is not None else name)

    has_https_upstream = any(
        url.startswith("https:")
        for e in registry.entities
        for url in (e.upstream, e.custodian or "")
    )
    hsts = ['add_header Strict-Transport-Security "max-age=31536000" always;'] if tls else []
    out = Writer()
    out.line("# The espi-sst statewide gateway (concept design 2.2.2, 7.16), generated by")
    out.line(f"# `espi-sst gateway` from {comment(registry.source)}: regenerate, do not edit.")
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
            'log_format sst \'$remote_addr [$time_local] "$request_method $uri" $status '
            "$body_bytes_sent $request_time upstream=$upstream_addr $upstream_status "
            "$upstream_response_time request_id=$request_id';"
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
        out.line("# One pool of kept-alive connections per entity's server: without an upstream")
        out.line("# block nginx opens a new connection for every request (measured in")
        out.line("# bench/ANALYSIS_GATEWAY.md: ~1 ms and ~1 ms of server CPU per request).")
        for entity in registry.entities:
            _upstream_pool(out, pool_name(entity.id), entity.upstream)
            if entity.custodian is not None:
                _upstream_pool(out, pool_name(entity.id, custodian=True), entity.custodian)
        out.line()
        with out.block("server"):
            out.line(f"listen {listen}{' ssl' if tls else ''};")
            host = urlsplit(registry.public_base_url).hostname or "_"
            out.line(f"server_name {f'[{host}]' if ':' in host else host};")
            if tls:
                assert tls_cert is not None and tls_key is not None  # checked above
                out.line(f"ssl_certificate {safe_path(tls_cert)};")
                out.line(f"ssl_certificate_key {safe_path(tls_key)};")
                out.line("ssl_protocols TLSv1.2 TLSv1.3;")
                out.line(f"ssl_ciphers {_TLS12_CIPHERS};")
                out.line("ssl_prefer_server_ciphers off;")
                out.line("ssl_session_cache shared:sst_tls:10m;")
                out.line("ssl_session_timeout 1d;")
                out.line("ssl_session_tickets off;")
            if client_ca is not None:
                out.line(f"ssl_client_certificate {safe_path(client_ca)};")
                out.line(f"ssl_verify_client {verify_client};")
                out.line("ssl_verify_depth 3;")
            out.line()
            # The servers gzip the big feeds themselves when the client asks, as they stream
            # them (resource/feed_response.py): the gateway passes Content-Encoding and Vary
            # through and never compresses a second time.
            out.line("gzip off;")
            out.line(f"limit_req zone=sst_client{_conf.burst(burst)};")
            out.line(f"limit_req zone=sst_address{_conf.burst(address_burst)};")
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
            ca = safe_path(upstream_ca) if has_https_upstream else ""
            for entity in registry.entities:
                out.line()
                _entity_locations(out, registry, entity, client_dn, ca, hsts)
            out.line()
            for head, status, error, description, extra in _answers(
                wait, client_max_body_size, tls
            ):
                out.json_location(
                    head,
                    status,
                    {
                        "error": error,
                        "error_description": description,
                        **({"directory": registry.directory_url} if status == 404 else {}),
                    },
                    [*hsts, *extra],
                )
    return out.text()


def write_nginx_gateway(
    registry: GatewayRegistry,
    directory: str | os.PathLike[str],
    **options: Any,
) -> GatewayFiles:
    """Write ``nginx.conf`` and ``directory.json`` into ``directory`` (created as needed).

    Paths in the configuration are absolute, so ``nginx -p DIR -c nginx.conf`` and
    ``nginx -c DIR/nginx.conf`` both work; ``logs/`` and ``temp/`` are created here
    because nginx does not create a missing log directory.  Options: as
    :func:`render_nginx_config` (``prefix_dir`` is this directory).
    """
    folder = Path(directory).resolve()
    text = render_nginx_config(registry, prefix_dir=folder, **options)
    for sub in ("logs", "temp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    directory_json = _replace(folder / DIRECTORY_NAME, serialize_directory(registry))
    config = _replace(folder / CONFIG_NAME, text)
    return GatewayFiles(folder, config, directory_json)


def _replace(path: Path, text: str) -> Path:
    """Write whole or not at all: a running nginx (reload) never reads half a file."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)
    return path


def pool_name(entity_id: str, *, custodian: bool = False) -> str:
    """The ``upstream`` block of an entity's server (ids are capitals and digits, so the
    custodian's ``_custodian`` suffix never meets another entity's name)."""
    return f"sst_{entity_id.lower()}{'_custodian' if custodian else ''}"


@dataclass(frozen=True)
class _Proxy:
    """One server behind one entity's prefix, and what the gateway tells it.

    ``announce``: our own servers (standalone or bolt-on) are told the public prefix in
    ``X-Forwarded-Prefix`` and build every URL under it; an unmodified custodian is not (it
    builds its URLs from its own configured public base and may not expect the header), so
    its relative redirects under its own path are moved under the prefix instead.
    ``cookie_root``: where the server's cookies for ``/`` (its path) go.
    """

    pool: str
    url: str  # http(s)://host[:port][/path], from the registry
    prefix: str  # the entity's public prefix, /SST/v1/{id}
    announce: bool
    cookie_root: str

    @property
    def path(self) -> str:
        path = urlsplit(self.url).path.rstrip("/")
        if not _UPSTREAM_PATH.fullmatch(path):
            raise ValueError(f"{self.url}: the path {path!r} has unusual characters")
        return path


def _proxies(registry: GatewayRegistry, entity: Entity) -> tuple[_Proxy, _Proxy | None]:
    """The entity's server (the bolt-on when split) and its custodian (None: not split)."""
    prefix = registry.base_path(entity.id)
    if entity.custodian is None:
        return _Proxy(pool_name(entity.id), entity.upstream, prefix, True, prefix), None
    # The bolt-on's browser pages beside a custodian are its SST pages only: its cookies
    # stay there, apart from the custodian's (which may have the same names) under prefix.
    bolt_on = _Proxy(pool_name(entity.id), entity.upstream, prefix, True, prefix + BOLT_ON_PAGES)
    custodian = _Proxy(
        pool_name(entity.id, custodian=True), entity.custodian, prefix, False, prefix
    )
    return bolt_on, custodian


def _bolt_on_patterns(prefix: str) -> tuple[str, str]:
    """Regexes (nginx ``location ~``, matched against the decoded, dot-segment-free and
    slash-merged URI) of the ESPI paths the bolt-on answers beside a custodian.

    The SST resources with everything below them (any method: a rate change is POSTed,
    confirmed and DELETEd), and the UsageSummary feed and entries, which carry the RINs
    (Cal. PUC 1623(c); concept design 6.1) and the ``?SST=BillComparison`` form.  ``{sid}``
    and ``{uid}`` are one segment each, so ``UsageSummaryX`` or a UsageSummary elsewhere in
    the tree stays the custodian's.
    """
    point = f"^{re.escape(prefix + RESOURCE_PATH)}/Subscription/[^/]+/UsagePoint/[^/]+/"
    return (
        point + f"(?:{'|'.join(SST_RESOURCES)})(?:/.*)?$",
        point + "UsageSummary(?:/[^/]+)?$",
    )


def _upstream_pool(out: Writer, name: str, upstream: str) -> None:
    """``upstream NAME``: one server with idle connections kept for reuse.

    The server must keep connections open longer than nginx does (gunicorn
    ``--keep-alive 75`` against ``keepalive_timeout 60s``), or nginx may send a request
    on a connection the server is closing (docs/deployment.md).
    """
    parts = urlsplit(upstream)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    address = f"[{host}]" if ":" in host else host
    with out.block(f"upstream {name}"):
        out.line(f"server {address}:{port};")
        out.line("keepalive 32;")
        out.line("keepalive_timeout 60s;")
        out.line("keepalive_requests 10000;")


def _entity_locations(
    out: Writer,
    registry: GatewayRegistry,
    entity: Entity,
    client_dn: str,
    upstream_ca: str,
    hsts: list[str],
) -> None:
    """An entity's locations: all of its prefix to its server, or, split, the bolt-on's
    paths to the bolt-on and the rest of the prefix to the unmodified custodian."""
    server, custodian = _proxies(registry, entity)
    common = (client_dn, upstream_ca, hsts)
    # The entity's Prometheus metrics are its operators' (server/ops/metrics_endpoint.py):
    # never passed through, whatever the server behind would answer.
    out.json_location(
        f"location = {server.prefix}{METRICS_PATH}",
        404,
        {
            "error": "not_found",
            "error_description": "metrics are not served through the gateway",
            "directory": registry.directory_url,
        },
        hsts,
    )
    if custodian is None:
        _proxy_location(out, server, "/", None, *common)
        return
    out.line(f"# {entity.id}: the SST bolt-on beside an unmodified custodian (split).")
    for pattern in _bolt_on_patterns(server.prefix):
        _proxy_location(out, server, None, pattern, *common)
    _proxy_location(out, server, BOLT_ON_PAGES + "/", None, *common)
    _proxy_location(out, custodian, "/", None, *common)


def _proxy_location(
    out: Writer,
    proxy: _Proxy,
    tail: str | None,
    pattern: str | None,
    client_dn: str,
    upstream_ca: str,
    hsts: list[str],
) -> None:
    """One reverse-proxy location: ``{prefix}{tail}`` (a prefix location), or the regex
    ``pattern`` anchored at the prefix, to ``proxy`` with the prefix replaced by its path.

    ``client_dn``: the nginx value of ``X-SSL-Client-DN``.
    """
    prefix, path = proxy.prefix, proxy.path
    parts = urlsplit(proxy.url)
    if pattern is None:
        # ``^~``: below an entity's prefix, a longer prefix is never overruled by a regex.
        head = f"location {'^~ ' if tail != '/' else ''}{prefix}{tail}"
    else:
        head = f"location ~ {pattern}"
    with out.block(head):
        if pattern is None:
            out.line(f"proxy_pass {parts.scheme}://{proxy.pool}{path}{tail};")
        else:
            # A regex location's proxy_pass takes no path: rewrite the (normalized) URI,
            # which nginx escapes again when it sends it, and keep the query.
            out.line(f"rewrite ^{re.escape(prefix)}(/.*)$ {path}$1 break;")
            out.line(f"proxy_pass {parts.scheme}://{proxy.pool};")
        out.line("proxy_http_version 1.1;")
        out.line('proxy_set_header Connection "";')
        out.line("proxy_set_header Host $host;")
        out.line("proxy_set_header X-Forwarded-For $remote_addr;")
        out.line("proxy_set_header X-Forwarded-Proto $scheme;")
        out.line("proxy_set_header X-Forwarded-Host $host;")
        out.line("proxy_set_header X-Forwarded-Port $server_port;")
        # Set or emptied (an empty header is not sent): a client's own never passes.
        announced = prefix if proxy.announce else '""'
        out.line(f"proxy_set_header X-Forwarded-Prefix {announced};")
        out.line('proxy_set_header Forwarded "";')
        # nginx's own id for this request, logged above and by the app (observability/logs.py)
        out.line("proxy_set_header X-Request-Id $request_id;")
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
        out.line(f"proxy_redirect {proxy.url}/ {prefix}/;")
        if not proxy.announce and path:
            out.line(f"proxy_redirect {path}/ {prefix}/;  # relative, under its own path")
        escaped = path.replace(".", r"\.")
        out.line(f"proxy_cookie_path ~^{escaped}(/(?!SST/v1/).*)?$ {proxy.cookie_root}$1;")
        if parts.scheme == "https":
            out.line("proxy_ssl_server_name on;")
            out.line(f"proxy_ssl_name {parts.hostname};  # the pool's name is not the host's")
            out.line("proxy_ssl_protocols TLSv1.2 TLSv1.3;")
            out.line("proxy_ssl_verify on;")
            out.line("proxy_ssl_verify_depth 3;")
            out.line(f"proxy_ssl_trusted_certificate {upstream_ca};")
        out.lines(hsts)


def _answers(wait: int, body_size: str, tls: bool) -> list[tuple[str, int, str, str, list[str]]]:
    """The gateway's own answers: (location, status, error, description, extra headers).

    The same JSON shape as the servers' errors (RFC 6749 5.2), so an ASP reads a refusal by
    the gateway as it reads one by a utility.  Descriptions stay free of quotes and ``$``.
    """
    answers = [
        (
            f"location {SST_PREFIX}/",
            404,
            "unknown_entity",
            "no such entity at this gateway; see the directory",
            [],
        ),
        ("location /", 404, "not_found", f"the SST API is under {SST_PREFIX}/", []),
        (
            "location @sst_rate_limited",
            429,
            "too_many_requests",
            f"too many requests; retry after {wait} s",
            [f"add_header Retry-After {wait} always;"],
        ),
        (
            "location @sst_too_large",
            413,
            "request_too_large",
            f"the body is larger than {body_size}",
            [],
        ),
        (
            "location @sst_bad_gateway",
            502,
            "upstream_unavailable",
            "the entity server did not answer; try later",
            ["add_header Retry-After 30 always;"],
        ),
        (
            "location @sst_gateway_timeout",
            504,
            "upstream_timeout",
            "the entity server did not answer in time",
            [],
        ),
    ]
    if tls:
        answers.append(
            (
                "location @sst_client_certificate",
                400,
                "invalid_client_certificate",
                "a valid TLS client certificate is required",
                [],
            )
        )
    return answers
