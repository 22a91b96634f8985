"""The streaming readers' column fast path reads today's real shapes exactly as the general path.

Issue 17: files with a ReadingQuality on every reading (PG&E Share My Data, Ameren 2023)
and with a cost on every reading (the Texas files) are read column-wise, each column
converted directly rather than placed reading by reading.  Speed must never change what is
read, so every test here compares the fast path with the general per-element path
(``_decode.FAST_BLOCKS`` off) on the same bytes: every corpus file, the benchmark
generator's files of every shape, and blocks built to break one assumption of the fast
path, which must then decline the block (and the general path read it, with its warnings).
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from corpus_data import CORPUS

import espi_sst
from espi_sst.xml import _columns, _decode
from espi_sst.xml._safety import safe_iterparse

ROOT = Path(__file__).resolve().parents[3]
ESPI = "http://naesb.org/espi"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*.xml") if "MALFORMED" not in p.name)
QUALITY_EVERY_READING = [
    "pge-cmd_IntervalBlock.xml",
    "ameren-bidgely-2023_res_electric_15min_09-15_to_10-15.xml",
    "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml",
]
COST_EVERY_READING = [
    "texas-premise1-2012.xml",
    "texas-premise2.xml",
    "greenbuttondata-sample_TestGBDataHourlyNineDaysBinnedDaily.xml",
    "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml",
]


def _generator() -> ModuleType:
    """bench/generate.py (not a package): the benchmark's own files are tested too."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


GENERATE = _generator()


