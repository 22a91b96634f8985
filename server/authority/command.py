"""``espi-sst authority serve|create-staff|migrate``: run the central authority, add one of its
staff (password + TOTP secret printed once), or migrate its database.  Registered by one call
in server/cli.py (``add_authority_commands``)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError, EspiServerError


def add_authority_commands(commands: Any) -> None:
    """Add ``authority`` and its verbs to ``commands`` (an argparse sub-parsers object)."""
    authority = commands.add_parser(
        "authority", help="the SST central authority (docs/central-authority.md)"
    )
    authority.set_defaults(server_command=lambda args: args.authority_verb(args))
    verbs = authority.add_subparsers(dest="authority_command", required=True)
    serve = verbs.add_parser("serve", help="run the authority (development server)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5100)
    serve.set_defaults(authority_verb=_guarded(_serve))
    staff = verbs.add_parser("create-staff", help="add a member of the authority's staff")
    staff.add_argument("email")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    staff.set_defaults(authority_verb=_guarded(_create_staff))
    migrate = verbs.add_parser("migrate", help="bring the authority's database up to date")
    migrate.set_defaults(authority_verb=_guarded(_migrate))


def _settings(**extra: Any) -> dict[str, Any]:
    from .settings import authority_settings

    return authority_settings(extra)


def _serve(args: argparse.Namespace) -> int:
    from . import create_authority_app

    app = create_authority_app()
    app.run(host=args.host, port=args.port)
    return 0


def _create_staff(args: argparse.Namespace) -> int:
    from .accounts import new_user, provisioning_uri
    from .database import make_engine, session_factory, upgrade

    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    )
    settings = _settings()
    engine = make_engine(settings["AUTHORITY_DATABASE_URL"])
    upgrade(engine)
    with session_factory(engine)() as session:
        user, secret = new_user(session, args.email, password, None)
        user.email_verified_at = user.created_at  # the operator vouches for the address
        session.commit()
        print(f"authority staff {user.email} created")
        print(f"TOTP secret (enrol it now, it is not shown again): {secret}")
        print(provisioning_uri(user))
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from .database import make_engine, upgrade

    upgrade(make_engine(_settings()["AUTHORITY_DATABASE_URL"]))
    print("the authority's database is up to date")
    return 0


def _guarded(verb: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``verb``, ending with its message (exit status 2) on a setting or input it cannot use."""

    def run(args: argparse.Namespace) -> int:
        try:
            return verb(args)
        except (ConfigurationError, EspiServerError) as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2

    return run
