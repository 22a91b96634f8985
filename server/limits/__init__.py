"""Rate limits on sign-in, one-time-passcode confirmation and the OAuth client endpoints.

Why: the authorization server must stop credential guessing -- passwords, second-factor
codes, client secrets, authorization codes (RFC 6749 section 10.10; RFC 9700, the OAuth 2.0
Security BCP) -- and the concept design's NFRs ask that no one party can starve the others.
A limit per *remote address* stops one host from trying many accounts (a spray from many
addresses against one customer is the portal's account backoff's job:
server/portal/throttle.py); a limit per *client* keeps one ASP (or someone posing as it)
from flooding the token endpoint.

Flask-Limiter counts (windows, in memory or in Redis) and reads its own ``RATELIMIT_*``
configuration (``RATELIMIT_ENABLED``, ``RATELIMIT_STORAGE_URI``, ``RATELIMIT_STRATEGY``, ...);
this module says only what is limited, by which key and with which of our config keys, and
what a refused request looks like.

Decorators, placed under the route decorator:

* ``login_limit`` -- POSTs of the sign-in form: ``LOGIN_IP_RATE_LIMIT`` per remote address
  (one host slows only itself).  Per *account* there is no window here: a window per
  account is a lock-out any stranger can trigger (issue 11, item 9).  Accounts get a
  backoff that spares browsers their owner used before (server/portal/guard.py).
* ``second_factor_limit`` -- POSTs of the second-factor form: the same, per address.
* ``complaint_limit`` -- POSTs of the portal's complaint form: ``COMPLAINT_RATE_LIMIT``
  per signed-in customer (per address before sign-in).
* ``client_limit`` -- token, revocation, introspection: refuses, before anything else, a
  remote address over ``TOKEN_FAILURE_IP_RATE_LIMIT`` (failed client authentications).  The
  counting happens where the client is known, in Authlib's client authentication
  (``limits/clients.py``): a failure per remote address, a success per client
  (``TOKEN_RATE_LIMIT``) -- never per the client id a request merely claims, which let a
  stranger lock an ASP out.  A separate bucket per endpoint.
* ``otp_confirmation_limit`` -- for the SST rate-change confirmation endpoint, a view whose
  URL has ``<rid>`` (the rate-change request id) and whose bearer token names the client::

      @bp.route("/.../rate-change/<rid>/confirm", methods=["POST"])
      @otp_confirmation_limit
      def confirm(rid: str) -> Response: ...

  ``OTP_RATE_LIMIT`` per request (``request.view_args["rid"]``; the path if there is no
  ``rid``) bounds hammering and parallel guesses at one passcode (set it above the
  request's own attempt counter, ``OTP_MAX_ATTEMPTS``, which is what customers meet);
  ``OTP_CLIENT_RATE_LIMIT`` per client (``flask.g.espi_grant.client_id`` when the token was
  checked before this decorator runs, else the bearer token's SHA-256, else the remote
  address) bounds one ASP across requests.

Every attempt counts, right or wrong.  Flask-Limiter's ``deduct_when`` could count failures
only, but it *tests* before the view and *deducts* after it, so parallel guesses all pass the
test: a brute-force window we do not open.  (The client endpoints are the exception, on
purpose: what they guard are 256-bit secrets, and counting every attempt per claimed client
let a stranger lock the client out; ``limits/clients.py`` says how they count instead.)  An
empty limit string switches one limit off.

Refused requests get 429 (RFC 6585 section 4) with ``Retry-After`` in seconds
(:class:`~espi_sst_server.errors.TooManyRequests`, answered by ``server/errors/wire.py``): an
HTML page on the portal, ``{"error": "too_many_requests", "error_description": ...}``
elsewhere (the shape of RFC 6749 section 5.2 and of the resource API's errors).

One Limiter per app: a Flask-Limiter instance holds one storage and one configuration, and a
process may hold several apps (tests; two workers' apps sharing a Redis).  So the decorators
mark views without naming an app, and each app's Limiter, made in ``init_app``, wraps a view
the first time that app serves it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Flask, current_app, g, request, session
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.wrappers import Response

from ..errors import TooManyRequests
from ..errors.wire import answer
from ..observability.metrics import count_rate_limit_rejection
from ..security import hash_secret
from . import windows

EXTENSION = "espi_sst_limits"
_LONGEST_CLEAR_KEY = 100
"""Client-chosen key parts longer than this are hashed (bounded storage keys)."""

_SETTING_OF_SCOPE: dict[str, str] = {}
"""Each decorated limit's bucket name and the setting it reads: the metrics label of a 429."""

