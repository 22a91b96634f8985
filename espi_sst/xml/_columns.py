"""Column-wise extraction of an IntervalBlock: the fast path of both readers.

Compiled XPath pulls every start, duration and value of a block out of libxml2 in one call
each (plain strings, no per-node Python objects), so the Python work is per block, not per
element.  It applies only to blocks of the regular shape real exports have -- each
IntervalReading holding ``timePeriod`` (duration, start), ``value``, optionally ``cost``
and one ``ReadingQuality/quality`` -- with whole-number values in range.  Anything else
returns None and the caller takes the careful per-element path, which names deviations.
So speed never changes what is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from lxml import etree

from ..model.enums import QualityOfReading
from ..model.espi import DateTimeInterval, IntervalReading, ReadingQuality
from ._values import MILLISECONDS_THRESHOLD
from .namespaces import ESPI

_NS = {"e": ESPI}


def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression, namespaces=_NS, smart_strings=False)


_SHAPE = _xpath(
    # One call, cheap child walks: readings, their children, what the timePeriods hold, and
    # any SECOND value/timePeriod/start/duration in a reading.  (The timePeriods need no
    # count of their own: with none holding a second start, n starts are n timePeriods.)
    "concat(count(e:IntervalReading), ' ', count(e:IntervalReading/*), ' ',"
    " count(e:IntervalReading/e:timePeriod/*), ' ',"
    " count(e:IntervalReading/e:value[2]) + count(e:IntervalReading/e:timePeriod[2])"
    " + count(e:IntervalReading/e:timePeriod/e:start[2])"
    " + count(e:IntervalReading/e:timePeriod/e:duration[2]))"
)
_OPTIONALS_SHAPE = _xpath(
    # Only for blocks whose readings hold more than timePeriod and value: what the
    # ReadingQualities hold, and any SECOND cost, ReadingQuality or quality in a reading.
    "concat(count(e:IntervalReading/e:ReadingQuality/*), ' ',"
    " count(e:IntervalReading/e:cost[2]) + count(e:IntervalReading/e:ReadingQuality[2])"
    " + count(e:IntervalReading/e:ReadingQuality/e:quality[2]))"
)
# The columns take node(), not text(): a leaf's only node is its text (the parser drops
# comments and processing instructions and merges text), so an element inside a leaf comes
# back as an element, and int() refuses it (TypeError: the block falls back).  With text()
# a value holding "1<x/>2" gave two strings and could hand one to a reading that has no
# value, the lengths still matching.
_STARTS = _xpath("e:IntervalReading/e:timePeriod/e:start/node()")
_DURATIONS = _xpath("e:IntervalReading/e:timePeriod/e:duration/node()")
_VALUES = _xpath("e:IntervalReading/e:value/node()")
_COSTS = _xpath("e:IntervalReading/e:cost/node()")
_QUALITIES = _xpath("e:IntervalReading/e:ReadingQuality/e:quality/node()")
_COST_STARTS = _xpath("e:IntervalReading[e:cost]/e:timePeriod/e:start/node()")
_QUALITY_STARTS = _xpath("e:IntervalReading[e:ReadingQuality]/e:timePeriod/e:start/node()")

INT48 = 140_737_488_355_328
UINT32 = 4_294_967_295
KNOWN_QUALITIES = frozenset(int(q) for q in QualityOfReading)


def build_readings(columns: BlockColumns) -> list[IntervalReading]:
    """Model objects for a block's columns (what the generic decoder would have built)."""
    costs = columns.costs or [None] * len(columns.starts)
    qualities = columns.qualities or [None] * len(columns.starts)
    return [
        IntervalReading(
            time_period=DateTimeInterval(duration=duration, start=start),
            value=value,
            cost=cost,
            reading_quality=[]
            if quality is None
            else [ReadingQuality(quality=QualityOfReading(quality))],
        )
        for start, duration, value, cost, quality in zip(
            columns.starts, columns.durations, columns.values, costs, qualities, strict=True
        )
    ]


@dataclass(frozen=True)
class BlockColumns:
    """The readings of one block, column by column (None: no reading has one)."""

    starts: list[int]
    durations: list[int]
    values: list[int]
    costs: list[int | None] | None
    qualities: list[int | None] | None


