"""Server commands behind ``espi-sst``, registered through the ``espi_sst.commands`` entry
point (setup.cfg; the library's CLI loads it only when one of them is chosen):
``serve``, ``register-client``, ``demo``, and the authorization lifecycle's
``close-service-agreement``, ``asp-registry load``, ``asp block`` / ``asp unblock`` /
``asp accept-terms`` (the SST terms, lifecycle/terms.py), and
``cca-rins load`` (a CCA's generation RINs); ``registry sync`` (the central authority's
signed list, ops/registry_command.py); ``bulk notify`` (the BatchList telling ASPs
their FB 35 bulk is ready, lifecycle/bulk_notices.py); ``rotate-signing-key`` (OpenID Connect keys);
``gateway`` writes the statewide gateway's nginx configuration (server/gateway/);
``authority serve|create-staff|migrate`` runs the central authority (server/authority/)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from flask import Flask
from sqlalchemy import select

from . import create_app
from .authority.command import add_authority_commands
from .errors import ConfigurationError
from .lifecycle.registration import RegistrationError, register_application
from .ops.check_config import add_check_config_commands
from .ops.loader.command import add_load_commands
from .ops.registry_command import add_registry_commands
from .security import now
from .storage import db


def _configure_logging(default_format: str = "json") -> None:
    """ESPI_LOG_FORMAT / ESPI_LOG_LEVEL for a long-running command (observability/logs.py);
    a value it does not know ends the command with its message (exit status 2)."""
    from .observability.logs import LogSettingError, configure_logging

    try:
        configure_logging(default_format=default_format)
    except LogSettingError as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        raise SystemExit(2) from None


def _app() -> Flask:
    """The configured app; a setting it cannot work with ends the command with its message
    (exit status 2), not a traceback.  Without ESPI_DATABASE_URL it says which SQLite file
    it uses (with an https issuer, create_app refuses to start without one)."""
    from .ops.check_config import database_notice

    try:
        app = create_app()
    except ConfigurationError as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        raise SystemExit(2) from None
    notice = database_notice(app)
    if notice is not None:  # (with an https issuer create_app refused it: config.py)
        sys.stderr.write(f"espi-sst: {notice}\n")
    return app


def register_client(args: argparse.Namespace) -> int:
    from .lifecycle.terms import TermsError, accept_terms, terms_of
    from .storage.models import Application

    app = _app()
    try:
        terms = terms_of(app)
    except ConfigurationError as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        return 2
    if args.accept_terms is not None and (terms is None or args.accept_terms != terms.version):
        # checked before anything is written: a wrong version registers nothing
        in_force = "none are configured" if terms is None else f"in force: {terms.version}"
        sys.stderr.write(
            f"espi-sst: error: --accept-terms {args.accept_terms}: not the SST terms version "
            f"in force ({in_force}); give the version the utility publishes (TERMS_VERSION)\n"
        )
        return 2
    with app.app_context():
        try:
            done = register_application(
                db.session,
                name=args.name,
                redirect_uris=args.redirect_uri,
                notify_uri=args.notify_uri,
                public=args.public,
                qualification=args.qualification,
                software_id=args.software_id,
                client_id=args.client_id,
                asp_class=args.asp_class,
            )
        except (RegistrationError, ValueError) as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
        if args.accept_terms is not None:
            try:
                with db.transaction() as session:
                    application = session.scalar(
                        select(Application).where(Application.client_id == done.client_id)
                    )
                    assert application is not None
                    accept_terms(
                        session, application, args.accept_terms, actor=_operator(), now=now()
                    )
            except TermsError as exc:  # only if the settings changed in between
                sys.stderr.write(f"espi-sst: error: {exc}\n")
                return 2
    json.dump(
        {
            "client_id": done.client_id,
            "client_secret": done.client_secret,
            "application": done.application_uuid,
            "class": done.asp_class,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    if done.client_secret:
        sys.stderr.write("Keep the client secret now: only its hash is stored.\n")
    if done.dormant:
        sys.stderr.write(
            f"Registered for {', '.join(done.dormant)}, not offered by this utility yet "
            "(SST_PHASE): customers are not asked for it until the phase that offers it.\n"
        )
    if terms is not None and args.accept_terms is None:
        sys.stderr.write(
            f"Note: this ASP has not accepted the SST terms version {terms.version}; it may ask "
            f"for no grant until it does (espi-sst asp accept-terms {done.client_id} "
            f"{terms.version}).\n"
        )
    return 0


def asp_accept_terms(args: argparse.Namespace) -> int:
    """Record an ASP's acceptance of the SST terms in force (lifecycle/terms.py; 6.4.3 item 6)."""
    from .errors import ConfigurationError
    from .lifecycle.terms import TermsError, accept_terms, terms_of
    from .storage.models import Application

    try:
        app = create_app()
        terms_of(app)
    except ConfigurationError as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        return 2
    with app.app_context():
        try:
            with db.transaction() as session:
                application = session.scalar(
                    select(Application).where(Application.client_id == args.client_id)
                )
                if application is None:
                    raise TermsError(
                        f"no application with client_id {args.client_id!r} is registered here"
                    )
                recorded = accept_terms(
                    session, application, args.version, actor=_operator(), now=now()
                )
        except TermsError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    if recorded:
        print(f"{args.client_id} accepted the SST terms version {args.version}; recorded")
    else:
        print(f"{args.client_id} had already accepted the SST terms version {args.version}")
    return 0


