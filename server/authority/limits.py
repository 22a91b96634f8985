"""The authority's abuse limits: who may do what how often (docs/central-authority.md,
"Abuse limits").

Why: every sign-up sends an e-mail to an address the requester chooses, so a loop of
sign-ups is a mail bomb and a way to squat many addresses; a per-account lock-out
(accounts.py) stops guessing at one account but not one host trying many; and the list, its
key set and the entity API answer anyone who asks.  RFC 6585 section 4 gives the refusal: 429
with ``Retry-After``.

The limits (settings.py; Flask-Limiter's notation, an empty value switches one off):

* ``AUTHORITY_SIGN_UP_RATE_LIMIT`` -- POST /sign-up per client address;
* ``AUTHORITY_SIGN_IN_RATE_LIMIT`` -- POST /sign-in per client address, on top of the
  per-account lock-out (five failures, 15 minutes);
* ``AUTHORITY_VERIFY_RATE_LIMIT`` -- GET /verify (the e-mailed link) per client address;
* ``AUTHORITY_VERIFICATION_EMAIL_LIMIT`` -- verification e-mails per *target* address,
  whoever asks (:func:`count_verification_email`): many source addresses, one victim;
* ``AUTHORITY_ENTITY_RATE_LIMIT`` -- POST /registry/reports and /complaints per entity
  (the entity its bearer token names; per client address for a request whose token is
  missing or unknown, so a stranger spends no entity's budget);
* ``AUTHORITY_LIST_RATE_LIMIT`` -- GET /registry and /.well-known/jwks.json per client
  address (entities poll every few minutes; generous).

Every attempt counts, right or wrong (as the entity server's limits, server/limits/).  The
client address is ``request.remote_addr``; behind ``AUTHORITY_TRUSTED_PROXY_HOPS`` proxies
Werkzeug's ProxyFix takes it from X-Forwarded-For (create_authority_app).  Counts live in
Flask-Limiter's storage, ``RATELIMIT_STORAGE_URI`` (``memory://``: each process its own;
``redis://``: shared by every worker and instance), with the entity server's window and
fallback logic (server/limits/windows.py, which imports nothing of the entity app).

One Limiter per app (a process may hold several: tests, two instances on one Redis), so the
limits wrap each app's own ``view_functions`` in :func:`init_app`, not the shared blueprints.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded

from ..limits import windows
from ..security import hash_secret
from .errors import RateLimited

EXTENSION = "authority_limits"


def client_address() -> str:
    """The client's address as the app sees it (ProxyFix's, behind trusted proxies)."""
    return f"ip:{request.remote_addr or 'unknown'}"


def entity_or_address() -> str:
    """The entity whose bearer token the request carries, else the client's address."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        given = token.strip().encode()
        for entity, expected in current_app.config["AUTHORITY_ENTITY_TOKENS"].items():
            if hmac.compare_digest(given, str(expected).encode()):
                return f"entity:{entity}"
    return client_address()


@dataclass(frozen=True)
class Limit:
    """One limit on one view: its setting, how requests are told apart, what people read."""

    endpoint: str
    setting: str
    key: Callable[[], str]
    what: str
    methods: tuple[str, ...] | None = ("POST",)


