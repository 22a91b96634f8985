"""One customer's grant, as typed calls: usage points, summaries, RINs, rates, bill comparison,
interval data, rate changes.  Every answer is the library's model objects, every failure a
:mod:`.errors` exception.

Tokens: before each request the connection makes sure the access token is fresh, under a
lock per grant held by the :class:`~.oauth.AspClient` (shared by all its connections),
re-reading the token store first.  Two threads of an ASP's web app that both find the token expired
therefore refresh it once: refreshing twice with the same (rotating) refresh token would
look like token theft to the custodian and end the grant (RFC 9700 4.14.2).  A 401 on a
request with a fresh-looking token triggers one forced refresh (the custodian may have
rotated keys or cut the token short); a second 401 means the grant is over.

Retries (:mod:`espi_sst.retry`, the library's one retry policy): a 429 is retried after its
``Retry-After`` (at most ``MAX_WAIT_SECONDS`` in all, then :class:`~.errors.RateLimited`);
5xx and network failures of GETs and of POSTs made safe by an ``Idempotency-Key`` are
retried with a short backoff, then :class:`~.errors.ServerError`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from .. import Document, Reading, parse
from ..model import espi as m
from ..model import sst
from ..model.enums import ServiceKind
from ..retry import RetryPolicy, send_with_retries
from ..sst import usage_summary_generation_status, usage_summary_rins
from ..tidy import direction_word
from .errors import (
    AuthorizationEnded,
    ClientError,
    InsufficientScope,
    InvalidPasscode,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerError,
)

if TYPE_CHECKING:
    from .oauth import AspClient

__all__ = ["CustomerConnection", "RateChange", "UsagePointInfo"]

MAX_WAIT_SECONDS = 60.0
"""The most one call waits in all for the custodian's ``Retry-After`` and backoff pauses."""
BACKOFF_SECONDS = 0.5
"""The pause before the first retry of a 5xx or a network failure (doubling after)."""
DEFAULT_RETRY_AFTER = 1.0
"""``RateLimited.retry_after`` when the custodian's 429 named no (readable) Retry-After."""
ATOM = "application/atom+xml"


@dataclass(frozen=True)
class UsagePointInfo:
    """A service agreement of the grant: its resource URL and what kind of service it is."""

    url: str
    uuid: str
    title: str | None
    service_kind: int | None  # ESPI ServiceKind (espi_sst.model.enums): 0 electricity, 1 gas ...

    @property
    def electric(self) -> bool:
        return self.service_kind == ServiceKind.electricity


@dataclass(frozen=True)
class RateChange:
    """A rate change request: where it lives and what it says now."""

    url: str
    request: sst.RateChangeRequest
    replayed: bool = False  # the custodian returned the request made earlier with this key


Point = UsagePointInfo | str


def _url(point: Point) -> str:
    return point.url if isinstance(point, UsagePointInfo) else point.rstrip("/")


