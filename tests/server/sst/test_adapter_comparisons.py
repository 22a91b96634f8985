"""The ready-made bill comparison sources (docs/utility-integration.md, "Ready-made adapters")
through the real resource API, on SQLite and PostgreSQL, against the seeded demo utility:

* ``RateApiComparison`` against a real HTTP server on 127.0.0.1 (rate_analysis_api.py): the
  request it sends, its answer served and kept for the cycle; a timeout, a 500 and a
  malformed answer become ``noRateTool`` and are not kept;
* ``PrecomputedComparison`` from a batch CSV (checked strictly, reloaded when it changes) or
  a SQL table queried per point and cycle.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from adapter_support import (
    agreement,
    bill_comparison,
    open_world_fixture,  # noqa: F401  (the open_world fixture)
    replace_file,
    stored_comparisons,
    write_csv,
)
from espi_sst_server.sst.comparison import cycle_bounds
from espi_sst_server.sst.precomputed import PrecomputedTableError, load_precomputed
from espi_sst_server.storage.zones import zone_of
from rate_analysis_api import CURRENT_COST, RateAnalysisApi, candidate_cost
from sst_world import Granted, SstWorld

from espi_sst.model import sst

RATE_API = "espi_sst_server.sst.rate_api:RateApiComparison"
PRECOMPUTED = "espi_sst_server.sst.precomputed:PrecomputedComparison"
BATCH_HEADER = ["usage_point", "cycle_start", "rin", "tariff_code", "tariff_name", "annual_cost", "is_current", "basis", "status", "message"]  # fmt: skip


# ---- RateApiComparison ----------------------------------------------------------------------


@pytest.fixture
def rate_api() -> Iterator[RateAnalysisApi]:
    api = RateAnalysisApi().start()
    yield api
    api.stop()


def _api_world(
    open_world: Callable[..., SstWorld], api: RateAnalysisApi, **config: Any
) -> SstWorld:
    settings = {
        "BILL_COMPARISON_SOURCE": RATE_API,
        "RATE_ANALYSIS_URL": api.url,
        "RATE_ANALYSIS_TOKEN": "s3cret-token",
        "RATE_ANALYSIS_RETRIES": 1,
        "RATE_ANALYSIS_BACKOFF": 0,
        **config,
    }
    return open_world(**settings)


def test_rate_api_is_asked_once_per_cycle_and_its_estimates_served(
    open_world: Callable[..., SstWorld], rate_api: RateAnalysisApi
) -> None:
    world = _api_world(open_world, rate_api)
    casey = world.grant("casey")
    found = bill_comparison(world, casey)
    assert found.status is sst.ComparisonStatus.available
    by_code = {e.tariff_code: e for e in found.rate_estimate}
    assert set(by_code) == {"E-1", "E-TOU-C"}
    assert by_code["E-1"].is_current
    assert by_code["E-1"].estimated_annual_cost == round(CURRENT_COST * 100_000)
    assert by_code["E-TOU-C"].estimated_annual_cost == round(candidate_cost(0) * 100_000)
    assert by_code["E-TOU-C"].basis is sst.EstimateBasis.utilityTool
    (asked,) = rate_api.calls
    assert asked["service_agreement"] == agreement(world, casey)
    assert asked["usage_point"] == casey.usage_points["electric"]
    assert asked["current"] == {"rin": "USCA-PGPG-0010-0000", "tariff_code": "E-1"}
    assert asked["generation"] is None
    assert asked["candidates"] == [{"rin": "USCA-PGPG-0100-0000", "tariff_code": "E-TOU-C"}]
    start = datetime.fromisoformat(asked["usage_start"])
    end = datetime.fromisoformat(asked["usage_end"])
    assert start.utcoffset() is not None and (end - start).days in (365, 366)
    assert found.usage_period.start == int(start.timestamp())
    assert rate_api.headers[0]["Authorization"] == "Bearer s3cret-token"
    # The rest of the cycle is served from the stored answer; gas is not asked about.
    assert bill_comparison(world, world.grant("casey")) == found
    gas = bill_comparison(world, casey, "gas")
    assert gas.status is sst.ComparisonStatus.noRateTool
    assert len(rate_api.calls) == 1


@pytest.mark.parametrize(
    ("mode", "calls", "reason"),
    [
        ("slow", 2, "no answer within 0.3 s"),
        ("error", 2, "HTTP 500"),
        ("malformed", 1, "could not be used"),
    ],
)
def test_rate_api_failures_answer_no_rate_tool_and_are_not_kept(
    open_world: Callable[..., SstWorld],
    rate_api: RateAnalysisApi,
    mode: str,
    calls: int,
    reason: str,
) -> None:
    world = _api_world(open_world, rate_api, RATE_ANALYSIS_TIMEOUT=0.3)
    blake = world.grant("blake")
    rate_api.mode = mode
    started = time.monotonic()
    failed = bill_comparison(world, blake)
    assert time.monotonic() - started < 5
    assert failed.status is sst.ComparisonStatus.noRateTool and failed.rate_estimate == []
    assert reason in failed.status_message and "try again later" in failed.status_message
    assert failed.valid_until == failed.computed_at
    assert len(rate_api.calls) == calls  # a timeout and a 500 are retried once; a bad answer not
    assert stored_comparisons(world) == 0
    # The tool is back: the next GET of the same cycle asks again, and that answer is kept.
    rate_api.mode = "ok"
    found = bill_comparison(world, blake)
    assert found.status is sst.ComparisonStatus.available
    assert rate_api.calls[-1]["generation"] == {
        "rin": "USCA-XXPE-0440-0000",
        "tariff_code": "PCE-E-TOU-C",
    }
    assert stored_comparisons(world) == 1


def test_rate_api_statuses_are_kept_for_the_cycle(
    open_world: Callable[..., SstWorld], rate_api: RateAnalysisApi
) -> None:
    world = _api_world(open_world, rate_api)
    rate_api.mode = "insufficient"
    dana = world.grant("dana")
    found = bill_comparison(world, dana)
    assert found.status is sst.ComparisonStatus.insufficientHistory
    assert found.status_message == "7 months of billed usage"
    rate_api.mode = "ok"
    assert bill_comparison(world, dana) == found
    assert len(rate_api.calls) == 1 and stored_comparisons(world) == 1


# ---- PrecomputedComparison ------------------------------------------------------------------


def _cycle_start(world: SstWorld, granted: Granted) -> str:
    with world.session() as s:
        point = world.point(s, granted.usage_points["electric"])
        start, _next = cycle_bounds(point, int(time.time()))
        return datetime.fromtimestamp(start, zone_of(point.local_time)).date().isoformat()


def test_precomputed_comparisons_serve_the_batch(
    open_world: Callable[..., SstWorld], tmp_path: Path
) -> None:
    batch = tmp_path / "batch.csv"
    write_csv(batch, BATCH_HEADER, [])
    world = open_world(BILL_COMPARISON_SOURCE=PRECOMPUTED, PRECOMPUTED_COMPARISONS=str(batch))
    casey, dana, alex = world.grant("casey"), world.grant("dana"), world.grant("alex")
    casey_cycle, alex_cycle = _cycle_start(world, casey), _cycle_start(world, alex)
    sa = agreement(world, casey)
    rows = [
        [
            sa,
            casey_cycle,
            "USCA-PGPG-0010-0000",
            "E-1",
            "E-1 Tiered",
            "1210.40",
            "true",
            "utilityTool",
            "",
            "",
        ],  # fmt: skip
        [
            sa,
            casey_cycle,
            "USCA-PGPG-0100-0000",
            "E-TOU-C",
            "E-TOU-C",
            "1190.15",
            "false",
            "",
            "",
            "",
        ],  # fmt: skip
        [
            sa,
            "2020-01-20",
            "USCA-PGPG-0010-0000",
            "E-1",
            "E-1",
            "1.00",
            "true",
            "",
            "",
            "",
        ],  # fmt: skip
        [
            sa,
            "2020-01-20",
            "USCA-PGPG-0100-0000",
            "E-TOU-C",
            "E-TOU-C",
            "2.00",
            "false",
            "",
            "",
            "",
        ],  # fmt: skip
        [
            dana.usage_points["electric"],
            _cycle_start(world, dana),
            "",
            "",
            "",
            "",
            "",
            "",
            "insufficientHistory",
            "new meter",
        ],  # fmt: skip
    ]
    replace_file(batch, BATCH_HEADER, rows)
    found = bill_comparison(world, casey)
    assert found.status is sst.ComparisonStatus.available
    assert [
        (e.tariff_code, e.estimated_annual_cost, e.is_current) for e in found.rate_estimate
    ] == [
        ("E-1", 121_040_000, True),
        ("E-TOU-C", 119_015_000, False),
    ]
    assert found.rate_estimate[1].savings_versus_current == 2_025_000
    status = bill_comparison(world, dana)
    assert status.status is sst.ComparisonStatus.insufficientHistory
    assert status.status_message == "new meter"
    # No batch row for alex's cycle yet: said so, not kept; the batch lands; served.
    missing = bill_comparison(world, alex)
    assert missing.status is sst.ComparisonStatus.noRateTool
    assert f"billing cycle starting {alex_cycle} is not available yet" in missing.status_message
    assert stored_comparisons(world) == 2
    alex_rows = [
        [
            agreement(world, alex),
            alex_cycle,
            "USCA-PGPG-0100-0000",
            "E-TOU-C",
            "E-TOU-C",
            "2874.12",
            "true",
            "",
            "",
            "",
        ],  # fmt: skip
        [
            agreement(world, alex),
            alex_cycle,
            "USCA-PGPG-0505-0000",
            "E-ELEC",
            "E-ELEC",
            "2790.55",
            "false",
            "",
            "",
            "",
        ],  # fmt: skip
    ]
    replace_file(batch, BATCH_HEADER, rows + alex_rows)
    assert bill_comparison(world, alex).status is sst.ComparisonStatus.available
    assert stored_comparisons(world) == 3


BAD_BATCHES = [
    (
        [
            ["1", "2026-11-20", "USCA-PGPG-0010-0000", "E-1", "E-1", "10", "true", "", "", ""],
            [
                "1",
                "2026-11-20",
                "USCA-PGPG-0100-0000",
                "E-TOU-C",
                "E-TOU-C",
                "9",
                "yes",
                "",
                "",
                "",
            ],
        ],
        3,
        "is_current",
        "found 2",
    ),  # fmt: skip
    (
        [["1", "2026-11-20", "USCA-PGPG-0010-0000", "E-1", "E-1", "ten", "true", "", "", ""]],
        2,
        "annual_cost",
        "not a number",
    ),  # fmt: skip
    (
        [["1", "2026-11-20", "USCA-PGPG-0010-0000", "E-1", "E-1", "10", "true", "", "", ""]],
        2,
        "tariff_code",
        "prices one rate",
    ),  # fmt: skip
    (
        [["1", "2026-11-20", "USCA-PGPG-0010-0000", "E-1", "E-1", "10", "true", "guess", "", ""]],
        2,
        "basis",
        "utilityTool",
    ),  # fmt: skip
    (
        [["1", "20/11/2026", "USCA-PGPG-0010-0000", "E-1", "E-1", "10", "true", "", "", ""]],
        2,
        "cycle_start",
        "not a date",
    ),  # fmt: skip
    (
        [["1", "2026-11-20", "USCA-PGPG-0010-0000", "", "", "", "", "", "noRateTool", ""]],
        2,
        "rin",
        "prices no rate",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("rows", "line", "column", "reason"), BAD_BATCHES)
def test_a_bad_batch_is_refused_with_file_line_and_column(
    tmp_path: Path, rows: list[list[str]], line: int, column: str, reason: str
) -> None:
    path = write_csv(tmp_path / "batch.csv", BATCH_HEADER, rows)
    with pytest.raises(PrecomputedTableError) as caught:
        load_precomputed(str(path))
    assert f"batch.csv, line {line}, column {column!r}: " in str(caught.value)
    assert reason in str(caught.value)


def test_precomputed_comparisons_from_a_sql_table(
    open_world: Callable[..., SstWorld], tmp_path: Path
) -> None:
    path = tmp_path / "batch.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE sst_batch (sa TEXT, cycle DATE, rin TEXT, code TEXT, title TEXT, "
            "cost NUMERIC, cur BOOLEAN)"
        )
    connection.close()
    setting = {
        "url": f"sqlite:///{path}",
        "query": "SELECT sa AS usage_point, cycle AS cycle_start, rin, code AS tariff_code, "
        "title AS tariff_name, cost AS annual_cost, cur AS is_current, NULL AS basis "
        "FROM sst_batch WHERE sa IN (:usage_point, :service_agreement) "
        "AND cycle = :cycle_start",
    }
    world = open_world(BILL_COMPARISON_SOURCE=PRECOMPUTED, PRECOMPUTED_COMPARISONS=setting)
    casey, blake = world.grant("casey"), world.grant("blake")
    rows = [
        (
            agreement(world, casey),
            _cycle_start(world, casey),
            "USCA-PGPG-0010-0000",
            "E-1",
            "E-1",
            1210.4,
            1,
        ),  # fmt: skip
        (
            agreement(world, casey),
            _cycle_start(world, casey),
            "USCA-PGPG-0100-0000",
            "E-TOU-C",
            "E-TOU-C",
            1190.15,
            0,
        ),  # fmt: skip
        # Computed before a rate change: the batch's current rate is not blake's.
        (
            agreement(world, blake),
            _cycle_start(world, blake),
            "USCA-PGXX-0010-0000",
            "E-1-DELIVERY",
            "E-1",
            900,
            1,
        ),  # fmt: skip
        (
            agreement(world, blake),
            _cycle_start(world, blake),
            "USCA-PGXX-0100-0000",
            "E-TOU-C-DELIVERY",
            "E-TOU-C",
            950,
            0,
        ),  # fmt: skip
    ]
    with sqlite3.connect(path) as connection:
        connection.executemany("INSERT INTO sst_batch VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    connection.close()
    found = bill_comparison(world, casey)
    assert found.status is sst.ComparisonStatus.available
    assert {e.tariff_code: e.estimated_annual_cost for e in found.rate_estimate} == {
        "E-1": 121_040_000,
        "E-TOU-C": 119_015_000,
    }
    stale = bill_comparison(world, blake)
    assert stale.status is sst.ComparisonStatus.noRateTool
    assert "another current rate (E-1-DELIVERY)" in stale.status_message
    assert stored_comparisons(world) == 1
