"""The column-wise fast path reads exactly what the careful per-element path reads.

Speed must never change what is read: for every real file and every example, a document
parsed with the fast IntervalBlock path equals the one parsed element by element, with the
same warnings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import espi_sst
from espi_sst.xml import _decode

ROOT = Path(__file__).resolve().parents[3]
FILES = sorted(
    p for p in (ROOT / "tests" / "data" / "corpus").glob("*.xml") if "MALFORMED" not in p.name
) + sorted((ROOT / "tests" / "data" / "examples").glob("*/*.xml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_and_careful_paths_agree(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = espi_sst.parse(path)
    monkeypatch.setattr(_decode, "FAST_BLOCKS", False)
    careful = espi_sst.parse(path)
    assert fast == careful
    assert [w.code for w in fast.warnings] == [w.code for w in careful.warnings]


IRREGULAR = b"""<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
<entry><link rel="self" href="/UsagePoint/1/MeterReading/1/IntervalBlock/1"/>
<link rel="up" href="/UsagePoint/1/MeterReading/1/IntervalBlock"/><content><espi:IntervalBlock>
<espi:IntervalReading><espi:timePeriod><espi:duration>900</espi:duration><espi:start>100</espi:start></espi:timePeriod><espi:value>1</espi:value></espi:IntervalReading>
<espi:IntervalReading><espi:ReadingQuality><espi:quality>19</espi:quality></espi:ReadingQuality><espi:ReadingQuality><espi:quality>8</espi:quality></espi:ReadingQuality><espi:timePeriod><espi:duration>900</espi:duration><espi:start>1000</espi:start></espi:timePeriod><espi:value>2</espi:value></espi:IntervalReading>
<espi:IntervalReading><espi:timePeriod><espi:duration>900</espi:duration><espi:start>1900</espi:start><espi:timezone>-0800</espi:timezone></espi:timePeriod><espi:value>3</espi:value><espi:cost>5</espi:cost></espi:IntervalReading>
<espi:IntervalReading><espi:timePeriod><espi:duration>900</espi:duration><espi:start>2800</espi:start></espi:timePeriod><espi:value>4</espi:value><espi:ReadingQuality><espi:quality>99</espi:quality></espi:ReadingQuality></espi:IntervalReading>
</espi:IntervalBlock></content></entry></feed>"""


def test_irregular_block_takes_the_careful_path_and_keeps_everything() -> None:
    doc = espi_sst.parse(IRREGULAR)
    (block,) = doc.resources(espi_sst.model.IntervalBlock)
    readings = block.interval_reading
    assert [r.value for r in readings] == [1, 2, 3, 4]
    assert [q.quality for q in readings[1].reading_quality] == [19, 8]  # both kept
    assert readings[2].time_period.extension  # unknown timezone kept
    assert readings[3].reading_quality[0].quality == 99  # unknown code kept as int
    codes = {w.code for w in doc.warnings}
    assert {"unknown_element_kept", "unknown_code", "element_order"} <= codes


def _two_readings(first: str, second: str) -> bytes:
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        '<link rel="self" href="/UsagePoint/1/MeterReading/1/IntervalBlock/1"/>'
        '<link rel="up" href="/UsagePoint/1/MeterReading/1/IntervalBlock"/>'
        '<content><IntervalBlock xmlns="http://naesb.org/espi">'
        f"<IntervalReading>{first}</IntervalReading><IntervalReading>{second}</IntervalReading>"
        "</IntervalBlock></content></entry></feed>"
    ).encode()


MISSING_VALUE_THEN_TWO = _two_readings(
    "<timePeriod><duration>900</duration><start>1000</start></timePeriod>",
    "<timePeriod><duration>900</duration><start>1900</start></timePeriod><value>5</value><value>7</value>",
)
MISSING_START_THEN_TWO = _two_readings(
    "<timePeriod><duration>900</duration></timePeriod><value>1</value>",
    "<timePeriod><duration>900</duration><start>1900</start><start>2800</start></timePeriod><value>2</value>",
)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (MISSING_VALUE_THEN_TWO, [(1000, None), (1900, 5)]),
        (MISSING_START_THEN_TWO, [(1900, 2)]),
    ],
    ids=["value-moved-between-readings", "start-moved-between-readings"],
)
def test_irregularities_that_cancel_out_in_totals_do_not_shift_values(
    xml: bytes, expected: list[tuple[int, int | None]]
) -> None:
    """A reading missing its value next to one with two has the right totals; the column path
    must still not hand the second reading's value to the first (found by the benchmark)."""
    doc = espi_sst.parse(xml)
    assert [(r.start, r.value) for r in doc.interval_readings()] == expected
    stream = espi_sst.iter_interval_readings(xml)
    assert [(r.start, r.value) for r in stream] == expected
    assert "repeated_element" in {w.code for w in doc.warnings}
    assert "repeated_element" in {w.code for w in stream.warnings}
