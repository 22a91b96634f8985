"""Streaming interval readings in bounded memory, with the same answers as parse().

``iter_interval_readings`` exists for the 5-year, 15-minute files (175,000+ readings) that a
whole-document parse would hold in memory.  It takes a fast column-wise path for regular
blocks and falls back to the full per-reading decoder for irregular ones.  These tests
protect the promise that the choice of API (or path) never changes the numbers: columns equal
parse results, irregular blocks still read right (with their warnings), memory stays bounded
for a document generated on the fly, and a ReadingType that comes after its blocks is handled
as documented.
"""

from __future__ import annotations

import gc
import io
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from corpus_data import CORPUS

import espi_sst
from espi_sst import Document, IntervalColumns, ReadingStream
from espi_sst.model import IntervalBlock

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
UP = "/espi/1_1/resource/Subscription/1/UsagePoint/1"
MR = f"{UP}/MeterReading/1"


TEXAS = CORPUS / "texas-premise1-2012.xml"

COLUMN_FILES = [
    "greenbuttondata-sample_TestGBDataHourlyNineDaysBinnedDaily.xml",
    "ameren-bidgely-2023_res_electric_15min_09-15_to_10-15.xml",
    "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml",
    "eversource-gas-2024-07-16.xml",
    "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml",
    "pge-cmd_IntervalBlock.xml",
    "texas-premise1-2012.xml",
    "us-utility-export_testdata_hourly.xml",
    "pge-opower-2012_electric_interval_data_2011-03-07_to_2012-04-07.xml",
]


def parse_blocks(doc: Document) -> list[tuple[IntervalBlock, object]]:
    """(block, context) for every IntervalBlock of a parsed document, in document order."""
    out = []
    for entry in doc.entries_of(IntervalBlock):
        ctx = doc.block_context(entry)
        out += [(b, ctx) for b in entry.contents if isinstance(b, IntervalBlock)]
    return out


# ---- columns equal parse results --------------------------------------------------------------
@pytest.mark.parametrize("name", COLUMN_FILES)
def test_block_columns_equal_parse_results(name: str) -> None:
    """Each streamed block has exactly the starts, durations, values, costs and qualities parse() reads."""
    path = CORPUS / name
    expected = parse_blocks(espi_sst.parse(path))
    streamed = list(espi_sst.iter_interval_blocks(path))
    assert len(streamed) == len(expected)
    for columns, (block, _) in zip(streamed, expected, strict=True):
        assert isinstance(columns, IntervalColumns)
        readings = block.interval_reading
        assert len(columns) == len(readings)
        assert columns.starts == [r.time_period.start for r in readings]
        assert columns.durations == [r.time_period.duration for r in readings]
        assert columns.values == [r.value for r in readings]
        costs = [r.cost for r in readings]
        assert (columns.costs or [None] * len(readings)) == costs
        qualities = [
            int(r.reading_quality[0].quality) if r.reading_quality else None for r in readings
        ]
        assert (columns.qualities or [None] * len(readings)) == qualities


@pytest.mark.parametrize(
    "name",
    COLUMN_FILES,
)
def test_block_context_equals_parse_context(name: str) -> None:
    """Streaming attaches each block to the same UsagePoint, MeterReading, ReadingType and zone."""
    path = CORPUS / name
    expected = parse_blocks(espi_sst.parse(path))
    streamed = list(espi_sst.iter_interval_blocks(path))
    assert len(streamed) == len(expected)
    for columns, (_, ctx) in zip(streamed, expected, strict=True):
        assert columns.context.usage_point == ctx.usage_point
        assert columns.context.meter_reading == ctx.meter_reading
        assert columns.context.reading_type == ctx.reading_type
        assert columns.context.time_zone == ctx.time_zone


@pytest.mark.parametrize("name", COLUMN_FILES[:3])
def test_columns_readings_equal_streamed_readings(name: str) -> None:
    path = CORPUS / name
    from_columns = [
        r for columns in espi_sst.iter_interval_blocks(path) for r in columns.readings()
    ]
    assert from_columns == list(espi_sst.iter_interval_readings(path))
    assert from_columns == list(espi_sst.parse(path).interval_readings())


def test_streaming_is_public_api_with_warnings_after_iteration() -> None:
    stream = espi_sst.iter_interval_readings(CORPUS / "eversource-gas-2024-07-16.xml")
    assert isinstance(stream, ReadingStream)
    assert stream.warnings == []  # nothing read yet
    assert len(list(stream)) == 36
    assert {"fractional_timestamp"} <= {w.code for w in stream.warnings}


