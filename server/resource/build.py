"""Stored rows -> espi_sst Atom entries with the ESPI link graph (GBA openapi examples).

Each entry gets an ``urn:uuid`` id, ``published`` / ``updated`` and the links the GBA's
example responses show, all absolute (``urls.py``):

* UsagePoint: ``self``, ``up`` (the subscription's UsagePoint collection), ``related`` to
  its MeterReading, UsageSummary and ElectricPowerQualitySummary collections and to its
  LocalTimeParameters entry;
* MeterReading: ``self``, ``up``, ``related`` to its UsagePoint, its IntervalBlock
  collection and its ReadingType entry;
* IntervalBlock, UsageSummary: ``self``, ``up``, ``related`` to the parent entry;
* ReadingType, LocalTimeParameters: ``self`` and ``up`` (top-level collections; shared
  resources live outside the subscription tree).

Times (the tables hold no modification times for structural rows): a UsagePoint,
MeterReading, ReadingType or LocalTimeParameters is published to the ASP, and last changed
for it, when the customer granted the subscription (``Authorization.created_at``); an
IntervalBlock is published at its day's start and updated at its last reading's end
(``blocks.py``); a UsageSummary is published at its billing period's start and updated at
its ``statusTimeStamp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from espi_sst.model import Entry, Feed, Link, ModelObject
from espi_sst.model import espi as m
from espi_sst.model.enums import UnitMultiplierKind, UnitSymbolKind
from espi_sst.xml import make_extension

from ..storage import models as db
from .blocks import DayBlock
from .urls import Urls, entry_link, feed_link, urn, urn_for_path


def moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True)
class EntryBuilder:
    """Builds the entries of one subscription as one request sees it."""

    urls: Urls
    sid: str
    granted_at: int  # Authorization.created_at: when structural resources were published

    # ---- feeds ------------------------------------------------------------------------
    def feed(self, href: str, kind: str, entries: list[Entry], *, now: int) -> Feed:
        return Feed(
            id=urn_for_path(self.urls.path(href)),
            title=kind,
            updated=moment(now),
            links=[feed_link(href, "self", kind)],
            entries=entries,
        )

    # ---- subscription tree --------------------------------------------------------------
    def usage_point(
        self, point: db.UsagePoint, local_time_uuid: str | None, sst_kinds: Sequence[str] = ()
    ) -> Entry:
        u, sid, uid = self.urls, self.sid, point.uuid
        links = [
            entry_link(u.usage_point(sid, uid), "self", "UsagePoint"),
            feed_link(u.usage_points(sid), "up", "UsagePoint"),
            feed_link(u.meter_readings(sid, uid), "related", "MeterReading"),
            feed_link(u.usage_summaries(sid, uid), "related", "UsageSummary"),
            feed_link(u.quality_summaries(sid, uid), "related", "ElectricPowerQualitySummary"),
        ]
        # The SST resources the grant's scopes open (RateInformation, BillComparison, ...).
        links += [
            feed_link(f"{u.usage_point(sid, uid)}/{kind}", "related", kind) for kind in sst_kinds
        ]
        if local_time_uuid is not None:
            links.append(
                entry_link(u.local_time(local_time_uuid), "related", "LocalTimeParameters")
            )
        content = m.UsagePoint(service_category=m.ServiceCategory(kind=point.service_kind))
        return self._entry(point.uuid, point.title, links, content)

    def meter_reading(
        self, point_uuid: str, reading: db.MeterReading, reading_type_uuid: str
    ) -> Entry:
        u, sid = self.urls, self.sid
        links = [
            entry_link(u.meter_reading(sid, point_uuid, reading.uuid), "self", "MeterReading"),
            feed_link(u.meter_readings(sid, point_uuid), "up", "MeterReading"),
            entry_link(u.usage_point(sid, point_uuid), "related", "UsagePoint"),
            feed_link(u.interval_blocks(sid, point_uuid, reading.uuid), "related", "IntervalBlock"),
            entry_link(u.reading_type(reading_type_uuid), "related", "ReadingType"),
        ]
        return self._entry(reading.uuid, reading.title, links, m.MeterReading())

    def interval_block(self, point_uuid: str, reading_uuid: str, block: DayBlock) -> Entry:
        u, sid = self.urls, self.sid
        self_href = u.interval_block(sid, point_uuid, reading_uuid, block.start)
        links = [
            entry_link(self_href, "self", "IntervalBlock"),
            feed_link(u.interval_blocks(sid, point_uuid, reading_uuid), "up", "IntervalBlock"),
            entry_link(u.meter_reading(sid, point_uuid, reading_uuid), "related", "MeterReading"),
        ]
        content = m.IntervalBlock(
            interval=m.DateTimeInterval(duration=block.end - block.start, start=block.start),
            interval_reading=[
                m.IntervalReading(
                    cost=cost,
                    reading_quality=[] if quality is None else [m.ReadingQuality(quality=quality)],
                    time_period=m.DateTimeInterval(duration=duration, start=start),
                    value=value,
                )
                for start, duration, value, cost, quality in block.readings
            ],
        )
        return Entry(
            id=urn_for_path(f"MeterReading/{reading_uuid}/IntervalBlock/{block.start}"),
            title="IntervalBlock",
            published=moment(block.start),
            updated=moment(block.updated),
            links=links,
            content=content,
        )

    def usage_summary(
        self,
        point_uuid: str,
        summary: db.UsageSummary,
        sst_elements: Sequence[ModelObject] = (),
        *,
        quality: int,
        consumption_wh: int | None,
    ) -> Entry:
        """``sst_elements``: the SST RIN elements for ``espi:extension`` (RIN scope only);
        ``quality``: its ``qualityOfReading`` (``summary_quality.py``; GBA rule D099);
        ``consumption_wh``: its ``overallConsumptionLastPeriod``, stored or derived from the
        readings (``summary_consumption.py``; GBA rule D081), None to omit it."""
        u, sid = self.urls, self.sid
        links = [
            entry_link(u.usage_summary(sid, point_uuid, summary.uuid), "self", "UsageSummary"),
            feed_link(u.usage_summaries(sid, point_uuid), "up", "UsageSummary"),
            entry_link(u.usage_point(sid, point_uuid), "related", "UsagePoint"),
        ]
        consumption = None
        if consumption_wh is not None:
            consumption = m.SummaryMeasurement(
                power_of_ten_multiplier=UnitMultiplierKind.none,
                uom=UnitSymbolKind.Wh,
                value=consumption_wh,
            )
        content = m.UsageSummary(
            extension=[make_extension(*sst_elements)] if sst_elements else [],
            billing_period=m.DateTimeInterval(
                duration=summary.billing_period_duration, start=summary.billing_period_start
            ),
            bill_last_period=summary.bill_last_period,
            currency=summary.currency,
            overall_consumption_last_period=consumption,
            quality_of_reading=quality,
            status_time_stamp=summary.status_time_stamp,
            tariff_profile=summary.tariff_profile,
            read_cycle=summary.read_cycle,
            billing_charge_source=(
                m.BillingChargeSource(agency_name=summary.agency_name)
                if summary.agency_name
                else None
            ),
        )
        return Entry(
            id=urn(summary.uuid),
            title="UsageSummary",
            published=moment(summary.billing_period_start),
            updated=moment(summary.status_time_stamp),
            links=links,
            content=content,
        )

    # ---- shared resources -----------------------------------------------------------------
    def reading_type(self, rt: db.ReadingType) -> Entry:
        u = self.urls
        links = [
            entry_link(u.reading_type(rt.uuid), "self", "ReadingType"),
            feed_link(u.collection("ReadingType"), "up", "ReadingType"),
        ]
        content = m.ReadingType(
            accumulation_behaviour=rt.accumulation_behaviour,
            commodity=rt.commodity,
            currency=rt.currency,
            data_qualifier=rt.data_qualifier,
            flow_direction=rt.flow_direction,
            interval_length=rt.interval_length,
            kind=rt.kind,
            phase=rt.phase,
            power_of_ten_multiplier=rt.power_of_ten_multiplier,
            time_attribute=rt.time_attribute,
            uom=rt.uom,
        )
        return self._entry(rt.uuid, rt.title, links, content)

    def local_time(self, ltp: db.LocalTimeParameters) -> Entry:
        u = self.urls
        links = [
            entry_link(u.local_time(ltp.uuid), "self", "LocalTimeParameters"),
            feed_link(u.collection("LocalTimeParameters"), "up", "LocalTimeParameters"),
        ]
        content = m.LocalTimeParameters(
            dst_end_rule=ltp.dst_end_rule,
            dst_offset=ltp.dst_offset,
            dst_start_rule=ltp.dst_start_rule,
            tz_offset=ltp.tz_offset,
        )
        return self._entry(ltp.uuid, ltp.title, links, content)

    def _entry(self, row_uuid: str, title: str, links: list[Link], content: m.Object) -> Entry:
        return Entry(
            id=urn(row_uuid),
            title=title,
            published=moment(self.granted_at),
            updated=moment(self.granted_at),
            links=links,
            content=content,
        )
