"""Server commands behind ``espi-sst`` (the library's CLI imports this only when asked):
``serve``, ``register-client`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import sys

from . import create_app
from .admin import RegistrationError, register_application
from .storage import db


def register_client(args: argparse.Namespace) -> int:
    app = create_app()
    with app.app_context():
        try:
            done = register_application(
                db.session,
                name=args.name,
                redirect_uris=args.redirect_uri,
                notify_uri=args.notify_uri,
                public=args.public,
                qualification=args.qualification,
            )
        except (RegistrationError, ValueError) as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    json.dump(
        {
            "client_id": done.client_id,
            "client_secret": done.client_secret,
            "application": done.application_uuid,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    if done.client_secret:
        sys.stderr.write("Keep the client secret now: only its hash is stored.\n")
    return 0


def serve(args: argparse.Namespace) -> int:
    """A development server (production: gunicorn espi_sst_server.wsgi:app)."""
    app = create_app(
        {"ISSUER": f"http://{args.host}:{args.port}"}
        if args.issuer is None
        else {"ISSUER": args.issuer}
    )
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo.run import run

    return run(args)


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("register-client", help="register an ASP application (server extra)")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--redirect-uri", action="append", required=True, help="exact redirect URI (repeatable)"
    )
    p.add_argument("--notify-uri", required=True)
    p.add_argument("--public", action="store_true", help="a public client (no secret; PKCE only)")
    p.add_argument(
        "--qualification", default="qualified", choices=["qualified", "pending", "suspended"]
    )
    p.set_defaults(server_command=register_client)

    p = sub.add_parser("serve", help="run the utility server for development (server extra)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--issuer", default=None, help="public base URL (default http://HOST:PORT)")
    p.set_defaults(server_command=serve)

    p = sub.add_parser("demo", help="run the seeded demo utility (server extra)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--data-dir", default="demo-data", help="folder for the database and demo.json")
    p.set_defaults(server_command=_demo)
