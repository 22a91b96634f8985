"""A parsed Green Button document and its resource graph, resolved by href.

ESPI ties resources together with Atom links, not nesting: a UsagePoint's ``related``
links name its MeterReading collection and LocalTimeParameters, a MeterReading's its
ReadingType and IntervalBlock collection, every child's ``up`` link its collection.  The
rules live in :mod:`espi_sst._links`, shared with the streaming reader, so both place every
reading alike; documents without the parents (a PG&E IntervalBlock-only response) still
yield their readings, the UsagePoint then taken from the href path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from ._links import LinkIndex, normalize_href
from .errors import EspiWarning
from .localtime import DstRule, EspiTimeZone, InvalidDstRule
from .model._base import ModelObject
from .model.atom import Entry, Feed
from .model.espi import (
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsagePoint,
)
from .readings import Reading, ReadingContext

__all__ = ["Document", "normalize_href"]

R = TypeVar("R", bound=ModelObject)


@dataclass(eq=False)
class Document:
    """A feed (or single entry) of ESPI resources, with the resolved link graph.

    Attributes:
        feed: the Atom feed, or None for a single entry / bare resource.
        entries: every entry in document order.
        warnings: the deviations tolerated while reading (see ``espi_sst.errors``).
        source: the file name (or ``<bytes>``).
    """

    feed: Feed | None
    entries: list[Entry]
    warnings: list[EspiWarning] = field(default_factory=list)
    source: str = "<input>"

    def __post_init__(self) -> None:
        self._links = LinkIndex(self.entries)
        self._time_zones: dict[int, EspiTimeZone | None] = {}
        self._zone_by_point: dict[int, EspiTimeZone | None] = {}

    def __eq__(self, other: object) -> bool:
        """Two documents are equal when their feed metadata and entries are."""
        if not isinstance(other, Document):
            return NotImplemented
        mine = (
            (self.feed.id, self.feed.title, self.feed.updated, self.feed.links)
            if self.feed
            else None
        )
        theirs = (
            (other.feed.id, other.feed.title, other.feed.updated, other.feed.links)
            if other.feed
            else None
        )
        return mine == theirs and self.entries == other.entries

    # ---- resources -------------------------------------------------------------------
    def resources(self, kind: type[R] | None = None) -> list[R]:
        """Every resource (entry content), or those of one model class."""
        out = []
        for entry in self.entries:
            for content in entry.contents:
                if kind is None or isinstance(content, kind):
                    out.append(content)
        return out  # type: ignore[return-value]

    def entries_of(self, kind: type[ModelObject]) -> list[Entry]:
        return [e for e in self.entries if isinstance(e.content, kind)]

    def resource_counts(self) -> dict[str, int]:
        """Resource type name -> how many the document holds."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            for content in entry.contents:
                name = type(content).__name__
                counts[name] = counts.get(name, 0) + 1
        return counts

    def entry_by_href(self, href: str) -> Entry | None:
        return self._links.entry(href)

    # ---- graph -----------------------------------------------------------------------
    def children(self, parent: Entry, kind: type[ModelObject] | None = None) -> list[Entry]:
        """Entries the parent's ``related`` links name, directly or as a collection, and
        those in collections under its own href (``.../MeterReading/1/IntervalBlock``)."""
        return self._links.children(parent, kind)

    @property
    def usage_points(self) -> list[Entry]:
        return self.entries_of(UsagePoint)

    def meter_readings(self, usage_point: Entry) -> list[Entry]:
        return self.children(usage_point, MeterReading)

    def interval_blocks(self, meter_reading: Entry) -> list[Entry]:
        return self.children(meter_reading, IntervalBlock)

    def reading_type(self, meter_reading: Entry) -> ReadingType | None:
        entry = self.reading_type_entry(meter_reading)
        return entry.content if entry is not None else None  # type: ignore[return-value]

    def reading_type_entry(self, meter_reading: Entry) -> Entry | None:
        """The ReadingType entry a MeterReading's ``related`` link names."""
        return self._links.reading_type(meter_reading)

    def local_time_parameters(self, usage_point: Entry | None = None) -> LocalTimeParameters | None:
        """The UsagePoint's linked LocalTimeParameters, else the document's only one."""
        return self._links.local_time_parameters(usage_point)

    def usage_summaries(self, usage_point: Entry) -> list[Entry]:
        from .model.espi import ElectricPowerUsageSummary, UsageSummary

        return [
            e
            for e in self.children(usage_point)
            if isinstance(e.content, (UsageSummary, ElectricPowerUsageSummary))
        ]

    # ---- readings ----------------------------------------------------------------------
    def time_zone(self, usage_point: Entry | None = None) -> EspiTimeZone | None:
        """The tzinfo of a UsagePoint's LocalTimeParameters (built once per UsagePoint)."""
        point_key = id(usage_point)
        if point_key in self._zone_by_point:
            return self._zone_by_point[point_key]
        ltp = self.local_time_parameters(usage_point)
        zone = None
        if ltp is not None:
            key = id(ltp)
            if key not in self._time_zones:
                # Unusable rules were reported by the reader (time_zone_of warns there).
                self._time_zones[key] = time_zone_of(ltp)
            zone = self._time_zones[key]
        self._zone_by_point[point_key] = zone
        return zone

    def block_context(self, block: Entry) -> ReadingContext:
        """Where an IntervalBlock's readings belong and how to scale them."""
        links = self._links.block_links(block.self_href, block.up_href)
        rt_entry = links.reading_type
        reading_type = rt_entry.content if rt_entry is not None else None
        assert reading_type is None or isinstance(reading_type, ReadingType)
        return ReadingContext(
            usage_point=links.usage_point_href,
            meter_reading=links.meter_reading_href,
            reading_type=reading_type,
            time_zone=self.time_zone(links.usage_point),
            block=block.self_href,
            reading_type_href=rt_entry.self_href if rt_entry is not None else None,
        )

    def interval_readings(self) -> Iterator[Reading]:
        """Every IntervalReading of every IntervalBlock, in document order."""
        for block_entry in self.entries_of(IntervalBlock):
            context = self.block_context(block_entry)
            blocks = [b for b in block_entry.contents if isinstance(b, IntervalBlock)]
            for reading in (r for block in blocks for r in block.interval_reading):
                period = reading.time_period
                if period is None or period.start is None:
                    continue  # reported by the reader as reading_without_time
                quality = reading.reading_quality[0].quality if reading.reading_quality else None
                yield Reading(
                    context,
                    period.start if period else None,
                    period.duration if period else None,
                    reading.value,
                    reading.cost,
                    None if quality is None else int(quality),
                )


def time_zone_of(
    ltp: LocalTimeParameters, warnings: list[EspiWarning] | None = None
) -> EspiTimeZone:
    """Build a tzinfo from LocalTimeParameters, warning about rules we cannot use."""
    start = end = None
    if ltp.dst_start_rule and ltp.dst_end_rule and ltp.dst_offset:
        try:
            start = DstRule.decode(ltp.dst_start_rule)
            end = DstRule.decode(ltp.dst_end_rule)
        except InvalidDstRule as exc:
            start = end = None
            if warnings is not None:
                warnings.append(
                    EspiWarning(
                        "invalid_dst_rule",
                        f"DST rule unusable ({exc}); local times use standard time only",
                        element="dstStartRule",
                    )
                )
        else:
            if (start and start.fixed_epoch is not None) and warnings is not None:
                warnings.append(
                    EspiWarning(
                        "dst_rule_as_epoch",
                        "DST rules hold epoch seconds, not the ESPI bit layout; applied to that year only",
                        element="dstStartRule",
                    )
                )
    return EspiTimeZone(ltp.tz_offset or 0, ltp.dst_offset or 0, start, end)
