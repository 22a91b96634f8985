"""The admin commands (issue 16; docs/operations.md, "Admin commands"):

* ``espi-sst asp list`` / ``asp show CLIENT_ID`` / ``asp rotate-secret CLIENT_ID``;
* ``espi-sst grants list [--client-id] [--status] [--customer]`` / ``grants show ID``;
* ``espi-sst rate-changes list [--state] [--client-id]`` / ``rate-changes show ID``;
* ``espi-sst outbox list [--lane] [--state]`` / ``outbox show ID`` /
  ``outbox retry ID|--all-failed`` / ``outbox purge ID|--delivered-before DATE [--force]``;
* ``espi-sst complaints list [--client-id] [--since]`` / ``complaints show REFERENCE``
  (``admin_complaints.py``);
* ``espi-sst migrate upgrade|current|history`` (``migrate.py``).

Reads print a table, or one JSON document with ``--json`` (``admin_output.py``); writes are
audited with the operator's login name (``admin_writes.py``).  An unknown id or filter value
is one line on stderr and exit status 1; a malformed command line is argparse's exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask

from ..lifecycle.access import ENDED_REASONS
from ..security import now
from ..sst._workflow import Status
from ..storage import db
from . import admin_views as views
from .admin_complaints import add_complaint_commands
from .admin_output import emit
from .admin_writes import (
    AdminRefusal,
    OutboxChange,
    purge_delivered_before,
    purge_message,
    retry_all_failed,
    retry_message,
    rotate_client_secret,
)
from .migrate import add_migrate_commands

Handler = Callable[[argparse.Namespace], int]


def operator() -> str:
    """Who runs the command, for the audit log (NFR24: who did it)."""
    try:
        return "operator:" + getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "operator"


_app_factory: list[Callable[[], Flask]] = []
"""The configured app, as server/cli.py makes it (its entry-point layer owns create_app)."""


def _app() -> Flask:
    return _app_factory[0]()


def _command(run: Callable[[argparse.Namespace], Any]) -> Handler:
    """Run ``run`` in the app's context and transaction; NotFound / AdminRefusal: one line,
    exit 1, nothing written."""

    def handler(args: argparse.Namespace) -> int:
        app = _app()
        with app.app_context():
            try:
                with db.transaction():
                    result = run(args)
            except (views.NotFound, AdminRefusal) as exc:
                sys.stderr.write(f"espi-sst: error: {exc}\n")
                return 1
        return int(result or 0)

    return handler


# ---- reads ----------------------------------------------------------------------------------

ASP_COLUMNS = ("client_id", "name", "class", "qualification", "terms_version", "grants")
GRANT_COLUMNS = ("id", "client_id", "customer_username", "status", "created_at", "expires_at")
RATE_CHANGE_COLUMNS = ("id", "state", "client_id", "to_rin", "effective_date", "requested_at")
OUTBOX_COLUMNS = ("id", "lane", "state", "destination", "attempts", "next_attempt_at")


def _asp_list(args: argparse.Namespace) -> int:
    emit(
        views.list_asps(db.session),
        as_json=args.json,
        columns=ASP_COLUMNS,
        empty="no ASP is registered",
    )
    return 0


def _asp_show(args: argparse.Namespace) -> int:
    emit(views.show_asp(db.session, args.client_id), as_json=args.json)
    return 0


def _grants_list(args: argparse.Namespace) -> int:
    found = views.list_grants(
        db.session, client_id=args.client_id, status=args.status, customer=args.customer
    )
    emit(found, as_json=args.json, columns=GRANT_COLUMNS, empty="no grant matches")
    return 0


def _grants_show(args: argparse.Namespace) -> int:
    emit(views.show_grant(db.session, args.id), as_json=args.json)
    return 0


def _rate_changes_list(args: argparse.Namespace) -> int:
    found = views.list_rate_changes(db.session, state=args.state, client_id=args.client_id)
    emit(found, as_json=args.json, columns=RATE_CHANGE_COLUMNS, empty="no rate change matches")
    return 0


def _rate_changes_show(args: argparse.Namespace) -> int:
    emit(views.show_rate_change(db.session, args.id), as_json=args.json)
    return 0


def _outbox_list(args: argparse.Namespace) -> int:
    found = views.list_outbox(db.session, lane=args.lane, state=args.state)
    emit(found, as_json=args.json, columns=OUTBOX_COLUMNS, empty="no outbox message matches")
    return 0


def _outbox_show(args: argparse.Namespace) -> int:
    emit(views.show_outbox(db.session, args.id), as_json=args.json)
    return 0


# ---- writes ---------------------------------------------------------------------------------


def _rotate_secret(args: argparse.Namespace) -> int:
    secret = rotate_client_secret(db.session, args.client_id, actor=operator(), now=now())
    emit({"client_id": args.client_id, "client_secret": secret}, as_json=True)
    sys.stderr.write(
        "Keep the new client secret now: only its hash is stored. The old secret is refused "
        "from now on; tokens already issued stay valid until they expire.\n"
    )
    return 0


def _report(change: OutboxChange, verb: str, as_json: bool) -> int:
    if as_json:
        emit(
            {
                verb: list(change.changed),
                "skipped": [{"id": id_, "reason": why} for id_, why in change.skipped],
            },
            as_json=True,
        )
        return 0
    print(
        f"{verb} {len(change.changed)} message(s)"
        + (": " + ", ".join(str(id_) for id_ in change.changed) if change.changed else "")
    )
    for id_, why in change.skipped:
        print(f"  skipped {id_}: {why}")
    return 0


def _outbox_retry(args: argparse.Namespace) -> int:
    moment = now()
    if args.all_failed:
        change = retry_all_failed(db.session, actor=operator(), now=moment)
    else:
        change = retry_message(db.session, args.id, actor=operator(), now=moment)
    return _report(change, "retried", args.json)


def _outbox_purge(args: argparse.Namespace) -> int:
    moment = now()
    if args.delivered_before is not None:
        change = purge_delivered_before(
            db.session, args.delivered_before, actor=operator(), now=moment
        )
    else:
        change = purge_message(db.session, args.id, actor=operator(), now=moment, force=args.force)
    return _report(change, "purged", args.json)


def _date(text: str) -> int:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 date-time; epoch seconds."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: give YYYY-MM-DD or an ISO 8601 time (2026-01-31T08:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


# ---- the command line -----------------------------------------------------------------------


def _subcommands(sub: argparse._SubParsersAction, name: str, help_: str) -> Any:  # type: ignore[type-arg]
    """The sub-commands of ``name``: the existing parser's (``asp`` is server/cli.py's) or
    a new one."""
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_)
        parser.set_defaults(server_command=_command(lambda _args: 0))
        return parser.add_subparsers(dest=f"{name.replace('-', '_')}_command", required=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError(f"espi-sst {name} has no sub-commands")


def _read(actions: Any, name: str, help_: str, run: Handler) -> argparse.ArgumentParser:
    q: argparse.ArgumentParser = actions.add_parser(name, help=help_)
    q.add_argument("--json", action="store_true", help="one JSON document on stdout")
    q.set_defaults(server_command=_command(run))
    return q


def add_admin_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    app_factory: Callable[[], Flask],
) -> None:
    """Register the commands; ``app_factory`` makes the configured app (a setting it cannot
    work with ends the command with its message, exit status 2)."""
    _app_factory[:] = [app_factory]
    asp = _subcommands(sub, "asp", "ASPs registered here (server extra)")
    _read(asp, "list", "every registered application, with its grants by status", _asp_list)
    q = _read(asp, "show", "one application: URIs, class, terms, grants by status", _asp_show)
    q.add_argument("client_id", metavar="CLIENT_ID")
    q = asp.add_parser(
        "rotate-secret",
        help="a confidential client's new secret, printed once; the old one stops working now",
    )
    q.add_argument("client_id", metavar="CLIENT_ID")
    q.set_defaults(server_command=_command(_rotate_secret))

    grants = _subcommands(sub, "grants", "customers' grants to ASPs (server extra)")
    q = _read(grants, "list", "grants, oldest first", _grants_list)
    q.add_argument("--client-id", default=None, metavar="CLIENT_ID")
    q.add_argument(
        "--status",
        default=None,
        choices=sorted({views.GRANT_ACTIVE, "ended", *ENDED_REASONS}),
        help="active, ended (any end), or why it ended",
    )
    q.add_argument("--customer", default=None, metavar="UUID|USERNAME")
    q = _read(grants, "show", "one grant: scope in words, dates, who, usage points", _grants_show)
    q.add_argument("id", metavar="ID", help="the Authorization (or Subscription) uuid")

    changes = _subcommands(sub, "rate-changes", "customer-directed rate changes (server extra)")
    q = _read(changes, "list", "rate change requests, oldest first", _rate_changes_list)
    q.add_argument("--state", default=None, choices=[status.value for status in Status])
    q.add_argument("--client-id", default=None, metavar="CLIENT_ID")
    q = _read(changes, "show", "one request: state, RINs, dates, attempts", _rate_changes_show)
    q.add_argument("id", metavar="ID", help="the RateChangeRequest uuid")

    outbox = _subcommands(sub, "outbox", "e-mail and ASP notifications to send (server extra)")
    q = _read(outbox, "list", "outbox messages, oldest first", _outbox_list)
    q.add_argument("--lane", default=None, choices=sorted(views.LANES))
    q.add_argument("--state", default=None, choices=views.OUTBOX_STATES)
    q = _read(outbox, "show", "one message (never its body)", _outbox_show)
    q.add_argument("id", metavar="ID")
    q = _read(outbox, "retry", "make a failed or waiting message due now", _outbox_retry)
    which = q.add_mutually_exclusive_group(required=True)
    which.add_argument("id", metavar="ID", nargs="?")
    which.add_argument("--all-failed", action="store_true", help="every failed message")
    q = _read(
        outbox, "purge", "delete delivered messages (others only with --force)", _outbox_purge
    )
    which = q.add_mutually_exclusive_group(required=True)
    which.add_argument("id", metavar="ID", nargs="?")
    which.add_argument(
        "--delivered-before",
        type=_date,
        default=None,
        metavar="DATE",
        help="every message delivered before DATE (YYYY-MM-DD, UTC)",
    )
    q.add_argument("--force", action="store_true", help="also a message not delivered yet")

    add_complaint_commands(
        _subcommands(sub, "complaints", "customers' complaints about ASPs (server extra)"),
        _read,
        _date,
    )

    add_migrate_commands(sub)