def test_a_stream_over_bytes_can_be_iterated_twice() -> None:
    data = (CORPUS / "us-utility-export_testdata_hourly.xml").read_bytes()
    stream = espi_sst.iter_interval_readings(data)
    assert list(stream) == list(stream)


# ---- irregular blocks ---------------------------------------------------------------------
def reading(
    start: str | None, duration: str = "3600", value: str | None = "1", extra: str = ""
) -> str:
    period = (
        ""
        if start is None
        else f"<timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod>"
    )
    value_xml = "" if value is None else f"<value>{value}</value>"
    return f"<IntervalReading>{extra}{period}{value_xml}</IntervalReading>"


def block_feed(
    *blocks: str,
    reading_type: str = "<ReadingType><powerOfTenMultiplier>-3</powerOfTenMultiplier><uom>72</uom></ReadingType>",
) -> bytes:
    entries = [
        f'<entry><id>urn:mr</id><link rel="self" href="{MR}"/><link rel="up" href="{UP}/MeterReading"/>'
        f'<link rel="related" href="/ReadingType/1"/><content><MeterReading xmlns="{ESPI}"/></content></entry>',
        f'<entry><id>urn:rt</id><link rel="self" href="/ReadingType/1"/><link rel="up" href="/ReadingType"/>'
        f'<content><ReadingType xmlns="{ESPI}">{reading_type[len("<ReadingType>") :]}</content></entry>',
    ]
    for n, body in enumerate(blocks, 1):
        entries.append(
            f'<entry><id>urn:b{n}</id><link rel="self" href="{MR}/IntervalBlock/{n}"/>'
            f'<link rel="up" href="{MR}/IntervalBlock"/><content><IntervalBlock xmlns="{ESPI}">{body}</IntervalBlock></content></entry>'
        )
    return f'<?xml version="1.0"?>\n<feed xmlns="{ATOM}">\n' + "\n".join(entries) + "\n</feed>\n"


def both(xml: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], set[str], set[str]]:
    data = xml.encode()
    doc = espi_sst.parse(data)
    stream = espi_sst.iter_interval_readings(data)
    streamed = [(r.start, r.duration, r.value, r.scaled_value, r.cost, r.quality) for r in stream]
    parsed = [
        (r.start, r.duration, r.value, r.scaled_value, r.cost, r.quality)
        for r in doc.interval_readings()
    ]
    return streamed, parsed, {w.code for w in stream.warnings}, {w.code for w in doc.warnings}


def test_irregular_block_falls_back_and_still_reads_right() -> None:
    """One reading without a value and one fractional start: slow path, same values, warnings."""
    regular = "".join(reading(str(3600 * i), value=str(100 + i)) for i in range(4))
    irregular = (
        reading("86400", value="500")
        + reading("90000", value=None)  # no value at all
        + reading("93600.4", value="700")  # fractional start
        + reading("97200", value="800")
    )
    streamed, parsed, stream_codes, doc_codes = both(block_feed(regular, irregular))
    assert streamed == parsed
    assert [s[2] for s in streamed] == [100, 101, 102, 103, 500, None, 700, 800]
    assert [s[0] for s in streamed][4:] == [86400, 90000, 93600, 97200]
    assert streamed[4][3] == pytest.approx(0.5)  # still scaled by the ReadingType
    assert streamed[5][3] is None
    assert "fractional_timestamp" in stream_codes
    assert stream_codes - {"reading_type_unknown"} == doc_codes


def test_milliseconds_start_in_a_block_falls_back() -> None:
    body = reading("1721154384000") + reading("1721158000000")
    streamed, parsed, stream_codes, _ = both(block_feed(body))
    assert [s[0] for s in streamed] == [1721154384, 1721158000]
    assert streamed == parsed
    assert "milliseconds_timestamp" in stream_codes


def test_costs_on_only_some_readings_fall_back() -> None:
    body = reading("0", extra="<cost>12345</cost>") + reading("3600")
    streamed, parsed, _, _ = both(block_feed(body))
    assert [s[4] for s in streamed] == [12345, None]
    assert streamed == parsed


def test_empty_value_in_a_block_falls_back() -> None:
    body = reading("0", value="") + reading("3600", value="2")
    streamed, parsed, stream_codes, _ = both(block_feed(body))
    assert [s[2] for s in streamed] == [None, 2]
    assert streamed == parsed
    assert "empty_value" in stream_codes


