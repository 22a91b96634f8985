"""Server configuration: defaults, then ``ESPI_*`` environment variables, then test config.

Every key is documented here and in docs/server.md.  Environment variables share the
``ESPI_`` prefix and are read with Flask's ``from_prefixed_env`` (values are parsed as
JSON when they can be: ``ESPI_ACCESS_TOKEN_SECONDS=600``).
"""

from __future__ import annotations

import importlib
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from .errors import ConfigurationError

RESOURCE_PATH = "/espi/1_1/resource"
"""Where the ESPI resource API is mounted (REQ.21 REST, ESPI 1_1): the blueprint's prefix,
and the path of every resource URL built from ``ISSUER`` outside a request (discovery
metadata, the ASPs' notifications).  The gateway generator keeps its own copy
(``gateway/directory.py``), checked equal by its tests."""

DEFAULTED = "espi_sst_defaulted"
"""``app.extensions`` key: the settings :func:`load_config` filled in (key -> the file)."""

DEFAULTS: dict[str, Any] = {
    # Storage: SQLite in the instance folder unless a URL is given (PostgreSQL:
    # postgresql+psycopg://user:pass@127.0.0.1/espi).
    "DATABASE_URL": None,
    "AUTO_MIGRATE": True,
    # A connection pooler between the server and PostgreSQL (docs/deployment.md, "Through
    # PgBouncer"): "" (none, or one in session mode) or "transaction" (PgBouncer's
    # pool_mode = transaction: server-side prepared statements are then switched off).
    "DATABASE_POOLER": "",
    # Public identity.  ISSUER is the OAuth/OpenID issuer (RFC 8414, RFC 9207); it must
    # be the externally visible base URL (behind the gateway: the gateway's URL).
    "ISSUER": "http://127.0.0.1:5000",
    # Proxies in front that set X-Forwarded-For/-Proto/-Host/-Port/-Prefix (Werkzeug's
    # ProxyFix trusts that many values of each).  0: none (requests come straight in).
    # Behind the statewide gateway (``espi-sst gateway``): 1, with ISSUER set to
    # {public_base_url}/SST/v1/{ID}; the gateway sets each header afresh, so a client
    # cannot forge one.  Never more than the proxies really there: each extra hop trusts
    # what the client itself sent.
    "TRUSTED_PROXY_HOPS": 0,
    "DATA_CUSTODIAN_ID": "espi-sst-demo-utility",
    "UTILITY_NAME": "Demo Utility",
    # Token lifetimes (seconds).  Short access tokens + rotated refresh tokens (RFC 9700).
    "AUTHORIZATION_CODE_SECONDS": 300,
    "ACCESS_TOKEN_SECONDS": 900,
    "REFRESH_TOKEN_SECONDS": 365 * 86400,
    "ID_TOKEN_SECONDS": 900,
    # Sessions / CSRF.  SECRET_KEY is generated and kept in the instance folder when unset.
    "SECRET_KEY": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": 3600,
    # Input at the edge (server/security/edge.py): larger bodies get 413, deeper JSON 400 (NUL
    # characters anywhere in a request get 400 too; that needs no setting).  The three
    # MAX_* keys are Flask's own, enforced by Werkzeug while it reads the body: the whole
    # body, one form field held in memory, the number of form fields.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_FORM_MEMORY_SIZE": 500_000,
    "MAX_FORM_PARTS": 1000,
    "JSON_MAX_DEPTH": 64,
    # A portal sign-in lasts at most PORTAL_SESSION_SECONDS and ends after
    # PORTAL_SESSION_IDLE_SECONDS unused (NIST SP 800-63B 7.2 allows 12 h and 30 min at
    # AAL2; customers come to consent or revoke, minutes of work).  The session is a
    # server-side row that sign-out ends (server/portal/session.py); the signed cookie,
    # a browser-session cookie, is refused after PORTAL_SESSION_SECONDS too.
    "PORTAL_SESSION_SECONDS": 4 * 3600,
    "PORTAL_SESSION_IDLE_SECONDS": 30 * 60,
    # Where customers sign in: None for the built-in table, or "module:attribute" naming an
    # IdentitySource (authenticate, needs_second_factor, verify_second_factor).
    "IDENTITY_SOURCE": None,
    # ---- bolt-on (upstream) mode: beside an existing GBC custodian (docs/deployment.md) ----
    # UPSTREAM_RESOURCE_URL: the existing custodian's ESPI resource base
    # (https://gbc.utility.example/espi/1_1/resource); set, this server stores no usage
    # data and forwards plain ESPI GETs there with the ASP's token, adding the SST.
    "UPSTREAM_RESOURCE_URL": None,
    "UPSTREAM_CONNECT_TIMEOUT": 3.0,
    "UPSTREAM_READ_TIMEOUT": 15.0,
    "UPSTREAM_RETRIES": 2,  # idempotent GETs on connection failures and 502/503/504
    # All upstream calls of one request (forwarded GET and its retries, introspection, probe)
    # end within this many seconds: a 504 then.  Below nginx's proxy_read_timeout (60 s).
    "UPSTREAM_DEADLINE_SECONDS": 30.0,
    "UPSTREAM_RETRY_AFTER": 5,  # seconds, in 502/503/504 answers when the upstream gave none
    "UPSTREAM_POOL_SIZE": 20,
    # GET /readyz in bolt-on mode asks UPSTREAM_RESOURCE_URL with this timeout (seconds) and
    # keeps the answer READINESS_UPSTREAM_CACHE_SECONDS, so probes stay cheap (server/ops/health.py).
    "READINESS_UPSTREAM_TIMEOUT": 2.0,
    "READINESS_UPSTREAM_CACHE_SECONDS": 5.0,
    # Tokens: "local" (this server is the authorization server), "introspection" (RFC
    # 7662 at INTROSPECTION_URL with this server's client credentials there; the standard
    # members suffice) or "probe" (a custodian without introspection: the token is tried
    # on the addressed UsagePoint at UPSTREAM_RESOURCE_URL; needs the SST add-on consent).
    "TOKEN_VALIDATION": "local",
    "INTROSPECTION_URL": None,
    "INTROSPECTION_CLIENT_ID": None,
    "INTROSPECTION_CLIENT_SECRET": None,
    "INTROSPECTION_CACHE_SECONDS": 10,
    # INTROSPECTION_CACHE_SECONDS and PROBE_CACHE_SECONDS: at most 60 (checked at start).
    # TOKEN_VALIDATION "probe" (a custodian without introspection), and the standard
    # introspection's confirmation of the addressed usage point: how long the custodian's
    # 200 for a token and usage point stands (0 to 60 s; a revocation there is honoured
    # here within it; server/upstream/probe.py).
    "PROBE_CACHE_SECONDS": 10,
    # Where the customer pages live.  Beside an unmodified custodian whose own portal may
    # use /portal, the bolt-on's go under /sst/portal (the gateway routes /sst/ to it).
    "PORTAL_PATH": "/portal",
    # A plain GBC custodian (no SST resources, links or RIN elements): False.
    "SST_ENABLED": True,
    # Which SST functions this utility offers (concept design 6.1, server/sst/phases.py):
    # 1 RINs only; 2 RINs and bill comparison; 3 also customer-directed rate change.
    # Discovery, consent, tokens and the API follow it; checked at start.
    "SST_PHASE": 3,
    # Where ASPs fetch resources (token responses' resourceURI / authorizationURI): the
    # bolt-on's URL when it fronts this server; default ISSUER + /espi/1_1/resource.
    "RESOURCE_BASE_URL": None,
    # ---- which entity this server is (unbundled routing, concept design 7.3.5) ----
    "ENTITY_ID": None,  # e.g. "PGE"; unset: a single utility, no routing checks
    "ENTITY_KIND": "IOU",  # IOU | POU | CCA
    "ONLINE_ACCOUNTS": True,  # a CCA without them sends customers to UDC_ENTITY
    "UDC_ENTITY": None,
    # ---- the statewide SST terms and conditions (server/lifecycle/terms.py; 6.4.3 item 6) ----
    # TERMS_VERSION: the version in force (None: no terms apply).  With it, TERMS_URL (https,
    # where customers and ASPs read it) and TERMS_FILE (the document, SHA-256 computed at
    # start) or TERMS_SHA256 (its digest).  ASPs that have not accepted the version are
    # refused new grants; TERMS_ENFORCE_ON_EXISTING also stops their existing grants.
    "TERMS_VERSION": None,
    "TERMS_URL": None,
    "TERMS_FILE": None,
    "TERMS_SHA256": None,
    "TERMS_ENFORCE_ON_EXISTING": False,
    # PRIVACY_URL: the utility's privacy notice, linked on the consent pages (None: no link).
    "PRIVACY_URL": None,
    # ---- SST services (docs/utility-integration.md) ----
    # Adapters: None for the sample, or "module:attribute" of a factory (see the doc).
    "RATE_CATALOG": None,  # (session, config) -> RateCatalog
    "BILL_COMPARISON_SOURCE": None,  # (session, config) -> BillComparisonSource
    "BILLING_BACKEND": None,  # (session, config, catalog) -> BillingBackend
    # Unbundled customers: does this UDC hold the CCAs' generation RINs?  True (PG&E style),
    # False, or a list of CCA codes.  Not cached -> generationRinStatus "ask the CCA".
    "CACHED_CCA_RINS": True,
    # Other entities (CCAs ...) by code: {"PCE": {"name": "...", "url": "..."}}; without a
    # url, ENTITY_URL_TEMPLATE (the statewide gateway's layout) says where to ask them.
    "ENTITIES": {},
    "ENTITY_URL_TEMPLATE": "https://sst.example.org/SST/v1/{entity}",
    "NET_BILLING_EXPORT_CREDIT": 0.05,  # $/kWh exported, for bill comparison estimates
    # Rate change confirmation (Class 2): passcode length, lifetime and tries.
    "OTP_DIGITS": 6,
    "OTP_SECONDS": 600,
    "OTP_MAX_ATTEMPTS": 5,
    # Rate changes a service agreement may start (each mails its customer a passcode),
    # counted in the database over every ASP and web process; Flask-Limiter's notation,
    # "" switches it off.  An idempotent replay of an existing request is not counted.
    "RATE_CHANGE_USAGE_POINT_LIMIT": "3 per hour;5 per day",
    # ASP notifications (BatchList POSTs to notify URIs; server/outbox/outbound.py): https to public
    # addresses only.  NOTIFY_ALLOW_LOOPBACK also lets http go to 127.0.0.1 / ::1 (the demo
    # and tests, whose ASP listens on loopback; never on a real utility).  Timeouts in
    # seconds: connecting, and waiting for the answer (a slow ASP costs its own lane this).
    "NOTIFY_ALLOW_LOOPBACK": False,
    "NOTIFY_CONNECT_TIMEOUT": 3.0,
    "NOTIFY_READ_TIMEOUT": 5.0,
    # The worker's claim on a request it submits to billing; a dead worker's claim ends then.
    "WORKER_LEASE_SECONDS": 300,
    # The worker's claim on an outbox message it sends; a dead worker's claim ends then, and
    # another worker sends the message again (same Idempotency-Key / Message-ID).  It must
    # outlast one send: longer than the notify and SMTP timeouts.
    "OUTBOX_CLAIM_SECONDS": 120,
    # A failed send is tried again after OUTBOX_BACKOFF_FIRST_SECONDS, doubling up to
    # OUTBOX_BACKOFF_MAX_SECONDS (server/outbox/queue.py backoff_seconds).
    "OUTBOX_BACKOFF_FIRST_SECONDS": 10,
    "OUTBOX_BACKOFF_MAX_SECONDS": 3600,
    # Submissions of one rate change before the worker gives up on a billing system that
    # keeps failing (one per lease): the request is then rejected with reason "other" and
    # the customer is told to ask the utility (10 x 300 s: about 50 minutes of failures).
    "BILLING_MAX_ATTEMPTS": 10,
    # Rate limits (server/limits/__init__.py; RFC 6749 10.10, RFC 9700).  RATELIMIT_* keys are
    # Flask-Limiter's own.  Storage: "memory://" counts per process; give every worker the
    # same Redis ("redis://127.0.0.1:6379/0") so they count together.  If Redis goes away,
    # each process counts in memory until it is back (no 500s, no unlimited gap).
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_STRATEGY": "moving-window",  # "10 per minute" holds for any 60 seconds
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    # Limits in Flask-Limiter's notation, ";" between several; "" switches one off.
    # Sign-in and second-factor POSTs per remote address (a household or an office shares
    # one address).  Per account there is no window limit -- one is a lock-out a stranger
    # can trigger -- but the backoff below.
    "LOGIN_IP_RATE_LIMIT": "30 per minute;1000 per day",
    # Sign-in backoff per account (server/portal/throttle.py; NIST SP 800-63B 5.2.2): from
    # browsers the account has not signed in from, SIGN_IN_FREE_FAILURES wrong passwords
    # (or codes) at once, then each next attempt waits SIGN_IN_BACKOFF_FIRST_SECONDS,
    # doubling up to SIGN_IN_BACKOFF_MAX_SECONDS (about 100 guesses a day; never a lock);
    # failures are forgotten after SIGN_IN_FORGET_SECONDS without one.  A browser that
    # signed in to the account within SIGN_IN_DEVICE_SECONDS is counted on its own.  At
    # SIGN_IN_NOTIFY_FAILURES strangers' failures the owner is e-mailed (once a day at most).
    "SIGN_IN_FREE_FAILURES": 5,
    "SIGN_IN_BACKOFF_FIRST_SECONDS": 1,
    "SIGN_IN_BACKOFF_MAX_SECONDS": 900,
    "SIGN_IN_FORGET_SECONDS": 86400,
    "SIGN_IN_DEVICE_SECONDS": 90 * 86400,
    "SIGN_IN_NOTIFY_FAILURES": 10,
    # Token, revocation and introspection requests per authenticated client (a public
    # client: per client and remote address), each endpoint apart.  An ASP refreshes each
    # customer's token every ACCESS_TOKEN_SECONDS: raise this for ASPs with tens of
    # thousands of customers.
    "TOKEN_RATE_LIMIT": "20 per second;1200 per minute",
    # Failed client authentications at those endpoints per remote address; an address over
    # it is refused before it may authenticate again (server/limits/clients.py).
    "TOKEN_FAILURE_IP_RATE_LIMIT": "10 per minute;100 per hour",
    # The resource API (and userinfo) per ASP, counted once its bearer token is validated
    # (server/limits/resources.py): every request, and in addition the bulk feeds
    # (Batch/Subscription, Subscription, IntervalBlock feeds, Batch/Bulk), which cost
    # seconds each.  Raise both for ASPs with many customers.
    "RESOURCE_RATE_LIMIT": "20 per second;600 per minute",
    "RESOURCE_BULK_RATE_LIMIT": "2 per second;60 per minute",
    # One-time-passcode confirmation (rate change): per request (above the request's own
    # attempt counter, so that is what customers meet; this stops hammering and parallel
    # guesses), then per client.
    "OTP_RATE_LIMIT": "10 per 15 minutes;20 per day",
    "OTP_CLIENT_RATE_LIMIT": "60 per minute",
    # Rate-change requests one ASP may create (POST .../RateChangeRequest), over all its
    # customers: bounds the passcode e-mail one ASP can cause.
    "RATE_CHANGE_CLIENT_RATE_LIMIT": "30 per minute;1000 per day",
    # Complaints about ASPs a signed-in customer may file in the portal (per customer).
    "COMPLAINT_RATE_LIMIT": "5 per hour;20 per day",
    # Customer e-mail (one-time passcodes; server/outbox/mail.py).  NOTIFIER: None, or
    # "module:attribute" naming a factory(app) -> Notifier (mail through an API or a queue).
    # Else SMTP_HOST selects the SMTP relay: port 587 with STARTTLS (RFC 6409), or 465 with
    # SMTP_SSL (implicit TLS, RFC 8314; STARTTLS is then moot).  SMTP_TIMEOUT (seconds)
    # bounds the connect and each reply.  MAIL_FROM, the utility's sender, is required with
    # SMTP_HOST.  Neither NOTIFIER nor SMTP_HOST: messages are only logged (development).
    "NOTIFIER": None,
    # Outbox bodies (e-mail text with passcodes, ASP notifications) are encrypted at rest
    # (server/outbox/_seal.py) and purged once sent.  None: a key derived from SECRET_KEY
    # (changing SECRET_KEY then makes still-pending messages undecryptable: they fail, each
    # visibly).  Or a Fernet key, or a list of them (first encrypts, all decrypt: rotation).
    "OUTBOX_KEY": None,
    "MAIL_FROM": None,
    # Where customers' complaints about ASPs go (concept design UC1.4, 6.4.6;
    # server/lifecycle/complaints.py), through the outbox.  None: stored and listed by
    # `espi-sst complaints list` only (check-config warns on an https issuer).
    "COMPLAINTS_EMAIL": None,
    "SMTP_HOST": None,
    "SMTP_PORT": 587,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": True,
    "SMTP_SSL": False,
    "SMTP_TIMEOUT": 10,
    # Customer text messages (rate-change passcodes for customers who chose SMS in the
    # portal; server/outbox/sms.py).  SMS_SENDER: None, or "module:attribute" naming a
    # factory(app) -> SmsSender (the utility's own gateway).  Else SMS_URL selects the
    # generic HTTP adapter: a JSON POST {"to", "body"} with "Authorization: Bearer
    # SMS_TOKEN" and an Idempotency-Key; SMS_TIMEOUT (seconds) bounds it.  Neither: nothing
    # is sent and the log says so, without the body (development).
    "SMS_SENDER": None,
    "SMS_URL": None,
    "SMS_TOKEN": None,
    "SMS_TIMEOUT": 10,
    # The demo only: the mail sink's Maildir, shown at /demo/inbox (server/demo/inbox.py).
    # Never set it on a real utility: the page publishes every message sent.
    "DEMO_MAILDIR": None,
    # The demo only: the SMS sink's folder, shown at /demo/sms (server/demo/sms_sink.py).
    # Never set it on a real utility: the page publishes every text message sent.
    "DEMO_SMS_DIR": None,
    # The central authority's signed list of qualified ASPs (concept design 6.4.4; issue 20;
    # `espi-sst registry sync`, server/lifecycle/registry_sync.py).  REGISTRY_URL: its
    # GET /registry (unset: no sync, complaints stay here).  The key set that signs it:
    # REGISTRY_JWKS_FILE (a pinned JWKS on this host; preferred) or REGISTRY_JWKS_URL.
    # REGISTRY_ISSUER: the issuer the list must name.  REGISTRY_MAX_AGE_SECONDS: the oldest
    # `published` accepted.  REGISTRY_ENTITY_ID: this entity's id in the list's client_ids
    # (PGE); REGISTRY_REPORT_TOKEN: the bearer token for POST /registry/reports and /complaints.
    "REGISTRY_URL": None,
    "REGISTRY_JWKS_URL": None,
    "REGISTRY_JWKS_FILE": None,
    "REGISTRY_ISSUER": None,
    "REGISTRY_MAX_AGE_SECONDS": 86400,
    "REGISTRY_ENTITY_ID": None,
    "REGISTRY_REPORT_TOKEN": None,
    # GET /metrics answers requests made directly on loopback; with this set, also those with
    # "Authorization: Bearer <METRICS_TOKEN>" (a Prometheus elsewhere; server/ops/metrics_endpoint.py).
    "METRICS_TOKEN": None,
}