LIMITS = (
    Limit(
        "authority_asp_pages.sign_up_page",
        "AUTHORITY_SIGN_UP_RATE_LIMIT",
        client_address,
        "too many sign-ups from your network address",
    ),
    Limit(
        "authority_asp_pages.sign_in_page",
        "AUTHORITY_SIGN_IN_RATE_LIMIT",
        client_address,
        "too many sign-in attempts from your network address",
    ),
    Limit(
        "authority_asp_pages.verify_page",
        "AUTHORITY_VERIFY_RATE_LIMIT",
        client_address,
        "too many confirmation links opened from your network address",
        None,
    ),
    Limit(
        "authority_entity_api.receive_report",
        "AUTHORITY_ENTITY_RATE_LIMIT",
        entity_or_address,
        "too many reports and complaints from this entity",
    ),
    Limit(
        "authority_entity_api.receive_complaint",
        "AUTHORITY_ENTITY_RATE_LIMIT",
        entity_or_address,
        "too many reports and complaints from this entity",
    ),
    Limit(
        "authority_registry_api.registry",
        "AUTHORITY_LIST_RATE_LIMIT",
        client_address,
        "too many fetches of the list from your network address",
        None,
    ),
    Limit(
        "authority_registry_api.jwks",
        "AUTHORITY_LIST_RATE_LIMIT",
        client_address,
        "too many fetches of the list from your network address",
        None,
    ),
)
"""Which view each limit guards.  The two entity endpoints share one bucket (scope), and
so do the list and its key set: the setting names the budget."""

_WHAT_OF_SCOPE = {limit.setting: limit.what for limit in LIMITS}


def _limiter() -> Limiter:
    limiter: Limiter = current_app.extensions[EXTENSION]
    return limiter


def _too_many(error: RateLimitExceeded) -> Any:
    from .web import error_answer  # web imports the pages; the pages import nothing of this

    scope = error.limit.scope if isinstance(error.limit.scope, str) else ""
    seconds = windows.breached_retry_after(_limiter(), error)
    current_app.logger.warning("rate limit %s reached at %s", error.limit.limit, request.path)
    return error_answer(RateLimited(seconds, _WHAT_OF_SCOPE.get(scope, "too many requests")))


def mailbox(email: str) -> str:
    """The mailbox ``email`` delivers to, as far as a stranger can vary it: lower case, and
    without a ``+tag`` subaddress (RFC 5233), which most mail services deliver to the same
    mailbox -- so ``victim+1@``, ``victim+2@`` ... share one count."""
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def count_verification_email(email: str) -> None:
    """Count one verification e-mail to ``email``'s mailbox; :class:`RateLimited` when
    ``AUTHORITY_VERIFICATION_EMAIL_LIMIT`` is over, before anything is sent.  The key is the
    mailbox's SHA-256: no address is written to the limits' storage."""
    items = windows.parsed(current_app.config["AUTHORITY_VERIFICATION_EMAIL_LIMIT"])
    limiter = _limiter()
    if not items or not limiter.enabled:
        return
    seconds = windows.count(
        limiter,
        items,
        (f"mail:{hash_secret(mailbox(email))}", "verification-email"),
        counting=True,
        strategy_name=str(current_app.config.get("RATELIMIT_STRATEGY") or "fixed-window"),
        fall_back=bool(current_app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)),
    )
    if seconds is not None:
        current_app.logger.warning("verification e-mail limit reached for one address")
        raise RateLimited(seconds, "too many confirmation e-mails went to this address")


def _reader(setting: str) -> Callable[[], str]:
    """The limit's value, read per request (a test or an operator may change it live)."""
    return lambda: str(current_app.config.get(setting) or "")


def init_app(app: Flask) -> None:
    """This app's Limiter (``RATELIMIT_*`` from its config) around the views of ``LIMITS``;
    its refusal is the authority's one error answer, as :class:`RateLimited`."""
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")  # N per period, any period
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter = Limiter(key_func=client_address)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    for limit in LIMITS:
        # shared_limit: the bucket is the setting's (scope), so the views that share a
        # setting share its budget (reports and complaints; the list and its key set)
        decorate: Any = limiter.shared_limit(
            _reader(limit.setting),
            scope=limit.setting,
            key_func=limit.key,
            methods=list(limit.methods) if limit.methods else None,
        )
        app.view_functions[limit.endpoint] = decorate(app.view_functions[limit.endpoint])
    app.register_error_handler(RateLimitExceeded, _too_many)


__all__ = ["LIMITS", "count_verification_email", "init_app", "mailbox"]
