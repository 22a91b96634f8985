"""``espi-sst demo``: the seeded utility on 127.0.0.1 in one command.

Builds a fresh SQLite database in the data folder (the demo data is rebuilt at every start),
seeds it, starts the demo's mail sink (a real SMTP server on loopback whose messages the
page ``/demo/inbox`` shows: the customers' rate-change passcodes arrive there), its SMS sink
(a loopback HTTP receiver the generic SMS adapter posts to, shown at ``/demo/sms``: the
passcodes of customers who chose text messages) and the
background worker (rate-change decisions, e-mail, ASP notifications), a fake MIDAS server
(prices for the demo RINs) and the sample ASP app (``examples/asp_app``, when run from a
checkout), writes ``DIR/demo.json`` (where everything is, the demo accounts and clients)
and serves until interrupted, on Werkzeug's server with a socket timeout and a bound on
threads (``server/demo/dev_server.py``).  Production deployments run gunicorn behind nginx and
``espi-sst worker`` instead (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .. import create_app
from ..storage import db
from ..worker import Worker
from .clients import DEMO_SCOPE
from .conformance_file import conformance_toml, write_conformance_config
from .data import DemoData
from .dev_server import DEFAULT_MAX_THREADS, DEFAULT_TIMEOUT, make_dev_server
from .fake_midas import serve_fake_midas
from .mail_sink import MailSink
from .sample_asp import ASP_PORT, load_asp_factory, serve_sample_asp
from .seed import seed
from .sms_sink import SmsSink


def prepare(
    data_dir: Path, host: str, port: int, sink: MailSink, sms: SmsSink | None = None
) -> tuple[Any, DemoData, str]:
    """A seeded app whose issuer is ``http://host:port``, whose mail goes to ``sink`` and
    text messages to ``sms`` (when given); returns (app, demo data, base URL)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "demo.db"
    for stale in (database, data_dir / "demo.db-wal", data_dir / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    base_url = f"http://{host}:{port}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "ISSUER": base_url,
            "UTILITY_NAME": "Demo Utility (espi-sst)",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": sink.port,
            "SMTP_STARTTLS": False,  # loopback only; a real relay uses STARTTLS (the default)
            "MAIL_FROM": "Demo Utility <no-reply@demo-utility.example>",
            "DEMO_MAILDIR": str(sink.maildir),
            # The demo ASP's notify URIs are http://127.0.0.1:8765/...: loopback, demo only.
            "NOTIFY_ALLOW_LOOPBACK": True,
            "ENTITIES": {"PCE": {"name": "Peninsula Clean Energy"}, "PGE": {"name": "PG&E"}},
            **(
                {}
                if sms is None
                else {"SMS_URL": sms.url, "SMS_TOKEN": sms.token, "DEMO_SMS_DIR": str(sms.folder)}
            ),
        }
    )
    with app.app_context(), db.transaction() as session:
        demo = seed(session, now=int(time.time()))
    return app, demo, base_url


def write_demo_json(
    data_dir: Path,
    demo: DemoData,
    base_url: str,
    *,
    asp_url: str | None = None,
    midas_url: str | None = None,
) -> Path:
    path = data_dir / "demo.json"
    document = demo.as_json(base_url=base_url, issuer=base_url)
    document["portal_url"] = f"{base_url}/portal/login"
    document["discovery_url"] = f"{base_url}/.well-known/openid-configuration"
    document["inbox_url"] = f"{base_url}/demo/inbox"
    document["sms_inbox_url"] = f"{base_url}/demo/sms"
    document.update(operations_urls(base_url))
    document["asp_url"] = asp_url  # None: the sample ASP is not running
    document["midas_url"] = midas_url
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)
    return path


def operations_urls(base_url: str) -> dict[str, str]:
    """Where operations look (docs/operations.md): liveness, readiness, Prometheus metrics."""
    return {
        "health_url": f"{base_url}/healthz",
        "ready_url": f"{base_url}/readyz",
        "metrics_url": f"{base_url}/metrics",
    }


