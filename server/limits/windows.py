"""Rate-limit windows without an app: when a breached window frees a slot, and counting a key
against limit strings on a Flask-Limiter's storage (with an in-memory fallback).

Why a module of its own: the entity server's limits (this package) and the central
authority's (server/authority/limits.py) count the same way -- Flask-Limiter's storage
(``RATELIMIT_STORAGE_URI``: ``memory://``, or ``redis://`` shared by every worker), its
strategy, ``Retry-After`` from the window (RFC 6585 section 4, RFC 9110 section 10.2.3) --
but the authority is a service of its own and must not import the entity app's error pages
and database session (``errors/wire.py``, ``storage``), which this package's ``__init__``
answers with.  So this module imports only Flask-Limiter, ``limits`` and the standard
library; each service writes its own 429.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Sequence

from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, RateLimiter

_LOG = logging.getLogger(__name__)
_FALLBACKS: weakref.WeakKeyDictionary[Limiter, RateLimiter] = weakref.WeakKeyDictionary()
_FALLBACK_LOCK = threading.Lock()


def parsed(value: str) -> list[RateLimitItem]:
    """The limits of a setting such as ``"5 per hour; 20 per day"`` (empty: none); a
    ``ValueError`` when the text is not Flask-Limiter's notation."""
    value = value.strip()
    return list(parse_many(value)) if value else []


def breached_retry_after(limiter: Limiter, error: RateLimitExceeded) -> int:
    """Seconds until the window Flask-Limiter found breached frees a slot (its length if the
    storage cannot say now)."""
    breached = limiter.current_limit
    if breached is not None and breached.breached:
        try:
            return max(1, math.ceil(breached.reset_at - time.time()))
        except Exception:  # a header value must not turn a 429 into a 500
            _LOG.exception("rate limit window unreadable; Retry-After is the window")
    return max(1, int(error.limit.limit.get_expiry()))


def _window_retry_after(
    strategy: RateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]
) -> int:
    try:
        reset = strategy.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))
    except Exception:  # a header value must not turn a 429 into a 500
        _LOG.exception("rate limit window unreadable; Retry-After is the window")
        return max(1, int(item.get_expiry()))


def first_over(
    strategy: RateLimiter,
    items: Sequence[RateLimitItem],
    identifiers: tuple[str, ...],
    *,
    counting: bool,
) -> int | None:
    """Retry-After seconds of the first of ``items`` over for ``identifiers``, else None
    (each limit counted one hit when ``counting``; only tested otherwise)."""
    for item in items:
        allowed = (
            strategy.hit(item, *identifiers) if counting else strategy.test(item, *identifiers)
        )
        if not allowed:
            return _window_retry_after(strategy, item, identifiers)
    return None


def memory_fallback(limiter: Limiter, strategy_name: str) -> RateLimiter:
    """This process's in-memory counters for ``limiter``, for when its shared storage (Redis)
    does not answer: no 500s and no unlimited gap, as Flask-Limiter's own
    ``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED`` does for its decorated views."""
    with _FALLBACK_LOCK:
        found = _FALLBACKS.get(limiter)
        if found is None:
            found = STRATEGIES[strategy_name or "fixed-window"](MemoryStorage())
            _FALLBACKS[limiter] = found
        return found


def count(
    limiter: Limiter,
    items: Sequence[RateLimitItem],
    identifiers: tuple[str, ...],
    *,
    counting: bool,
    strategy_name: str,
    fall_back: bool = True,
) -> int | None:
    """:func:`first_over` on ``limiter``'s storage, or on :func:`memory_fallback` while that
    storage fails (unless ``fall_back`` is off: then the storage's error is raised)."""
    try:
        return first_over(limiter.limiter, items, identifiers, counting=counting)
    except Exception:
        if not fall_back:
            raise
        _LOG.warning("rate limit storage unreachable; counting in memory")
        return first_over(
            memory_fallback(limiter, strategy_name), items, identifiers, counting=counting
        )


__all__ = ["breached_retry_after", "count", "first_over", "memory_fallback", "parsed"]
