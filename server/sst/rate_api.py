"""Bill comparison from the utility's rate-analysis HTTP API (1623(c)(1)(C)): ``RateApiComparison``.

``BILL_COMPARISON_SOURCE="espi_sst_server.sst.rate_api:RateApiComparison"`` POSTs, once per
usage point and billing cycle, to ``RATE_ANALYSIS_URL``::

    {"service_agreement": "2330078986", "usage_point": "366a87dd-...",
     "usage_start": "2025-04-12T00:00:00-07:00", "usage_end": "2026-04-12T00:00:00-07:00",
     "current": {"rin": "USCA-PGXX-0100-0000", "tariff_code": "E-TOU-C-DELIVERY"},
     "generation": {"rin": "USCA-XXPE-0440-0000", "tariff_code": "PCE-E-TOU-C"} | null,
     "candidates": [{"rin": "USCA-PGXX-0010-0000", "tariff_code": "E-1-DELIVERY"}]}

(``usage_start`` / ``usage_end``: RFC 3339, the customer's local midnights; ``candidates``:
the catalog's switchable eligible rates other than the current one) and expects::

    {"status": "available" | "insufficientHistory" | "singleEligibleRate" | "noRateTool",
     "message": "...", "currency": 840,
     "estimates": [{"rin", "tariff_code", "tariff_name", "annual_cost" (currency units, e.g.
                    dollars), "basis" ("utilityTool" default, "deliveryOnly",
                    "iouMirroredCcaRate")}]}

An ``available`` answer must price the current rate and at least one candidate, and nothing
that was not asked; ``is_current`` is set here, from ``current``.  Any other status is passed
on with its message (and kept for the cycle, like any answer).

Failures never become a 500: a timeout (``RATE_ANALYSIS_TIMEOUT`` seconds per connect and per
read), a connection error or HTTP 429, 500, 502, 503, 504 is retried ``RATE_ANALYSIS_RETRIES``
times; then that, any other status than 200 or a malformed answer becomes ``noRateTool`` with
a message, marked not cacheable (``ComparisonResult.cacheable``), so the next GET in the cycle
asks again.  A first GET may wait about (retries + 1) x 2 x timeout: keep that under the
gateway's timeout.
``RATE_ANALYSIS_TOKEN`` is sent as ``Authorization: Bearer``; ``RATE_ANALYSIS_API_KEY`` in
``RATE_ANALYSIS_API_KEY_HEADER`` (default ``X-Api-Key``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests
from sqlalchemy.orm import Session

from espi_sst import Rin
from espi_sst.errors import RinError
from espi_sst.model import sst
from espi_sst.retry import RetryPolicy, send_with_retries

from ..errors import InvalidInput
from .adapters import AdapterConfigError
from .catalog import GENERATION
from .comparison import (
    NOT_OFFERED,
    ComparisonRequest,
    ComparisonResult,
    Estimate,
    only_rate,
    rate_to_compare,
)

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 2.0


class RateApiAnswerError(InvalidInput):
    """The rate-analysis API answered something this source cannot pass on."""

    code = "rate_api_answer_invalid"


class _Unavailable(Exception):
    """No usable answer (after retries); ``reason`` is for the customer-facing message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateApiComparison:
    """A :class:`~.comparison.BillComparisonSource` asking the utility's rate-analysis API."""

    def __init__(self, session: Session, config: Mapping[str, Any]) -> None:
        url = config.get("RATE_ANALYSIS_URL")
        if not url:
            raise AdapterConfigError(
                "BILL_COMPARISON_SOURCE is the rate-analysis API, but RATE_ANALYSIS_URL is not set"
            )
        self.url = str(url)
        self.timeout = float(config.get("RATE_ANALYSIS_TIMEOUT", 10.0))
        self.retries = int(config.get("RATE_ANALYSIS_RETRIES", 1))
        self.backoff = float(config.get("RATE_ANALYSIS_BACKOFF", 0.5))
        self.headers = {"Accept": "application/json"}
        if config.get("RATE_ANALYSIS_TOKEN"):
            self.headers["Authorization"] = f"Bearer {config['RATE_ANALYSIS_TOKEN']}"
        if config.get("RATE_ANALYSIS_API_KEY"):
            header = str(config.get("RATE_ANALYSIS_API_KEY_HEADER") or "X-Api-Key")
            self.headers[header] = str(config["RATE_ANALYSIS_API_KEY"])

    def compare(self, request: ComparisonRequest) -> ComparisonResult:
        point = request.point
        current = rate_to_compare(request)
        if current is None:
            return NOT_OFFERED
        generation = next((r for r in request.current.rates if r.role is sst.Role.generation), None)
        candidates = {
            str(o.rate.tariff_code): o
            for o in request.options
            if o.switchable
            and o.tariff is not None
            and o.tariff.role != GENERATION
            and o.rate.tariff_code != current.tariff_code
        }
        if not candidates:
            return only_rate(current.tariff_code)
        body = {
            "service_agreement": point.service_agreement,
            "usage_point": point.uuid,
            "usage_start": _rfc3339(request.usage_start, request),
            "usage_end": _rfc3339(request.usage_end, request),
            "current": {"rin": str(current.rin), "tariff_code": current.tariff_code},
            "generation": None
            if generation is None
            else {"rin": str(generation.rin), "tariff_code": generation.tariff_code},
            "candidates": [
                {"rin": str(o.rate.rin), "tariff_code": code} for code, o in candidates.items()
            ],
        }
        try:
            answer = self._post(body)
            return _result(answer, request, current, candidates)
        except _Unavailable as exc:
            reason = exc.reason
        except RateApiAnswerError as exc:
            log.error("rate-analysis API %s: unusable answer: %s", self.url, exc)
            reason = "its answer could not be used"
        return ComparisonResult(
            sst.ComparisonStatus.noRateTool,
            f"the utility's rate-analysis tool is unavailable ({reason}); try again later"[:256],
            cacheable=False,
        )

    def _post(self, body: dict[str, Any]) -> Any:
        """The API's JSON answer, retried as the library's retry policy says (espi_sst.retry):
        the question is a pure computation, so asking it twice is safe."""
        attempt = 0

        def post() -> requests.Response:
            nonlocal attempt
            attempt += 1
            try:
                response = requests.post(
                    self.url,
                    json=body,
                    headers=self.headers,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                )
            except requests.Timeout:
                log.warning("rate-analysis API %s: timeout (attempt %d)", self.url, attempt)
                raise
            except requests.RequestException as exc:
                log.warning("rate-analysis API %s: %s (attempt %d)", self.url, exc, attempt)
                raise
            if response.status_code in RETRYABLE:
                log.warning(
                    "rate-analysis API %s: HTTP %d (attempt %d)",
                    self.url,
                    response.status_code,
                    attempt,
                )
            return response

        policy = RetryPolicy(
            retries=self.retries,
            backoff=self.backoff,
            max_backoff=MAX_BACKOFF,
            statuses=RETRYABLE,
            honour_retry_after=False,
        )
        try:
            outcome = send_with_retries(post, policy)
        except requests.RequestException:  # one that would fail again (an invalid URL)
            raise _Unavailable("it could not be reached") from None
        response = outcome.response
        if response is None:
            if isinstance(outcome.failure, requests.Timeout):
                raise _Unavailable(f"no answer within {self.timeout:g} s")
            raise _Unavailable("it could not be reached")
        if response.status_code in RETRYABLE:
            raise _Unavailable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            log.error("rate-analysis API %s: HTTP %d", self.url, response.status_code)
            raise _Unavailable(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise RateApiAnswerError("the answer is not JSON") from None


def _rfc3339(moment: int, request: ComparisonRequest) -> str:
    return datetime.fromtimestamp(moment, request.zone).isoformat()


def _result(
    answer: Any, request: ComparisonRequest, current: sst.CurrentRate, candidates: Mapping[str, Any]
) -> ComparisonResult:
    if not isinstance(answer, dict):
        raise RateApiAnswerError("the answer is not a JSON object")
    try:
        status = sst.ComparisonStatus(str(answer.get("status")))
    except ValueError:
        raise RateApiAnswerError(
            f"status {answer.get('status')!r} is not a comparison status"
        ) from None
    message = answer.get("message")
    if message is not None and not isinstance(message, str):
        raise RateApiAnswerError("message is not a string")
    message = None if message is None else message[:256]
    if status is not sst.ComparisonStatus.available:
        if answer.get("estimates"):
            raise RateApiAnswerError(f"status {status.value} gives no estimates")
        return ComparisonResult(status, message)
    currency = answer.get("currency")
    if not isinstance(currency, int) or isinstance(currency, bool) or not 0 < currency < 1000:
        raise RateApiAnswerError("currency must be an ISO 4217 numeric code, like 840")
    rows = answer.get("estimates")
    if not isinstance(rows, list):
        raise RateApiAnswerError("estimates is not a list")
    estimates = [_estimate(row, index, current, candidates) for index, row in enumerate(rows)]
    codes = [e.tariff_code for e in estimates]
    if len(set(codes)) != len(codes):
        raise RateApiAnswerError("a tariff_code is priced twice")
    if current.tariff_code not in codes:
        raise RateApiAnswerError(f"the current rate {current.tariff_code} is not priced")
    if len(estimates) < 2:
        raise RateApiAnswerError("only the current rate is priced")
    return ComparisonResult(
        status,
        message,
        request.usage_start,
        request.usage_end,
        currency,
        tuple(estimates),
    )


def _estimate(
    row: Any, index: int, current: sst.CurrentRate, candidates: Mapping[str, Any]
) -> Estimate:
    where = f"estimates[{index}]"
    if not isinstance(row, dict):
        raise RateApiAnswerError(f"{where} is not an object")
    code = row.get("tariff_code")
    asked = {str(current.tariff_code): str(current.rin)} | {
        c: str(o.rate.rin) for c, o in candidates.items()
    }
    if not isinstance(code, str) or code not in asked:
        raise RateApiAnswerError(f"{where}: tariff_code {code!r} was not asked for")
    try:
        rin = str(Rin.parse(str(row.get("rin"))))
    except RinError as exc:
        raise RateApiAnswerError(f"{where}: rin: {exc}") from None
    if rin != asked[code]:
        raise RateApiAnswerError(f"{where}: {code} has the RIN {asked[code]}, not {rin}")
    cost = row.get("annual_cost")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost):
        raise RateApiAnswerError(f"{where}: annual_cost is not a number")
    try:
        basis = sst.EstimateBasis(row.get("basis") or sst.EstimateBasis.utilityTool.value)
    except ValueError:
        raise RateApiAnswerError(f"{where}: basis {row.get('basis')!r} is unknown") from None
    name = row.get("tariff_name")
    if not isinstance(name, str) or not name.strip():
        name = current.tariff_name if code == current.tariff_code else candidates[code].rate.name
    return Estimate(rin, code, str(name)[:256], float(cost), code == current.tariff_code, basis)


__all__ = ["RateApiAnswerError", "RateApiComparison"]
