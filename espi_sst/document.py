"""A parsed Green Button document and its resource graph, resolved by href.

ESPI ties resources together with Atom links, not nesting (ESPI 1_1 REST layout):

* a UsagePoint entry's ``related`` links name its MeterReading, UsageSummary,
  ElectricPowerQualitySummary collections and its LocalTimeParameters;
* a MeterReading's ``related`` links name its ReadingType and its IntervalBlock collection;
* every child entry's ``up`` link names the collection it belongs to.

We resolve those hrefs (compared by path, so absolute and relative forms agree), never
positions or id prefixes.  Documents without the parents (a PG&E IntervalBlock-only
response) still yield their readings; the UsagePoint is then taken from the href path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar
from urllib.parse import urlsplit

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
_USAGE_POINT_PATH = re.compile(r"(.*/UsagePoint/[^/]+)")
_METER_READING_PATH = re.compile(r"(.*/MeterReading/[^/]+)")


def normalize_href(href: str) -> str:
    """Compare hrefs by path: ``https://x/a/b/`` and ``/a/b`` are the same resource."""
    parts = urlsplit(href.strip())
    path = parts.path if (parts.scheme or parts.netloc) else href.strip().split("?")[0]
    return "/" + path.strip("/")


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
        self._by_self: dict[str, Entry] = {}
        self._by_up: dict[str, list[Entry]] = {}
        for entry in self.entries:
            if entry.self_href:
                self._by_self.setdefault(normalize_href(entry.self_href), entry)
            if entry.up_href:
                self._by_up.setdefault(normalize_href(entry.up_href), []).append(entry)
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
        return self._by_self.get(normalize_href(href))

    # ---- graph -----------------------------------------------------------------------
    def children(self, parent: Entry, kind: type[ModelObject] | None = None) -> list[Entry]:
        """Entries the parent's ``related`` links name, directly or as a collection."""
        found: list[Entry] = []
        seen: set[int] = set()
        for href in parent.related_hrefs:
            key = normalize_href(href)
            candidates = list(self._by_up.get(key, []))
            direct = self._by_self.get(key)
            if direct is not None:
                candidates.append(direct)
            for entry in candidates:
                if id(entry) not in seen and (kind is None or isinstance(entry.content, kind)):
                    seen.add(id(entry))
                    found.append(entry)
        if parent.self_href:
            # Collections nested under the parent's own href (``.../MeterReading/1/IntervalBlock``)
            # count too: Opower files link only the first IntervalBlock.
            prefix = normalize_href(parent.self_href) + "/"
            for up, entries in self._by_up.items():
                if up.startswith(prefix):
                    for entry in entries:
                        if id(entry) not in seen and (
                            kind is None or isinstance(entry.content, kind)
                        ):
                            seen.add(id(entry))
                            found.append(entry)
        order = self._order
        found.sort(key=lambda e: order.get(id(e), 0))
        return found

    @cached_property
    def _order(self) -> dict[int, int]:
        return {id(entry): index for index, entry in enumerate(self.entries)}

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
        for href in meter_reading.related_hrefs:
            entry = self.entry_by_href(href)
            if entry is not None and isinstance(entry.content, ReadingType):
                return entry
        return None

    def local_time_parameters(self, usage_point: Entry | None = None) -> LocalTimeParameters | None:
        """The UsagePoint's linked LocalTimeParameters, else the document's only one."""
        if usage_point is not None:
            for entry in self.children(usage_point, LocalTimeParameters):
                return entry.content  # type: ignore[return-value]
        all_ltp = self.resources(LocalTimeParameters)
        return all_ltp[0] if len(all_ltp) == 1 else None

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
        meter_reading = self._parent_meter_reading(block)
        usage_point = self._parent_usage_point(meter_reading or block)
        rt_entry = self.reading_type_entry(meter_reading) if meter_reading else None
        if rt_entry is None:
            only = self.entries_of(ReadingType)
            rt_entry = only[0] if len(only) == 1 else None
        reading_type = rt_entry.content if rt_entry is not None else None
        assert reading_type is None or isinstance(reading_type, ReadingType)
        up_href = usage_point.self_href if usage_point else _path_match(_USAGE_POINT_PATH, block)
        mr_href = (
            meter_reading.self_href if meter_reading else _path_match(_METER_READING_PATH, block)
        )
        return ReadingContext(
            usage_point=up_href,
            meter_reading=mr_href,
            reading_type=reading_type,
            time_zone=self.time_zone(usage_point),
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

    @cached_property
    def _parents(self) -> dict[tuple[type, int], Entry]:
        """(parent kind, id(child entry)) -> parent, for MeterReading and UsagePoint parents."""
        parents: dict[tuple[type, int], Entry] = {}
        for kind in (UsagePoint, MeterReading):
            for parent in self.entries_of(kind):
                for child in self.children(parent):
                    parents.setdefault((kind, id(child)), parent)
        return parents

    def _parent_meter_reading(self, block: Entry) -> Entry | None:
        return self._parents.get((MeterReading, id(block)))

    def _parent_usage_point(self, child: Entry) -> Entry | None:
        parent = self._parents.get((UsagePoint, id(child)))
        if parent is not None:
            return parent
        href = _path_match(_USAGE_POINT_PATH, child)
        if href is not None:
            return self.entry_by_href(href)
        points = self.usage_points
        return points[0] if len(points) == 1 else None


def _path_match(pattern: re.Pattern[str], entry: Entry) -> str | None:
    for href in (entry.self_href, entry.up_href):
        if href:
            match = pattern.match(href)
            if match:
                return match.group(1)
    return None


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
