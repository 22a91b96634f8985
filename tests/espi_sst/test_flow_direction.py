"""A solar customer's delivered and received energy, told apart in every reading view (issue 18).

The file is a real PG&E Green Button Connect feed of a net-metered customer (2016,
tests/data/corpus/MANIFEST.tsv): one MeterReading delivered (flowDirection 1), one received
(19), over the same 47 hours.  Summing all readings adds the exports to the imports; the
direction each view carries is what gives the net.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from corpus_data import CORPUS

import espi_sst
from espi_sst.model.enums import FlowDirectionKind

SOLAR = CORPUS / "pge-gbc-2016_solar_net-metered_forward-and-reverse.xml"
DELIVERED_MR = "MeterReading/REDACTED"
RECEIVED_MR = "MeterReading/REDACTED-2"


def _net_by_start(pairs: list[tuple[int, str | None, float]]) -> dict[int, float]:
    net: dict[int, float] = defaultdict(float)
    for start, direction, value in pairs:
        assert direction in ("delivered", "received")
        net[start] += value if direction == "delivered" else -value
    return net


def _expected() -> tuple[dict[int, float], dict[int, float]]:
    """Net and naive sum per interval, read straight from the XML with lxml (independent)."""
    from lxml import etree

    ns = {"a": "http://www.w3.org/2005/Atom", "e": "http://naesb.org/espi"}
    tree = etree.parse(str(SOLAR))
    net: dict[int, float] = defaultdict(float)
    naive: dict[int, float] = defaultdict(float)
    for entry in tree.iterfind("a:entry", ns):
        block = entry.find("a:content/e:IntervalBlock", ns)
        if block is None:
            continue
        up = entry.find("a:link[@rel='up']", ns).get("href")
        sign = -1 if "/REDACTED-2/" in up else 1
        for reading in block.iterfind("e:IntervalReading", ns):
            start = int(reading.findtext("e:timePeriod/e:start", namespaces=ns))
            kwh = int(reading.findtext("e:value", namespaces=ns)) / 1000 / 1000  # mWh->kWh
            net[start] += sign * kwh
            naive[start] += kwh
    return net, naive


def test_readings_carry_direction_meter_reading_and_reading_type() -> None:
    readings = list(espi_sst.iter_interval_readings(SOLAR))
    by_direction = defaultdict(set)
    for reading in readings:
        assert reading.meter_reading is not None and reading.reading_type is not None
        by_direction[reading.flow_direction].add(reading.meter_reading.rsplit("/", 2)[-2:][0])
        assert reading.reading_type.flow_direction == reading.flow_direction
        assert reading.reading_type_url is not None and reading.usage_point is not None
    assert set(by_direction) == {FlowDirectionKind.forward, FlowDirectionKind.reverse}
    forward = [r.meter_reading for r in readings if r.flow_direction == FlowDirectionKind.forward]
    reverse = [r.meter_reading for r in readings if r.flow_direction == FlowDirectionKind.reverse]
    assert {m.endswith(DELIVERED_MR) for m in forward} == {True}
    assert {m.endswith(RECEIVED_MR) for m in reverse} == {True}
    assert len(forward) == len(reverse) == 47


def test_the_document_and_the_stream_agree_on_directions() -> None:
    streamed = [(r.start, r.flow_direction, r.meter_reading) for r in
                espi_sst.iter_interval_readings(SOLAR)]  # fmt: skip
    whole = [(r.start, r.flow_direction, r.meter_reading) for r in
             espi_sst.parse(SOLAR).interval_readings()]  # fmt: skip
    assert streamed == whole


def test_block_columns_name_their_direction_once_per_block() -> None:
    blocks = list(espi_sst.iter_interval_blocks(SOLAR))
    assert [b.direction for b in blocks] == ["delivered", "delivered", "received", "received"]
    assert [b.flow_direction for b in blocks] == [FlowDirectionKind.forward] * 2 + [
        FlowDirectionKind.reverse
    ] * 2
    assert all(b.meter_reading and b.meter_reading.endswith(RECEIVED_MR) for b in blocks[2:])
    assert blocks[0].reading_type_url != blocks[2].reading_type_url
    pairs = [
        (start, block.direction, value * 10**block.context.multiplier / 1000)
        for block in blocks
        for start, value in zip(block.starts, block.values, strict=True)
        if value is not None
    ]
    net, naive = _expected()
    assert _net_by_start(pairs) == pytest.approx(net)


@pytest.mark.parametrize("source", ["path", "bytes", "document"])
def test_dataframe_net_is_delivered_minus_received(source: str) -> None:
    pytest.importorskip("pandas")
    given = {
        "path": SOLAR,
        "bytes": SOLAR.read_bytes(),
        "document": espi_sst.parse(SOLAR),
    }[source]
    frame = espi_sst.to_dataframe(given)
    assert set(frame["direction"]) == {"delivered", "received"}
    assert set(frame["unit"]) == {"kWh"}
    signed = frame["value"].where(frame["direction"] == "delivered", -frame["value"])
    net = signed.groupby(frame["start"]).sum()
    expected_net, naive = _expected()
    by_epoch = {int(ts.timestamp()): v for ts, v in net.items()}
    assert by_epoch == pytest.approx(expected_net)
    # The naive sum (no direction) is wrong wherever the panels exported.
    summed = {int(ts.timestamp()): v for ts, v in frame.groupby("start").value.sum().items()}
    assert summed == pytest.approx(naive)
    differing = [s for s in summed if summed[s] != pytest.approx(by_epoch[s])]
    assert len(differing) == 14  # every hour the panels exported (received > 0)
    totals = frame.groupby("direction", observed=True).value.sum()
    assert totals["delivered"] == pytest.approx(40.840799)
    assert totals["received"] == pytest.approx(5.287598)
