"""``espi-sst demo --statewide``: several entities behind one gateway, on 127.0.0.1.

* **PGE**, an IOU that caches its CCA customers' generation RINs (PG&E style);
* **SCE**, an IOU that does not (its CCA customers' UsageSummary says "ask the CCA");
* **PCE**, a CCA without online accounts: every authorization is routed to its UDC, PGE
  (concept design 7.3.5), which caches PCE's RINs;
* **CPA**, a CCA *with* online accounts behind SCE: where SCE's referral (``referTo``) leads
  when SCE does not cache CCA RINs (concept design 6.5.4.1, 7.3.5).  Its customers sign in
  there and the ASP gets the generation RIN from the CCA itself (issue 12: the referral
  once led to an entity that did not exist);
* the statewide gateway in front of them: Debian's nginx with the configuration
  ``espi-sst gateway`` generates when nginx is installed, otherwise an in-process
  dispatcher with the same URL layout (``/SST/v1/{entity}/...`` and ``/SST/v1/directory``);
* the **central authority** (issue 20; demo/authority.py) on its own port, ``authority_url``
  in demo.json: an ASP registers once there, the authority's staff approve it, and each
  entity's scheduled ``registry sync`` (demo/registry_loop.py, every
  ``--registry-interval`` seconds) creates its client at that entity -- the new secrets in
  ``registry-secrets.json``;
* the sample ASP app (connected to PGE through the gateway), the fake MIDAS server, the mail
  sink (``/SST/v1/{entity}/demo/inbox``), the SMS sink (``/SST/v1/{entity}/demo/sms``: the
  passcodes of customers who chose text messages, such as dana) and a worker per entity.

It also shows the rules of ASP qualification and phases (concept design 6.1, 6.4.2):

* **phases**: SCE is in SST Phase 1 (``SST_PHASE = 1``: RINs only) -- its discovery lists
  only ``sst:rin`` of the SST scopes, its consent page offers only RINs, and its
  BillComparison and RateChangeRequest endpoints answer 404 with a JSON body saying they are
  not offered yet; PGE and PCE are in Phase 3 (everything);
* **ASP classes**: ``demo-energy-insights`` is a rate-change ASP, ``demo-rate-coach-mobile``
  a data-only ASP (asking for ``sst:rate_change`` it gets ``invalid_scope``), and
  ``demo-solar-estimator`` is pending (refused: ``unauthorized_client``).

Every entity's server is an ordinary espi-sst server with its own SQLite database, seeded
with the demo customers; SCE's copy is relabelled as SCE's (its RINs ``USCA-SCSC-...``,
its CCA Clean Power Alliance ``USCA-XXCP-...``) so the two IOUs do not claim the same
customers' rates; CPA's copy is SCE's (the same customers, their generation from CPA).  ``demo.json`` lists every URL.

Beside ``demo.json`` it writes the conformance kit's CONFIGs (``demo.json``'s
``conformance`` says where): ``conformance.toml`` for PGE through the gateway (cached CCA
RINs, Phase 3) and ``conformance-SCE.toml`` (non-cached CCA RINs, Phase 1), so
``espi-sst conformance DIR/conformance.toml`` just works.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import posixpath
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from .. import create_app
from ..gateway.directory import serialize_directory
from ..gateway.nginx import write_nginx_gateway
from ..gateway.registry import GatewayRegistry, parse_gateway_registry
from ..lifecycle.classes import DATA_ONLY, set_asp_class
from ..storage import db
from ..storage.models import Application, Tariff, UsagePoint
from ..worker import Worker
from .authority import make_demo_authority
from .clients import DEMO_SCOPE
from .conformance_file import conformance_toml, write_conformance_config
from .data import DemoData
from .dev_server import DEFAULT_MAX_THREADS, DEFAULT_TIMEOUT, BoundedServer, make_dev_server
from .fake_midas import serve_fake_midas
from .mail_sink import MailSink
from .registry_loop import SecretStore, run_registry_sync
from .sample_asp import ASP_PORT, load_asp_factory, serve_sample_asp
from .seed import seed
from .sms_sink import SmsSink

ENTITIES: dict[str, dict[str, Any]] = {
    "PGE": {"name": "Pacific Gas and Electric (demo)", "kind": "IOU", "caches": True, "phase": 3},
    "SCE": {
        "name": "Southern California Edison (demo)",
        "kind": "IOU",
        "caches": False,
        "phase": 1,  # RINs only (concept design 6.1): bill comparison and rate change 404
    },
    "PCE": {"name": "Peninsula Clean Energy (demo)", "kind": "CCA", "udc": "PGE", "phase": 3},
    "CPA": {
        "name": "Clean Power Alliance (demo)",
        "kind": "CCA",
        "udc": "SCE",
        "online_accounts": True,
        "caches": True,  # a CCA holds its own generation RINs
        "phase": 3,
    },
}
DATA_ONLY_CLIENT = "demo-rate-coach-mobile"
"""The statewide demo's data-only ASP (concept design 6.4.2.1); the other qualified one,
``demo-energy-insights``, is a rate-change ASP (6.4.2.2)."""
NAMES = {
    "PGE": "Pacific Gas and Electric",
    "SCE": "Southern California Edison",
    "PCE": "Peninsula Clean Energy",
    "CPA": "Clean Power Alliance",
}


def relabel_as_sce(session: Session) -> None:
    """The demo seed is PG&E's; SCE's copy gets SCE's entity codes and RIN prefixes."""
    for tariff in session.query(Tariff):
        tariff.rin = tariff.rin.replace("-PGPG-", "-SCSC-").replace("-PGXX-", "-SCXX-")
        tariff.rin = tariff.rin.replace("-XXPE-", "-XXCP-")
        if tariff.iou_mirror_of:
            tariff.iou_mirror_of = tariff.iou_mirror_of.replace("-PGPG-", "-SCSC-")
        tariff.lse = {"PGE": "SCE", "PCE": "CPA"}.get(tariff.lse, tariff.lse)
        tariff.name = tariff.name.replace("PG&E", "SCE").replace(
            "Peninsula Clean Energy", "Clean Power Alliance"
        )
    session.execute(update(UsagePoint).where(UsagePoint.udc == "PGE").values(udc="SCE"))
    session.execute(update(UsagePoint).where(UsagePoint.lse == "PGE").values(lse="SCE"))
    session.execute(update(UsagePoint).where(UsagePoint.lse == "PCE").values(lse="CPA"))


