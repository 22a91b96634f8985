"""``espi-sst check-config``: the effective configuration, the adapters in use, and what is
unsafe for production -- also run by ``espi-sst serve`` and gunicorn (``wsgi.py``) at start.

A setup is *production* when its ``ISSUER`` is https (ASPs reach it over TLS; RFC 8414
section 2 requires an https issuer).  Then each of these is an **error** (exit status 1;
``serve`` and gunicorn refuse to start):

* the sample billing backend (``BILLING_BACKEND`` unset, SST phase 3),
* the sample RIN catalog (``RATE_CATALOG`` unset, SST enabled),
* the mail log fallback (neither ``NOTIFIER`` nor ``SMTP_HOST``: passcodes never reach
  customers, and the log holds them),
* SQLite with several gunicorn workers (each its own writer: ``database is locked``),
* no ``SECRET_KEY`` (one generated into the instance folder: each host its own, so a
  session or an outbox body from another host does not open),
* no ``DATABASE_URL`` (the hidden ``instance/espi-sst.db``),
* ``DEMO_MAILDIR`` (the demo's inbox page publishes every message sent),
* ``DEMO_SMS_DIR`` (the demo's SMS sink and page publish every text message sent),
* an ``SMS_URL`` that is not https (the bearer token and the passcodes would cross the
  network in clear; loopback excepted: a local relay).

**Warnings** (logged, never refused): no SMS gateway (customers who chose text messages
get no passcode), the sample bill comparison, per-process rate-limit
counters with several workers, a session cookie without ``Secure``, ``NOTIFY_ALLOW_LOOPBACK``,
migrations at start with several workers, no ``COMPLAINTS_EMAIL`` (complaints about ASPs
are stored but e-mailed to no one).

The number of gunicorn workers (:func:`gunicorn_workers`): inside gunicorn, gunicorn's own
parser re-reads what the master read (command line, ``GUNICORN_CMD_ARGS``, the config file,
``WEB_CONCURRENCY``); elsewhere ``--workers``, else ``GUNICORN_CMD_ARGS``'s ``-w`` /
``--workers``, else ``WEB_CONCURRENCY``, else 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask

from ..config import DEFAULTED, DEFAULTS
from ..errors import ConfigurationError

log = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"
HIDDEN = "(set, hidden)"
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSCODE|_KEY$|TOKEN$")
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)[^@/]+(@)", re.I)


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, which setting, what is wrong and how to fix it."""

    level: str  # error | warning
    setting: str
    message: str

    def line(self) -> str:
        return f"{self.level}: {self.setting}: {self.message}"


class UnsafeConfiguration(ConfigurationError):
    """A production start refused (gunicorn: the worker fails to boot, the master halts)."""

    code = "unsafe_configuration"


# ---------------------------------------------------------------- what is configured


def masked(key: str, value: Any) -> Any:
    """``value`` fit to print: secrets hidden, passwords in URLs replaced by ``***``."""
    if value is None:
        return None
    if _SECRET_NAME.search(key) and not key.endswith("_SECONDS"):
        return HIDDEN
    if isinstance(value, str) and "://" in value:
        return _USERINFO.sub(r"\1***\2", value)
    return value


def effective_configuration(app: Flask) -> dict[str, Any]:
    """Every documented setting (server/config.py's DEFAULTS) with its value, masked; the
    log settings, which are read from the environment before any app exists."""
    shown = {key: masked(key, app.config.get(key)) for key in sorted(DEFAULTS)}
    shown["LOG_FORMAT"] = os.environ.get("ESPI_LOG_FORMAT") or "json"
    shown["LOG_LEVEL"] = os.environ.get("ESPI_LOG_LEVEL") or "INFO"
    return shown


def _named(setting: Any, sample: str) -> str:
    if setting is None:
        return f"sample ({sample})"
    return setting if isinstance(setting, str) else f"{type(setting).__name__} (given in code)"


def mail_transport(config: Any) -> str:
    if config.get("NOTIFIER"):
        return "notifier " + _named(config["NOTIFIER"], "")
    if config.get("SMTP_HOST"):
        tls = (
            "implicit TLS"
            if config.get("SMTP_SSL")
            else ("STARTTLS" if config.get("SMTP_STARTTLS") else "no TLS")
        )
        return f"SMTP {config['SMTP_HOST']}:{config.get('SMTP_PORT')} ({tls})"
    return "log (development only: nothing is delivered)"


