"""The issue's "done when", end to end over real HTTP: ``espi-sst demo`` in its own process,
an ASP doing what an ASP does (OAuth code flow with PKCE through the real portal pages,
then the SST resources), the customer reading the passcode in the demo inbox, the worker
deciding, and the ASP's notify endpoint (a real HTTP server on the demo clients' notify
URI, 127.0.0.1:8765) receiving a BatchList at every step.

Bundled (Alex) and unbundled (Blake) customers: RINs, eligible rates, a bill comparison
with real numbers, one rate change rejected with its reason and one accepted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import etree

import espi_sst
from espi_sst.model import sst
from espi_sst.sst import usage_summary_rins

NOTIFY_PORT = 8765  # the demo clients' notify URIs (server/demo/clients.py)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Notifications:
    """The ASP's notify endpoint: records the resource URLs of every BatchList POSTed."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                root = etree.fromstring(body)
                outer.urls += [r.text for r in root.iter("{http://naesb.org/espi}resources")]
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        try:
            self.server = ThreadingHTTPServer(("127.0.0.1", NOTIFY_PORT), Handler)
        except OSError as exc:
            pytest.fail(f"port {NOTIFY_PORT} (the demo ASP's notify URI) is taken: {exc}")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Notifications]]:
    notifications = Notifications()
    port = _free_port()
    cli = str(Path(sys.executable).with_name("espi-sst"))
    process = subprocess.Popen(
        # --asp-port 0: this test is the demo ASP (Notifications holds its notify URI).
        [cli, "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo"), "--asp-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        demo_json = tmp_path / "demo" / "demo.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if demo_json.exists():
                try:
                    requests.get(f"http://127.0.0.1:{port}/portal/login", timeout=2)
                    break
                except requests.ConnectionError:
                    pass
            time.sleep(0.3)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield json.loads(demo_json.read_text()), notifications
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
        notifications.server.shutdown()
        notifications.server.server_close()
    assert "Traceback" not in err, err


class Asp:
    """The demo ASP (demo-energy-insights) acting for one customer."""

    def __init__(self, document: dict[str, Any], username: str) -> None:
        self.base = document["base_url"]
        client = next(c for c in document["clients"] if c["client_id"] == "demo-energy-insights")
        self.client_id, self.secret = client["client_id"], client["client_secret"]
        self.redirect = client["redirect_uris"][0]
        customer = next(c for c in document["customers"] if c["username"] == username)
        self.email_user = customer
        self.token, self.resource_uri = self._authorize(customer)

    def _authorize(self, customer: dict[str, Any]) -> tuple[str, str]:
        browser = requests.Session()
        page = browser.get(f"{self.base}/portal/login", timeout=10)
        browser.post(
            f"{self.base}/portal/login",
            data={
                "username": customer["username"],
                "password": customer["password"],
                "csrf_token": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
            },
            timeout=10,
        )
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect,
            "scope": SCOPE,
            "state": secrets.token_hex(8),
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        consent = browser.get(f"{self.base}/oauth/authorize", params=params, timeout=10)
        assert consent.status_code == 200, consent.text
        answer = browser.post(
            f"{self.base}/oauth/authorize",
            params=params,
            data={
                "csrf_token": CSRF.search(consent.text).group(1),  # type: ignore[union-attr]
                "decision": "approve",
                "until_revoked": "y",
                "categories": [
                    "basic",
                    "billing",
                    "usage",
                    "sst:rin",
                    "sst:bill_comparison",
                    "sst:rate_change",
                ],
                "usage_points": customer["usage_points"],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        tokens = requests.post(
            f"{self.base}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": self.redirect,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.secret),
            timeout=10,
        ).json()
        assert "sst:rate_change" in tokens["scope"]
        return tokens["access_token"], tokens["resourceURI"]

    def get(self, url: str) -> requests.Response:
        response = requests.get(url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert response.status_code == 200, response.text
        assert espi_sst.validate(response.content) == [], url
        return response

    def electric_point(self) -> str:
        subscription = self.resource_uri.replace("/Batch/Subscription/", "/Subscription/")
        feed = espi_sst.parse(self.get(f"{subscription}/UsagePoint").content)
        for entry in feed.entries:
            if entry.content.service_category.kind == 0:
                return next(link.href for link in entry.links if link.rel == "self")
        raise AssertionError("no electric usage point")

    def content(self, url: str, kind: type) -> Any:
        document = espi_sst.parse(self.get(url).content)
        (found,) = [c for e in document.entries for c in e.contents if isinstance(c, kind)]
        return found


def passcode(base: str, email: str, after: int) -> str:
    """The customer reads the newest code in the demo inbox page."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = requests.get(f"{base}/demo/inbox/{email}", timeout=10).text
        codes = re.findall(r'class="passcode">(\d{6})<', page)
        if len(codes) > after:
            return codes[0]  # newest first
        time.sleep(0.5)
    raise AssertionError(f"no new passcode for {email} in the demo inbox")


def change_rate(
    asp: Asp, point: str, rin: str, email: str, mails_before: int
) -> sst.RateChangeRequest:
    response = requests.post(
        f"{point}/RateChangeRequest",
        json={"targetRin": rin},
        headers={"Authorization": f"Bearer {asp.token}", "Idempotency-Key": secrets.token_hex(8)},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    code = passcode(asp.base, email, mails_before)
    confirmed = requests.post(
        f"{location}/Confirmation",
        json={"code": code},
        headers={"Authorization": f"Bearer {asp.token}"},
        timeout=30,
    )
    assert confirmed.status_code == 200, confirmed.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = asp.content(location, sst.RateChangeRequest)
        if found.status in (sst.RateChangeStatus.accepted, sst.RateChangeStatus.rejected):
            return found
        time.sleep(0.5)
    raise AssertionError("the worker did not decide the rate change")


def test_demo_delivers_the_sst_to_an_asp(demo: tuple[dict[str, Any], Notifications]) -> None:
    document, notifications = demo
    assert requests.get(document["inbox_url"], timeout=10).status_code == 200

    # Alex, bundled: one RIN, eligible rates, real numbers; a change refused for 12 months,
    # said up front (RateInformation) and refused at once: 409, no passcode (issue 12).
    alex = Asp(document, "alex")
    point = alex.electric_point()
    summary = espi_sst.parse(alex.get(f"{point}/UsageSummary").content).entries[-1].content
    assert [str(r.value) for r in usage_summary_rins(summary)] == ["USCA-PGPG-0100-0000"]
    rates = alex.content(f"{point}/RateInformation", sst.RateInformation)
    assert {r.tariff_code for r in rates.eligible_rate} == {"E-TOU-C", "E-ELEC", "E-1"}
    comparison = alex.content(f"{point}/UsageSummary?SST=BillComparison", sst.BillComparison)
    assert comparison.status is sst.ComparisonStatus.available
    assert all(500 < e.annual_cost_amount < 10_000 for e in comparison.rate_estimate)
    (elec,) = [r for r in rates.eligible_rate if r.tariff_code == "E-ELEC"]
    assert elec.availability.reason is sst.RejectionReason.twelveMonthRestriction
    assert elec.availability.available_from > time.time()
    refused = requests.post(
        f"{point}/RateChangeRequest",
        json={"targetRin": "USCA-PGPG-0505-0000"},
        headers={"Authorization": f"Bearer {alex.token}", "Idempotency-Key": "alex-1"},
        timeout=30,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["rejection_reason"] == "twelveMonthRestriction"
    assert int(refused.json()["available_from"]) == elec.availability.available_from
    inbox = requests.get(f"{alex.base}/demo/inbox/alex.rivera@example.com", timeout=10).text
    assert 'class="passcode"' not in inbox

    # Blake, unbundled: delivery + generation RINs; a delivery change accepted.
    blake = Asp(document, "blake")
    point = blake.electric_point()
    summary = espi_sst.parse(blake.get(f"{point}/UsageSummary").content).entries[-1].content
    assert [str(r.value) for r in usage_summary_rins(summary)] == [
        "USCA-PGXX-0100-0000",
        "USCA-XXPE-0440-0000",
    ]
    comparison = blake.content(f"{point}/BillComparison", sst.BillComparison)
    assert len(comparison.rate_estimate) >= 2
    accepted = change_rate(blake, point, "USCA-PGXX-0010-0000", "blake.chen@example.com", 0)
    assert accepted.status is sst.RateChangeStatus.accepted
    assert accepted.effective_date is not None and accepted.effective_date > time.time()

    # The ASP heard of every step: requested, confirmed, submitted, decided -- per request.
    # (Its grants were announced too, by their Authorization URLs: lifecycle/notices.py.)
    def changes() -> list[str]:
        return [u for u in notifications.urls if "/RateChangeRequest/" in u]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(changes()) < 4:
        time.sleep(0.5)
    by_request: dict[str, int] = {}
    for url in changes():
        by_request[url] = by_request.get(url, 0) + 1
    assert sorted(by_request.values()) == [4], notifications.urls  # alex's: never created
    assert any("/Authorization/" in u for u in notifications.urls), notifications.urls