@dataclass
class Entity:
    id: str
    app: Flask
    port: int
    demo: DemoData


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _entity_app(
    entity_id: str,
    data_dir: Path,
    gateway: str,
    sink: MailSink,
    *,
    behind_nginx: bool,
    sms: SmsSink | None = None,
    registry: dict[str, Any] | None = None,
) -> tuple[Flask, DemoData]:
    spec = ENTITIES[entity_id]
    database = data_dir / f"{entity_id.lower()}.db"
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "ISSUER": f"{gateway}/SST/v1/{entity_id}",
            "UTILITY_NAME": spec["name"],
            "DATA_CUSTODIAN_ID": entity_id.lower(),
            "ENTITY_ID": entity_id,
            "ENTITY_KIND": spec["kind"],
            "ONLINE_ACCOUNTS": _online_accounts(spec),
            "UDC_ENTITY": spec.get("udc"),
            "CACHED_CCA_RINS": bool(spec.get("caches", False)),
            "SST_PHASE": spec["phase"],
            "ENTITIES": {
                code: {"name": name, "url": f"{gateway}/SST/v1/{code}"}
                for code, name in NAMES.items()
            },
            "ENTITY_URL_TEMPLATE": gateway + "/SST/v1/{entity}",
            "TRUSTED_PROXY_HOPS": 1 if behind_nginx else 0,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": sink.port,
            "SMTP_STARTTLS": False,
            "MAIL_FROM": f"{spec['name']} <no-reply@{entity_id.lower()}.example>",
            "DEMO_MAILDIR": str(sink.maildir),
            "NOTIFY_ALLOW_LOOPBACK": True,  # the demo ASP listens on 127.0.0.1
            **(
                {}
                if sms is None
                else {"SMS_URL": sms.url, "SMS_TOKEN": sms.token, "DEMO_SMS_DIR": str(sms.folder)}
            ),
            **(registry or {}),
        }
    )
    with app.app_context(), db.transaction() as session:
        moment = int(time.time())
        demo = seed(session, now=moment)
        if entity_id in ("SCE", "CPA"):  # CPA serves SCE's CCA customers
            relabel_as_sce(session)
        mobile = session.scalar(
            select(Application).where(Application.client_id == DATA_ONLY_CLIENT)
        )
        assert mobile is not None
        set_asp_class(session, mobile, DATA_ONLY, actor="demo", now=moment, source="statewide demo")
    clients = tuple(
        replace(c, asp_class=DATA_ONLY) if c.client_id == DATA_ONLY_CLIENT else c
        for c in demo.clients
    )
    return app, replace(demo, clients=clients)


