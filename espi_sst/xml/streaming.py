"""Interval readings from a file of any size, in bounded memory (``iter_interval_readings``).

The stream holds at most one IntervalBlock's XML at a time (plus the small resources that
give readings their meaning: UsagePoint, MeterReading, ReadingType, LocalTimeParameters).
Each block is read column-wise: compiled XPath expressions pull every start, duration and
value of the block out of libxml2 in one call each, so Python does per-block work, not
per-element work.  That is what lets it beat a hand-written ``iterparse`` loop
(docs/performance.md).  A block whose shape is irregular (a reading without a value,
fractional or millisecond times) falls back to the per-reading path with full deviation
handling, so speed never costs correctness.

Context comes from what was seen *before* the block, as in most real feeds (UsagePoint,
MeterReading and ReadingType precede their IntervalBlocks), resolved by the same link
rules as :class:`~espi_sst.Document` (:mod:`espi_sst._links`).  When the first block comes
before its ReadingType and the source is a file, a quick first pass collects the small
resources; a one-shot stream (bytes, file object) cannot be re-read, so its blocks are
read unscaled and the stream warns (``reading_type_unknown``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .._links import LinkIndex
from ..document import time_zone_of
from ..errors import EspiWarning
from ..localtime import EspiTimeZone
from ..model.atom import Entry
from ..model.espi import (
    DateTimeInterval,
    IntervalReading,
    LocalTimeParameters,
    ReadingType,
)
from ..readings import ContextFacts, Reading, ReadingContext
from ..tidy import direction_word
from . import _decode
from ._columns import extract_columns
from ._decode import decode
from ._report import DeviationReport
from ._safety import (
    ReadLimits,
    Source,
    opened_source,
    refuse_doctype,
    safe_iterparse,
    source_name,
)
from .namespaces import ATOM, ESPI
from .reader import ENTRY, read_entry, report_duplicate_self, syntax_error

__all__ = ["IntervalColumns", "ReadingStream", "iter_interval_blocks", "iter_interval_readings"]

BLOCK = f"{{{ESPI}}}IntervalBlock"
READING = f"{{{ESPI}}}IntervalReading"
_LINK = f"{{{ATOM}}}link"


@dataclass(frozen=True)
class IntervalColumns(ContextFacts):
    """One IntervalBlock's readings as parallel columns (the fastest way to read them).

    ``costs`` and ``qualities`` are None when no reading of the block has one.  What every
    reading of the block shares (its direction, MeterReading and ReadingType) is a property
    of the block, worked out once: a solar customer's delivered and received blocks cover
    the same intervals and must be told apart before summing (issue 18).
    """

    context: ReadingContext
    starts: list[int]
    durations: list[int]
    values: list[int | None]
    costs: list[int | None] | None = None
    qualities: list[int | None] | None = None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def direction(self) -> str | None:
        """The direction in words: ``"delivered"``, ``"received"``, ``"net"``, ``"total"``."""
        return direction_word(self.context.flow_direction)

    def readings(self) -> Iterator[Reading]:
        context = self.context
        costs = self.costs or [None] * len(self.starts)
        qualities = self.qualities or [None] * len(self.starts)
        for start, duration, value, cost, quality in zip(
            self.starts, self.durations, self.values, costs, qualities, strict=True
        ):
            yield Reading(context, start, duration, value, cost, quality)


class _NeedsContext(Exception):
    """The first block cannot be scaled yet: read the small resources first."""


class _Context:
    """The small resources seen so far, to resolve each block's meaning.

    They are indexed by :class:`~espi_sst._links.LinkIndex`, the index
    :class:`~espi_sst.document.Document` resolves its graph with, so both readers place a
    block alike (given the same resources before it).
    """

    def __init__(self) -> None:
        self.complete = False
        self.links = LinkIndex()
        self.zones: dict[int, EspiTimeZone] = {}
        self.cache: dict[tuple[str | None, str | None], ReadingContext] = {}

    def add(self, entry: Entry, report: DeviationReport) -> None:
        if self.links.add(entry) is not None:
            report_duplicate_self(entry, report)
        self.cache.clear()

    def for_block(
        self, self_href: str | None, up_href: str | None, report: DeviationReport
    ) -> ReadingContext:
        # Blocks of one collection share their context, unless a related link names the
        # block itself (then it may have a parent of its own).
        parent_path = self_href and self_href.rsplit("/", 1)[0]
        named = self_href is not None and self.links.names(self_href)
        key = (self_href if named else parent_path, up_href)
        cached = self.cache.get(key)
        if cached is not None:
            return cached._replace(block=self_href)
        links = self.links.block_links(self_href, up_href)
        rt_entry = links.reading_type
        reading_type = rt_entry.content if rt_entry is not None else None
        assert reading_type is None or isinstance(reading_type, ReadingType)
        if reading_type is None:
            report.add(
                "reading_type_unknown",
                "no ReadingType precedes this IntervalBlock; values are read unscaled",
                element="IntervalBlock",
            )
        context = ReadingContext(
            links.usage_point_href,
            links.meter_reading_href,
            reading_type,
            self._zone(self.links.local_time_parameters(links.usage_point), report),
            self_href,
            rt_entry.self_href if rt_entry is not None else None,
        )
        self.cache[key] = context
        return context

    def _zone(
        self, ltp: LocalTimeParameters | None, report: DeviationReport
    ) -> EspiTimeZone | None:
        if ltp is None:
            return None
        if id(ltp) not in self.zones:
            found: list[EspiWarning] = []
            self.zones[id(ltp)] = time_zone_of(ltp, found)
            for warning in found:
                report.add(warning.code, warning.message, element=warning.element)
        return self.zones[id(ltp)]


def iter_interval_blocks(
    source: Source, *, strict: bool = False, limits: ReadLimits | None = None
) -> ReadingStream:
    """Stream each IntervalBlock as :class:`IntervalColumns` (see module docs)."""
    return ReadingStream(source, strict, limits or ReadLimits(max_bytes=None), columns=True)


def iter_interval_readings(
    source: Source, *, strict: bool = False, limits: ReadLimits | None = None
) -> ReadingStream:
    """Stream every interval reading of a document as :class:`~espi_sst.Reading` objects.

    Memory stays bounded by the largest IntervalBlock, whatever the file size; there is
    no size limit by default.  After iteration, ``stream.warnings`` lists the deviations
    tolerated.

    Raises (while iterating):
        ParseError: malformed XML (with line) or a value that is not a known deviation.
        UnsafeXmlError: a DTD or entity declaration.
    """
    return ReadingStream(source, strict, limits or ReadLimits(max_bytes=None), columns=False)


class ReadingStream:
    """An iterable over readings (or block columns) that records its warnings."""

    def __init__(self, source: Source, strict: bool, limits: ReadLimits, *, columns: bool) -> None:
        self._source = source
        self._strict = strict
        self._limits = limits
        self._columns = columns
        self._report: DeviationReport | None = None
        self._earlier: list[EspiWarning] = []  # of the zip members already read

    @property
    def warnings(self) -> list[EspiWarning]:
        return self._earlier + (self._report.warnings() if self._report else [])

    def __iter__(self) -> Iterator[Any]:
        if self._columns:
            return self._blocks()
        return self._readings()

    def _readings(self) -> Iterator[Reading]:
        for columns in self._blocks():
            context = columns.context
            costs = columns.costs
            qualities = columns.qualities
            # One loop per shape, so no column of Nones is built (a quality on every reading
            # is PG&E Share My Data's and Ameren's shape, a cost on every reading Texas's).
            if costs is None and qualities is None:
                for start, duration, value in zip(
                    columns.starts, columns.durations, columns.values, strict=True
                ):
                    yield Reading(context, start, duration, value)
            elif costs is None and qualities is not None:
                for start, duration, value, quality in zip(
                    columns.starts, columns.durations, columns.values, qualities, strict=True
                ):
                    yield Reading(context, start, duration, value, None, quality)
            else:
                yield from columns.readings()

    def _blocks(self) -> Iterator[IntervalColumns]:
        """Each document's blocks: the input's, or each XML file's of a zip archive
        (its own ReadingTypes and time zone each: ``espi_sst.sources``)."""
        from ..sources import expand_sources

        self._earlier = []
        for number, source in enumerate(expand_sources(self._source).sources):
            if number and self._report is not None:
                self._earlier.extend(self._report.warnings())
            yield from self._document_blocks(source)

    def _document_blocks(self, source: Source) -> Iterator[IntervalColumns]:
        name = source_name(source)
        report = self._report = DeviationReport(name, self._strict)
        context = _Context()
        if isinstance(source, (str, os.PathLike)):
            # A file can be read twice: when its first IntervalBlock comes before the
            # ReadingType that scales it (Texas ThirdPartyX files), read the small
            # resources in a first pass rather than yield unscaled values.
            first_pass = self._pass(source, context, report, stop_if_unresolved=True)
            try:
                yield from first_pass
                return
            except _NeedsContext:
                report = self._report = DeviationReport(name, self._strict)
                context = _Context()
                for _ in self._pass(source, context, report, collect_only=True):
                    pass
                context.complete = True
        yield from self._pass(source, context, report)

    def _pass(
        self,
        source: Source,
        context: _Context,
        report: DeviationReport,
        *,
        stop_if_unresolved: bool = False,
        collect_only: bool = False,
    ) -> Iterator[IntervalColumns]:
        with opened_source(source, self._limits) as (stream, name):
            yield from self._events(stream, name, context, report, stop_if_unresolved, collect_only)

    def _events(
        self,
        stream: Any,
        name: str,
        context: _Context,
        report: DeviationReport,
        stop_if_unresolved: bool,
        collect_only: bool,
    ) -> Iterator[IntervalColumns]:
        checked = False
        yielded = False
        block_in_entry = False  # an IntervalBlock ended since the last entry did
        try:
            events = safe_iterparse(stream, events=("end",), tag=(ENTRY, BLOCK))
            for _, element in events:
                if not checked:
                    refuse_doctype(element, name)
                    checked = True
                if element.tag == BLOCK:
                    block_in_entry = True
                    if not collect_only:
                        columns = self._block(element, context, report)
                        if (
                            stop_if_unresolved
                            and not yielded
                            and columns.context.reading_type is None
                        ):
                            raise _NeedsContext
                        yielded = True
                        yield columns
                    element.clear(keep_tail=False)
                    continue
                if not block_in_entry and not context.complete:
                    context.add(read_entry(element, report), report)
                block_in_entry = False
                element.clear(keep_tail=False)
                previous = element.getprevious()
                parent = element.getparent()
                while previous is not None and parent is not None:
                    parent.remove(previous)
                    previous = element.getprevious()
            root = events.root
            if root is not None and not checked:
                refuse_doctype(root, name)  # a document without entries or blocks
        except etree.XMLSyntaxError as exc:
            raise syntax_error(exc, name) from None

    def _block(
        self, block: etree._Element, context: _Context, report: DeviationReport
    ) -> IntervalColumns:
        self_href = up_href = None
        entry = block.getparent()
        entry = entry.getparent() if entry is not None else None
        if entry is not None and entry.tag == ENTRY:
            for link in entry.iterfind(_LINK):
                rel = link.get("rel")
                if rel == "self" and self_href is None:
                    self_href = link.get("href")
                elif rel == "up" and up_href is None:
                    up_href = link.get("href")
            if up_href is None and self_href:
                up_href = self_href.rstrip("/").rsplit("/", 1)[0]
        reading_context = context.for_block(self_href, up_href, report)
        columns = _fast_columns(block, reading_context)
        if columns is not None:
            return columns
        return _slow_columns(block, reading_context, report)


def _fast_columns(block: etree._Element, context: ReadingContext) -> IntervalColumns | None:
    """The block read column-wise, or None: irregular, or ``_decode.FAST_BLOCKS`` is off
    (tests turn it off to prove both paths read the same)."""
    columns = extract_columns(block) if _decode.FAST_BLOCKS else None
    if columns is None:
        return None
    values: list[int | None] = columns.values  # type: ignore[assignment]  # ints are int | None
    return IntervalColumns(
        context, columns.starts, columns.durations, values, columns.costs, columns.qualities
    )


def _slow_columns(
    block: etree._Element, context: ReadingContext, report: DeviationReport
) -> IntervalColumns:
    starts: list[int] = []
    durations: list[int] = []
    values: list[int | None] = []
    costs: list[int | None] = []
    qualities: list[int | None] = []
    for element in block.iterchildren(READING):
        reading = decode(element, IntervalReading, report)
        period = reading.time_period or DateTimeInterval()
        if period.start is None:
            continue  # decode() reported it (reading_without_time)
        starts.append(period.start)
        durations.append(period.duration or 0)
        values.append(reading.value)
        costs.append(reading.cost)
        quality = reading.reading_quality[0].quality if reading.reading_quality else None
        qualities.append(None if quality is None else int(quality))
    return IntervalColumns(
        context,
        starts,
        durations,
        values,
        costs if any(c is not None for c in costs) else None,
        qualities if any(q is not None for q in qualities) else None,
    )