def register_resource_server_command(args: argparse.Namespace) -> int:
    from .lifecycle.registration import register_resource_server

    app = _app()
    with app.app_context():
        try:
            done = register_resource_server(db.session, name=args.name, client_id=args.client_id)
        except RegistrationError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    json.dump(
        {"client_id": done.client_id, "client_secret": done.client_secret}, sys.stdout, indent=2
    )
    sys.stdout.write("\n")
    sys.stderr.write(
        "Set them as INTROSPECTION_CLIENT_ID / INTROSPECTION_CLIENT_SECRET of the bolt-on; "
        "only the secret's hash is stored.\n"
    )
    return 0


def serve(args: argparse.Namespace) -> int:
    """A development server (production: gunicorn behind nginx, docs/deployment.md).

    Werkzeug's server with a socket timeout and a bound on threads (server/demo/dev_server.py):
    half-sent requests no longer hold a thread each for ever."""
    from .demo.dev_server import make_dev_server
    from .ops.check_config import UnsafeConfiguration, refuse_unsafe_start

    _configure_logging("text")  # a development server: people read it (ESPI_LOG_FORMAT=json)
    app = create_app(
        {"ISSUER": f"http://{args.host}:{args.port}"}
        if args.issuer is None
        else {"ISSUER": args.issuer}
    )
    try:  # the development server is one process: one worker
        refuse_unsafe_start(app, server="espi-sst serve", workers=1)
    except UnsafeConfiguration as exc:
        sys.stderr.write(f"espi-sst: error: {exc}\n")
        return 1
    server = make_dev_server(
        args.host, args.port, app, timeout=args.socket_timeout, max_threads=args.max_threads
    )
    server.log_startup()
    server.serve_forever()  # until Ctrl-C; closes the socket
    return 0


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The development server's limits (``serve`` and ``demo``; server/demo/dev_server.py)."""
    from .demo.dev_server import DEFAULT_MAX_THREADS, DEFAULT_TIMEOUT

    parser.add_argument(
        "--socket-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection silent this long (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-threads",
        type=int,
        default=DEFAULT_MAX_THREADS,
        metavar="N",
        help=f"connections served at once; more get 503 (default {DEFAULT_MAX_THREADS})",
    )


def _operator() -> str:
    """Who runs the command, for the audit log (NFR24: who did it)."""
    try:
        return "operator:" + getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "operator"


