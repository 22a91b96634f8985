"""ESPI query parameters (REQ.21 REST; GBA openapi ``components/parameters``), checked strictly.

``published-min``, ``published-max``, ``updated-min``, ``updated-max``: RFC 3339
date-times with an offset (``2024-03-01T00:00:00-08:00``, ``...Z``).  As in the GData
protocol these names come from, ``*-min`` is inclusive and ``*-max`` exclusive, so
``published-min=<midnight March 1>&published-max=<midnight April 1>`` is exactly March.

``max-results`` (upper bound on the entries of the response), ``start-index`` (one-based
offset of the first entry) and ``depth`` (GBA: "the maximum number of entries to be
transferred") are positive integers; ``max-results`` and ``depth`` both cap the entries.

Anything else about a value is refused with HTTP 400 naming the parameter and the form it
needs: a client that sends a typo gets told, instead of silently receiving everything.
Unknown parameters are ignored (as GData does).

One tolerated deviation, on purpose: an unencoded ``+`` in an offset arrives as a space
(``...T00:00:00 08:00``, form encoding); it is read as the ``+`` it was.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from werkzeug.datastructures import MultiDict

from .errors import bad_parameter

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)([Zz]|[+-]\d{2}:\d{2})$"
)
_SPACE_FOR_PLUS = re.compile(r"^(.*\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$")
_POSITIVE = re.compile(r"^[1-9][0-9]{0,9}$")
DATE_TIME_FORM = "expected an RFC 3339 date-time with offset, such as 2024-03-01T00:00:00Z"
INTEGER_FORM = "expected a positive integer (1 or more, at most 10 digits)"
T = TypeVar("T")


@dataclass(frozen=True)
class FeedQuery:
    """The parsed query: time bounds as epoch seconds (None: unbounded) and paging."""

    published_min: int | None = None
    published_max: int | None = None
    updated_min: int | None = None
    updated_max: int | None = None
    max_results: int | None = None
    start_index: int = 1
    depth: int | None = None

    @property
    def limit(self) -> int | None:
        """How many entries at most: the smaller of max-results and depth."""
        caps = [c for c in (self.max_results, self.depth) if c is not None]
        return min(caps) if caps else None

    def page(self, items: list[T]) -> list[T]:
        """The requested window of a list of entries (start-index, then the cap)."""
        start = self.start_index - 1
        limit = self.limit
        return items[start:] if limit is None else items[start : start + limit]

    def updated_in_range(self, updated: int) -> bool:
        return (self.updated_min is None or updated >= self.updated_min) and (
            self.updated_max is None or updated < self.updated_max
        )

    def published_in_range(self, published: int) -> bool:
        return (self.published_min is None or published >= self.published_min) and (
            self.published_max is None or published < self.published_max
        )


def parse_query(args: MultiDict[str, str]) -> FeedQuery:
    """Read and check the ESPI query parameters of a request.

    Raises:
        Refused: 400 ``invalid_request`` naming the first bad parameter.
    """
    values: dict[str, str] = {}
    for name in (
        "published-min",
        "published-max",
        "updated-min",
        "updated-max",
        "max-results",
        "start-index",
        "depth",
    ):
        given = args.getlist(name)
        if len(given) > 1:
            raise bad_parameter(name, "given more than once; give it once")
        if given:
            values[name] = given[0].strip()
    query = FeedQuery(
        published_min=_date_time(values, "published-min"),
        published_max=_date_time(values, "published-max"),
        updated_min=_date_time(values, "updated-min"),
        updated_max=_date_time(values, "updated-max"),
        max_results=_positive(values, "max-results"),
        start_index=_positive(values, "start-index") or 1,
        depth=_positive(values, "depth"),
    )
    for low, high, name in (
        (query.published_min, query.published_max, "published"),
        (query.updated_min, query.updated_max, "updated"),
    ):
        if low is not None and high is not None and low >= high:
            raise bad_parameter(
                f"{name}-max",
                f"must be after {name}-min (the range is min inclusive, max exclusive)",
            )
    return query


def _date_time(values: dict[str, str], name: str) -> int | None:
    text = values.get(name)
    if text is None:
        return None
    spaced = _SPACE_FOR_PLUS.match(text)
    if spaced:
        text = f"{spaced.group(1)}+{spaced.group(2)}"
    match = _RFC3339.match(text)
    if not match:
        raise bad_parameter(name, DATE_TIME_FORM)
    date, time, offset = match.groups()
    if offset in ("Z", "z"):
        offset = "+00:00"
    if "." in time:  # fromisoformat takes at most 6 fractional digits
        whole, fraction = time.split(".")
        time = f"{whole}.{fraction[:6].ljust(6, '0')}"
    try:
        moment = datetime.fromisoformat(f"{date}T{time}{offset}")
    except ValueError:
        raise bad_parameter(
            name, DATE_TIME_FORM + " (this one is not a real date or time)"
        ) from None
    # Times we compare with are whole seconds: for an integer t, t >= x and t < x hold
    # exactly when they hold for ceil(x), so a fractional bound rounds up.
    return math.ceil(moment.timestamp())


def _positive(values: dict[str, str], name: str) -> int | None:
    text = values.get(name)
    if text is None:
        return None
    if not _POSITIVE.match(text):
        raise bad_parameter(name, INTEGER_FORM)
    return int(text)
