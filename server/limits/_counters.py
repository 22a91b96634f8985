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

from flask import current_app
from limits import RateLimitItem

from ..errors import TooManyRequests
from ..observability.metrics import count_rate_limit_rejection
from . import EXTENSION, RateLimits, windows
from .windows import parsed


def _limits() -> RateLimits | None:
    """The app's limits, or None when ``RATELIMIT_ENABLED`` switched them off."""
    found: RateLimits | None = current_app.extensions.get(EXTENSION)
    if found is None:  # a security control must not vanish silently
        raise RuntimeError("rate limits are counted but limits.init_app(app) was not called")
    return found if found.limiter.enabled else None


def _items(setting: str) -> list[RateLimitItem]:
    """The limits of one setting, read per request (an empty value switches them off)."""
    return parsed(str(current_app.config.get(setting) or ""))


def _identifiers(key: str, scope: str) -> tuple[str, ...]:
    prefix = str(current_app.config.get("RATELIMIT_KEY_PREFIX") or "")
    return (prefix, key, scope) if prefix else (key, scope)


def _count(setting: str, key: str, scope: str, *, counting: bool) -> None:
    limits = _limits()
    items = _items(setting)
    if limits is None or not items:
        return
    seconds = windows.count(
        limits.limiter,
        items,
        _identifiers(key, scope),
        counting=counting,
        strategy_name=str(current_app.config.get("RATELIMIT_STRATEGY") or "fixed-window"),
        fall_back=bool(current_app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)),
    )
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