def sms_transport(config: Any) -> str:
    if config.get("SMS_SENDER"):
        return "sender " + _named(config["SMS_SENDER"], "")
    if config.get("SMS_URL"):
        return f"HTTP {masked('SMS_URL', config['SMS_URL'])}"
    return "none (development only: text messages are dropped, logged without their body)"


def active_adapters(app: Flask) -> dict[str, str]:
    """Which implementation answers each of the utility's interfaces."""
    config = app.config
    validation = str(config.get("TOKEN_VALIDATION") or "local")
    if validation == "introspection":
        validation += f" at {config.get('INTROSPECTION_URL')}"
    elif validation == "probe":
        validation += f" of {config.get('UPSTREAM_RESOURCE_URL')}"
    return {
        "mode": "bolt-on beside " + str(config["UPSTREAM_RESOURCE_URL"])
        if config.get("UPSTREAM_RESOURCE_URL")
        else "standalone",
        "token_validation": validation,
        "billing_backend": _named(config.get("BILLING_BACKEND"), "SampleBillingBackend"),
        "rin_catalog": _named(config.get("RATE_CATALOG"), "TariffTableCatalog"),
        "rate_analysis": _named(config.get("BILL_COMPARISON_SOURCE"), "TariffBillComparison"),
        "mail_transport": mail_transport(config),
        "sms_transport": sms_transport(config),
        "identity_source": _named(config.get("IDENTITY_SOURCE"), "TableIdentitySource"),
        "database": "SQLite"
        if _is_sqlite(config)
        else str(masked("DATABASE_URL", config["DATABASE_URL"])).split("://", 1)[0],
    }


def _is_sqlite(config: Any) -> bool:
    return str(config.get("DATABASE_URL") or "").startswith("sqlite")


# ---------------------------------------------------------------- how many workers


def _workers_in(arguments: list[str]) -> int | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-w", "--workers", type=int)
    known, _ = parser.parse_known_args(arguments)
    return known.workers  # type: ignore[no-any-return]


def gunicorn_workers(given: int | None = None, environ: dict[str, str] | None = None) -> int:
    """How many gunicorn worker processes serve this configuration (see the module)."""
    if given is not None:
        return given
    env = os.environ if environ is None else environ
    if environ is None and "gunicorn.arbiter" in sys.modules:
        try:
            from gunicorn.app.wsgiapp import WSGIApplication  # type: ignore[import-untyped]

            return int(WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg.workers)
        except (Exception, SystemExit):  # not gunicorn's own command line after all
            pass
    from_env = _workers_in(shlex.split(env.get("GUNICORN_CMD_ARGS", "")))
    if from_env is not None:
        return from_env
    try:
        return int(env.get("WEB_CONCURRENCY") or 1)
    except ValueError:
        return 1


# ---------------------------------------------------------------- the rules


def _loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "::1", "localhost")


def is_production(config: Any) -> bool:
    return str(config.get("ISSUER", "")).startswith("https://")