def _online_accounts(spec: dict[str, Any]) -> bool:
    """Whether an entity's customers can sign in there (IOUs always; a CCA when it says)."""
    return bool(spec.get("online_accounts", spec["kind"] != "CCA"))


def _registry(gateway: str, ports: dict[str, int]) -> GatewayRegistry:
    entities: list[dict[str, Any]] = []
    for code, spec in ENTITIES.items():
        entry: dict[str, Any] = {
            "id": code,
            "name": spec["name"],
            "kind": spec["kind"],
            "upstream": f"http://127.0.0.1:{ports[code]}",
        }
        if spec["kind"] == "CCA":
            entry["udc"] = spec["udc"]
            entry["online_accounts"] = _online_accounts(spec)
        entities.append(entry)
    return parse_gateway_registry(
        {"format": "espi-sst-gateway-registry/1", "public_base_url": gateway, "entities": entities},
        source="<statewide demo>",
    )


REGISTRY_INTERVAL = 15.0
"""Seconds between each entity's syncs of the authority's list in the demo (a real entity
syncs every few minutes: ``espi-sst registry sync --interval``, default 300)."""

CONFORMANCE_FILES = {"PGE": "conformance.toml", "SCE": "conformance-SCE.toml"}
"""The conformance kit's CONFIGs the statewide demo writes: PGE through the gateway (it
caches its CCA's RINs; Phase 3) and SCE (non-cached CCA RINs; Phase 1, RINs only)."""


def write_conformance_files(
    data_dir: Path, registry: GatewayRegistry, demos: dict[str, DemoData], *, notify_listen: bool
) -> dict[str, str]:
    """Write ``conformance.toml`` (PGE) and ``conformance-SCE.toml`` beside demo.json, each
    for the entity's issuer at the gateway, its phase and the data-only mobile ASP; returns
    {entity: path} for demo.json.  ``notify_listen``: the sample ASP is not running, so the
    kit may listen at the clients' notify URI (127.0.0.1:8765; one run at a time)."""
    written = {}
    for code, name in CONFORMANCE_FILES.items():
        issuer = registry.issuer(code)
        text = conformance_toml(
            demos[code],
            issuer=issuer,
            inbox_url=f"{issuer}/demo/inbox",
            sms_inbox_url=f"{issuer}/demo/sms",
            scope=DEMO_SCOPE,
            notify_listen=notify_listen,
            data_only_clients=frozenset({DATA_ONLY_CLIENT}),
            phase=int(ENTITIES[code]["phase"]),
            title=f"{NAMES[code]} in the statewide demo (through the gateway)",
        )
        written[code] = str(write_conformance_config(data_dir / name, text))
    return written


def _operations_urls(issuer: str, port: int, nginx: str | None) -> dict[str, str | None]:
    """An entity's probes through the gateway; its metrics only on its own loopback server
    (the gateway never passes ``/metrics`` on), which exists when nginx is the gateway."""
    return {
        "health_url": f"{issuer}/healthz",
        "ready_url": f"{issuer}/readyz",
        "metrics_url": f"http://127.0.0.1:{port}/metrics" if nginx is not None else None,
    }