def test_regular_block_with_costs_and_quality_uses_columns() -> None:
    body = "".join(
        reading(
            str(3600 * i),
            value=str(i),
            extra=f"<cost>{i * 10}</cost><ReadingQuality><quality>19</quality></ReadingQuality>",
        )
        for i in range(3)
    )
    (columns,) = espi_sst.iter_interval_blocks(block_feed(body).encode())
    assert columns.costs == [0, 10, 20]
    assert columns.qualities == [19, 19, 19]
    streamed, parsed, _, _ = both(block_feed(body))
    assert streamed == parsed


def test_strict_streaming_refuses_an_irregular_block_with_its_line() -> None:
    xml = block_feed(reading("0") + "\n" + reading("3600.5")).encode()
    with pytest.raises(espi_sst.ParseError) as caught:
        list(espi_sst.iter_interval_readings(xml, strict=True))
    assert caught.value.code == "fractional_timestamp"
    expected_line = next(
        n for n, line in enumerate(xml.decode().splitlines(), 1) if "3600.5" in line
    )
    assert caught.value.line == expected_line == 6


def test_invalid_value_in_a_block_is_a_parse_error_with_its_line() -> None:
    xml = block_feed(reading("0") + "\n" + reading("3600", value="n/a")).encode()
    with pytest.raises(espi_sst.ParseError) as caught:
        list(espi_sst.iter_interval_readings(xml))
    assert caught.value.code == "invalid_value"
    assert caught.value.line == 6


def test_out_of_range_values_are_clamped_like_parse() -> None:
    """A block with an out-of-range value is read carefully: clamped, with a warning."""
    body = reading("0", value=str(2**50), extra=f"<cost>{10**18}</cost>")
    streamed, parsed, stream_codes, _ = both(block_feed(body))
    assert streamed == parsed
    assert "out_of_range" in stream_codes


def test_unknown_quality_code_is_warned_about_like_parse() -> None:
    """An unknown quality code is kept and warned about by both readers."""
    body = reading("0", extra="<ReadingQuality><quality>99</quality></ReadingQuality>")
    streamed, parsed, stream_codes, doc_codes = both(block_feed(body))
    assert streamed == parsed
    assert "unknown_code" in doc_codes
    assert "unknown_code" in stream_codes


def test_reading_without_time_period_is_treated_alike() -> None:
    body = reading("0", value="1") + reading(None, value="2")
    streamed, parsed, _, _ = both(block_feed(body))
    assert len(streamed) == len(parsed)


# ---- bounded memory --------------------------------------------------------------------------
class GeneratedFeed(io.RawIOBase):
    """A binary file object producing a feed of ``days`` daily blocks lazily, never all at once.

    It holds at most one block's XML plus what was asked for; ``peak_buffer`` records that.
    """

    def __init__(self, days: int, start: int = 1577836800) -> None:
        self.days = days
        self.start = start
        self._chunks = self._generate()
        self._buffer = b""
        self.produced = 0
        self.peak_buffer = 0

    def _generate(self) -> Iterator[bytes]:
        yield (
            f'<?xml version="1.0"?>\n<feed xmlns="{ATOM}" xmlns:espi="{ESPI}"><id>urn:gen</id><title>generated</title>'
            f'<entry><id>urn:up</id><link rel="self" href="{UP}"/><link rel="up" href="/espi/1_1/resource/Subscription/1/UsagePoint"/>'
            f'<link rel="related" href="{UP}/MeterReading"/><content><espi:UsagePoint/></content></entry>'
            f'<entry><id>urn:mr</id><link rel="self" href="{MR}"/><link rel="up" href="{UP}/MeterReading"/>'
            f'<link rel="related" href="{MR}/IntervalBlock"/><link rel="related" href="/ReadingType/1"/>'
            f"<content><espi:MeterReading/></content></entry>"
            f'<entry><id>urn:rt</id><link rel="self" href="/ReadingType/1"/><link rel="up" href="/ReadingType"/>'
            f"<content><espi:ReadingType><espi:powerOfTenMultiplier>-3</espi:powerOfTenMultiplier><espi:uom>72</espi:uom>"
            f"</espi:ReadingType></content></entry>"
        ).encode()
        for day in range(self.days):
            begin = self.start + 86400 * day
            readings = "".join(
                f"<espi:IntervalReading><espi:timePeriod><espi:duration>3600</espi:duration>"
                f"<espi:start>{begin + 3600 * h}</espi:start></espi:timePeriod><espi:value>{day % 1000 + h}</espi:value>"
                f"</espi:IntervalReading>"
                for h in range(24)
            )
            yield (
                f'<entry><id>urn:b{day}</id><link rel="self" href="{MR}/IntervalBlock/{day}"/>'
                f'<link rel="up" href="{MR}/IntervalBlock"/><content><espi:IntervalBlock><espi:interval>'
                f"<espi:duration>86400</espi:duration><espi:start>{begin}</espi:start></espi:interval>{readings}"
                f"</espi:IntervalBlock></content></entry>"
            ).encode()
        yield b"</feed>\n"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
            self.peak_buffer = max(self.peak_buffer, len(self._buffer))
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self.produced += len(data)
        return data


