"""The ASP client library against our own server over real HTTP on 127.0.0.1 (issue 6's "done
when"): discovery, authorization through the real portal pages with PKCE and OpenID
Connect, RINs, eligible rates, both bill-comparison forms, interval data, a rate change
confirmed with the code from the demo inbox, the notifications received by the client's
NotificationReceiver, the final status, an access-token expiry survived by a refresh (the
rotated refresh token saved in the FileTokenStore), and a typed error once the customer
revokes in the portal.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_process import CustomerBrowser, demo_process, newest_passcode
from werkzeug.serving import make_server

from espi_sst.client import (
    AspClient,
    AuthorizationEnded,
    AuthorizationFlowError,
    FileTokenStore,
    InvalidPasscode,
    NotificationReceiver,
)
from espi_sst.model import sst

NOTIFY_PORT = 8765  # the demo clients' notify URIs (server/demo/clients.py)
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change openid"
)


@pytest.fixture
def notifications() -> Iterator[list[list[str]]]:
    received: list[list[str]] = []
    server = make_server("127.0.0.1", NOTIFY_PORT, NotificationReceiver(received.append))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    # Access tokens live 35 s; the client refreshes 30 s before expiry, so a few seconds in,
    # every call must go through a refresh (and its rotation).
    # --asp-port 0: this test is the ASP (its notify receiver holds 127.0.0.1:8765).
    with demo_process(tmp_path, ["--asp-port", "0"], ESPI_ACCESS_TOKEN_SECONDS="35") as document:
        yield document


def asp(document: dict[str, Any], store: FileTokenStore) -> AspClient:
    client = next(c for c in document["clients"] if c["client_id"] == "demo-energy-insights")
    return AspClient.from_issuer(
        document["issuer"],
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        redirect_uri=client["redirect_uris"][0],
        scope=SCOPE,
        token_store=store,
    )


def customer(document: dict[str, Any], username: str) -> dict[str, Any]:
    return next(c for c in document["customers"] if c["username"] == username)


def test_client_library_end_to_end(
    demo: dict[str, Any], notifications: list[list[str]], tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    client = asp(demo, store)
    blake = customer(demo, "blake")
    browser = CustomerBrowser(demo["base_url"], blake)

    # A forged callback (wrong state) is refused before any code exchange.
    started = client.authorization_url()
    assert "code_challenge_method=S256" in started.url and "nonce=" in started.url
    callback = browser.approve(started.url)
    with pytest.raises(AuthorizationFlowError):
        client.fetch_token(callback.replace(started.state, "forged"), started)
    grant = client.fetch_token(callback, started)
    assert grant.id_token_claims is not None
    assert client.client_id in grant.id_token_claims["aud"]
    assert "sst:rate_change" in grant.scope
    first_refresh = store.load(grant.key)["refresh_token"]  # type: ignore[index]

    with client.connect(grant.key) as connection:
        points = connection.usage_points()
        (point,) = [p for p in points if p.electric]
        rins = [str(r.value) for r in connection.rins(point)]
        assert rins == ["USCA-PGXX-0100-0000", "USCA-XXPE-0440-0000"]
        rates = connection.rate_information(point)
        assert {r.role for r in rates.current_rate} == {sst.Role.delivery, sst.Role.generation}
        assert any(r.tariff_code == "E-1-DELIVERY" for r in rates.eligible_rate)
        by_resource = connection.bill_comparison(point)
        by_summary = connection.bill_comparison(point, form="usage_summary")
        assert by_resource == by_summary and by_resource.status is sst.ComparisonStatus.available
        readings = list(
            connection.interval_readings(
                point,
                published_min=_day_before_end(demo, days=2),
                published_max=_day_before_end(demo, days=1),
            )
        )
        assert 92 <= len(readings) <= 100  # one local day of 15-minute readings
        assert all(r.unit == "Wh" and r.start_local is not None for r in readings)
        columns = connection.interval_columns(
            point,
            published_min=_day_before_end(demo, days=2),
            published_max=_day_before_end(demo, days=1),
        )
        assert columns["value"] == [r.scaled_value for r in readings]

        # The access token expires: the next call refreshes, and the rotated refresh token
        # is what the store holds.
        time.sleep(6)
        before = store.load(grant.key)["access_token"]  # type: ignore[index]
        assert connection.rate_information(point) == rates
        after = store.load(grant.key)
        assert after is not None and after["access_token"] != before
        assert after["refresh_token"] != first_refresh

        # A rate change: request, a wrong code, the right code from the inbox, the decision.
        change = connection.request_rate_change(
            point, rin="USCA-PGXX-0010-0000", idempotency_key="blake-1"
        )
        assert change.request.status is sst.RateChangeStatus.awaitingConfirmation
        again = connection.request_rate_change(
            point, rin="USCA-PGXX-0010-0000", idempotency_key="blake-1"
        )
        assert again.url == change.url and again.replayed
        with pytest.raises(InvalidPasscode) as wrong:
            connection.confirm_rate_change(change.url, "000000")
        assert wrong.value.attempts_left == 4
        code = newest_passcode(demo["base_url"], blake["email"], 0)
        confirmed = connection.confirm_rate_change(change.url, code)
        assert confirmed.status is sst.RateChangeStatus.confirmed
        final = connection.wait_for_decision(change.url, timeout=60, poll=0.5)
        assert final.status is sst.RateChangeStatus.accepted and final.effective_date

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(u == [change.url] for u in notifications) < 4:
        time.sleep(0.3)
    assert sum(u == [change.url] for u in notifications) == 4  # requested .. accepted

    # The customer revokes at the utility: the next call is a typed error, not an HTTP one.
    assert browser.revoke_all() >= 1
    with client.connect(grant.key) as connection, pytest.raises(AuthorizationEnded):
        connection.usage_points()


def test_the_token_store_file_is_private_and_survives_a_restart(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    client = asp(demo, FileTokenStore(path))
    alex = customer(demo, "alex")
    started = client.authorization_url()
    grant = client.fetch_token(
        CustomerBrowser(demo["base_url"], alex).approve(started.url), started
    )
    assert path.stat().st_mode & 0o077 == 0
    assert grant.key in json.loads(path.read_text())
    reopened = asp(demo, FileTokenStore(path))  # a new process of the ASP
    with reopened.connect(grant.key) as connection:
        (point,) = [p for p in connection.usage_points() if p.electric]
        assert [str(r.value) for r in connection.rins(point)] == ["USCA-PGPG-0100-0000"]
    reopened.revoke(grant.key)
    assert grant.key not in json.loads(path.read_text())
    with pytest.raises(AuthorizationEnded):
        reopened.connect(grant.key)


def _day_before_end(document: dict[str, Any], *, days: int) -> str:
    """An RFC 3339 local midnight ``days`` before today (Pacific), for published-min/max."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Los_Angeles")
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - timedelta(days=days)).isoformat()