def _hide_metrics(app: Flask) -> Any:
    """The in-process gateway hides ``/metrics`` as nginx does (gateway/nginx.py)."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if posixpath.normpath("/" + environ.get("PATH_INFO", "").lstrip("/")) == "/metrics":
            body = json.dumps(
                {"error": "not_found", "error_description": "metrics are not served here"}
            )
            return Response(body, status=404, mimetype="application/json")(environ, start_response)
        return app(environ, start_response)

    return guarded


def dispatcher(apps: dict[str, Flask], registry: GatewayRegistry) -> DispatcherMiddleware:
    """The gateway's URL layout in process (no nginx): the same paths, no rate limits."""
    directory = serialize_directory(registry).encode()

    def root(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") in ("/SST/v1", "/SST/v1/directory"):
            response = Response(directory, mimetype="application/json")
        else:
            response = Response(
                json.dumps(
                    {
                        "error": "not_found",
                        "error_description": f"no such entity; see {registry.directory_url}",
                    }
                ),
                status=404,
                mimetype="application/json",
            )
        return response(environ, start_response)

    return DispatcherMiddleware(
        root, {f"/SST/v1/{code}": _hide_metrics(app) for code, app in apps.items()}
    )


NGINX_KEEPALIVE_OUTLASTED = 75.0
"""Seconds an entity's server behind nginx keeps a silent connection: longer than the
gateway's upstream ``keepalive_timeout 60s``, as gunicorn's ``--keep-alive 75`` is, or nginx
may send a request on a connection the server is closing.  nginx's own client timeouts
(15 s) protect those loopback servers from slow clients."""


def _server(
    args: argparse.Namespace, host: str, port: int, app: Any, *, behind_nginx: bool = False
) -> BoundedServer:
    """Werkzeug's server with the demo's socket timeout and thread bound (demo/dev_server.py)."""
    timeout = float(getattr(args, "socket_timeout", DEFAULT_TIMEOUT))
    return make_dev_server(
        host,
        port,
        app,
        timeout=max(timeout, NGINX_KEEPALIVE_OUTLASTED) if behind_nginx else timeout,
        max_threads=getattr(args, "max_threads", DEFAULT_MAX_THREADS),
    )


def run_statewide(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    nginx = shutil.which("nginx") if not getattr(args, "no_nginx", False) else None
    gateway_port = args.port
    gateway = f"http://{args.host}:{gateway_port}"
    maildir = data_dir / "mail"
    shutil.rmtree(maildir, ignore_errors=True)
    sink = MailSink(maildir).start()
    sms_folder = data_dir / "sms"
    shutil.rmtree(sms_folder, ignore_errors=True)
    sms = SmsSink(sms_folder, token=secrets.token_urlsafe(24)).start()
    servers: list[Any] = []
    threads: list[threading.Thread] = []
    stop_workers = threading.Event()
    nginx_process: subprocess.Popen[bytes] | None = None
    try:
        ports = {code: _free_port() for code in ENTITIES}
        authority_port = getattr(args, "authority_port", 0) or _free_port()
        authority = make_demo_authority(
            data_dir, url=f"http://{args.host}:{authority_port}", entities=list(ENTITIES), sink=sink
        )
        secret_store = SecretStore(data_dir / "registry-secrets.json")
        sync_interval = float(getattr(args, "registry_interval", REGISTRY_INTERVAL))
        apps: dict[str, Flask] = {}
        demos: dict[str, DemoData] = {}
        demo = None
        for code in ENTITIES:
            app, seeded = _entity_app(
                code,
                data_dir,
                gateway,
                sink,
                behind_nginx=nginx is not None,
                sms=sms,
                registry=authority.entity_settings(code, getattr(args, "registry_url", None)),
            )
            apps[code] = app
            demos[code] = seeded
            demo = demo or seeded
            threads.append(
                threading.Thread(target=Worker(app).run_forever, args=(stop_workers,), daemon=True)
            )
            threads.append(
                threading.Thread(
                    target=run_registry_sync,
                    args=(app, code, stop_workers),
                    kwargs={"interval": sync_interval, "store": secret_store},
                    daemon=True,
                )
            )
        assert demo is not None
        registry = _registry(gateway, ports)
        midas, _midas_thread, midas_url = serve_fake_midas("127.0.0.1", 0)
        servers.append(midas)
        asp_url = None
        factory = load_asp_factory() if getattr(args, "asp_port", ASP_PORT) else None
        if factory is not None:
            try:
                asp, _asp_thread, asp_url = serve_sample_asp(
                    factory,
                    demo,
                    issuer=registry.issuer("PGE"),
                    midas_url=midas_url,
                    data_dir=data_dir,
                )
                servers.append(asp)
            except OSError as exc:
                sys.stderr.write(
                    f"espi-sst: error: the sample ASP cannot listen on 127.0.0.1:{ASP_PORT} "
                    f"({exc.strerror}); stop what uses it, or pass --asp-port 0\n"
                )
                return 2
        ours: list[Any] = [_server(args, args.host, authority_port, authority.app)]
        # ^ servers this function runs (the helpers run their own): the authority first
        if nginx is not None:
            for code, app in apps.items():
                ours.append(_server(args, "127.0.0.1", ports[code], app, behind_nginx=True))
            files = write_nginx_gateway(
                registry,
                data_dir / "gateway",
                listen=f"{args.host}:{gateway_port}",
                daemon=False,
                # Started as root (CI), nginx's workers would drop to "nobody", who cannot
                # read the directory file inside a private data folder: the demo keeps them
                # as the user who started it.  A production gateway runs them as its own user.
                user=getpass.getuser() if os.geteuid() == 0 else None,
            )
            nginx_process = subprocess.Popen(
                [nginx, "-p", str(files.directory), "-c", str(files.config)],
                stderr=subprocess.PIPE,
            )
            gateway_kind = f"nginx ({files.config})"
        else:
            ours.append(_server(args, args.host, gateway_port, dispatcher(apps, registry)))
            gateway_kind = "in-process dispatcher (install nginx for the real gateway)"
        servers += ours
        for server in ours:
            threads.append(threading.Thread(target=server.serve_forever, daemon=True))
        for thread in threads:
            thread.start()
        document = demo.as_json(base_url=f"{gateway}/SST/v1/PGE", issuer=f"{gateway}/SST/v1/PGE")
        document.update(
            {
                "gateway_url": f"{gateway}/SST/v1/",
                "directory_url": registry.directory_url,
                "gateway": gateway_kind,
                "entities": {
                    code: {
                        "issuer": registry.issuer(code),
                        "kind": ENTITIES[code]["kind"],
                        "sst_phase": ENTITIES[code]["phase"],
                        "portal_url": f"{registry.issuer(code)}/portal/login",
                        "inbox_url": f"{registry.issuer(code)}/demo/inbox",
                        "sms_inbox_url": f"{registry.issuer(code)}/demo/sms",
                        **_operations_urls(registry.issuer(code), ports[code], nginx),
                    }
                    for code in ENTITIES
                },
                **_operations_urls(registry.issuer("PGE"), ports["PGE"], nginx),
                "inbox_url": f"{registry.issuer('PGE')}/demo/inbox",
                "sms_inbox_url": f"{registry.issuer('PGE')}/demo/sms",
                "asp_url": asp_url,
                "midas_url": midas_url,
                "authority_url": authority.url,
                "authority": {
                    **authority.as_json(),
                    "registry_secrets_file": str(secret_store.path),
                    "registry_sync_interval_seconds": sync_interval,
                },
                "conformance": write_conformance_files(
                    data_dir, registry, demos, notify_listen=asp_url is None
                ),
            }
        )
        path = data_dir / "demo.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(document, indent=2) + "\n")
        partial.replace(path)
        print(f"espi-sst statewide demo: gateway at {gateway}/SST/v1/ ({gateway_kind})", flush=True)
        for code in ENTITIES:
            print(
                f"  {code:<4} {ENTITIES[code]['name']:<36} {registry.issuer(code)}"
                f"  (SST phase {ENTITIES[code]['phase']})",
                flush=True,
            )
        print(
            "  ASPs: "
            + "; ".join(f"{c.client_id} ({c.qualification}, {c.asp_class})" for c in demo.clients),
            flush=True,
        )
        print(
            f"  central authority: {authority.url}/sign-up (ASPs register once here); staff "
            f"sign in at {authority.url}/sign-in (demo.json: authority.staff); each entity "
            f"syncs its list every {sync_interval:g} s, new clients' secrets in "
            f"{secret_store.path}",
            flush=True,
        )
        print(
            "  conformance kit: "
            + "; ".join(f"espi-sst conformance {p}" for p in document["conformance"].values()),
            flush=True,
        )
        print(
            f"  health / readiness: {document['health_url']} / {document['ready_url']}"
            f" (each entity's in demo.json); metrics: {document['metrics_url'] or 'with nginx only'}",
            flush=True,
        )
        print(f"  everything is in {path}; press Ctrl-C to stop", flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.is_set():
                if nginx_process is not None and nginx_process.poll() is not None:
                    err = nginx_process.stderr.read().decode() if nginx_process.stderr else ""
                    sys.stderr.write(f"espi-sst: nginx stopped: {err.strip()}\n")
                    return 1
                stopped.wait(0.5)
        except KeyboardInterrupt:
            pass
    finally:
        stop_workers.set()
        if nginx_process is not None and nginx_process.poll() is None:
            nginx_process.send_signal(signal.SIGQUIT)
            try:
                nginx_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx_process.kill()
        for server in servers:
            server.shutdown()
            server.server_close()
        sink.stop()
        sms.stop()
    sys.stdout.write("statewide demo stopped\n")
    return 0
