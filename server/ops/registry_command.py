"""``espi-sst registry sync [--once] [--json]``: this entity's side of the central authority
(docs/central-authority.md, "At each entity: registry sync"; server/lifecycle/registry_sync.py).

Exit status: 0 applied, or nothing new (304, or no list published yet); 1 the list was refused (unsigned, tampered,
wrongly issued, stale, replayed: nothing of it applied) or the authority could not be
reached; 2 the ``REGISTRY_*`` settings cannot work.  ``--json`` prints the outcome, with each
new client's secret -- only there, only this once (only its hash is stored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from flask import Flask

from ..errors import ConfigurationError
from ..lifecycle.registry_list import RegistryListError
from ..lifecycle.registry_sync import RegistryFetchError, SyncOutcome, sync_once
from ..security import now
from ..storage import db


def _one(app: Flask, args: argparse.Namespace) -> int:
    with app.app_context():
        try:
            outcome = sync_once(app, db.session, now=now())
        except ConfigurationError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
        except RegistryListError as exc:
            db.session.rollback()
            sys.stderr.write(f"espi-sst: error: registry list refused, nothing applied: {exc}\n")
            return 1
        except RegistryFetchError as exc:
            db.session.rollback()
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 1
    if args.json:
        json.dump(outcome.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(outcome)
    if any(r.client_secret for r in outcome.results) and not args.json:
        sys.stderr.write(
            "New clients were created: their secrets are shown only with --json (run the "
            "scheduled sync with --json and hand each secret to its ASP).\n"
        )
    return 0


def _print(outcome: SyncOutcome) -> None:
    if outcome.status == "not_modified":
        print(f"registry: not modified since list {outcome.sequence}; nothing to do")
    elif outcome.status == "not_published":
        print("registry: the authority has published no list yet (no ASP approved); nothing to do")
    else:
        print(f"registry list {outcome.sequence} applied")
        for r in outcome.results:
            print(
                f"  {r.software_id}: {r.action}"
                + (f" ({r.client_id})" if r.client_id else "")
                + (f": {r.error}" if r.error else "")
            )
    if outcome.reported is False:
        print(f"report not taken by the authority: {outcome.report_error}")
    if outcome.complaints_forwarded:
        print(f"{outcome.complaints_forwarded} complaint(s) forwarded to the authority")
    if outcome.complaint_error:
        print(f"complaints not forwarded (sent again next sync): {outcome.complaint_error}")


def run_sync(args: argparse.Namespace) -> int:
    app = args.make_app()
    if args.once:
        return _one(app, args)
    while True:  # a scheduler's loop: a refused list or an unreachable authority is retried
        status = _one(app, args)
        if status == 2:
            return status
        sys.stdout.flush()
        time.sleep(args.interval)


def add_registry_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    make_app: Callable[[], Flask],
) -> None:
    """``registry sync``; ``make_app`` is the CLI's configured app."""
    p = sub.add_parser(
        "registry", help="the central authority's signed list of qualified ASPs (server extra)"
    )
    p.set_defaults(server_command=run_sync, make_app=make_app)
    actions = p.add_subparsers(dest="registry_action", required=True)
    q = actions.add_parser(
        "sync",
        help="fetch the authority's signed list, apply it (create, update, suspend clients), "
        "report back, forward complaints",
    )
    q.add_argument("--once", action="store_true", help="one sync, then exit")
    q.add_argument(
        "--interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="between syncs (default 300)",
    )
    q.add_argument(
        "--json", action="store_true", help="print the outcome as JSON, new client secrets included"
    )
    q.set_defaults(server_command=run_sync, make_app=make_app)