P = ParamSpec("P")
R = TypeVar("R")


def remote_address() -> str:
    """The client's address as the app sees it (behind a proxy: configure ``ProxyFix``)."""
    return f"ip:{request.remote_addr or 'unknown'}"


def _bounded(value: str) -> str:
    return value if len(value) <= _LONGEST_CLEAR_KEY else hash_secret(value)


def _otp_client() -> str:
    grant = getattr(g, "espi_grant", None)
    if grant is not None:
        return f"client:{grant.client_id}"
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hash_secret(token.strip())
    return remote_address()


def _portal_customer() -> str:
    """The signed-in customer's id from the signed session cookie (only the server can set
    it); the remote address for a browser that is not signed in."""
    customer = session.get("customer_id")
    return f"customer:{customer}" if isinstance(customer, int) else remote_address()


def _otp_request() -> str:
    rid = (request.view_args or {}).get("rid")
    return f"request:{_bounded(str(rid))}" if rid else f"path:{_bounded(request.path)}"


@dataclass(frozen=True)
class _Rule:
    """One limit: the config key holding its value, its key function, its bucket name."""

    setting: str
    key_func: Callable[[], str]
    scope: str
    methods: tuple[str, ...] | None = None

    def value(self) -> str:
        """Read per request, so a test or an operator may change it on a running app."""
        return str(current_app.config.get(self.setting) or "")


_APP_WIDE_SETTINGS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")
"""Flask-Limiter's limits that apply to every view, which only its ``before_request`` walk
enforces.  This server sets none: its own limits are per view (the decorators above)."""


def _drop_request_walk(app: Flask, limiter: Limiter) -> None:
    """Remove Flask-Limiter's ``before_request`` check when no app-wide limit is configured.

    Why: that hook walks every request's endpoint, blueprint and exemptions to find default
    and application limits, and with none configured it finds nothing -- about 4% of a
    UsageSummary GET (issue 17's profile, bench/ANALYSIS_SERVER.md).  The per-view limits do
    not depend on it: a view wrapped by ``Limiter.limit`` checks its own limits when it runs.
    An operator who sets ``RATELIMIT_DEFAULT`` / ``_APPLICATION`` / ``_META`` keeps the walk
    (tests/server/limits/test_rate_limits.py proves both)."""
    walk = limiter._check_request_limit  # noqa: SLF001 -- the hook init_app installed
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [hook for hook in hooks if hook != walk]


class RateLimits:
    """One app's Flask-Limiter and the views it has wrapped so far."""

    def __init__(self, app: Flask) -> None:
        self.limiter = Limiter(key_func=remote_address)
        self.limiter.init_app(app)
        if not any(app.config.get(name) for name in _APP_WIDE_SETTINGS):
            _drop_request_walk(app, self.limiter)
        self._views: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def bound(self, name: str, view: Callable[..., Any], rules: tuple[_Rule, ...]) -> Any:
        """``view`` under this app's limits (stacked ``Limiter.limit``; built once)."""
        found = self._views.get(name)
        if found is None:
            with self._lock:
                found = self._views.get(name)
                if found is None:
                    found = view
                    for rule in rules:
                        found = self.limiter.limit(
                            rule.value,
                            key_func=rule.key_func,
                            scope=rule.scope,
                            methods=list(rule.methods) if rule.methods else None,
                        )(found)
                    self._views[name] = found
        return found


