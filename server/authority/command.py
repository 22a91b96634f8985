"""``espi-sst authority serve|create-staff|migrate|keys``: run the central authority, add one of
its staff (password + TOTP secret printed once), migrate its database, or rotate its signing key
(``keys list|prepare|activate|retire``, key_rotation.py).  Registered by one call in
server/cli.py (``add_authority_commands``)."""

from __future__ import annotations

import argparse
import getpass
import json
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
    _add_key_commands(verbs)


def _add_key_commands(verbs: Any) -> None:
    keys = verbs.add_parser(
        "keys",
        help="rotate the signing key: list, prepare, activate, retire "
        "(docs/central-authority.md, 'Rotating the signing key')",
    )
    key_verbs = keys.add_subparsers(dest="keys_command", required=True)
    listing = key_verbs.add_parser("list", help="every key: created, state, signs the list")
    listing.add_argument("--json", action="store_true", help="one JSON array on stdout")
    listing.set_defaults(authority_verb=_guarded(_keys_list))
    prepare = key_verbs.add_parser(
        "prepare", help="make the next key: published in the key set at once, not yet signing"
    )
    prepare.set_defaults(authority_verb=_guarded(_keys_prepare))
    activate = key_verbs.add_parser(
        "activate", help="sign with KID from now on and publish the list with it at once"
    )
    activate.add_argument("kid")
    activate.add_argument(
        "--force",
        action="store_true",
        help="activate before ESPI_AUTHORITY_KEY_PREPARE_HOURS have passed "
        "(every entity has re-pinned the key set)",
    )
    activate.set_defaults(authority_verb=_guarded(_keys_activate))
    retire = key_verbs.add_parser("retire", help="take KID out of the published key set")
    retire.add_argument("kid")
    retire.add_argument(
        "--force",
        action="store_true",
        help="retire although lists it signed have not expired yet (a compromised key)",
    )
    retire.set_defaults(authority_verb=_guarded(_keys_retire))


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


def _key_session() -> Any:
    from .database import make_engine, session_factory, upgrade

    settings = _settings()
    engine = make_engine(settings["AUTHORITY_DATABASE_URL"])
    upgrade(engine)
    return settings, engine, session_factory(engine)()


def _keys_list(args: argparse.Namespace) -> int:
    from .key_rotation import describe_keys

    _settings_, engine, session = _key_session()
    with session:
        keys = describe_keys(session)
    engine.dispose()
    if args.json:
        print(json.dumps([key.as_json() for key in keys], indent=2))
        return 0
    print(f"{'kid':<44}  {'created':<20}  {'state':<8}  signs the current list")
    for key in keys:
        print(
            f"{key.kid:<44}  {key.created:<20}  {key.state:<8}  "
            f"{'yes' if key.signs_current_list else 'no'}"
        )
    return 0


def _keys_prepare(_args: argparse.Namespace) -> int:
    from .key_rotation import prepare_key

    settings, engine, session = _key_session()
    with session:
        row = prepare_key(session)
    engine.dispose()
    hours = settings["AUTHORITY_KEY_PREPARE_HOURS"]
    print(
        f"prepared key {row.kid}: published in {settings['AUTHORITY_ISSUER']}/.well-known/jwks.json"
    )
    print(
        "now give every entity the new key set (its REGISTRY_JWKS_FILE), then after "
        f"{hours} h: espi-sst authority keys activate {row.kid}"
    )
    return 0


def _keys_activate(args: argparse.Namespace) -> int:
    from .key_rotation import activate_key

    settings, engine, session = _key_session()
    with session:
        publication = activate_key(session, settings, args.kid, force=args.force)
    engine.dispose()
    print(f"key {args.kid} is active: every new list is signed with it")
    if publication is None:
        print("no list was published yet: the first one will be signed with it")
    else:
        print(f"published the list again with it: sequence {publication.sequence}")
    return 0


def _keys_retire(args: argparse.Namespace) -> int:
    from .key_rotation import retire_key

    _settings_, engine, session = _key_session()
    with session:
        retire_key(session, args.kid, force=args.force)
    engine.dispose()
    print(f"key {args.kid} is retired: no longer in the key set, and its private half is erased")
    return 0


def _guarded(verb: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``verb``, ending with its message: exit status 1 for a key rotation step refused (the
    message says why), 2 for a setting or input it cannot use."""

    from .errors import KeyRotationRefused

    def run(args: argparse.Namespace) -> int:
        try:
            return verb(args)
        except KeyRotationRefused as exc:  # the operator's step, refused: exit status 1
            sys.stderr.write(f"espi-sst: refused: {exc}\n")
            return 1
        except (ConfigurationError, EspiServerError) as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2

    return run
