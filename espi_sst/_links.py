"""ESPI's resource graph resolved by href: one index for both readers.

ESPI ties resources together with Atom links, not nesting (ESPI 1_1 REST layout):

* a UsagePoint entry's ``related`` links name its MeterReading, UsageSummary,
  ElectricPowerQualitySummary collections and its LocalTimeParameters;
* a MeterReading's ``related`` links name its ReadingType and its IntervalBlock collection;
* every child entry's ``up`` link names the collection it belongs to.

:class:`LinkIndex` resolves those hrefs (compared by path, so absolute and relative forms
agree), never positions or id prefixes.  :class:`~espi_sst.Document` fills it with every
entry at once; the streaming reader (:mod:`espi_sst.xml.streaming`) with the small
resources as they come, and asks it about each IntervalBlock with the entries seen so far.
Both readers therefore attach a block to the same MeterReading, UsagePoint, ReadingType
and LocalTimeParameters (tests/corpus checks it on every real file).

The rules, for a parent entry P and a child C:

* C is a child of P when a ``related`` link of P names C's collection (C's ``up``) or C
  itself, or when C's collection lies under P's own href (``.../MeterReading/1/IntervalBlock``
  under ``.../MeterReading/1``: Opower files link only the first IntervalBlock);
* C's parent of a kind is the first such P of that kind in document order;
* documents without the parents (a PG&E IntervalBlock-only response) still place their
  readings: the UsagePoint and MeterReading are then taken from the href path, and a
  document's only ReadingType, UsagePoint or LocalTimeParameters is used when none is linked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .model._base import ModelObject
from .model.atom import Entry
from .model.espi import LocalTimeParameters, MeterReading, ReadingType, UsagePoint

_USAGE_POINT_PATH = re.compile(r"(.*/UsagePoint/[^/]+)")
_METER_READING_PATH = re.compile(r"(.*/MeterReading/[^/]+)")


def normalize_href(href: str) -> str:
    """Compare hrefs by path: ``https://x/a/b/`` and ``/a/b`` are the same resource."""
    parts = urlsplit(href.strip())
    path = parts.path if (parts.scheme or parts.netloc) else href.strip().split("?")[0]
    return "/" + path.strip("/")


@dataclass(frozen=True)
class BlockLinks:
    """Where an IntervalBlock belongs: the entries found for it, and the hrefs to report.

    ``usage_point_href`` and ``meter_reading_href`` come from the href path when the
    document holds no such entry; the UsagePoint's clock is
    :meth:`LinkIndex.local_time_parameters` (callers cache the time zone per UsagePoint)."""

    meter_reading: Entry | None
    usage_point: Entry | None
    reading_type: Entry | None
    usage_point_href: str | None
    meter_reading_href: str | None


