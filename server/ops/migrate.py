"""``espi-sst migrate upgrade [REV]`` / ``current`` / ``history``: the schema's Alembic
migrations (server/storage/migrations) on the database the server would use.

The server still migrates when it starts (``ESPI_AUTO_MIGRATE``, on by default): right for
the demo and development.  In production set ``ESPI_AUTO_MIGRATE=0`` and run
``espi-sst migrate upgrade`` once, before starting the new code: a schema change then
happens once, at a moment the operator chose (after a backup), not in whichever worker
starts first.  Several workers migrating at once are safe anyway on PostgreSQL (an advisory
lock, migrations/env.py).  docs/operations.md, "Migrations".
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..config import load_config
from ..errors import ConfigurationError
from ..storage import Database, alembic_config


def _engine() -> tuple[Engine, str]:
    """The configured database's engine (as the server opens it), never migrated on open."""
    app = Flask("espi_sst_server", instance_relative_config=True)
    try:
        load_config(app, {"AUTO_MIGRATE": False})
    except ConfigurationError as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        raise SystemExit(2) from None
    database = Database()
    database.init_app(app)
    assert database.engine is not None
    return database.engine, _safe_url(database.engine)


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def heads(engine: Engine) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the revisions the database is at, the newest revisions the package has)."""
    config = alembic_config(engine)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return tuple(current), tuple(ScriptDirectory.from_config(config).get_heads())


def upgrade(args: argparse.Namespace) -> int:
    engine, where = _engine()
    before, _ = heads(engine)
    command.upgrade(alembic_config(engine), args.revision)
    after, head = heads(engine)
    if before == after:
        print(f"{where}: already at {', '.join(after) or 'no revision'}; nothing to do")
    else:
        print(f"{where}: upgraded {', '.join(before) or 'an empty database'} -> {', '.join(after)}")
    if after != head:
        print(f"(the newest revision is {', '.join(head)}: espi-sst migrate upgrade)")
    return 0


def current(args: argparse.Namespace) -> int:
    engine, where = _engine()
    at, head = heads(engine)
    state = "at head" if at == head else "behind head " + ", ".join(head)
    print(f"{where}: {', '.join(at) or 'no revision (empty database)'} ({state})")
    return 1 if args.check and at != head else 0


def history(_args: argparse.Namespace) -> int:
    engine, _ = _engine()
    at, _ = heads(engine)
    script = ScriptDirectory.from_config(alembic_config(engine))
    for revision in reversed(list(script.walk_revisions())):  # oldest first
        mark = "  <- current" if revision.revision in at else ""
        print(f"{revision.revision}  {(revision.doc or '').splitlines()[0]}{mark}")
    return 0


def _guarded(run: Any) -> Any:
    """A database that cannot be reached or a revision that does not exist: one line, exit 1."""

    def guarded(args: argparse.Namespace) -> int:
        try:
            return int(run(args))
        except CommandError as exc:
            sys.stderr.write(f"espi-sst: error: migrate: {exc}\n")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            sys.stderr.write(f"espi-sst: error: migrate: the database refused: {reason}\n")
        return 1

    return guarded


def add_migrate_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "migrate", help="the database schema's migrations: upgrade, current, history (server extra)"
    )
    actions = p.add_subparsers(dest="migrate_command", required=True)
    q = actions.add_parser("upgrade", help="bring the schema to REV (default: the newest)")
    q.add_argument("revision", metavar="REV", nargs="?", default="head")
    q.set_defaults(server_command=_guarded(upgrade))
    q = actions.add_parser("current", help="the revision the database is at")
    q.add_argument("--check", action="store_true", help="exit 1 unless it is the newest")
    q.set_defaults(server_command=_guarded(current))
    q = actions.add_parser("history", help="every migration, oldest first")
    q.set_defaults(server_command=_guarded(history))
    p.set_defaults(server_command=_guarded(current), check=False)
