"""The MIDAS HTTP client: :class:`MidasClient` asks, :mod:`.parsing` reads the answers.

Endpoints: ``GET /api/valuedata?ID={RIN}&QueryType=realtime|alldata`` (``realtime`` is 72 h
from 00:00 Pacific today, ``alldata`` 90 days), ``?SignalType=1`` (the RIN list),
``?LookupTable={name}`` and ``GET /api/historicaldata/{RIN}?startdate=&enddate=`` (at most six
months per call: :meth:`MidasClient.historical` splits longer ranges and merges the answers).

Failures are never bare ``requests`` exceptions: 404 for a RIN is :class:`RinNotFound`,
throttling (429) is retried as ``Retry-After`` says within a bounded wait, then
:class:`MidasRateLimited`; 5xx, refused connections and timeouts are retried with backoff
(the library's one retry policy, :mod:`espi_sst.retry`), then :class:`MidasUnavailable`.

This is the library's HTTP client layer: ``requests`` (the ``client`` extra) is imported
only when a :class:`MidasClient` is made, so the core library keeps importing no HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ..retry import RetryPolicy, send_with_retries
from ..rin import Rin
from .errors import MidasError, MidasRateLimited, MidasUnavailable, RinNotFound
from .parsing import (
    RateSchedule,
    RinListing,
    decode_json,
    error_detail,
    history_chunks,
    merge_schedules,
    parse_lookup_table,
    parse_rate_schedule,
    parse_rin_list,
)

if TYPE_CHECKING:
    import requests

__all__ = ["DEFAULT_BASE_URL", "MidasClient"]

DEFAULT_BASE_URL = "https://midasapi.energy.ca.gov"
_JSON = "application/json"


class MidasClient:
    """A MIDAS reader over one ``requests`` session.

    Args:
        base_url: the MIDAS server (a test or demo server on loopback, in tests).
        session: a session to use (its owner closes it); by default the client makes one
            and :meth:`close` (or leaving the ``with`` block) closes it.
        timeout: seconds to connect and to wait for each read.
        max_retries: retries after a 429, a 5xx, a refused connection or a timeout.
        max_wait: the most seconds the client sleeps in all for one call before giving up:
            a ``Retry-After`` beyond what is left raises :class:`MidasRateLimited` at once.
        backoff: seconds before the first retry without ``Retry-After``, doubling after.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        session: requests.Session | None = None,
        timeout: float = 10,
        max_retries: int = 2,
        max_wait: float = 30.0,
        backoff: float = 0.5,
    ) -> None:
        import requests  # the client extra; kept out of the core library's imports

        if max_retries < 0 or timeout <= 0 or max_wait < 0 or backoff < 0:
            raise ValueError("timeout must be positive; max_retries, max_wait, backoff >= 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff = backoff
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()

    def __repr__(self) -> str:
        return f"MidasClient({self.base_url!r})"

    def close(self) -> None:
        """Close the session if the client made it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> MidasClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the API ---------------------------------------------------------------------------
    def rin_list(self, signal_type: int = 1) -> list[RinListing]:
        """Every RIN MIDAS publishes for ``signal_type`` (1 = electricity rates)."""
        return parse_rin_list(self._get("/api/valuedata", {"SignalType": str(signal_type)}))

    def prices(
        self, rin: Rin | str, *, query: Literal["realtime", "alldata"] = "realtime"
    ) -> RateSchedule:
        """The rate's values: ``realtime`` (72 h from 00:00 Pacific today) or ``alldata``.

        Raises:
            RinNotFound: MIDAS does not know the RIN.
        """
        if query not in ("realtime", "alldata"):
            raise ValueError(f"query is 'realtime' or 'alldata', not {query!r}")
        rate = _rin_text(rin)
        body = self._get("/api/valuedata", {"ID": rate, "QueryType": query}, rin=rate)
        return parse_rate_schedule(body)

    def historical(self, rin: Rin | str, start: date, end: date) -> RateSchedule:
        """The rate's values from ``start`` to ``end`` (dates, inclusive), in as many calls of
        at most six months as the range needs, merged into one schedule."""
        rate = _rin_text(rin)
        start, end = _day(start), _day(end)
        path = f"/api/historicaldata/{rate}"
        return merge_schedules(
            [
                parse_rate_schedule(
                    self._get(
                        path,
                        {"startdate": first.isoformat(), "enddate": last.isoformat()},
                        rin=rate,
                    )
                )
                for first, last in history_chunks(start, end)
            ]
        )

    def lookup_table(self, name: str) -> list[dict[str, str]]:
        """A MIDAS lookup table (``Unit``, ...) as rows of text; null cells are left out."""
        return parse_lookup_table(self._get("/api/valuedata", {"LookupTable": name}))

    # -- HTTP ------------------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str], *, rin: str | None = None) -> Any:
        """GET a JSON body, retrying what may pass (:mod:`espi_sst.retry`) and turning every
        failure into a :class:`MidasError`."""
        import requests

        url = self.base_url + path
        policy = RetryPolicy(retries=self.max_retries, backoff=self.backoff, max_wait=self.max_wait)
        try:
            outcome = send_with_retries(
                lambda: self._session.get(
                    url, params=dict(params), timeout=self.timeout, headers={"Accept": _JSON}
                ),
                policy,
            )
        except requests.RequestException as exc:
            raise MidasError(f"cannot ask MIDAS at {url}: {exc}", url=url) from exc
        tries = f"{outcome.attempts} attempt{'s' if outcome.attempts > 1 else ''}"
        if outcome.response is None:
            failure = outcome.failure
            raise MidasUnavailable(
                f"MIDAS at {url} did not answer ({type(failure).__name__}) after {tries}", url=url
            ) from failure
        with outcome.response as response:
            status, content = response.status_code, response.content
        if status < 400:
            return decode_json(content, url)
        detail = error_detail(content)
        said = f"HTTP {status}" + (f" ({detail})" if detail else "")
        if status == 404 and rin is not None and detail:
            raise RinNotFound(rin, f"MIDAS has no rate {rin}: {said}", url=url)
        if status == 429:
            retry_after = outcome.retry_after
            wait = f"{retry_after:g} s" if retry_after is not None else "a while"
            raise MidasRateLimited(
                f"MIDAS is throttling {url}: {said} after {tries}; try again in {wait}",
                retry_after=retry_after,
                url=url,
            )
        if status >= 500:
            raise MidasUnavailable(
                f"MIDAS at {url} answered {said} after {tries}", url=url, status=status
            )
        hint = " (is the base URL right?)" if status == 404 else ""
        raise MidasError(f"MIDAS refused {url}: {said}{hint}", url=url, status=status)


def _rin_text(rin: Rin | str) -> str:
    text = str(rin).strip()
    if not text or any(character in text for character in "/\\?#&% "):
        raise ValueError(f"{rin!r} is not a RIN (USCA-PGPG-0505-0000)")
    return text


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value
