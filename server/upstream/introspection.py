"""Checking an ASP's bearer token at the existing authorization server (RFC 7662).

The answer is cached per token (by its SHA-256) for ``INTROSPECTION_CACHE_SECONDS`` and
never past the token's ``exp``: a revocation at the upstream therefore takes effect here
within that many seconds (default 10) -- the price of not asking on every request.
Inactive answers are not cached, so a token that becomes valid is seen at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flask import Flask

from ..security import hash_secret
from .forward import UpstreamError, post_form


@dataclass(frozen=True)
class Introspected:
    client_id: str
    scope: str
    expires_at: int
    subject: str | None
    authorization_id: str | None
    subscription_id: str | None
    usage_points: tuple[str, ...]


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[Introspected, float]] = {}


def _cache(app: Flask) -> _Cache:
    cache: _Cache | None = app.extensions.get("espi_sst_introspection_cache")
    if cache is None:
        cache = app.extensions.setdefault("espi_sst_introspection_cache", _Cache())
    return cache


def introspect(app: Flask, token: str) -> Introspected | None:
    """The token's grant, or None when the upstream says it is not active."""
    key = hash_secret(token)
    cache = _cache(app)
    now = time.time()
    with cache.lock:
        hit = cache.entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
    response = post_form(
        app,
        str(app.config["INTROSPECTION_URL"]),
        data={"token": token, "token_type_hint": "access_token"},
        auth=(
            str(app.config["INTROSPECTION_CLIENT_ID"]),
            str(app.config["INTROSPECTION_CLIENT_SECRET"]),
        ),
    )
    if response.status_code != 200:
        raise UpstreamError(
            502,
            "bad_gateway",
            f"the authorization server refused introspection (HTTP {response.status_code}): "
            "check INTROSPECTION_CLIENT_ID/SECRET",
            int(app.config["UPSTREAM_RETRY_AFTER"]),
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamError(502, "bad_gateway", "introspection answer is not JSON", 5)
    if not data.get("active"):
        return None
    found = Introspected(
        client_id=str(data.get("client_id", "")),
        scope=str(data.get("scope", "")),
        expires_at=int(data.get("exp") or 0),
        subject=data.get("sub"),
        authorization_id=data.get("authorization_id"),
        subscription_id=data.get("subscription_id"),
        usage_points=tuple(str(u) for u in data.get("usage_points") or ()),
    )
    if found.expires_at and found.expires_at <= now:
        return None
    until = now + float(app.config["INTROSPECTION_CACHE_SECONDS"])
    if found.expires_at:
        until = min(until, float(found.expires_at))
    with cache.lock:
        cache.entries[key] = (found, until)
        if len(cache.entries) > 10_000:  # bounded: drop the expired, then the oldest
            for stale in [k for k, (_, t) in cache.entries.items() if t <= now][:5_000]:
                cache.entries.pop(stale, None)
    return found
