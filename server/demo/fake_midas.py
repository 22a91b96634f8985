"""A fake CEC MIDAS server on loopback, for the tests and the demo (never the real MIDAS).

It speaks MIDAS v2.0 (facts.md; ``midas/PROVENANCE.md``)::

    GET /api/valuedata?ID={RIN}&QueryType=realtime|alldata   one rate's values
    GET /api/valuedata?SignalType={0-3}                        the RIN list ({"Rates": [...]})
    GET /api/valuedata?LookupTable={name}                      a lookup table (only Unit)
    GET /api/historicaldata/{RIN}?startdate=&enddate=          at most six months per call

Two kinds of answers:

* **Replayed**: the real v2 responses in ``midas/`` for their RINs (the SGIP MOER signal
  ``USCA-SGIP-MOER-PGE``, whatever the window asked), the recorded RIN list and the ``Unit``
  table.  Listed RINs with no recorded values answer 404, as a retired RIN does.
* **Synthesized**: for the demo utility's RINs (``server/demo/tariffs.py``), v2-shaped hourly
  prices from the demo tariffs: each local (Pacific) hour priced at its season's period price,
  sent in UTC like MIDAS; ``realtime`` is the three local days from 00:00 Pacific today
  (72 h, 71 or 73 on DST days), ``alldata`` the 90 days ending on day+2.  Their
  ``Description`` says they are synthesized, not CEC data.  Tiers and the baseline credit are
  not prices per hour and are left out, as MIDAS leaves them out.

Test hooks, in ``app.config``: ``MIDAS_FAIL`` maps a RIN (or ``"*"`` for every request) to a
list of answers consumed in order: an HTTP status (429 carries ``Retry-After:
MIDAS_RETRY_AFTER`` seconds) or ``"malformed"`` (200 with a body that is not JSON).
``MIDAS_CALLS`` records every request as ``(path, {arg: value})``.  ``clock`` (a function
returning an aware datetime) fixes "today".
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, request
from werkzeug.serving import BaseWSGIServer, make_server

from ..sst.pricing import period_names
from .tariffs import TARIFFS, TariffSpec

__all__ = ["SYNTHESIZED", "create_fake_midas", "serve_fake_midas"]

PACIFIC = ZoneInfo("America/Los_Angeles")
SYNTHESIZED = "(espi-sst demo: synthesized from the demo tariff, not CEC data)"
REALTIME_DAYS = 3  # today, day+1, day+2 (Pacific)
ALLDATA_DAYS = 90  # ending on day+2
HISTORY_MONTHS = 6
RATES = "Electricity Rates"

_REPLAYED_VALUES = {"USCA-SGIP-MOER-PGE": "v2-valuedata-moer-USCA-SGIP-MOER-PGE-realtime.json"}


@cache
def sample(name: str) -> Any:
    """A recorded MIDAS response from ``midas/`` (package data), decoded."""
    return json.loads(resources.files(__package__).joinpath("midas", name).read_text("utf-8"))


def create_fake_midas(clock: Callable[[], datetime] | None = None) -> Flask:
    """The fake MIDAS as a Flask app; ``clock`` gives "now" (default: the real time)."""
    app = Flask(__name__)
    app.config.update(MIDAS_FAIL={}, MIDAS_RETRY_AFTER=1, MIDAS_CALLS=[])
    now = clock or (lambda: datetime.now(UTC))
    lock = threading.Lock()
    tariffs = {spec.rin: spec for spec in TARIFFS}

    @app.before_request
    def record_and_fail() -> Response | None:
        rin = request.args.get("ID") or (request.view_args or {}).get("rin")
        with lock:
            current_app.config["MIDAS_CALLS"].append((request.path, dict(request.args)))
            planned = current_app.config["MIDAS_FAIL"]
            queue = planned.get(rin) or planned.get("*")
            answer = queue.pop(0) if queue else None
        if answer is None:
            return None
        if answer == "malformed":
            return Response('{"RateID": "USCA-', 200, mimetype="application/json")
        status = int(answer)
        response = _json({"detail": f"fake MIDAS told to answer {status}"}, status)
        if status == 429:
            response.headers["Retry-After"] = str(current_app.config["MIDAS_RETRY_AFTER"])
        return response

    @app.get("/api/valuedata")
    def valuedata() -> Response:
        args = request.args
        if "ID" in args:
            rin, query = args["ID"], args.get("QueryType", "")
            if query not in ("realtime", "alldata"):
                return _json({"detail": "QueryType must be realtime or alldata"}, 400)
            if rin in _REPLAYED_VALUES:
                return _json(sample(_REPLAYED_VALUES[rin]))
            if rin in tariffs:
                today = now().astimezone(PACIFIC).date()
                days = REALTIME_DAYS if query == "realtime" else ALLDATA_DAYS
                first = today + timedelta(days=REALTIME_DAYS - days)
                return _json(_schedule(tariffs[rin], first, today + timedelta(days=2), now()))
            return _not_found(rin)
        if "SignalType" in args:
            try:
                signal_type = int(args["SignalType"])
            except ValueError:
                return _json({"detail": "SignalType must be 0, 1, 2 or 3"}, 400)
            return _json({"Rates": _rin_list(signal_type, tariffs.values(), now())})
        if "LookupTable" in args:
            if args["LookupTable"] == "Unit":
                return _json(sample("v2-lookuptable-unit.json"))
            return _json({"detail": f"Lookup table not found: {args['LookupTable']}"}, 404)
        return _json({"detail": "give ID and QueryType, SignalType or LookupTable"}, 400)

    @app.get("/api/historicaldata/<rin>")
    def historicaldata(rin: str) -> Response:
        try:
            first = date.fromisoformat(request.args["startdate"])
            last = date.fromisoformat(request.args["enddate"])
        except (KeyError, ValueError):
            return _json({"detail": "startdate and enddate are YYYY-MM-DD"}, 400)
        if last < first or last >= _add_months(first, HISTORY_MONTHS):
            return _json({"detail": "the range must be 0 to 6 months"}, 400)
        if rin in tariffs:
            return _json(_schedule(tariffs[rin], first, last, now()))
        if rin in _REPLAYED_VALUES:
            body = dict(sample(_REPLAYED_VALUES[rin]))
            body["ValueInformation"] = [
                row
                for row in body["ValueInformation"]
                if first <= date.fromisoformat(row["DateStart"]) <= last
            ]
            return _json(body)
        return _not_found(rin)

    return app


def serve_fake_midas(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    app: Flask | None = None,
    clock: Callable[[], datetime] | None = None,
) -> tuple[BaseWSGIServer, threading.Thread, str]:
    """Serve the fake MIDAS (or ``app``) in a thread; returns (server, thread, base URL).

    Stop it with ``server.shutdown(); server.server_close(); thread.join()``.  Loopback only:
    it answers anyone who can connect.
    """
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the fake MIDAS listens on loopback only, not {host}")
    server = make_server(host, port, app or create_fake_midas(clock), threaded=True)
    thread = threading.Thread(  # a short poll: shutdown() returns within 50 ms
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-midas", daemon=True
    )
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}"


# ---- synthesized schedules -----------------------------------------------------------------
def _schedule(spec: TariffSpec, first: date, last: date, now: datetime) -> dict[str, Any]:
    """A v2 ``valuedata`` body: ``spec``'s hourly prices for Pacific days first..last."""
    definition = spec.definition
    rate_type = "Time of use" if len(definition["periods"]) > 1 else "Tiered"
    return {
        "RateID": spec.rin,
        "SystemTime_UTC": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "RateName": spec.name,
        "RateType": rate_type,
        "Sector": "Residential",
        "EndUse": "All",
        "API_Url": None,
        "RatePlan_Url": None,
        "AltRateName1": spec.code,
        "AltRateName2": None,
        "SignupCloseDate": None,
        "SignalType": RATES,
        "Description": f"{spec.name} - {rate_type} {SYNTHESIZED}",
        "ValueInformation": list(_hours(definition, first, last)),
    }