def banner(
    demo: DemoData,
    base_url: str,
    demo_json: Path,
    *,
    asp_url: str | None = None,
    midas_url: str | None = None,
) -> str:
    lines = [
        f"espi-sst demo utility at {base_url}",
        f"  customer portal:  {base_url}/portal/login",
        f"  OAuth discovery:  {base_url}/.well-known/openid-configuration",
        # ESPI has no index resource: the link is the service status, which answers any
        # ASP's bearer token (401 without one), as every resource under it does.
        f"  ESPI resources:   {base_url}/espi/1_1/resource/ReadServiceStatus  (with an ASP's"
        " bearer token, like every resource)",
        f"  customer e-mail:  {base_url}/demo/inbox  (rate-change passcodes arrive here)",
        f"  customer SMS:     {base_url}/demo/sms  (passcodes of customers who chose text"
        " messages, e.g. dana)",
    ]
    urls = operations_urls(base_url)
    lines += [
        f"  health:           {urls['health_url']}  (process alive)",
        f"  readiness:        {urls['ready_url']}  (database, migrations, signing key)",
        f"  metrics:          {urls['metrics_url']}  (Prometheus; from this host only)",
    ]
    if asp_url:
        lines.append(f"  sample ASP app:   {asp_url}  (start here: Connect my utility)")
    if midas_url:
        lines.append(
            f"  fake MIDAS:       {midas_url}/api/valuedata?SignalType=1  (the RINs it prices;"
            " ?ID=RIN&QueryType=realtime for one)"
        )
    lines += ["  demo customers (user / password / kind):"]
    lines += [f"    {c.username:<8} {c.password:<22} {c.kind}" for c in demo.customers]
    lines.append("  demo ASP clients (client_id / secret):")
    lines += [
        f"    {c.client_id:<24} {c.client_secret or '(public client, PKCE only)'}"
        for c in demo.clients
    ]
    lines.append(
        f"  conformance kit:  espi-sst conformance {demo_json.with_name('conformance.toml')}"
    )
    lines.append(f"  everything above is in {demo_json}; press Ctrl-C to stop")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    asp_factory = None
    if args.asp_port:
        if args.asp_port != ASP_PORT:
            sys.stderr.write(
                f"espi-sst: error: the demo ASP clients are registered at port {ASP_PORT} "
                f"(redirect and notify URIs): use --asp-port {ASP_PORT}, or 0 for no ASP app\n"
            )
            return 2
        asp_factory = load_asp_factory()
        if asp_factory is None:
            print("note: examples/asp_app is not here (installed from a wheel?): no ASP app")
    maildir = data_dir / "mail"
    shutil.rmtree(maildir, ignore_errors=True)  # last run's passcodes mean nothing now
    sink = MailSink(maildir).start()
    sms_folder = data_dir / "sms"
    shutil.rmtree(sms_folder, ignore_errors=True)
    sms = SmsSink(sms_folder, token=secrets.token_urlsafe(24)).start()
    stop_worker = threading.Event()
    helpers: list[tuple[Any, threading.Thread]] = []  # (server, thread): MIDAS, the ASP
    try:
        app, demo, base_url = prepare(data_dir, args.host, args.port, sink, sms)
        midas, midas_thread, midas_url = serve_fake_midas("127.0.0.1", 0)
        helpers.append((midas, midas_thread))
        asp_url = None
        if asp_factory is not None:
            try:
                asp, asp_thread, asp_url = serve_sample_asp(
                    asp_factory, demo, issuer=base_url, midas_url=midas_url, data_dir=data_dir
                )
            except OSError as exc:
                sys.stderr.write(
                    f"espi-sst: error: the sample ASP cannot listen on 127.0.0.1:{ASP_PORT} "
                    f"({exc.strerror}); stop what uses it, or pass --asp-port 0\n"
                )
                return 2
            helpers.append((asp, asp_thread))
        demo_json = write_demo_json(data_dir, demo, base_url, asp_url=asp_url, midas_url=midas_url)
        write_conformance_config(
            data_dir / "conformance.toml",
            conformance_toml(
                demo,
                issuer=base_url,
                inbox_url=f"{base_url}/demo/inbox",
                sms_inbox_url=f"{base_url}/demo/sms",
                scope=DEMO_SCOPE,
                notify_listen=asp_url is None,
            ),
        )
        server = make_dev_server(
            args.host,
            args.port,
            app,
            timeout=getattr(args, "socket_timeout", DEFAULT_TIMEOUT),
            max_threads=getattr(args, "max_threads", DEFAULT_MAX_THREADS),
        )
        worker = threading.Thread(
            target=Worker(app).run_forever,
            args=(stop_worker,),
            kwargs={"poll_seconds": 1.0},
            name="espi-sst-worker",
            daemon=True,
        )
        worker.start()
        print(banner(demo, base_url, demo_json, asp_url=asp_url, midas_url=midas_url), flush=True)
        # shutdown() waits for serve_forever(), so it must run on another thread.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            stop_worker.set()
            worker.join(timeout=10)
    finally:
        for helper, thread in helpers:
            helper.shutdown()
            helper.server_close()
            thread.join(timeout=10)
        sink.stop()
        sms.stop()
    sys.stdout.write("demo stopped\n")
    return 0