def test_generated_three_thousand_day_feed_streams_in_bounded_memory() -> None:
    """3,000 daily blocks (72,000 readings, ~14 MB of XML) from a lazy source.

    The source never holds the document (its buffer peaks at one read plus one block), and
    Python's own allocations while streaming stay far below the document's size.
    """
    days = 3000
    source = GeneratedFeed(days)
    tracemalloc.start()
    try:
        count = 0
        total = 0
        last_start = None
        for r in espi_sst.iter_interval_readings(source):
            count += 1
            total += r.value
            assert last_start is None or r.start == last_start + 3600
            last_start = r.start
            if count == 1:
                assert (r.scaled_value, r.unit, r.context.usage_point) == (0.0, "Wh", UP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == days * 24
    assert total == sum(day % 1000 + h for day in range(days) for h in range(24))
    assert last_start == 1577836800 + 86400 * (days - 1) + 3600 * 23
    assert source.produced > 10_000_000  # the whole document did flow through
    assert source.peak_buffer < 1_200_000  # ... but was never held by the source
    # Holding the 72,000 readings (or the parsed entries) would take well over 5 MB.
    assert peak < 5_000_000, f"Python peak {peak:,} bytes for {source.produced:,} of XML"


def resource_warnings(run: Callable[[], object]) -> list[warnings.WarningMessage]:
    """ResourceWarnings (unclosed files) raised while ``run`` runs and its garbage is freed."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run()
        gc.collect()
    return [w for w in seen if issubclass(w.category, ResourceWarning)]


def test_reading_a_whole_stream_closes_the_file() -> None:
    """A file streamed to the end, whose ReadingType comes first, leaves no handle open."""
    path = CORPUS / "us-utility-export_testdata_hourly.xml"
    assert resource_warnings(lambda: list(espi_sst.iter_interval_readings(path))) == []


LEAK_REASON = (
    "BUG: streaming hands the path to lxml.iterparse (commit 6f71d1b), which opens the file "
    "itself and closes it only when iteration runs to the end; an abandoned iteration leaks the "
    "handle (ResourceWarning: unclosed file) -- {}"
)


def test_abandoning_a_stream_early_closes_the_file(tmp_path: Path) -> None:
    """Breaking out of the loop after the first reading leaves no file handle open."""
    path = tmp_path / "copy.xml"
    path.write_bytes((CORPUS / "us-utility-export_testdata_hourly.xml").read_bytes())
    first = []

    def take_one() -> None:
        stream = iter(espi_sst.iter_interval_readings(path))
        first.append(next(stream))
        del stream

    leaks = resource_warnings(take_one)
    assert first[0].value is not None
    assert leaks == []


def test_streaming_a_file_with_a_late_reading_type_closes_every_handle() -> None:
    """The Texas ThirdPartyX shape is read in two passes; neither may leave the file open."""
    readings: list[object] = []
    leaks = resource_warnings(lambda: readings.extend(espi_sst.iter_interval_readings(TEXAS)))
    assert len(readings) == 2184
    assert leaks == []


# ---- ReadingType after the blocks (Texas ThirdPartyX) ----------------------------------------


def test_texas_file_has_its_reading_type_after_the_blocks() -> None:
    """The premise of the next tests, checked on the file itself."""
    text = TEXAS.read_text(encoding="utf-8-sig")
    assert text.index("<IntervalBlock>") < text.index("<ReadingType>")


def test_parse_resolves_a_reading_type_that_comes_later() -> None:
    readings = list(espi_sst.parse(TEXAS).interval_readings())
    assert len(readings) == 2184
    assert all(r.context.reading_type is not None and r.unit == "Wh" for r in readings)


def test_streaming_a_path_reads_the_small_resources_first() -> None:
    """From a file the stream can look ahead: scaled like parse(), and no warning."""
    stream = espi_sst.iter_interval_readings(TEXAS)
    streamed = [(r.start, r.scaled_value, r.unit) for r in stream]
    assert streamed == [
        (r.start, r.scaled_value, r.unit) for r in espi_sst.parse(TEXAS).interval_readings()
    ]
    assert "reading_type_unknown" not in {w.code for w in stream.warnings}


@pytest.mark.parametrize("kind", ["bytes", "file object"])
def test_streaming_a_one_shot_source_reads_unscaled_and_warns(kind: str) -> None:
    """A one-shot stream cannot look ahead: values are unscaled and the stream says so."""
    data = TEXAS.read_bytes()
    source = data if kind == "bytes" else io.BytesIO(data)
    stream = espi_sst.iter_interval_readings(source)
    readings = list(stream)
    assert len(readings) == 2184
    assert all(r.context.reading_type is None and r.unit == "" for r in readings)
    assert [r.value for r in readings] == [
        r.value for r in espi_sst.parse(TEXAS).interval_readings()
    ]
    (warning,) = [w for w in stream.warnings if w.code == "reading_type_unknown"]
    assert warning.element == "IntervalBlock"


LATE_READING_TYPE = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="{ATOM}" xmlns:espi="{ESPI}">
  <id>urn:uuid:feed</id>
  <entry>
    <id>urn:uuid:up</id>
    <link rel="self" href="{UP}"/>
    <link rel="up" href="/espi/1_1/resource/Subscription/1/UsagePoint"/>
    <link rel="related" href="{UP}/MeterReading"/>
    <content><espi:UsagePoint><espi:ServiceDeliveryPoint><espi:name>x</espi:name></espi:ServiceDeliveryPoint></espi:UsagePoint></content>
    <updated>2012-01-01T00:00:00</updated>
  </entry>
  <entry>
    <id>urn:uuid:mr</id>
    <link rel="self" href="{MR}"/>
    <link rel="up" href="{UP}/MeterReading"/>
    <link rel="related" href="/ReadingType/07"/>
    <content><espi:MeterReading/></content>
  </entry>
  <entry>
    <id>urn:uuid:ib</id>
    <link rel="self" href="{MR}/IntervalBlock/1"/>
    <link rel="up" href="{MR}/IntervalBlock"/>
    <content><espi:IntervalBlock>{reading("1325376000", value="200").replace("<", "<espi:").replace("<espi:/", "</espi:")}</espi:IntervalBlock></content>
  </entry>
  <entry>
    <id>urn:uuid:rt</id>
    <link rel="self" href="/ReadingType/07"/>
    <link rel="up" href="/ReadingType"/>
    <content><espi:ReadingType><espi:powerOfTenMultiplier>-3</espi:powerOfTenMultiplier><espi:uom>72</espi:uom></espi:ReadingType></content>
  </entry>
</feed>
"""


def test_late_reading_type_scales_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "late.xml"
    path.write_text(LATE_READING_TYPE)
    assert [r.scaled_value for r in espi_sst.iter_interval_readings(path)] == [0.2]
    assert [r.scaled_value for r in espi_sst.parse(path).interval_readings()] == [0.2]
    assert [
        r.scaled_value for r in espi_sst.iter_interval_readings(LATE_READING_TYPE.encode())
    ] == [200.0]


def test_late_reading_type_strict_path_still_refuses_deviations(tmp_path: Path) -> None:
    path = tmp_path / "late.xml"
    path.write_text(LATE_READING_TYPE)
    with pytest.raises(espi_sst.ParseError) as caught:
        list(espi_sst.iter_interval_readings(path, strict=True))
    assert caught.value.code == "element_name_case"


def test_late_reading_type_path_reports_the_same_deviations_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / "late.xml"
    path.write_text(LATE_READING_TYPE)
    from_path = espi_sst.iter_interval_readings(path)
    list(from_path)
    from_bytes = espi_sst.iter_interval_readings(LATE_READING_TYPE.encode())
    list(from_bytes)
    expected = {w.code for w in from_bytes.warnings} - {"reading_type_unknown"}
    assert expected == {"element_name_case", "naive_datetime"}
    assert {w.code for w in from_path.warnings} == expected