def test_a_solar_customers_delivered_and_received_energy_stay_apart(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 18 on the demo's solar customer, over HTTP through the client: every column and
    frame row names its direction, and net = delivered - received per interval matches the
    raw XML the server sent (read here with plain lxml, independently of the library)."""
    from collections import defaultdict

    from lxml import etree

    client = asp(demo, FileTokenStore(tmp_path / "tokens.json"))
    dana = customer(demo, "dana")
    started = client.authorization_url()
    grant = client.fetch_token(
        CustomerBrowser(demo["base_url"], dana).approve(started.url), started
    )
    bounds = {
        "published_min": _day_before_end(demo, days=3),
        "published_max": _day_before_end(demo, days=1),
    }
    with client.connect(grant.key) as connection:
        (point,) = [p for p in connection.usage_points() if p.electric]
        columns = connection.interval_columns(point, **bounds)
        frame = connection.interval_dataframe(point, **bounds)
        raw = connection.request(
            "GET",
            connection.subscription_url(),
            params={
                "published-min": bounds["published_min"],
                "published-max": bounds["published_max"],
            },
        ).content

    # The raw feed, by hand: each IntervalBlock's MeterReading -> its ReadingType's direction.
    ns = {"a": "http://www.w3.org/2005/Atom", "e": "http://naesb.org/espi"}
    root = etree.fromstring(raw)
    entries = {
        link.get("href"): entry
        for entry in root.iterfind("a:entry", ns)
        for link in entry.iterfind("a:link[@rel='self']", ns)
    }
    direction_of_meter_reading: dict[str, int] = {}
    for href, entry in entries.items():
        if entry.find("a:content/e:MeterReading", ns) is None:
            continue
        (code,) = [
            entries[link.get("href")].findtext("a:content/e:ReadingType/e:flowDirection", None, ns)
            for link in entry.iterfind("a:link[@rel='related']", ns)
            if link.get("href") in entries
            and entries[link.get("href")].find("a:content/e:ReadingType", ns) is not None
        ]
        direction_of_meter_reading[href] = int(code)
    wh: dict[tuple[int, int], int] = defaultdict(int)  # (start, flowDirection) -> Wh
    for entry in entries.values():
        block = entry.find("a:content/e:IntervalBlock", ns)
        if block is None:
            continue
        up = entry.find("a:link[@rel='up']", ns).get("href").rsplit("/IntervalBlock", 1)[0]
        code = direction_of_meter_reading[up]
        for reading in block.iterfind("e:IntervalReading", ns):
            start = int(reading.findtext("e:timePeriod/e:start", None, ns))
            wh[(start, code)] += int(reading.findtext("e:value", None, ns))
    assert {code for _, code in wh} == {1, 19}  # delivered and received, both present
    exporting = [s for (s, code), v in wh.items() if code == 19 and v > 0]
    assert exporting, "a sunny demo day exports energy"

    # The client's columns: the same two directions, and per direction the same energy.
    assert set(columns["direction"]) == {"delivered", "received"}
    by_direction: dict[str, float] = defaultdict(float)
    for direction, value in zip(columns["direction"], columns["value"], strict=True):
        by_direction[direction] += value
    assert by_direction["delivered"] == pytest.approx(sum(v for (_, c), v in wh.items() if c == 1))
    assert by_direction["received"] == pytest.approx(sum(v for (_, c), v in wh.items() if c == 19))

    # The frame: net per interval = delivered - received, in kWh, on every exporting hour.
    pivot = frame.pivot_table(
        index="start", columns="direction", values="value", aggfunc="sum", observed=True
    )
    net = pivot["delivered"] - pivot["received"]
    expected = {
        start: (wh.get((start, 1), 0) - wh.get((start, 19), 0)) / 1000
        for start in {s for s, _ in wh}
    }
    got = {int(ts.timestamp()): value for ts, value in net.items()}
    assert got.keys() == expected.keys()
    for start in exporting:
        assert got[start] == pytest.approx(expected[start])
    assert set(frame["unit"]) == {"kWh"}
    # The naive sum (what the columns gave before issue 18) adds exports to imports.
    naive = sum(columns["value"]) / 1000
    assert naive != pytest.approx(float(net.sum()))