def close_service_agreement_command(args: argparse.Namespace) -> int:
    from .lifecycle.access import LifecycleError
    from .lifecycle.closing import close_service_agreement

    app = _app()
    with app.app_context():
        try:
            with db.transaction() as session:
                done = close_service_agreement(
                    session, args.usage_point, now=now(), actor=_operator()
                )
        except LifecycleError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    if not done.closed:
        print(f"usage point {done.usage_point} was already closed; nothing changed")
        return 0
    print(f"closed usage point {done.usage_point}")
    for uuid in done.ended:
        print(f"  ended authorization {uuid} (it shared no other open service agreement)")
    for uuid in done.kept:
        print(f"  kept authorization {uuid} (it still shares another service agreement)")
    return 0


def asp_registry_load(args: argparse.Namespace) -> int:
    from .lifecycle.registry import RegistryError, load_asp_registry

    app = _app()
    with app.app_context():
        try:
            with db.transaction() as session:
                report = load_asp_registry(
                    session,
                    args.file,
                    now=now(),
                    actor=f"registry (loaded by {_operator()})",
                    allow_older=args.allow_older,
                )
        except RegistryError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    print(f"ASP registry published {report.published}: {report.listed} ASPs listed")
    for change in report.changes:
        print(
            f"  {change.client_id}: {change.previous} -> {change.status}; "
            f"{change.authorizations_ended} authorizations ended, "
            f"{change.tokens_revoked} tokens revoked, "
            f"{change.customers_notified} customers notified"
            + (
                f", {len(change.customers_without_email)} without an e-mail address"
                if change.customers_without_email
                else ""
            )
        )
    for moved in report.class_changes:
        print(
            f"  {moved.client_id}: class {moved.previous} -> {moved.asp_class}; "
            f"{moved.grants_narrowed} authorizations lost sst:rate_change, "
            f"{moved.rate_changes_cancelled} open rate changes cancelled, "
            f"{moved.customers_notified} customers notified"
        )
    print(f"  {len(report.unchanged)} unchanged")
    for client_id in report.kept_blocked:
        print(f"  {client_id}: blocked here, kept blocked (registry: {report.details[client_id]})")
    if report.not_listed:
        print("not in the registry, left as they are: " + ", ".join(report.not_listed))
    if report.unknown:
        print("listed but not registered here: " + ", ".join(report.unknown))
    return 0


def bulk_notify(args: argparse.Namespace) -> int:
    """After the utility's data load: each ASP's BatchList naming its bulk (FB 35, FB 39)."""
    from .lifecycle.bulk_notices import BulkNoticeError, bulk_ready

    app = _app()
    with app.app_context():
        try:
            with db.transaction() as session:
                notices = bulk_ready(session, now=now(), client_id=args.client_id)
        except BulkNoticeError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    for notice in notices:
        if notice.url is not None:
            print(
                f"{notice.client_id}: BatchList queued naming {notice.url} ({notice.grants} grants)"
            )
        else:
            print(f"{notice.client_id}: not told: {notice.skipped}")
    if not notices:
        print("no ASP is registered: nothing to tell")
    return 0


def asp_block(args: argparse.Namespace) -> int:
    return _set_asp(args, "blocked", refuse_unless=None)


def asp_unblock(args: argparse.Namespace) -> int:
    return _set_asp(args, args.status, refuse_unless="blocked")