def extract_columns(block: etree._Element) -> BlockColumns | None:
    """The block's readings as columns, or None when the block is not of the regular shape.

    The shape is proven, not assumed: there are as many values, starts and durations as
    readings, each a lone text (an element inside one fails ``int()``), and no reading
    holds a second value, timePeriod, start or duration, so every reading holds exactly one
    of each and the i-th string of each column belongs to the i-th reading (a reading
    missing its value next to one with two cannot shift values).
    """
    count, children, period_children, seconds = map(int, _SHAPE(block).split())
    if period_children != 2 * count or seconds:
        return None
    starts = _STARTS(block)
    durations = _DURATIONS(block)
    values = _VALUES(block)
    if not (len(starts) == len(durations) == len(values) == count):
        return None
    if children == 2 * count:  # timePeriod and value only: the usual case
        costs_text: list[str] = []
        qualities_text: list[str] = []
    else:
        quality_children, seconds = map(int, _OPTIONALS_SHAPE(block).split())
        if seconds:
            return None  # a reading with two costs or qualities: the careful path names it
        # Skip a column walk the counts already answer: no ReadingQuality child means no
        # quality, and children all accounted for by the qualities mean no cost.
        qualities_text = _QUALITIES(block) if quality_children else []
        no_cost = children == 2 * count + quality_children
        costs_text = [] if no_cost else _COSTS(block)
        if quality_children != len(qualities_text):
            return None  # a ReadingQuality with more than its quality code
        if children != 2 * count + len(costs_text) + len(qualities_text):
            return None  # unknown or repeated children: let the careful path name them
    try:
        start_ints = list(map(int, starts))
        duration_ints = _int_column(durations, count)
        value_ints = list(map(int, values))
    except (ValueError, TypeError):  # not a whole number, or an element inside a leaf
        return None
    if count:
        if max(start_ints) >= MILLISECONDS_THRESHOLD or min(start_ints) <= -MILLISECONDS_THRESHOLD:
            return None
        if max(duration_ints) > UINT32 or min(duration_ints) < 0:
            return None
        if max(value_ints) > INT48 or min(value_ints) < -INT48:
            return None
    costs: list[int | None] | None = None
    qualities: list[int | None] | None = None
    if costs_text or qualities_text:
        optionals = _optionals(block, start_ints, costs_text, qualities_text)
        if optionals is None:
            return None
        costs, qualities = optionals
    return BlockColumns(start_ints, duration_ints, value_ints, costs, qualities)


def _int_column(texts: list[str], count: int) -> list[int]:
    """``map(int, texts)``, with one conversion when every text is the same (one interval
    length, one quality code: the usual block).  ValueError as ``int``."""
    if count and texts.count(texts[0]) == count:
        return [int(texts[0])] * count
    return list(map(int, texts))


def _optionals(
    block: etree._Element,
    starts: list[int],
    costs_text: list[str],
    qualities_text: list[str],
) -> tuple[list[int | None] | None, list[int | None] | None] | None:
    """Costs and qualities per reading (None: no reading has one), or None to fall back.

    The caller proved that no reading holds two of either and that each holds its text, so
    a column as long as the block has one per reading, in reading order: it is converted
    directly (the shape of PG&E Share My Data and Ameren, a quality on every reading, and
    of the Texas files, a cost on every reading).  A shorter column is placed by start.
    """
    count = len(starts)
    try:
        if len(costs_text) == count:
            costs: list[int | None] | None = list(map(int, costs_text))
        else:
            costs = _aligned(block, starts, _COST_STARTS, costs_text)
        if len(qualities_text) == count:
            qualities: list[int | None] | None = list(_int_column(qualities_text, count))
        else:
            qualities = _aligned(block, starts, _QUALITY_STARTS, qualities_text)
    except (ValueError, TypeError):  # not a whole number, or an element inside a leaf
        return None
    if costs is not None and not _all_in_range(costs, INT48):
        return None
    if qualities is not None and not KNOWN_QUALITIES.issuperset(set(qualities) - {None}):
        return None  # the careful path keeps unknown codes and warns
    return costs, qualities


def _all_in_range(column: list[int | None], bound: int) -> bool:
    # A full column (the Texas shape) is checked at C speed, without a copy.
    present = (
        cast(list[int], column) if None not in column else [c for c in column if c is not None]
    )
    return not present or (max(present) <= bound and min(present) >= -bound)


def _aligned(
    block: etree._Element, starts: list[int], owner_starts: etree.XPath, texts: list[str]
) -> list[int | None] | None:
    """A column carried by only some readings, matched to each by its start (unique within a
    block), read by the same kind of column XPath, so no per-element Python work is needed.
    ValueError when it cannot be placed (repeated starts, texts not pairing)."""
    if not texts:
        return None
    if len(set(starts)) != len(starts):
        raise ValueError("repeated starts: let the careful path keep everything in order")
    by_start = {start: index for index, start in enumerate(starts)}
    return _placed(by_start, owner_starts(block), texts)


def _placed(
    by_start: dict[int, int], owner_starts: list[str], texts: list[str]
) -> list[int | None] | None:
    """Put each text at its reading's position; ValueError when they cannot be paired."""
    if not texts:
        return None
    if len(owner_starts) != len(texts):
        raise ValueError("a reading holds two of them")
    column: list[int | None] = [None] * len(by_start)
    for start_text, text in zip(owner_starts, texts, strict=True):
        index = by_start[int(start_text)]
        if column[index] is not None:
            raise ValueError("two for one reading")
        column[index] = int(text)
    return column
