"""docs/grafana/espi-sst.json queries only metrics a real ``/metrics`` scrape has, and shows
every espi_sst metric there is (a renamed metric breaks this test, not a utility's dashboard)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import requests
from espi_sst_server import create_app
from parallel import serve
from scrape import names

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana" / "espi-sst.json"
METRIC = re.compile(r"\bespi_sst_[a-z0-9_]+")


def _queries(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("expr", "query") and isinstance(v, str)]
        return found + [q for v in node.values() for q in _queries(v)]
    if isinstance(node, list):
        return [q for item in node for q in _queries(item)]
    return []


def test_every_metric_the_dashboard_queries_is_scraped(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for query in _queries(dashboard) for name in METRIC.findall(query)}
    assert len(_queries(dashboard)) >= 10 and queried
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/d.db", "SECRET_KEY": "t"})
    try:
        with serve(app) as base:
            text = requests.get(f"{base}/metrics", timeout=10).text
    finally:
        app.extensions["espi_sst_db"].engine.dispose()
    scraped = names(text)
    assert queried - scraped == set(), "the dashboard queries metrics the server does not have"
    families = {
        name
        for name in scraped
        if name.startswith("espi_sst_")
        and not name.endswith(("_created", "_count", "_sum", "_bucket"))
    }
    shown = {name for name in families if any(q.startswith(name) for q in queried)}
    assert shown == families, f"metrics without a panel: {sorted(families - shown)}"