def _columns_of(source: Any, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> tuple[Any, ...]:
    """Every block's columns and context, every reading, and the warnings, of one read."""
    monkeypatch.setattr(_decode, "FAST_BLOCKS", fast)
    blocks_stream = espi_sst.iter_interval_blocks(source)
    blocks = [
        (c.context, c.starts, c.durations, c.values, c.costs, c.qualities) for c in blocks_stream
    ]
    readings_stream = espi_sst.iter_interval_readings(source)
    readings = [
        (r.context, r.start, r.duration, r.value, r.cost, r.quality) for r in readings_stream
    ]
    warnings = [(w.code, w.line) for w in blocks_stream.warnings]
    assert warnings == [(w.code, w.line) for w in readings_stream.warnings]
    return blocks, readings, warnings


def assert_paths_agree(source: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The fast and the general path give the same blocks, readings and warnings."""
    general = _columns_of(source, monkeypatch, fast=False)
    fast = _columns_of(source, monkeypatch, fast=True)
    assert fast[0] == general[0]  # per block: context, starts, durations, values, costs, qualities
    assert fast[1] == general[1]  # per reading: context, start, duration, value, cost, quality
    assert fast[2] == general[2]  # the same deviations, at the same lines
    return fast[1]


def fast_path_takes_every_block(path: Path) -> bool:
    """Whether the column fast path reads every IntervalBlock of the file (not a fallback)."""
    taken = []
    for _, block in safe_iterparse(str(path), events=("end",), tag=f"{{{ESPI}}}IntervalBlock"):
        taken.append(_columns.extract_columns(block) is not None)
    return bool(taken) and all(taken)


# ---- every corpus file ------------------------------------------------------------------------
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_streaming_fast_and_general_paths_agree_on_every_corpus_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_paths_agree(path, monkeypatch)


@pytest.mark.parametrize("name", QUALITY_EVERY_READING + COST_EVERY_READING)
def test_the_real_quality_and_cost_shapes_take_the_fast_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a vacuous agreement: these files are read column-wise, every block of them."""
    path = CORPUS / name
    assert fast_path_takes_every_block(path)
    readings = assert_paths_agree(path, monkeypatch)
    kind = 5 if name in QUALITY_EVERY_READING else 4  # quality or cost
    assert readings and all(r[kind] is not None for r in readings)


# ---- the benchmark's generated shapes ---------------------------------------------------------
@pytest.mark.parametrize("shape", ["mixed", "quality", "cost"])
def test_generated_shapes_read_alike_on_both_paths(
    shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """45 days of each benchmark shape: the fast path takes every block and reads what the
    general path reads, and what the generator's manifest says the file holds."""
    xml = tmp_path / f"{shape}.xml"
    manifest = GENERATE.generate(xml, tmp_path / f"{shape}.json", 45, shape=shape)
    assert fast_path_takes_every_block(xml)
    readings = assert_paths_agree(xml, monkeypatch)
    assert len(readings) == manifest.readings
    assert sum(r[3] for r in readings) == manifest.value_sum
    assert sum(r[5] is not None for r in readings) == manifest.readings_with_quality
    assert sum(r[4] is not None for r in readings) == manifest.readings_with_cost
    if shape == "quality":
        assert manifest.readings_with_quality == manifest.readings
    if shape == "cost":
        assert manifest.readings_with_cost == manifest.readings
        assert 0 < manifest.readings_with_quality < manifest.readings  # gaps on a cost file


def test_generated_shapes_copy_the_real_files_element_order() -> None:
    """The generated readings hold their children in the order the real exports use."""
    quality = GENERATE._block_entry(
        GENERATE.random.Random(1), GENERATE.ATOM_DEFAULT, 1, 0, [5], [17], [None]
    )
    cost = GENERATE._block_entry(
        GENERATE.random.Random(1), GENERATE.ESPI_DEFAULT, 1, 0, [5], [None], [150]
    )
    assert quality.index("<espi:ReadingQuality>") < quality.index("<espi:timePeriod>")
    assert quality.index("<espi:timePeriod>") < quality.index("<espi:value>")
    assert cost.index("<cost>150</cost>") < cost.index("<timePeriod>") < cost.index("<value>")
    assert "<ns2:entry>" in cost and "<entry>" in quality


# ---- blocks that break an assumption fall back ------------------------------------------------
def _reading(start: int, inner: str = "", value: int = 1) -> str:
    return (
        f"<IntervalReading>{inner}<timePeriod><duration>900</duration><start>{start}</start>"
        f"</timePeriod><value>{value}</value></IntervalReading>"
    )


def _q(code: object) -> str:
    return f"<ReadingQuality><quality>{code}</quality></ReadingQuality>"


def _feed(*readings: str) -> bytes:
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        '<link rel="self" href="/UsagePoint/1/MeterReading/1/IntervalBlock/1"/>'
        '<link rel="up" href="/UsagePoint/1/MeterReading/1/IntervalBlock"/>'
        f'<content><IntervalBlock xmlns="{ESPI}">{"".join(readings)}</IntervalBlock>'
        "</content></entry></feed>"
    ).encode()


def _block(xml: bytes) -> Any:
    return next(el for _, el in safe_iterparse(io.BytesIO(xml), tag=f"{{{ESPI}}}IntervalBlock"))


EVERY_READING = {
    "quality": _feed(*(_reading(900 * i, _q(17), i) for i in range(4))),
    "cost": _feed(*(_reading(900 * i, f"<cost>{10 * i}</cost>", i) for i in range(4))),
    "cost-and-quality": _feed(
        *(_reading(900 * i, f"<cost>{i}</cost>{_q(19)}", i) for i in range(4))
    ),
    "repeated-starts": _feed(*(_reading(0, _q(8 + i % 2), i) for i in range(4))),
}

BROKEN = {
    # The totals match (a quality or cost per reading) but one reading holds two and another
    # none: placing the column in order would move a code to the wrong reading.
    "two-qualities-one-none": _feed(
        _reading(0, _q(17)), _reading(900, _q(8) + _q(9)), _reading(1800), _reading(2700, _q(17))
    ),
    "two-costs-one-none": _feed(
        _reading(0, "<cost>1</cost>"),
        _reading(900, "<cost>2</cost><cost>3</cost>"),
        _reading(1800),
        _reading(2700, "<cost>4</cost>"),
    ),
    "quality-holding-more": _feed(
        _reading(0, "<ReadingQuality><quality>17</quality><extra>1</extra></ReadingQuality>"),
        _reading(900, _q(17)),
    ),
    "empty-quality": _feed(_reading(0, _q("")), _reading(900, _q(17))),
    "unknown-quality-code": _feed(_reading(0, _q(17)), _reading(900, _q(99))),
    "cost-out-of-range": _feed(
        _reading(0, "<cost>1</cost>"), _reading(900, f"<cost>{2**48 + 1}</cost>")
    ),
    "fractional-cost": _feed(_reading(0, "<cost>1.5</cost>"), _reading(900, "<cost>2</cost>")),
    "empty-reading-quality": _feed(_reading(0, "<ReadingQuality/>"), _reading(900, _q(17))),
    # An element inside a leaf splits its text in two; with a reading lacking that leaf
    # (an unknown element in its place) the totals match: nothing may move between readings.
    "value-holding-an-element": _feed(
        "<IntervalReading><timePeriod><duration>900</duration><start>0</start></timePeriod>"
        "<value>1<x/>2</value></IntervalReading>",
        "<IntervalReading><timePeriod><duration>900</duration><start>900</start></timePeriod>"
        "<foo/></IntervalReading>",
    ),
    "cost-holding-an-element": _feed(
        _reading(0, "<cost>1<x/>2</cost>"), _reading(900, "<foo/>"), _reading(1800, "<bar/>")
    ),
    "quality-holding-an-element": _feed(_reading(0, _q("17<x/>8")), _reading(900, _q(""))),
}


@pytest.mark.parametrize("name", EVERY_READING)
def test_a_cost_or_quality_on_every_reading_is_read_column_wise(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = EVERY_READING[name]
    columns = _columns.extract_columns(_block(xml))
    assert columns is not None
    readings = assert_paths_agree(xml, monkeypatch)
    assert [r[3] for r in readings] == [0, 1, 2, 3]
    if "cost" in name:
        assert [r[4] for r in readings] == columns.costs
        assert all(r[4] is not None for r in readings)
    if "quality" in name or name == "repeated-starts":
        assert [r[5] for r in readings] == columns.qualities
        assert all(r[5] is not None for r in readings)
    parsed = espi_sst.parse(xml).interval_readings()
    assert [(r.start, r.value, r.cost, r.quality) for r in parsed] == [
        (r[1], r[3], r[4], r[5]) for r in readings
    ]


@pytest.mark.parametrize("name", BROKEN)
def test_a_block_breaking_an_assumption_falls_back_to_the_general_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = BROKEN[name]
    assert _columns.extract_columns(_block(xml)) is None  # the fast path declines it...
    readings = assert_paths_agree(xml, monkeypatch)  # ...and the general path reads it
    parsed = espi_sst.parse(xml)
    assert [(r[1], r[3], r[4], r[5]) for r in readings] == [
        (r.start, r.value, r.cost, r.quality) for r in parsed.interval_readings()
    ]
    if name == "two-qualities-one-none":
        assert [r[5] for r in readings] == [17, 8, None, 17]  # nothing moved between readings
    if name == "two-costs-one-none":
        assert [r[4] for r in readings][2] is None
    if name == "value-holding-an-element":
        assert [r[3] for r in readings][1] is None  # the 2 stays with the first reading
    if name == "cost-holding-an-element":
        assert [r[4] for r in readings][1:] == [None, None]
    if name == "quality-holding-an-element":
        assert [r[5] for r in readings][1] is None
    if name == "unknown-quality-code":
        assert [r[5] for r in readings] == [17, 99]
        monkeypatch.setattr(_decode, "FAST_BLOCKS", True)
        stream = espi_sst.iter_interval_readings(xml)
        list(stream)
        assert "unknown_code" in {w.code for w in stream.warnings}