def findings(app: Flask, *, workers: int) -> list[Finding]:
    """Every problem of this configuration for production; nothing when not production."""
    config = app.config
    if not is_production(config):
        return []
    defaulted = app.extensions.get(DEFAULTED, {})
    sst = bool(config.get("SST_ENABLED"))
    found: list[Finding] = []

    def error(setting: str, message: str) -> None:
        found.append(Finding(ERROR, setting, message))

    def warning(setting: str, message: str) -> None:
        found.append(Finding(WARNING, setting, message))

    if "SECRET_KEY" in defaulted:
        error(
            "SECRET_KEY",
            f"not set: a key generated into {defaulted['SECRET_KEY']} is used, a different "
            "one on each host; set ESPI_SECRET_KEY to one long random value shared by all "
            "hosts (python -c 'import secrets; print(secrets.token_urlsafe(48))')",
        )
    if "DATABASE_URL" in defaulted:
        error(
            "DATABASE_URL",
            f"not set: the hidden SQLite file {defaulted['DATABASE_URL']} would be used; set "
            "ESPI_DATABASE_URL=postgresql+psycopg://USER@HOST:5432/DB (docs/deployment.md)",
        )
    elif _is_sqlite(config) and workers > 1:
        error(
            "DATABASE_URL",
            f"SQLite with {workers} gunicorn workers: each process writes the one file "
            "('database is locked' under load); use PostgreSQL, or run --workers 1",
        )
    if sst and int(config.get("SST_PHASE") or 0) >= 3 and config.get("BILLING_BACKEND") is None:
        error(
            "BILLING_BACKEND",
            "the sample billing backend decides rate changes in this database, not your "
            "billing system; set BILLING_BACKEND='package.module:factory' "
            "(docs/utility-integration.md), or SST_PHASE=2 until it exists",
        )
    if sst and config.get("RATE_CATALOG") is None:
        error(
            "RATE_CATALOG",
            "the sample RIN catalog reads the demo tariff table; set "
            "RATE_CATALOG='package.module:factory' (docs/utility-integration.md)",
        )
    if not config.get("NOTIFIER") and not config.get("SMTP_HOST"):
        error(
            "SMTP_HOST",
            "no mail transport: e-mail (passcodes included) would only be logged, never "
            "delivered; set SMTP_HOST and MAIL_FROM, or NOTIFIER (docs/server.md)",
        )
    if config.get("DEMO_MAILDIR"):
        error(
            "DEMO_MAILDIR",
            "the demo's inbox page publishes every message sent (passcodes); unset it",
        )
    if config.get("DEMO_SMS_DIR"):
        error(
            "DEMO_SMS_DIR",
            "the demo's SMS sink page publishes every text message sent (passcodes); unset "
            "it and set SMS_URL to your SMS gateway, or SMS_SENDER (docs/server.md)",
        )
    sms_url = str(config.get("SMS_URL") or "")
    if sms_url and not sms_url.startswith("https://") and not _loopback_url(sms_url):
        error(
            "SMS_URL",
            f"{sms_url} is not https: the bearer token and every passcode would cross the "
            "network in clear; use the gateway's https URL",
        )
    if not config.get("SMS_SENDER") and not sms_url:
        warning(
            "SMS_URL",
            "no SMS gateway: a customer who chose text messages for passcodes gets none (the "
            "message is dropped with a log line); set SMS_URL and SMS_TOKEN, or SMS_SENDER",
        )
    claim = float(config.get("OUTBOX_CLAIM_SECONDS") or 0)
    longest_send = max(
        float(config.get("NOTIFY_CONNECT_TIMEOUT") or 0)
        + float(config.get("NOTIFY_READ_TIMEOUT") or 0),
        float(config.get("SMTP_TIMEOUT") or 0),
        float(config.get("SMS_TIMEOUT") or 0),
    )
    if claim <= longest_send:
        error(
            "OUTBOX_CLAIM_SECONDS",
            f"{claim:g} s is not longer than one send may take ({longest_send:g} s: the "
            "notify connect + read, the SMTP or the SMS timeout): a second worker would send a "
            "message that is still being sent; raise it (default 120)",
        )
    if sst and config.get("BILL_COMPARISON_SOURCE") is None:
        warning(
            "BILL_COMPARISON_SOURCE",
            "the sample bill comparison prices from the tariff table; set it to your rate "
            "analysis (e.g. espi_sst_server.sst.rate_api:RateApiComparison) if you have one",
        )
    if workers > 1 and str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory://"):
        warning(
            "RATELIMIT_STORAGE_URI",
            f"memory:// with {workers} workers: each counts alone (limits x{workers}); "
            "give them one Redis (redis://HOST:6379/0)",
        )
    if not config.get("SESSION_COOKIE_SECURE"):
        warning("SESSION_COOKIE_SECURE", "false on an https issuer: set it true")
    if config.get("NOTIFY_ALLOW_LOOPBACK"):
        warning("NOTIFY_ALLOW_LOOPBACK", "true: ASP notifications may go to loopback; unset it")
    if not str(config.get("COMPLAINTS_EMAIL") or "").strip():
        warning(
            "COMPLAINTS_EMAIL",
            "not set: customers' complaints about ASPs are stored (espi-sst complaints list) "
            "but e-mailed to no one; set ESPI_COMPLAINTS_EMAIL to the address that handles them",
        )
    if workers > 1 and config.get("AUTO_MIGRATE"):
        warning(
            "AUTO_MIGRATE",
            f"true with {workers} workers: each migrates at start; migrate once before "
            "(docs/deployment.md) and set ESPI_AUTO_MIGRATE=false",
        )
    return found


