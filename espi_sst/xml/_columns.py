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


_COUNT = _xpath("count(e:IntervalReading)")
_ALL_CHILDREN = _xpath("count(e:IntervalReading/*)")
_PERIOD_CHILDREN = _xpath("count(e:IntervalReading/e:timePeriod/*)")
_QUALITY_CHILDREN = _xpath("count(e:IntervalReading/e:ReadingQuality/*)")
_STARTS = _xpath("e:IntervalReading/e:timePeriod/e:start/text()")
_DURATIONS = _xpath("e:IntervalReading/e:timePeriod/e:duration/text()")
_VALUES = _xpath("e:IntervalReading/e:value/text()")
_COSTS = _xpath("e:IntervalReading/e:cost/text()")
_QUALITIES = _xpath("e:IntervalReading/e:ReadingQuality/e:quality/text()")
_COMPLETE = _xpath(
    "count(e:IntervalReading[e:value][e:timePeriod/e:start][e:timePeriod/e:duration])"
)
_READING = f"{{{ESPI}}}IntervalReading"
_COST = f"{{{ESPI}}}cost"
_QUALITY = f"{{{ESPI}}}ReadingQuality/{{{ESPI}}}quality"

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

    The shape is proven, not assumed: every reading has a value, a start and a duration
    (``_COMPLETE``), and the totals of children leave no room for a second one anywhere,
    so the i-th string of each column belongs to the i-th reading.
    """
    count = int(_COUNT(block))
    if int(_COMPLETE(block)) != count or int(_PERIOD_CHILDREN(block)) != 2 * count:
        return None
    children = int(_ALL_CHILDREN(block))
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
        aligned = _aligned_optionals(block, count, len(costs_text), len(qualities_text))
        if aligned is None:
            return None
        costs, qualities = aligned
    return BlockColumns(start_ints, duration_ints, value_ints, costs, qualities)


def _aligned_optionals(
    block: etree._Element, count: int, n_costs: int, n_qualities: int
) -> tuple[list[int | None] | None, list[int | None] | None] | None:
    """Costs and qualities per reading; only some readings may carry them."""
    costs: list[int | None] = []
    qualities: list[int | None] = []
    try:
        for reading in block.iterchildren(_READING):
            cost = reading.findtext(_COST)
            quality = reading.findtext(_QUALITY)
            costs.append(None if cost is None else int(cost))
            qualities.append(None if quality is None else int(quality))
    except ValueError:
        return None
    if len(costs) != count:
        return None
    if sum(c is not None for c in costs) != n_costs:
        return None  # a reading with two costs: the careful path warns
    if sum(q is not None for q in qualities) != n_qualities:
        return None  # a reading with several ReadingQuality: keep them all, carefully
    if any(c is not None and not -INT48 <= c <= INT48 for c in costs):
        return None
    if any(q is not None and q not in KNOWN_QUALITIES for q in qualities):
        return None  # the careful path keeps unknown codes and warns
    return (costs if n_costs else None), (qualities if n_qualities else None)