def _hours(definition: dict[str, Any], first: date, last: date) -> Iterator[dict[str, Any]]:
    season_of = {m: s["name"] for s in definition["seasons"] for m in s["months"]}
    unit = f"$/{definition['energy_unit']}"
    day = first
    while day <= last:
        season = season_of[day.month]
        names = period_names(definition, day)
        weekday = day.isoweekday()  # no holiday calendar: a holiday prices as its weekday
        start = datetime.combine(day, time(), PACIFIC).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), PACIFIC).astimezone(UTC)
        while start < end:  # UTC hours: 23 of them in spring, 25 in autumn
            period = names[start.astimezone(PACIFIC).hour]
            inclusive_end = start + timedelta(minutes=59, seconds=59)
            yield {
                "ValueName": f"{season} {period.replace('_', ' ')}",
                "DateStart": start.date().isoformat(),
                "DateEnd": inclusive_end.date().isoformat(),
                "DayStart": weekday,
                "DayEnd": weekday,
                "TimeStart": start.strftime("%H:%M:%S"),
                "TimeEnd": inclusive_end.strftime("%H:%M:%S"),
                "Unit": unit,
                "Value": definition["energy_prices"][season][period],
            }
            start += timedelta(hours=1)
        day += timedelta(days=1)


def _rin_list(signal_type: int, specs: Iterable[TariffSpec], now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if signal_type in (0, 1):
        rows += sample("v2-rinlist-signaltype1.json")["Rates"]
        midnight = datetime.combine(now.astimezone(PACIFIC).date(), time(), PACIFIC)
        updated = midnight.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        rows += [
            {
                "RateID": spec.rin,
                "SignalType": RATES,
                "Description": f"{spec.name} {SYNTHESIZED}",
                "LastUpdated": updated,
            }
            for spec in specs
        ]
    if signal_type in (0, 2):
        moer = sample(_REPLAYED_VALUES["USCA-SGIP-MOER-PGE"])
        rows.append(
            {
                "RateID": moer["RateID"],
                "SignalType": moer["SignalType"],
                "Description": moer["Description"],
                "LastUpdated": moer["SystemTime_UTC"][:19] + "+0000",
            }
        )
    return rows


# ---- helpers -----------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def _not_found(rin: str) -> Response:
    return _json({"detail": f"RIN not found: {rin}"}, 404)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))