class CustomerConnection:
    """Calls on one customer's grant (``key``: its ESPI Authorization id)."""

    def __init__(self, client: AspClient, key: str, session: OAuth2Session) -> None:
        self.client = client
        self.key = key
        self.session = session

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> CustomerConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- plumbing ------------------------------------------------------------------------
    def _fresh_token(self, *, force: bool = False) -> None:
        with self.client.grant_lock(self.key):
            stored = self.client.token_store.load(self.key)
            if stored is None:
                raise AuthorizationEnded(f"grant {self.key} was revoked or forgotten")
            self.session.token = stored
            try:
                if force:
                    self.session.refresh_token(self.client.metadata.token_endpoint)
                else:
                    self.session.ensure_active_token(self.session.token)
            except AuthlibBaseError as exc:
                raise AuthorizationEnded(
                    f"the grant can no longer be refreshed ({exc}): the customer must "
                    "authorize again"
                ) from None
            except requests.RequestException as exc:
                raise ServerError(f"token endpoint unreachable: {exc}") from None

    def request(
        self,
        method: str,
        url: str,
        *,
        retry_safe: bool | None = None,
        **options: Any,
    ) -> requests.Response:
        """One API call with token upkeep, retries and error mapping (any 2xx returns).

        ``retry_safe``: whether the request may be repeated after a 5xx or a network
        failure (default: only a GET); a 429 is retried whatever the method."""
        safe = method == "GET" if retry_safe is None else retry_safe
        refreshed = False

        def send() -> requests.Response:
            nonlocal refreshed
            self._fresh_token()
            response: requests.Response = self.session.request(
                method, url, timeout=self.client.timeout, **options
            )
            if response.status_code == 401 and not refreshed:
                # The custodian may have rotated keys or cut the token short: one forced
                # refresh, then the same request once more.
                refreshed = True
                self._fresh_token(force=True)
                response = self.session.request(method, url, timeout=self.client.timeout, **options)
            return response

        policy = RetryPolicy(
            retries=self.client.max_retries, backoff=BACKOFF_SECONDS, max_wait=MAX_WAIT_SECONDS
        )
        try:
            outcome = send_with_retries(send, policy, idempotent=safe)
        except AuthlibBaseError as exc:
            raise AuthorizationEnded(f"the grant can no longer be used: {exc}") from None
        except requests.RequestException as exc:
            raise ServerError(f"{method} {url}: {exc}") from None
        response = outcome.response
        if response is None:
            raise ServerError(f"{method} {url}: {outcome.failure}")
        status = response.status_code
        if status < 400:
            return response
        body = _json(response)
        error = str(body.get("error", "")) or _challenge_error(response)
        description = str(body.get("error_description", "")) or response.reason
        if status == 401:
            raise AuthorizationEnded(
                f"the custodian refuses this grant ({description}): the customer must "
                "authorize again",
                status=401,
            )
        if status == 429:
            retry_after = (
                outcome.retry_after if outcome.retry_after is not None else DEFAULT_RETRY_AFTER
            )
            raise RateLimited(
                f"{method} {url}: rate limited; retry after {retry_after:g} s",
                retry_after=retry_after,
            )
        if status >= 500:
            raise ServerError(f"{method} {url}: HTTP {status} {description}", status=status)
        if status == 403 and error == "insufficient_scope":
            raise InsufficientScope(
                f"{method} {url}: {description} (the customer did not share it)", status=403
            )
        if status == 404:
            raise NotFound(f"{method} {url}: {description}", status=404)
        details = {str(k): str(v) for k, v in body.items()}
        kind = InvalidPasscode if error == "invalid_code" else RequestRefused
        raise kind(
            f"{method} {url}: {description}",
            status=status,
            error=error or "refused",
            details=details,
        )

    def document(self, url: str, **params: str) -> Document:
        response = self.request("GET", url, params=params or None, headers={"Accept": ATOM})
        try:
            return parse(response.content)
        except ClientError:
            raise
        except Exception as exc:  # a body the library cannot read: the custodian's fault
            raise ServerError(f"GET {url}: the answer is not ESPI we can read: {exc}") from None

    def _one(self, url: str, kind: type[Any], **params: str) -> Any:
        for entry in self.document(url, **params).entries:
            for content in entry.contents:
                if isinstance(content, kind):
                    return content
        raise ServerError(f"GET {url}: no {kind.__name__} in the answer")

    # ---- the subscription ------------------------------------------------------------------
    @property
    def grant_scope(self) -> str:
        token = self.client.token_store.load(self.key) or {}
        return str(token.get("scope", ""))

    def subscription_url(self) -> str:
        token = self.client.token_store.load(self.key) or {}
        resource = token.get("resourceURI")
        if not isinstance(resource, str):
            raise ClientError("the token response named no resourceURI (not an ESPI custodian?)")
        return resource.replace("/Batch/Subscription/", "/Subscription/").rstrip("/")

    def usage_points(self) -> list[UsagePointInfo]:
        document = self.document(f"{self.subscription_url()}/UsagePoint")
        points = []
        for entry in document.usage_points:
            href = entry.self_href
            content = entry.content
            kind = None
            if isinstance(content, m.UsagePoint) and content.service_category is not None:
                kind = (
                    int(content.service_category.kind)
                    if content.service_category.kind is not None
                    else None
                )
            if href:
                points.append(UsagePointInfo(href, href.rsplit("/", 1)[1], entry.title, kind))
        return points

    def usage_summaries(self, point: Point) -> list[m.UsageSummary]:
        document = self.document(f"{_url(point)}/UsageSummary")
        return [c for e in document.entries for c in e.contents if isinstance(c, m.UsageSummary)]

    def rins(self, point: Point) -> list[sst.ServedRin]:
        """The RINs in force (1623(c)(1)(A)): from the newest UsageSummary carrying them."""
        for summary in reversed(self.usage_summaries(point)):
            found = usage_summary_rins(summary)
            if found:
                return found
        return []

    def generation_rin_status(self, point: Point) -> sst.GenerationRinStatus | None:
        for summary in reversed(self.usage_summaries(point)):
            status = usage_summary_generation_status(summary)
            if status is not None:
                return status
        return None

    def rate_information(self, point: Point) -> sst.RateInformation:
        found: sst.RateInformation = self._one(
            f"{_url(point)}/RateInformation", sst.RateInformation
        )
        return found

    def bill_comparison(self, point: Point, *, form: str = "resource") -> sst.BillComparison:
        """``form``: ``"resource"`` (``.../BillComparison``) or ``"usage_summary"`` (the
        concept design's ``.../UsageSummary?SST=BillComparison``); both give the same."""
        if form == "resource":
            url, params = f"{_url(point)}/BillComparison", {}
        elif form == "usage_summary":
            url, params = f"{_url(point)}/UsageSummary", {"SST": "BillComparison"}
        else:
            raise ValueError("form is 'resource' or 'usage_summary'")
        found: sst.BillComparison = self._one(url, sst.BillComparison, **params)
        return found

    # ---- interval data ---------------------------------------------------------------------
    def interval_readings(
        self, point: Point, *, published_min: str | None = None, published_max: str | None = None
    ) -> Iterator[Reading]:
        """The point's readings (scaled values, units, local times) from the subscription feed,
        limited to IntervalBlocks published in [published_min, published_max) (RFC 3339)."""
        params = {}
        if published_min:
            params["published-min"] = published_min
        if published_max:
            params["published-max"] = published_max
        document = self.document(self.subscription_url(), **params)
        wanted = _url(point)
        for reading in document.interval_readings():
            if (
                reading.context.usage_point is None
                or reading.context.usage_point.rstrip("/") == wanted
            ):
                yield reading

    def interval_columns(self, point: Point, **bounds: str) -> dict[str, list[Any]]:
        """The readings as columns: start (aware UTC), duration, value (scaled), unit, quality
        (the code), direction (``"delivered"``, ``"received"``: a solar customer's two
        channels cover the same intervals, so sum each direction apart), and the URLs of the
        meter_reading and reading_type each reading belongs to."""
        columns: dict[str, list[Any]] = {
            "start": [],
            "duration": [],
            "value": [],
            "unit": [],
            "quality": [],
            "direction": [],
            "meter_reading": [],
            "reading_type": [],
        }
        for reading in self.interval_readings(point, **bounds):
            columns["start"].append(reading.start_utc)
            columns["duration"].append(reading.duration)
            columns["value"].append(reading.scaled_value)
            columns["unit"].append(reading.unit)
            columns["quality"].append(reading.quality)
            columns["direction"].append(direction_word(reading.flow_direction))
            columns["meter_reading"].append(reading.meter_reading)
            columns["reading_type"].append(reading.reading_type_url)
        return columns

    def interval_dataframe(self, point: Point, **bounds: str) -> Any:
        """The point's readings as :func:`espi_sst.to_dataframe`'s tidy frame (kWh, dollars,
        local times, quality and direction in words; ``pip install 'espi-sst[pandas]'``)."""
        from ..frames import interval_frame

        return interval_frame(self.interval_readings(point, **bounds))

    # ---- rate changes ----------------------------------------------------------------------
    def request_rate_change(
        self,
        point: Point,
        *,
        rin: str | None = None,
        tariff_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> RateChange:
        """Ask for a rate change (1623(c)(1)(D)); the customer then gets a passcode.

        Keep ``idempotency_key`` with your record of the customer's request: sending it again
        (after a timeout, say) returns the same request instead of a second one.
        """
        body = {k: v for k, v in (("targetRin", rin), ("targetTariffCode", tariff_code)) if v}
        key = idempotency_key or secrets.token_urlsafe(16)
        response = self.request(
            "POST",
            f"{_url(point)}/RateChangeRequest",
            json=body,
            headers={"Idempotency-Key": key, "Accept": ATOM},
            retry_safe=True,
        )
        location = response.headers.get("Location")
        if not location:
            raise ServerError("the custodian accepted the rate change but sent no Location")
        return RateChange(
            location,
            _rate_change_in(response.content),
            response.headers.get("Idempotent-Replayed") == "true",
        )

    def confirm_rate_change(self, url: str, code: str) -> sst.RateChangeRequest:
        """Relay the customer's passcode; :class:`InvalidPasscode` says how many tries are left."""
        response = self.request(
            "POST", f"{url.rstrip('/')}/Confirmation", json={"code": code}, retry_safe=False
        )
        return _rate_change_in(response.content)

    def rate_change(self, url: str) -> sst.RateChangeRequest:
        found: sst.RateChangeRequest = self._one(url, sst.RateChangeRequest)
        return found

    def rate_changes(self, point: Point) -> list[RateChange]:
        document = self.document(f"{_url(point)}/RateChangeRequest")
        return [
            RateChange(entry.self_href or "", content)
            for entry in document.entries
            for content in entry.contents
            if isinstance(content, sst.RateChangeRequest)
        ]

    def withdraw_rate_change(self, url: str) -> sst.RateChangeRequest:
        return _rate_change_in(self.request("DELETE", url, retry_safe=False).content)

    def wait_for_decision(
        self, url: str, *, timeout: float = 60.0, poll: float = 1.0
    ) -> sst.RateChangeRequest:
        """Poll until accepted/rejected/expired/cancelled (notifications save the polling)."""
        final = {
            sst.RateChangeStatus.accepted,
            sst.RateChangeStatus.rejected,
            sst.RateChangeStatus.expired,
            sst.RateChangeStatus.cancelled,
        }
        deadline = time.monotonic() + timeout
        while True:
            found = self.rate_change(url)
            if found.status in final or time.monotonic() >= deadline:
                return found
            time.sleep(poll)

    # ---- the grant itself ------------------------------------------------------------------
    def authorization(self) -> m.Authorization:
        token = self.client.token_store.load(self.key) or {}
        uri = token.get("authorizationURI")
        if not isinstance(uri, str):
            raise ClientError("the token response named no authorizationURI")
        found: m.Authorization = self._one(uri, m.Authorization)
        return found


def _rate_change_in(body: bytes) -> sst.RateChangeRequest:
    try:
        document = parse(body)
    except Exception as exc:
        raise ServerError(f"the rate change answer is not ESPI we can read: {exc}") from None
    for entry in document.entries:
        for content in entry.contents:
            if isinstance(content, sst.RateChangeRequest):
                return content
    raise ServerError("the answer holds no RateChangeRequest")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _challenge_error(response: requests.Response) -> str:
    challenge = response.headers.get("WWW-Authenticate", "")
    marker = 'error="'
    if marker in challenge:
        return challenge.split(marker, 1)[1].split('"', 1)[0]
    return ""