def resource_base_url(config: Any) -> str:
    """Where ASPs fetch resources, absolute and without a trailing slash: token responses'
    ``resourceURI`` / ``authorizationURI`` and the URLs of the ASPs' notifications (built
    where no request is: the worker, the commands).  ``RESOURCE_BASE_URL``, else ``ISSUER``
    + :data:`RESOURCE_PATH`."""
    return str(config.get("RESOURCE_BASE_URL") or str(config["ISSUER"]) + RESOURCE_PATH).rstrip("/")


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Defaults < ESPI_* environment < test_config, then derived values."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("ESPI")
    if test_config:
        app.config.update(test_config)
    instance = Path(app.instance_path)
    # What was filled in here rather than configured: the server commands name the file,
    # and ``espi-sst check-config`` refuses either on a production issuer (server/ops).
    defaulted: dict[str, str] = {}
    pooler = str(app.config.get("DATABASE_POOLER") or "").strip().lower()
    if pooler not in ("", "session", "transaction"):
        raise ConfigurationError(
            f'DATABASE_POOLER is {app.config["DATABASE_POOLER"]!r}: set it to "transaction" '
            "behind PgBouncer's pool_mode = transaction, or leave it empty (no pooler, or "
            'session mode); docs/deployment.md, "Through PgBouncer"'
        )
    app.config["DATABASE_POOLER"] = pooler
    if not app.config["DATABASE_URL"]:
        if str(app.config["ISSUER"]).startswith("https://"):  # production: never a hidden file
            raise ConfigurationError(
                "DATABASE_URL is not set and ISSUER is https (production): set "
                "ESPI_DATABASE_URL=postgresql+psycopg://USER@HOST:5432/DB; the SQLite file "
                f"{instance / 'espi-sst.db'} is for development only"
            )
        instance.mkdir(parents=True, exist_ok=True)
        defaulted["DATABASE_URL"] = str(instance / "espi-sst.db")
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'espi-sst.db'}"
    if not app.config["SECRET_KEY"]:
        instance.mkdir(parents=True, exist_ok=True)
        defaulted["SECRET_KEY"] = str(instance / "secret_key")
        app.config["SECRET_KEY"] = _persistent_secret(instance / "secret_key")
    app.extensions[DEFAULTED] = defaulted
    app.config["ISSUER"] = str(app.config["ISSUER"]).rstrip("/")


def _persistent_secret(path: Path) -> str:
    """A random key created once and kept (sessions survive restarts; nothing to configure)."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_named(
    setting: object, key: str, *, error: type[ConfigurationError] = ConfigurationError
) -> object:
    """What a setting that may name code stands for.

    ``"package.module:attribute"`` is imported and the attribute returned; anything else (an
    object or a callable: tests, embedding apps) is returned as it is.  A name that cannot
    be imported fails here, at first use, naming the setting (``key``).  Every such setting
    -- the SST adapters, ``NOTIFIER``, ``IDENTITY_SOURCE`` -- is read by this one function.
    """
    if not isinstance(setting, str):
        return setting
    module_name, colon, attribute = setting.partition(":")
    if not (module_name and colon and attribute):
        raise error(f"{key} must be 'package.module:attribute', got {setting!r}")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise error(f"cannot load {key} {setting!r}: {exc}") from exc
