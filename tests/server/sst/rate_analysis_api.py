"""A utility's rate-analysis HTTP API, for RateApiComparison's tests: a small Flask app on a
real socket (127.0.0.1, werkzeug's threaded server), whose behaviour a test switches.

Modes: ``ok`` (prices every rate asked), ``slow`` (answers only after the test ends, or 5 s),
``error`` (HTTP 500), ``malformed`` (an ``available`` answer without the current rate),
``insufficient`` (``insufficientHistory``).  Every request is recorded (body, headers).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, request
from werkzeug.serving import BaseWSGIServer, make_server

CURRENT_COST = 1480.25


def candidate_cost(index: int) -> float:
    return 1400.0 - 75.5 * index


@dataclass
class RateAnalysisApi:
    mode: str = "ok"
    calls: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: BaseWSGIServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/v1/rate-analysis"

    def app(self) -> Flask:
        app = Flask("rate_analysis_api")

        @app.post("/v1/rate-analysis")
        def analysis() -> Any:
            body = request.get_json()
            self.calls.append(body)
            self.headers.append(dict(request.headers))
            if self.mode == "slow":
                self.release.wait(5)
            if self.mode == "error":
                return {"error": "rate engine unavailable"}, 500
            if self.mode == "insufficient":
                return {"status": "insufficientHistory", "message": "7 months of billed usage"}
            estimates = [
                {
                    "rin": body["current"]["rin"],
                    "tariff_code": body["current"]["tariff_code"],
                    "tariff_name": "Current rate (rate tool)",
                    "annual_cost": CURRENT_COST,
                    "basis": "utilityTool",
                }
            ]
            for index, candidate in enumerate(body["candidates"]):
                estimates.append(
                    {
                        "rin": candidate["rin"],
                        "tariff_code": candidate["tariff_code"],
                        "tariff_name": f"{candidate['tariff_code']} (rate tool)",
                        "annual_cost": candidate_cost(index),
                    }
                )
            if self.mode == "malformed":
                estimates = estimates[1:]
            return {"status": "available", "currency": 840, "estimates": estimates}

        return app

    def start(self) -> RateAnalysisApi:
        self.server = make_server("127.0.0.1", 0, self.app(), threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
