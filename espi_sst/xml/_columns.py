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

from lxml import etree

from ..model.enums import QualityOfReading
from ..model.espi import DateTimeInterval, IntervalReading, ReadingQuality
from ._values import MILLISECONDS_THRESHOLD
from .namespaces import ESPI

_NS = {"e": ESPI}


def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression, namespaces=_NS, smart_strings=False)


_SHAPE = _xpath(
    # One call, five cheap child walks: readings, their children, timePeriods, what the
    # timePeriods hold, and any SECOND value/timePeriod/start/duration in a reading.
    "concat(count(e:IntervalReading), ' ', count(e:IntervalReading/*), ' ',"
    " count(e:IntervalReading/e:timePeriod), ' ', count(e:IntervalReading/e:timePeriod/*), ' ',"
    " count(e:IntervalReading/e:value[2]) + count(e:IntervalReading/e:timePeriod[2])"
    " + count(e:IntervalReading/e:timePeriod/e:start[2])"
    " + count(e:IntervalReading/e:timePeriod/e:duration[2]))"
)
_QUALITY_CHILDREN = _xpath("count(e:IntervalReading/e:ReadingQuality/*)")
_STARTS = _xpath("e:IntervalReading/e:timePeriod/e:start/text()")
_DURATIONS = _xpath("e:IntervalReading/e:timePeriod/e:duration/text()")
_VALUES = _xpath("e:IntervalReading/e:value/text()")
_COSTS = _xpath("e:IntervalReading/e:cost/text()")
_QUALITIES = _xpath("e:IntervalReading/e:ReadingQuality/e:quality/text()")
_COST_STARTS = _xpath("e:IntervalReading[e:cost]/e:timePeriod/e:start/text()")
_QUALITY_STARTS = _xpath("e:IntervalReading[e:ReadingQuality]/e:timePeriod/e:start/text()")

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

    The shape is proven, not assumed: there are as many values, starts, durations and
    timePeriods as readings, and no reading holds a second one of any, so every reading
    holds exactly one of each and the i-th string of each column belongs to the i-th
    reading (a reading missing its value next to one with two cannot shift values).
    """
    count, children, periods, period_children, seconds = map(int, _SHAPE(block).split())
    if periods != count or period_children != 2 * count or seconds:
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
        costs_text = _COSTS(block)
        qualities_text = _QUALITIES(block)
        if int(_QUALITY_CHILDREN(block)) != len(qualities_text):
            return None  # a ReadingQuality with more than its quality code
        if children != 2 * count + len(costs_text) + len(qualities_text):
            return None  # unknown or repeated children: let the careful path name them
    try:
        start_ints = list(map(int, starts))
        if count and durations.count(durations[0]) == count:  # the usual: one interval length
            duration_ints = [int(durations[0])] * count
        else:
            duration_ints = list(map(int, durations))
        value_ints = list(map(int, values))
    except ValueError:
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
        aligned = _aligned_optionals(block, start_ints, costs_text, qualities_text)
        if aligned is None:
            return None
        costs, qualities = aligned
    return BlockColumns(start_ints, duration_ints, value_ints, costs, qualities)


def _aligned_optionals(
    block: etree._Element,
    starts: list[int],
    costs_text: list[str],
    qualities_text: list[str],
) -> tuple[list[int | None] | None, list[int | None] | None] | None:
    """Costs and qualities per reading, when only some readings carry them.

    Each is matched to its reading by the reading's start (unique within a block), read by
    the same kind of column XPath, so no per-reading Python work is needed.
    """
    if len(set(starts)) != len(starts):
        return None  # repeated starts: let the careful path keep everything in order
    by_start = {start: index for index, start in enumerate(starts)}
    try:
        costs = _placed(by_start, _COST_STARTS(block), costs_text)
        qualities = _placed(by_start, _QUALITY_STARTS(block), qualities_text)
    except ValueError:
        return None
    if costs is not None and any(c is not None and not -INT48 <= c <= INT48 for c in costs):
        return None
    if qualities is not None and any(q is not None and q not in KNOWN_QUALITIES for q in qualities):
        return None  # the careful path keeps unknown codes and warns
    return costs, qualities


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
