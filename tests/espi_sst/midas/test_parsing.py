"""Reading MIDAS answers (espi_sst/midas/parsing.py): pure functions, no I/O.

Recorded v1 and v2 bodies (``espi_sst_server.demo.fake_midas.sample``) and hand-made ones:
every tolerated deviation of the module docstring is read as documented, anything else
malformed is a :class:`MidasResponseError` naming the field.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from espi_sst_server.demo.fake_midas import sample

from espi_sst.midas import (
    MidasResponseError,
    history_chunks,
    parse_rate_schedule,
    parse_rin_list,
    parsing,
)

PACIFIC = ZoneInfo("America/Los_Angeles")
MOER = "USCA-SGIP-MOER-PGE"


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def test_parsing_does_no_io() -> None:
    """The module imports no HTTP client, socket or the client module: reading a body you
    already have (a recording, a cache) needs neither the network nor the client extra."""
    tree = ast.parse(Path(parsing.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert not imported & {"requests", "urllib3", "http", "socket", ".client", "..retry"}
    assert imported >= {"..rin", ".errors"}


# ---- the RIN list --------------------------------------------------------------------------
def test_rin_list_reads_offsets_and_keeps_unparsable_rate_ids_as_text() -> None:
    body = sample("v2-rinlist-cec-readme-example.json")
    (row,) = parse_rin_list(body)
    assert row.last_updated == utc(2026, 5, 22, 14, 56, 34)  # "...+0000"
    (odd,) = parse_rin_list({"GHGEmissions": [{"RateID": "not-a-rin", "SignalType": None}]})
    assert odd.rate_id == "not-a-rin" and odd.signal_type == "" and odd.last_updated is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Other": []}, "Rates"),
        ([{"SignalType": "Rates"}], "Rates[0].RateID"),
        ([{"RateID": "USCA-BNBN-EVT2-0000", "LastUpdated": "yesterday"}], "Rates[0].LastUpdated"),
        (["USCA-BNBN-EVT2-0000"], "Rates[0]"),
    ],
)
def test_rin_list_shape_errors_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(MidasResponseError) as caught:
        parse_rin_list(body)
    assert caught.value.field == field and field in str(caught.value)


# ---- historical ranges --------------------------------------------------------------------
def test_history_chunks_are_at_most_six_months() -> None:
    assert history_chunks(date(2025, 1, 1), date(2026, 3, 31)) == [
        (date(2025, 1, 1), date(2025, 6, 30)),
        (date(2025, 7, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 3, 31)),
    ]
    assert history_chunks(date(2025, 8, 31), date(2026, 3, 1)) == [
        (date(2025, 8, 31), date(2026, 2, 27)),  # six months on is Feb 28: stop the day before
        (date(2026, 2, 28), date(2026, 3, 1)),
    ]
    assert history_chunks(date(2026, 1, 1), date(2026, 1, 1)) == [
        (date(2026, 1, 1), date(2026, 1, 1))
    ]


# ---- the parser's tolerances ---------------------------------------------------------------
def test_v1_flex_times_hh_mm_and_a_pacific_recording() -> None:
    body = sample("v1-valuedata-flex-USCA-FLEX-FXRT-0000.json")
    (alert,) = parse_rate_schedule(body).intervals
    assert (alert.start, alert.end) == (utc(2026, 3, 19, 3, 11), utc(2026, 3, 19, 3, 12))
    assert alert.value == 0.0 and alert.unit == "Event" and alert.day_start == 4  # Thursday
    (local,) = parse_rate_schedule(body, v1_timezone=PACIFIC).intervals
    assert local.start == utc(2026, 3, 19, 10, 11)  # 03:11 PDT


def test_v2_rows_stay_utc_whatever_the_v1_timezone() -> None:
    body = sample("v2-valuedata-moer-USCA-SGIP-MOER-PGE-realtime.json")
    schedule = parse_rate_schedule(body, v1_timezone=PACIFIC)
    assert schedule.intervals[0].start == utc(2026, 6, 22, 7)


def row(**changes: Any) -> dict[str, Any]:
    entry = dict(
        sample("v2-valuedata-moer-USCA-SGIP-MOER-PGE-realtime.json")["ValueInformation"][0]
    )
    entry.update(changes)
    return {"RateID": MOER, "ValueInformation": [entry]}


def test_holiday_day_type_and_null_value_information() -> None:
    (holiday,) = parse_rate_schedule(row(DayStart="Holiday", DayEnd=8)).intervals
    assert holiday.day_start == holiday.day_end == 8
    assert parse_rate_schedule({"RateID": MOER, "ValueInformation": None}).intervals == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (row(Value=None), "ValueInformation[0].Value"),
        (row(Value="0.1"), "ValueInformation[0].Value"),
        (row(DayStart="Funday"), "ValueInformation[0].DayStart"),
        (row(DayEnd=9), "ValueInformation[0].DayEnd"),
        (row(DateStart="22/06/2026"), "ValueInformation[0].DateStart"),
        (row(TimeEnd="7pm"), "ValueInformation[0].TimeEnd"),
        (row(TimeEnd="06:59:59"), "ValueInformation[0].TimeEnd"),
        ({"RateID": MOER, "ValueInformation": {}}, "ValueInformation"),
        ({"ValueInformation": []}, "body.RateID"),
        ({"RateID": MOER, "RateName": ["x"], "ValueInformation": []}, "body.RateName"),
        ([], "body"),
    ],
)
def test_malformed_schedules_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(MidasResponseError) as caught:
        parse_rate_schedule(body)
    assert caught.value.field == field and str(caught.value).startswith(field + ": ")
