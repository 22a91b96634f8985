"""Bolt-on mode's usage for the bill comparison: the 12 months held by the existing custodian.

The comparison (``sst/comparison.py``, 1623(c)(1)(C)) prices a year of interval data; in
bolt-on mode those data stay upstream.  They are read with the ASP's own token, inside the
ASP's request (the comparison is computed once per billing cycle), so the HTTP layer makes
an :class:`UpstreamUsage` from the request and hands it to the domain, which never reads the
request itself.

One subscription feed GET bounded by ``published-min``/``-max`` (a day of margin at each
end: blocks are published at local midnight), read with the library; the point's Wh
channels, forward = delivered, reverse = exported (Net Billing).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

import espi_sst
from espi_sst.model.enums import FlowDirectionKind, UnitSymbolKind

from ..sst.comparison import Interval, Usage
from ..storage.models import UsagePoint
from .forward import get


class UpstreamUsage:
    """A :class:`~espi_sst_server.sst.comparison.UsageReader` over one subscription upstream."""

    def __init__(self, app: Flask, subscription_uuid: str, bearer: str) -> None:
        self.app = app
        self.subscription_uuid = subscription_uuid
        self.bearer = bearer

    def __call__(self, point: UsagePoint, usage_start: int, usage_end: int) -> Usage:
        upstream = str(self.app.config["UPSTREAM_RESOURCE_URL"]).rstrip("/")
        window = {
            "published-min": datetime.fromtimestamp(usage_start - 86400, UTC).isoformat(),
            "published-max": datetime.fromtimestamp(usage_end + 86400, UTC).isoformat(),
        }
        answer = get(
            self.app,
            f"{upstream}/Subscription/{self.subscription_uuid}",
            bearer=self.bearer,
            params=window,
        )
        if answer.status != 200:
            return [], None, None, None
        document = espi_sst.parse(answer.body)
        delivered: list[Interval] = []
        exported: list[Interval] | None = None
        first = last = None
        marker = f"/UsagePoint/{point.uuid}"
        for reading in document.interval_readings():
            context = reading.context
            kind = context.reading_type
            if (
                context.usage_point is None
                or marker not in context.usage_point
                or kind is None
                or kind.uom != UnitSymbolKind.Wh
                or reading.start is None
                or reading.duration is None
                or reading.value is None
            ):
                continue
            kwh = reading.value * 10 ** (kind.power_of_ten_multiplier or 0) / 1000
            start, duration = reading.start, reading.duration
            if kind.flow_direction == FlowDirectionKind.reverse:
                if exported is None:
                    exported = []
                if usage_start <= start < usage_end:
                    exported.append((start, duration, kwh))
                continue
            first = start if first is None else min(first, start)
            last = start + duration if last is None else max(last, start + duration)
            if usage_start <= start < usage_end:
                delivered.append((start, duration, kwh))
        return delivered, exported, first, last


__all__ = ["UpstreamUsage"]