def _set_asp(args: argparse.Namespace, status: str, *, refuse_unless: str | None) -> int:
    from .lifecycle.access import LifecycleError, set_qualification
    from .storage.models import Application

    app = _app()
    with app.app_context():
        try:
            with db.transaction() as session:
                application = session.scalar(
                    select(Application).where(Application.client_id == args.client_id)
                )
                if application is None:
                    raise LifecycleError(f"no application with client_id {args.client_id!r}")
                if refuse_unless and application.qualification != refuse_unless:
                    raise LifecycleError(
                        f"{args.client_id} is {application.qualification}, not {refuse_unless}"
                    )
                change = set_qualification(
                    session,
                    application,
                    status,
                    reason=args.reason,
                    actor=_operator(),
                    now=now(),
                    source="espi-sst asp",
                )
        except LifecycleError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    if not change.changed and not change.tokens_revoked:
        print(f"{change.client_id} is already {change.status}; nothing changed")
        return 0
    print(
        f"{change.client_id}: {change.previous} -> {change.status}; "
        f"{change.authorizations_ended} authorizations ended, "
        f"{change.tokens_revoked} tokens revoked, {change.customers_notified} customers notified"
    )
    return 0


def asp_class_command(args: argparse.Namespace) -> int:
    """``espi-sst asp class CLIENT_ID data-only|rate-change`` (concept design 6.4.2)."""
    from .lifecycle.access import LifecycleError
    from .lifecycle.classes import set_asp_class
    from .storage.models import Application

    app = _app()
    with app.app_context():
        try:
            with db.transaction() as session:
                application = session.scalar(
                    select(Application).where(Application.client_id == args.client_id)
                )
                if application is None:
                    raise LifecycleError(f"no application with client_id {args.client_id!r}")
                change = set_asp_class(
                    session,
                    application,
                    args.asp_class,
                    actor=_operator(),
                    now=now(),
                    source="espi-sst asp class",
                )
        except LifecycleError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    if not change.changed:
        print(f"{change.client_id} is already {change.asp_class}; nothing changed")
        return 0
    print(
        f"{change.client_id}: {change.previous} -> {change.asp_class}; "
        f"{change.grants_narrowed} authorizations lost sst:rate_change, "
        f"{change.rate_changes_cancelled} open rate changes cancelled, "
        f"{change.customers_notified} customers notified"
    )
    return 0


def cca_rins_load(args: argparse.Namespace) -> int:
    """A CCA's generation-RIN file into the cache (PG&E's cached mode; sst/cca_cache.py)."""
    from .sst.cca_cache import CcaFileError, load_cca_file, report_lines

    app = _app()
    with app.app_context():
        try:
            with db.transaction() as session:
                report = load_cca_file(
                    session, args.file, cca=args.cca, now=now(), actor=_operator()
                )
        except CcaFileError as exc:
            sys.stderr.write(f"espi-sst: error: {exc}\n")
            return 2
    print("\n".join(report_lines(report)))
    return 0


def rotate_signing_key(args: argparse.Namespace) -> int:
    """A new OpenID Connect signing key; optionally retire old ones (server/oauth/keys.py)."""
    from .oauth.keys import retire, rotate

    app = _app()
    grace = None if args.retire_older_than_days is None else args.retire_older_than_days * 86400
    if grace is not None and grace <= int(app.config["ID_TOKEN_SECONDS"]):
        sys.stderr.write(
            "espi-sst: error: --retire-older-than-days must exceed ID_TOKEN_SECONDS "
            f"({app.config['ID_TOKEN_SECONDS']} s): id_tokens still live would lose their key\n"
        )
        return 2
    with app.app_context():
        with db.transaction() as session:
            moment = now()
            row = rotate(session, now=moment, actor=_operator())
            kid = row.kid
            retired = (
                0
                if grace is None
                else retire(session, older_than_seconds=grace, now=moment, actor=_operator())
            )
    print(f"new signing key {kid}: it signs id_tokens from now; the previous keys stay published")
    if grace is not None:
        print(
            f"retired {retired} key(s) out of use for more than {args.retire_older_than_days} days"
        )
    return 0


def worker(args: argparse.Namespace) -> int:
    """Background work: rate-change decisions, expiries, e-mail and ASP notifications."""
    from .worker import Worker, main_loop

    _configure_logging()
    app = _app()
    if args.now is not None:  # tests and operators replaying a moment
        report = Worker(app).run_once(now=args.now)
        print(report)
        return 0
    return main_loop(app, once=args.once, poll_seconds=args.poll)