class LinkIndex:
    """Entries indexed by their ``self``, ``up`` and ``related`` links, in document order."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._position: dict[int, int] = {}
        self._kept: list[Entry] = []  # keeps each id() in _position alive and unique
        self._by_self: dict[str, list[Entry]] = {}
        self._by_up: dict[str, list[Entry]] = {}
        self._naming: dict[str, list[Entry]] = {}  # href -> entries whose related link names it
        self._by_type: dict[type, list[Entry]] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> Entry | None:
        """Index the next entry; returns the earlier entry claiming the same self link, if
        any (the first one stays the one the link means)."""
        self._position[id(entry)] = len(self._kept)
        self._kept.append(entry)
        earlier = None
        if entry.self_href:
            claims = self._by_self.setdefault(normalize_href(entry.self_href), [])
            earlier = claims[0] if claims else None
            claims.append(entry)
        if entry.up_href:
            self._by_up.setdefault(normalize_href(entry.up_href), []).append(entry)
        for href in entry.related_hrefs:
            self._naming.setdefault(normalize_href(href), []).append(entry)
        self._by_type.setdefault(type(entry.content), []).append(entry)
        return earlier

    # ---- lookups ---------------------------------------------------------------------
    def entry(self, href: str) -> Entry | None:
        """The (first) entry whose self link is ``href``."""
        claims = self._by_self.get(normalize_href(href))
        return claims[0] if claims else None

    def names(self, href: str) -> bool:
        """Whether some entry's ``related`` link names ``href``."""
        return normalize_href(href) in self._naming

    def of_kind(self, kind: type[ModelObject]) -> list[Entry]:
        """The entries whose content is a ``kind``, in document order."""
        found = [e for t, entries in self._by_type.items() if issubclass(t, kind) for e in entries]
        found.sort(key=self._order)
        return found

    def only(self, kind: type[ModelObject]) -> Entry | None:
        """The entry of ``kind`` when the document holds exactly one."""
        found = self.of_kind(kind)
        return found[0] if len(found) == 1 else None

    def children(self, parent: Entry, kind: type[ModelObject] | None = None) -> list[Entry]:
        """Entries the parent's ``related`` links name (directly or as their collection)
        and entries in collections under the parent's own href, in document order."""
        found: dict[int, Entry] = {}
        for href in parent.related_hrefs:
            key = normalize_href(href)
            named = self._by_self.get(key)
            for entry in [*self._by_up.get(key, ()), *(named[:1] if named else ())]:
                found.setdefault(id(entry), entry)
        if parent.self_href:
            prefix = normalize_href(parent.self_href) + "/"
            for up, entries in self._by_up.items():
                if up.startswith(prefix):
                    for entry in entries:
                        found.setdefault(id(entry), entry)
        return sorted(
            (e for e in found.values() if kind is None or isinstance(e.content, kind)),
            key=self._order,
        )

    def parent(
        self, self_href: str | None, up_href: str | None, kind: type[ModelObject]
    ) -> Entry | None:
        """The first entry of ``kind`` of which the entry with these links is a child."""
        candidates: list[Entry] = []
        if self_href:
            candidates += self._naming.get(normalize_href(self_href), ())
        if up_href:
            collection = normalize_href(up_href)
            candidates += self._naming.get(collection, ())
            path = collection.rsplit("/", 1)[0]
            while path:  # the entries whose own href the collection lies under
                candidates += self._by_self.get(path, ())
                path = path.rsplit("/", 1)[0]
        found = [c for c in candidates if isinstance(c.content, kind)]
        return min(found, key=self._order) if found else None

    def reading_type(self, meter_reading: Entry) -> Entry | None:
        """The ReadingType entry a MeterReading's ``related`` link names."""
        for href in meter_reading.related_hrefs:
            entry = self.entry(href)
            if entry is not None and isinstance(entry.content, ReadingType):
                return entry
        return None

    def local_time_parameters(self, usage_point: Entry | None) -> LocalTimeParameters | None:
        """The UsagePoint's linked LocalTimeParameters, else the document's only one."""
        if usage_point is not None:
            for entry in self.children(usage_point, LocalTimeParameters):
                content = entry.content
                assert isinstance(content, LocalTimeParameters)
                return content
        only = self.only(LocalTimeParameters)
        return only.content if only is not None else None  # type: ignore[return-value]

    def block_links(self, self_href: str | None, up_href: str | None) -> BlockLinks:
        """Where the IntervalBlock entry with these links belongs (see the module rules)."""
        meter_reading = self.parent(self_href, up_href, MeterReading)
        child = (meter_reading.self_href, meter_reading.up_href) if meter_reading else None
        usage_point = self.parent(*(child or (self_href, up_href)), UsagePoint)
        if usage_point is None:
            href = _path_match(_USAGE_POINT_PATH, *(child or (self_href, up_href)))
            usage_point = self.entry(href) if href is not None else self.only(UsagePoint)
        reading_type = self.reading_type(meter_reading) if meter_reading is not None else None
        if reading_type is None:
            reading_type = self.only(ReadingType)
        return BlockLinks(
            meter_reading=meter_reading,
            usage_point=usage_point,
            reading_type=reading_type,
            usage_point_href=usage_point.self_href
            if usage_point is not None
            else _path_match(_USAGE_POINT_PATH, self_href, up_href),
            meter_reading_href=meter_reading.self_href
            if meter_reading is not None
            else _path_match(_METER_READING_PATH, self_href, up_href),
        )

    def _order(self, entry: Entry) -> int:
        return self._position.get(id(entry), 0)


def _path_match(pattern: re.Pattern[str], *hrefs: str | None) -> str | None:
    for href in hrefs:
        if href:
            match = pattern.match(href)
            if match:
                return match.group(1)
    return None