def report(app: Flask, *, workers: int) -> dict[str, Any]:
    """The whole check as one document (``--json``)."""
    problems = findings(app, workers=workers)
    return {
        "production": is_production(app.config),
        "issuer": app.config["ISSUER"],
        "workers": workers,
        "database_file": app.extensions.get(DEFAULTED, {}).get("DATABASE_URL"),
        "adapters": active_adapters(app),
        "configuration": effective_configuration(app),
        "errors": [asdict(f) for f in problems if f.level == ERROR],
        "warnings": [asdict(f) for f in problems if f.level == WARNING],
    }


# ---------------------------------------------------------------- at start


def database_notice(app: Flask) -> str | None:
    """The one line saying which SQLite file is used when ESPI_DATABASE_URL is unset."""
    path = app.extensions.get(DEFAULTED, {}).get("DATABASE_URL")
    if path is None:
        return None
    return f"ESPI_DATABASE_URL is not set: using the SQLite file {path}"


def refuse_unsafe_start(app: Flask, *, server: str, workers: int | None = None) -> None:
    """Run the check as a server starts: warnings logged, errors logged then raised."""
    notice = database_notice(app)
    if notice:
        log.warning(notice)
    problems = findings(app, workers=gunicorn_workers(workers))
    for problem in problems:
        log.log(logging.ERROR if problem.level == ERROR else logging.WARNING, problem.line())
    errors = [p for p in problems if p.level == ERROR]
    if errors:
        raise UnsafeConfiguration(
            f"{server} refuses to start: {len(errors)} configuration error(s) for production "
            f"(https issuer): "
            + "; ".join(f"{p.setting}" for p in errors)
            + " -- run espi-sst check-config"
        )


# ---------------------------------------------------------------- the command


def _configured(key: str) -> Any:
    """A setting as the environment gives it (Flask's rule: JSON when it parses)."""
    raw = os.environ.get("ESPI_" + key)
    if raw is None:
        return DEFAULTS[key]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def check_config_command(args: argparse.Namespace, create_app: Callable[..., Flask]) -> int:
    """The command; ``create_app`` is the app factory, given by the entry point above this
    layer (server/cli.py), since the factory wires every layer, the demo's included."""
    try:
        app = create_app({"AUTO_MIGRATE": False})  # a check changes nothing: no migration
    except (ConfigurationError, ValueError) as exc:  # the app itself refuses to start
        sys.stderr.write(f"error: {exc}\n")
        sys.stderr.write("espi-sst: check-config: the server cannot start with this\n")
        return 1
    app.config["AUTO_MIGRATE"] = _configured("AUTO_MIGRATE")
    done = report(app, workers=gunicorn_workers(args.workers))
    failed = bool(done["errors"])
    if args.json:
        json.dump(done, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 1 if failed else 0
    out = sys.stdout
    kind = "production (https issuer)" if done["production"] else "not production (http issuer)"
    out.write(f"issuer: {done['issuer']}: {kind}; gunicorn workers: {done['workers']}\n")
    if done["database_file"]:
        out.write(f"database: ESPI_DATABASE_URL is not set: SQLite file {done['database_file']}\n")
    out.write("adapters:\n")
    for name, value in done["adapters"].items():
        out.write(f"  {name}: {value}\n")
    out.write("configuration:\n")
    for key, value in done["configuration"].items():
        out.write(f"  {key} = {json.dumps(value, default=str)}\n")
    for item in done["warnings"]:
        sys.stderr.write(f"warning: {item['setting']}: {item['message']}\n")
    for item in done["errors"]:
        sys.stderr.write(f"error: {item['setting']}: {item['message']}\n")
    if failed:
        sys.stderr.write(
            f"espi-sst: check-config: {len(done['errors'])} error(s): not fit for production\n"
        )
    return 1 if failed else 0


def add_check_config_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    create_app: Callable[..., Flask],
) -> None:
    p = sub.add_parser(
        "check-config",
        help="print the effective configuration and refuse one unsafe for production "
        "(server extra)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="gunicorn workers to check for (default: GUNICORN_CMD_ARGS, WEB_CONCURRENCY, 1)",
    )
    p.set_defaults(server_command=lambda args: check_config_command(args, create_app))