def _demo(args: argparse.Namespace) -> int:
    _configure_logging("text")  # the demo is read by people (ESPI_LOG_FORMAT=json to change)
    if args.statewide:
        from .demo.statewide import run_statewide

        return run_statewide(args)
    from .demo.run import run

    return run(args)


def _gateway(args: argparse.Namespace) -> int:
    from .gateway.command import run

    return run(args)


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    add_load_commands(sub, _app)
    add_check_config_commands(sub, create_app)
    add_registry_commands(sub, _app)
    add_authority_commands(sub)
    p = sub.add_parser("register-client", help="register an ASP application (server extra)")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--software-id",
        default=None,
        help="the id the central ASP registry lists it by (default: the name)",
    )
    p.add_argument(
        "--client-id",
        default=None,
        help="a given client_id (the one the ASP has at your existing GBC; default: new)",
    )
    p.add_argument(
        "--redirect-uri", action="append", required=True, help="exact redirect URI (repeatable)"
    )
    p.add_argument("--notify-uri", required=True)
    p.add_argument("--public", action="store_true", help="a public client (no secret; PKCE only)")
    p.add_argument(
        "--qualification", default="qualified", choices=["qualified", "pending", "suspended"]
    )
    p.add_argument(
        "--class",
        dest="asp_class",
        default="data-only",
        choices=["data-only", "rate-change"],
        help="data-only (default: RINs, bill comparison, Green Button data) or rate-change "
        "(also sst:rate_change; concept design 6.4.2)",
    )
    p.add_argument(
        "--accept-terms",
        default=None,
        metavar="VERSION",
        help="the SST terms version the ASP accepted (must be TERMS_VERSION; recorded, audited)",
    )
    p.set_defaults(server_command=register_client)

    p = sub.add_parser(
        "register-resource-server",
        help="let a resource server (the SST bolt-on) introspect tokens here (server extra)",
    )
    p.add_argument("--name", required=True)
    p.add_argument("--client-id", default=None)
    p.set_defaults(server_command=register_resource_server_command)

    p = sub.add_parser("serve", help="run the utility server for development (server extra)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--issuer", default=None, help="public base URL (default http://HOST:PORT)")
    add_server_options(p)
    p.set_defaults(server_command=serve)

    p = sub.add_parser("worker", help="run the background worker (server extra)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between idle passes")
    p.add_argument("--now", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(server_command=worker)

    p = sub.add_parser(
        "rotate-signing-key", help="a new OpenID Connect id_token signing key (server extra)"
    )
    p.add_argument(
        "--retire-older-than-days",
        type=int,
        default=None,
        metavar="N",
        help="also unpublish keys out of use for more than N days (default: keep them all)",
    )
    p.set_defaults(server_command=rotate_signing_key)

    p = sub.add_parser("demo", help="run the seeded demo utility (server extra)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--data-dir", default="demo-data", help="folder for the database and demo.json")
    p.add_argument(
        "--asp-port",
        type=int,
        default=8765,  # the demo clients' redirect and notify URIs (server/demo/clients.py)
        help="port of the sample ASP app (examples/asp_app); 0: do not run it",
    )
    p.add_argument(
        "--statewide",
        action="store_true",
        help="two IOUs, a CCA and the gateway (nginx when installed) at --port",
    )
    p.add_argument("--no-nginx", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--authority-port",
        type=int,
        default=0,
        help="with --statewide: the central authority's port (default: a free one; demo.json "
        "says which)",
    )
    p.add_argument(
        "--registry-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="with --statewide: seconds between each entity's syncs of the authority's list",
    )
    p.add_argument(
        "--registry-url",
        default=None,
        metavar="URL",
        help="with --statewide: where the entities fetch the authority's signed list (default: "
        "the authority's /registry; a mirror or proxy may serve it, the signature is checked)",
    )
    add_server_options(p)
    p.set_defaults(server_command=_demo)

    p = sub.add_parser(
        "close-service-agreement",
        help="close a service agreement: no one sees it any more (server extra)",
    )
    p.add_argument("usage_point", metavar="UUID", help="the UsagePoint uuid")
    p.set_defaults(server_command=close_service_agreement_command)

    p = sub.add_parser("asp-registry", help="the central registry of qualified ASPs (server extra)")
    p.set_defaults(server_command=asp_registry_load)
    actions = p.add_subparsers(dest="registry_command", required=True)
    q = actions.add_parser("load", help="apply a registry file published by the central authority")
    q.add_argument("file", metavar="FILE", help="espi-sst-asp-registry/1 JSON")
    q.add_argument(
        "--allow-older",
        action="store_true",
        help="accept a file published before the last one loaded",
    )
    q.set_defaults(server_command=asp_registry_load)

    from .sst.cca_cache import CCA_COLUMNS

    p = sub.add_parser("cca-rins", help="the CCA generation-RIN cache (server extra)")
    p.set_defaults(server_command=cca_rins_load)
    actions = p.add_subparsers(dest="cca_command", required=True)
    q = actions.add_parser("load", help="apply a CCA's file of its customers' generation RINs")
    q.add_argument("cca", metavar="CCA", help="the CCA's code, as UsagePoint.lse has it (PCE)")
    q.add_argument("file", metavar="FILE", help="CSV: " + ", ".join(CCA_COLUMNS))
    q.set_defaults(server_command=cca_rins_load)

    p = sub.add_parser("bulk", help="ESPI FB 35 bulk transfer (server extra)")
    p.set_defaults(server_command=bulk_notify, client_id=None)
    actions = p.add_subparsers(dest="bulk_command", required=True)
    q = actions.add_parser(
        "notify",
        help="after a data load: send each ASP (or one) a BatchList naming its bulk URL; "
        "the worker delivers it",
    )
    q.add_argument("--client-id", default=None, metavar="CLIENT_ID", help="only this ASP")
    q.set_defaults(server_command=bulk_notify)

    p = sub.add_parser(
        "gateway", help="write the statewide gateway's nginx configuration (server extra)"
    )
    from .gateway.command import add_arguments as add_gateway_arguments

    add_gateway_arguments(p)
    p.set_defaults(server_command=_gateway)

    p = sub.add_parser("asp", help="this utility's own decisions about an ASP (server extra)")
    p.set_defaults(server_command=asp_block)
    actions = p.add_subparsers(dest="asp_command", required=True)
    q = actions.add_parser("block", help="end all of an ASP's access and refuse it from now on")
    q.add_argument("client_id", metavar="CLIENT_ID")
    q.add_argument("--reason", required=True, help="why (audit log; not sent to customers)")
    q.set_defaults(server_command=asp_block)
    q = actions.add_parser("unblock", help="lift this utility's block (old grants stay ended)")
    q.add_argument("client_id", metavar="CLIENT_ID")
    q.add_argument("--reason", default=None)
    q.add_argument(
        "--status",
        default="pending",
        choices=["pending", "qualified"],
        help="pending (default) until the next registry load says qualified",
    )
    q.set_defaults(server_command=asp_unblock)
    q = actions.add_parser(
        "class",
        help="set an ASP's class; a downgrade to data-only ends its grants' rate-change part",
    )
    q.add_argument("client_id", metavar="CLIENT_ID")
    q.add_argument("asp_class", metavar="CLASS", choices=["data-only", "rate-change"])
    q.set_defaults(server_command=asp_class_command)
    q = actions.add_parser(
        "accept-terms", help="record that an ASP accepted the SST terms version in force"
    )
    q.add_argument("client_id", metavar="CLIENT_ID")
    q.add_argument("version", metavar="VERSION", help="must be TERMS_VERSION")
    q.set_defaults(server_command=asp_accept_terms)

    from .ops.admin import add_admin_commands

    add_admin_commands(sub, _app)
