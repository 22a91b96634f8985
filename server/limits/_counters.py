"""Rate-limit counting outside Flask-Limiter's decorators, on the same storage.

Some limits can only be keyed once a request is part-way through a view: the client a
token request speaks for is known only after Authlib authenticated it, the ASP behind a
bearer token only after the guard checked the token.  Flask-Limiter decides before the
view, so those limits count here, with the ``limits`` library Flask-Limiter itself uses
(``limiter.limiter``: the configured strategy on the configured storage -- Redis shared
by every process when ``RATELIMIT_STORAGE_URI`` says so).

``hit`` counts a request and refuses it when a limit is over; ``check`` refuses without
counting.  A refusal is the :class:`~espi_sst_server.errors.TooManyRequests` every other limit answers.
If the storage fails (Redis gone), each process counts in memory until it is back, as
Flask-Limiter does with ``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``: no 500s, no unlimited gap.
"""

from __future__ import annotations

import math
import threading
import time
import weakref

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, RateLimiter

from ..errors import TooManyRequests
from ..observability.metrics import count_rate_limit_rejection
from . import EXTENSION, RateLimits

_FALLBACKS: weakref.WeakKeyDictionary[RateLimits, RateLimiter] = weakref.WeakKeyDictionary()
_FALLBACK_LOCK = threading.Lock()


def _limits() -> RateLimits | None:
    """The app's limits, or None when ``RATELIMIT_ENABLED`` switched them off."""
    found: RateLimits | None = current_app.extensions.get(EXTENSION)
    if found is None:  # a security control must not vanish silently
        raise RuntimeError("rate limits are counted but limits.init_app(app) was not called")
    return found if found.limiter.enabled else None


def _items(setting: str) -> list[RateLimitItem]:
    """The limits of one setting, read per request (an empty value switches them off)."""
    value = str(current_app.config.get(setting) or "").strip()
    return list(parse_many(value)) if value else []


def _fallback(limits: RateLimits) -> RateLimiter:
    """This process's in-memory counters for when the shared storage is unreachable."""
    with _FALLBACK_LOCK:
        found = _FALLBACKS.get(limits)
        if found is None:
            strategy = str(current_app.config.get("RATELIMIT_STRATEGY") or "fixed-window")
            found = STRATEGIES[strategy](MemoryStorage())
            _FALLBACKS[limits] = found
        return found


def _identifiers(key: str, scope: str) -> tuple[str, ...]:
    prefix = str(current_app.config.get("RATELIMIT_KEY_PREFIX") or "")
    return (prefix, key, scope) if prefix else (key, scope)


def _retry_after(strategy: RateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
    """Seconds until the window frees a slot (its length if the storage cannot say)."""
    try:
        reset = strategy.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))
    except Exception:  # a header value must not turn a 429 into a 500
        current_app.logger.exception("rate limit window unreadable; Retry-After is the window")
        return max(1, int(item.get_expiry()))


def _over(
    strategy: RateLimiter, items: list[RateLimitItem], identifiers: tuple[str, ...], counting: bool
) -> int | None:
    """Retry-After seconds of the first limit over, else None (every limit counted)."""
    for item in items:
        allowed = (
            strategy.hit(item, *identifiers) if counting else strategy.test(item, *identifiers)
        )
        if not allowed:
            return _retry_after(strategy, item, identifiers)
    return None


def _count(setting: str, key: str, scope: str, *, counting: bool) -> None:
    limits = _limits()
    items = _items(setting)
    if limits is None or not items:
        return
    identifiers = _identifiers(key, scope)
    try:
        seconds = _over(limits.limiter.limiter, items, identifiers, counting)
    except Exception:
        if not current_app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True):
            raise
        current_app.logger.warning("rate limit storage unreachable; counting in memory")
        seconds = _over(_fallback(limits), items, identifiers, counting)
    if seconds is not None:
        current_app.logger.warning("rate limit %s reached (%s, %s)", setting, scope, key)
        count_rate_limit_rejection(setting)
        raise TooManyRequests(seconds)


def hit(setting: str, key: str, scope: str) -> None:
    """Count one request against every limit of ``setting``; 429 if one is over."""
    _count(setting, key, scope, counting=True)


def check(setting: str, key: str, scope: str) -> None:
    """429 if a limit of ``setting`` is already over for ``key``; counts nothing."""
    _count(setting, key, scope, counting=False)


__all__ = ["check", "hit"]
