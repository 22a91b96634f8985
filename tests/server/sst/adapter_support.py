"""Shared by the ready-made adapters' tests (test_adapters.py, test_adapter_comparisons.py):
CSV tables in ``tmp_path``, the demo utility's server with chosen settings, and reading the
SST resources back (validated against the schemas)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from espi_sst_server.demo import DemoData
from espi_sst_server.storage.models import BillComparisonRecord
from sqlalchemy import func, select
from sst_world import Granted, SstWorld, make_world

import espi_sst
from espi_sst.model import sst

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "utility-adapters"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def replace_file(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A new export dropped in place: new content, and a modification time that moved."""
    before = path.stat().st_mtime_ns
    write_csv(path, header, rows)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def documents(body: bytes, kind: type) -> list[Any]:
    assert espi_sst.validate(body) == [], espi_sst.validate(body)
    return [c for e in espi_sst.parse(body).entries for c in e.contents if isinstance(c, kind)]


def bill_comparison(world: SstWorld, granted: Granted, service: str = "electric") -> Any:
    response = world.client.get(granted.url("/BillComparison", service), headers=granted.headers)
    assert response.status_code == 200, response.data
    (found,) = documents(response.data, sst.BillComparison)
    return found


def stored_comparisons(world: SstWorld) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(BillComparisonRecord)) or 0


def agreement(world: SstWorld, granted: Granted, service: str = "electric") -> str:
    with world.session() as s:
        return world.point(s, granted.usage_points[service]).service_agreement


@pytest.fixture(name="open_world")
def open_world_fixture(sst_database: tuple[str, DemoData]) -> Iterator[Callable[..., SstWorld]]:
    """``open_world(**config)``: the demo utility's server with these settings (the same
    database each time it is called in a test)."""
    url, data = sst_database
    made: list[SstWorld] = []

    def factory(**config: Any) -> SstWorld:
        world = make_world(url, data, **config)
        made.append(world)
        return world

    yield factory
    for world in made:
        world.app.extensions["espi_sst_db"].engine.dispose()
