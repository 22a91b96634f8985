"""Absolute URLs of ESPI resources (ESPI 1_1 REST layout, facts.md) and their Atom links.

Every href is built from :func:`resource_base`, the one place that decides the base: the
URL the client actually used (``request.url_root``: scheme, host and any ``SCRIPT_NAME``
prefix), not the configured ``ISSUER``.  Behind a gateway, Werkzeug's ``ProxyFix`` (or the
gateway's own ``Host`` / ``X-Forwarded-*`` handling) makes that the gateway's URL without
touching this module.

Path ids are the rows' stable uuids (Subscription: ``Authorization.subscription_uuid``;
Authorization: ``Authorization.uuid``); an IntervalBlock's id is the epoch second of the
local midnight starting its day (see ``blocks.py``).  Atom ids are ``urn:uuid:`` of the
row's uuid, or, for things without a row (feeds, IntervalBlocks), a uuid5 of their path,
which does not depend on the host.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import request

from espi_sst.model import Link

from ..config import RESOURCE_PATH

PREFIX = RESOURCE_PATH
"""Where the blueprint is mounted (``config.RESOURCE_PATH``)."""

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:espi-sst:resource")


def resource_base() -> str:
    """The absolute base of the resource API as this request reached it."""
    return request.url_root.rstrip("/") + PREFIX


def urn(row_uuid: str) -> str:
    return f"urn:uuid:{row_uuid}"


def urn_for_path(path: str) -> str:
    """A stable Atom id for something without a row, from its host-independent path."""
    return urn(str(uuid.uuid5(_NAMESPACE, path)))


def entry_link(href: str, rel: str, kind: str) -> Link:
    return Link(href=href, rel=rel, type=f"espi-entry/{kind}")


def feed_link(href: str, rel: str, kind: str) -> Link:
    return Link(href=href, rel=rel, type=f"espi-feed/{kind}")


@dataclass(frozen=True)
class Urls:
    """The hrefs of one request (``Urls.current()``), by resource."""

    base: str

    @classmethod
    def current(cls) -> Urls:
        return cls(resource_base())

    def path(self, href: str) -> str:
        """The href without scheme and host (what Atom ids are derived from)."""
        return PREFIX + href[len(self.base) :] if href.startswith(self.base) else href

    # ---- subscription tree ----------------------------------------------------------------
    def subscription(self, sid: str) -> str:
        return f"{self.base}/Subscription/{sid}"

    def batch_subscription(self, sid: str) -> str:
        return f"{self.base}/Batch/Subscription/{sid}"

    def usage_points(self, sid: str) -> str:
        return f"{self.subscription(sid)}/UsagePoint"

    def usage_point(self, sid: str, uid: str) -> str:
        return f"{self.usage_points(sid)}/{uid}"

    def meter_readings(self, sid: str, uid: str) -> str:
        return f"{self.usage_point(sid, uid)}/MeterReading"

    def meter_reading(self, sid: str, uid: str, mid: str) -> str:
        return f"{self.meter_readings(sid, uid)}/{mid}"

    def interval_blocks(self, sid: str, uid: str, mid: str) -> str:
        return f"{self.meter_reading(sid, uid, mid)}/IntervalBlock"

    def interval_block(self, sid: str, uid: str, mid: str, bid: int) -> str:
        return f"{self.interval_blocks(sid, uid, mid)}/{bid}"

    def usage_summaries(self, sid: str, uid: str) -> str:
        return f"{self.usage_point(sid, uid)}/UsageSummary"

    def usage_summary(self, sid: str, uid: str, summary_id: str) -> str:
        return f"{self.usage_summaries(sid, uid)}/{summary_id}"

    def quality_summaries(self, sid: str, uid: str) -> str:
        return f"{self.usage_point(sid, uid)}/ElectricPowerQualitySummary"

    # ---- shared and ASP-level resources ---------------------------------------------------
    def collection(self, kind: str) -> str:
        """A top-level collection: ReadingType, LocalTimeParameters, Authorization ..."""
        return f"{self.base}/{kind}"

    def reading_type(self, rid: str) -> str:
        return f"{self.collection('ReadingType')}/{rid}"

    def local_time(self, lid: str) -> str:
        return f"{self.collection('LocalTimeParameters')}/{lid}"

    def authorization(self, aid: str) -> str:
        return f"{self.collection('Authorization')}/{aid}"

    def application(self, app_id: str) -> str:
        return f"{self.collection('ApplicationInformation')}/{app_id}"

    def bulk(self, bulk_id: str) -> str:
        """``Batch/Bulk/{bulkId}`` (the id: ``lifecycle/bulk.py``)."""
        return f"{self.base}/Batch/Bulk/{bulk_id}"
