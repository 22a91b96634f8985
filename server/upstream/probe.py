"""Is this token good for this Subscription and UsagePoint?  Ask the custodian itself.

A custodian without RFC 7662 introspection (or with only its standard members, which do not
name subscriptions or usage points) still answers the ESPI resource API.  So the bolt-on
asks it what the ASP's token may reach the plainest way there is: a GET of the addressed
``Subscription/{sid}/UsagePoint/{uid}`` with the ASP's own token.  200 means the custodian
lets this token see that usage point of that subscription; 401, 403 and 404 mean it does
not, and the request is refused (401 ``invalid_token``); anything else is the custodian's
failure (502/503/504, ``forward.py``).

A 200 is remembered for ``PROBE_CACHE_SECONDS`` (default 10, at most
:data:`MAX_CACHE_SECONDS`), keyed by the token's SHA-256 and the two ids: a revocation at
the custodian is therefore refused here within that many seconds -- the bound
docs/deployment.md states.  Refusals are not remembered, so a token that becomes good is
seen at once.  A forwarded GET that the custodian answered 200 for the same ids counts as a
probe (:meth:`Probes.record`): no second request for what the custodian just said.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from flask import Flask

from ..errors import Refused
from ..security import hash_secret
from .forward import UpstreamError, get

MAX_CACHE_SECONDS = 60
"""The longest a probe's 200 may stand in for asking again (a revocation's worst delay)."""
_MAX_ENTRIES = 10_000
_EXTENSION = "espi_sst_probes"


def cache_seconds(app: Flask, setting: str = "PROBE_CACHE_SECONDS") -> float:
    """A revocation bound (``PROBE_CACHE_SECONDS``, ``INTROSPECTION_CACHE_SECONDS``),
    checked: 0 asks every time; more than :data:`MAX_CACHE_SECONDS` is refused."""
    seconds = float(app.config.get(setting, 10))
    if not 0 <= seconds <= MAX_CACHE_SECONDS:
        raise ValueError(
            f"{setting} is {seconds:g}; it must be between 0 and {MAX_CACHE_SECONDS} "
            "(a custodian's revocation is honoured only after it)"
        )
    return seconds


class Probes:
    """The app's remembered probe answers (one per app, in ``app.extensions``)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seconds = cache_seconds(app)
        self._lock = threading.Lock()
        self._good_until: dict[tuple[str, str, str | None], float] = {}

    @classmethod
    def of(cls, app: Flask) -> Probes:
        probes: Probes | None = app.extensions.get(_EXTENSION)
        if probes is None:
            probes = app.extensions.setdefault(_EXTENSION, cls(app))
        return probes

    def record(self, bearer: str, subscription_id: str, usage_point_id: str | None) -> None:
        """The custodian just answered 200 to this token for these ids."""
        if self.seconds <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._good_until) >= _MAX_ENTRIES:  # bounded: drop the stale, then all
                for key in [k for k, t in self._good_until.items() if t <= now]:
                    del self._good_until[key]
                if len(self._good_until) >= _MAX_ENTRIES:
                    self._good_until.clear()
            self._good_until[(hash_secret(bearer), subscription_id, usage_point_id)] = (
                now + self.seconds
            )

    def confirm(self, bearer: str, subscription_id: str, usage_point_id: str | None) -> None:
        """Return when the custodian lets ``bearer`` see the usage point (or, without one,
        the subscription's usage points); else raise :class:`Refused` 401 ``invalid_token``.

        Raises:
            UpstreamError: the custodian failed (unreachable, 5xx, timed out).
        """
        key = (hash_secret(bearer), subscription_id, usage_point_id)
        with self._lock:
            until = self._good_until.get(key)
        if until is not None and until > time.monotonic():
            return
        upstream = str(self.app.config["UPSTREAM_RESOURCE_URL"]).rstrip("/")
        path = f"/Subscription/{quote(subscription_id, safe='')}/UsagePoint"
        if usage_point_id is not None:
            path += f"/{quote(usage_point_id, safe='')}"
        answer = get(self.app, upstream + path, bearer=bearer)
        if answer.status == 200:
            self.record(bearer, subscription_id, usage_point_id)
            return
        if answer.status in (401, 403, 404):
            raise Refused(
                401,
                "invalid_token",
                "the data custodian does not accept this access token for this usage point "
                f"(it answered HTTP {answer.status}): it is expired, revoked or of another "
                "subscription",
            )
        raise UpstreamError(
            502,
            "bad_gateway",
            f"the data custodian answered HTTP {answer.status} when asked about this token",
            int(self.app.config["UPSTREAM_RETRY_AFTER"]),
        )


__all__ = ["MAX_CACHE_SECONDS", "Probes", "cache_seconds"]