def _limited(*rules: _Rule) -> Callable[[Callable[P, R]], Callable[P, R]]:
    for rule in rules:
        _SETTING_OF_SCOPE[rule.scope] = rule.setting

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        name = f"{view.__module__}.{view.__qualname__}"

        @functools.wraps(view)
        def limited(*args: P.args, **kwargs: P.kwargs) -> R:
            limits: RateLimits | None = current_app.extensions.get(EXTENSION)
            if limits is None:  # a security control must not vanish silently
                raise RuntimeError(
                    f"{name} is rate limited but limits.init_app(app) was not called"
                )
            result: R = limits.bound(name, view, rules)(*args, **kwargs)
            return result

        return limited

    return decorate


_POST = ("POST",)
login_limit = _limited(_Rule("LOGIN_IP_RATE_LIMIT", remote_address, "ip", _POST))
second_factor_limit = _limited(_Rule("LOGIN_IP_RATE_LIMIT", remote_address, "ip", _POST))

# Complaints about ASPs (each e-mails the utility): COMPLAINT_RATE_LIMIT per customer.
complaint_limit = _limited(
    _Rule("COMPLAINT_RATE_LIMIT", _portal_customer, "complaint_customer", _POST)
)


def client_limit(view: Callable[P, R]) -> Callable[P, R]:
    """Refuse an address over its failed client authentications before the view runs; the
    view's client authentication counts the rest (``limits/clients.py``)."""

    @functools.wraps(view)
    def limited(*args: P.args, **kwargs: P.kwargs) -> R:
        from .clients import refuse_failing_address  # it counts with this module

        refuse_failing_address()
        return view(*args, **kwargs)

    return limited


otp_confirmation_limit = _limited(
    _Rule("OTP_RATE_LIMIT", _otp_request, "request"),
    _Rule("OTP_CLIENT_RATE_LIMIT", _otp_client, "client"),
)
# Rate-change creation (each mails a passcode): RATE_CHANGE_CLIENT_RATE_LIMIT per ASP.  Put it
# on a function the view calls after the bearer token was checked, so the key is the client.
rate_change_creation_limit = _limited(
    _Rule("RATE_CHANGE_CLIENT_RATE_LIMIT", _otp_client, "rate_change_client", _POST)
)


def _retry_after(error: RateLimitExceeded) -> int:
    """Seconds until the breached window frees a slot (its length if storage fails now)."""
    limits: RateLimits | None = current_app.extensions.get(EXTENSION)
    if limits is None:
        return max(1, int(error.limit.limit.get_expiry()))
    return windows.breached_retry_after(limits.limiter, error)


def _too_many_requests(error: RateLimitExceeded) -> Response:
    seconds = _retry_after(error)
    scope = error.limit.scope if isinstance(error.limit.scope, str) else None
    count_rate_limit_rejection(_SETTING_OF_SCOPE.get(scope or "", "RATELIMIT_DEFAULT"))
    current_app.logger.warning("rate limit %s reached at %s", error.limit.limit, request.path)
    return answer(TooManyRequests(seconds))


def exempt(app: Flask, blueprint: Blueprint) -> None:
    """Keep every limit of ``app``'s Limiter -- the ``RATELIMIT_DEFAULT`` and
    ``RATELIMIT_APPLICATION`` an operator may set included -- off ``blueprint`` (health
    probes and metrics scrapes: a monitor that is refused sees an outage that is not)."""
    limits: RateLimits = app.extensions[EXTENSION]
    limits.limiter.exempt(blueprint)


def init_app(app: Flask) -> None:
    """Give the app its own Limiter (configured by ``RATELIMIT_*``); Flask-Limiter's refusal
    is answered as :class:`~espi_sst_server.errors.TooManyRequests`."""
    app.extensions[EXTENSION] = RateLimits(app)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


__all__ = [
    "client_limit",
    "complaint_limit",
    "exempt",
    "init_app",
    "login_limit",
    "otp_confirmation_limit",
    "remote_address",
    "second_factor_limit",
]
