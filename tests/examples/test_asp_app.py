"""The sample ASP app (examples/asp_app) through Flask's test client, against ``espi-sst
demo`` over real HTTP (its utility and fake MIDAS; ``--asp-port 0``: the app under test is
this one).  The customer's side -- signing in and approving at the utility -- goes through
the real portal pages; the utility's redirect back is handed to the test client.

The browser test (tests/integration/test_asp_app_browser.py) walks the happy path in
Chromium; these cover what a customer should never see as a traceback: declined consent,
a wrong passcode, MIDAS down, a missing sharing category, a revoked grant, a double submit.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from espi_sst.client import AuthorizationEnded, InsufficientScope, RateLimited, ServerError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
sys.path.append(str(EXAMPLES))

from asp_app import create_asp_app  # noqa: E402
from demo_process import (  # noqa: E402
    SST_CATEGORIES,
    CustomerBrowser,
    _csrf,
    demo_process,
    newest_passcode,
)

ALL = list(SST_CATEGORIES)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_process(tmp_path_factory.mktemp("asp"), ["--asp-port", "0"]) as document:
        yield document


def asp(demo: dict[str, Any], tmp_path: Path, **overrides: Any) -> Any:
    client = next(c for c in demo["clients"] if c["client_id"] == "demo-energy-insights")
    app = create_asp_app(
        {
            "UTILITY_ISSUER": demo["issuer"],
            "CLIENT_ID": client["client_id"],
            "CLIENT_SECRET": client["client_secret"],
            "REDIRECT_URI": client["redirect_uris"][0],
            "MIDAS_BASE_URL": demo["midas_url"],
            "TOKEN_STORE": str(tmp_path / "tokens.json"),
            "SECRET_KEY": "test",
            **overrides,
        }
    )
    return app.test_client()


def connect(
    demo: dict[str, Any], web: Any, username: str, categories: list[str] | None = None
) -> CustomerBrowser:
    """Connect my utility -> sign in and approve at the utility -> back at the ASP."""
    customer = next(c for c in demo["customers"] if c["username"] == username)
    started = web.get("/connect")
    assert started.status_code == 302
    browser = CustomerBrowser(demo["base_url"], customer)
    back = urlsplit(browser.approve(started.headers["Location"], categories or ALL))
    landed = web.get(f"{back.path}?{back.query}")
    assert landed.status_code == 302 and landed.headers["Location"] == "/dashboard"
    return browser


def test_connect_dashboard_and_a_rate_change(demo: dict[str, Any], tmp_path: Path) -> None:
    web = asp(demo, tmp_path)
    connect(demo, web, "blake")
    page = web.get("/dashboard").get_data(as_text=True)
    assert "USCA-PGXX-0100-0000" in page and "USCA-XXPE-0440-0000" in page
    assert re.search(r'class="price">\$\d+\.\d{4} per kWh<', page)
    assert len(re.findall(r'<rect class="bar', page)) == 2  # Blake's two estimates
    assert 'class="bar current" data-tariff="E-TOU-C-DELIVERY"' in page
    # Switchable: not the current rate, not a generation rate, not an IOU mirror.
    assert re.findall(r'name="rin" value="([^"]+)"', page) == ["USCA-PGXX-0010-0000"]

    form = {
        "csrf": CSRF.search(page).group(1),  # type: ignore[union-attr]
        "point": re.search(r'name="point" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
        "rin": "USCA-PGXX-0010-0000",
    }
    assert web.post("/rate-change", data={**form, "csrf": "forged"}).status_code == 400
    # What cannot be chosen now is listed apart, each with a plain reason.
    assert _reasons(page)["E-TOU-C-DELIVERY"] == "This is your rate now."
    first = web.post("/rate-change", data=form)
    again = web.post("/rate-change", data=form)  # the customer clicked twice
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == "/rate-change/confirm"
    # While it waits for the passcode, no rate is offered: one change at a time.
    pending = web.get("/dashboard").get_data(as_text=True)
    assert 'name="rin"' not in pending and "No other rate can be chosen now." in pending
    assert _reasons(pending)["E-1-DELIVERY"] == (
        "You asked for this rate; the change is waiting for the code your utility sent you."
    )

    wrong = web.post("/rate-change/confirm", data={"csrf": form["csrf"], "code": "000000"})
    assert wrong.status_code == 400 and "4 attempts left" in wrong.get_data(as_text=True)
    code = newest_passcode(demo["base_url"], "blake.chen@example.com", 0)
    time.sleep(2.5)  # the worker sends the outbox every second: a second mail would be in
    inbox = requests.get(f"{demo['inbox_url']}/blake.chen@example.com", timeout=10).text
    assert inbox.count("your code to confirm a rate change") == 1, "a double submit is one request"
    right = web.post("/rate-change/confirm", data={"csrf": form["csrf"], "code": code})
    assert right.status_code == 302 and right.headers["Location"] == "/rate-change/status"

    deadline = time.monotonic() + 60
    while True:
        status = web.get("/rate-change/status").get_data(as_text=True)
        if 'id="status">accepted<' in status or time.monotonic() > deadline:
            break
        assert '<meta http-equiv="refresh" content="2">' in status
        time.sleep(0.5)
    assert 'id="status">accepted<' in status and "Your new rate starts on" in status
    assert 'http-equiv="refresh"' not in status
    # Accepted: the rate is no longer offered; the dashboard says when it starts.
    after = web.get("/dashboard").get_data(as_text=True)
    assert 'value="USCA-PGXX-0010-0000"' not in after
    assert re.fullmatch(
        r"Your change to this rate is accepted: it starts on \w+ \d{1,2}, \d{4}\.",
        _reasons(after)["E-1-DELIVERY"],
    ), _reasons(after)

    # The utility's notifications go to the registered notify URI (127.0.0.1:8765, not
    # this test client): deliver one the way the utility would, and the page shows it.
    change_url = _change_url(web)
    batch = (
        '<?xml version="1.0" encoding="UTF-8"?><BatchList xmlns="http://naesb.org/espi">'
        f"<resources>{change_url}</resources></BatchList>"
    )
    notified = web.post("/notify", data=batch, content_type="application/atom+xml")
    assert notified.status_code == 204
    status = web.get("/rate-change/status").get_data(as_text=True)
    assert status.count("the utility notified us that this request changed") == 1
    # Notification times carry their time zone (California's, PST or PDT).
    assert re.search(r"\d{1,2}:\d\d:\d\d [AP]M P[SD]T &mdash; the utility notified us", status)


def _reasons(page: str) -> dict[str, str]:
    """The "Rates you cannot choose now" list: tariff code -> the reason shown."""
    return {
        code: re.sub(r"\s+", " ", reason).strip()
        for code, reason in re.findall(
            r'<li data-tariff="([^"]+)">.*?<span class="reason">(.*?)</span>', page, re.DOTALL
        )
    }


def test_the_demo_texts_dana_her_passcode(demo: dict[str, Any], tmp_path: Path) -> None:
    """``espi-sst demo`` wires the SMS channel: Dana (who chose text messages) gets the code
    at ``sms_inbox_url``, not by e-mail, and the ASP's passcode page takes it."""
    dana = next(c for c in demo["customers"] if c["username"] == "dana")
    assert dana["passcode_channel"] == "sms" and dana["phone"] == "+14085550175"
    assert demo["sms_inbox_url"] == demo["base_url"] + "/demo/sms"
    web = asp(demo, tmp_path)
    connect(demo, web, "dana")
    page = web.get("/dashboard").get_data(as_text=True)
    offered = re.findall(r'name="rin" value="([^"]+)" required data-tariff="([^"]+)"', page)
    assert offered, page
    rin = next(r for r, code in offered if code == "E-TOU-C")
    form = {
        "csrf": CSRF.search(page).group(1),  # type: ignore[union-attr]
        "point": re.search(r'name="point" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
        "rin": rin,
    }
    assert web.post("/rate-change", data=form).status_code == 302
    deadline = time.monotonic() + 30
    codes: list[str] = []
    while not codes and time.monotonic() < deadline:
        texts = requests.get(f"{demo['sms_inbox_url']}/{dana['phone']}", timeout=10).text
        codes = re.findall(r'class="passcode">(\d{6})<', texts)
        time.sleep(0.3)
    assert codes, "no text message reached the demo's SMS inbox"
    mail = requests.get(f"{demo['inbox_url']}/{dana['email']}", timeout=10).text
    assert "your code to confirm a rate change" not in mail  # the chosen channel only
    right = web.post("/rate-change/confirm", data={"csrf": form["csrf"], "code": codes[0]})
    assert right.status_code == 302 and right.headers["Location"] == "/rate-change/status"


def test_disconnect_ends_the_grant_at_the_utility_and_forgets_the_tokens(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    import json

    web = asp(demo, tmp_path)
    browser = connect(demo, web, "casey")
    page = web.get("/dashboard").get_data(as_text=True)
    (stored,) = json.loads((tmp_path / "tokens.json").read_text()).values()
    bearer = {"Authorization": f"Bearer {stored['access_token']}"}
    assert requests.get(stored["resourceURI"], headers=bearer, timeout=10).status_code == 200
    csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
    assert web.post("/disconnect", data={"csrf": "forged"}).status_code == 400
    done = web.post("/disconnect", data={"csrf": csrf})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    home = web.get("/").get_data(as_text=True)
    assert "Disconnected. Your utility has ended our access" in home
    assert "Disconnected." not in web.get("/").get_data(as_text=True)  # said once
    # At the utility: the token no longer works, and the grant is ended (not just
    # forgotten here): the refresh token is refused too.
    assert requests.get(stored["resourceURI"], headers=bearer, timeout=10).status_code == 401
    refreshed = requests.post(
        demo["issuer"] + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]},
        auth=(
            "demo-energy-insights",
            next(c for c in demo["clients"] if c["client_id"] == "demo-energy-insights")[
                "client_secret"
            ],
        ),
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert json.loads((tmp_path / "tokens.json").read_text()) == {}
    assert web.get("/dashboard").status_code == 302  # nothing kept: connect again
    portal = browser.http.get(f"{demo['base_url']}/portal/authorizations", timeout=10).text
    # The customer's page says who ended it, in the consent's words (issue 13).
    import html

    assert "ended by Energy Insights" in html.unescape(portal)


def _change_url(web: Any) -> str:
    with web.session_transaction() as session:
        return str(session["rate_change"]["url"])


def test_declining_at_the_utility_is_explained(demo: dict[str, Any], tmp_path: Path) -> None:
    web = asp(demo, tmp_path)
    alex = next(c for c in demo["customers"] if c["username"] == "alex")
    browser = CustomerBrowser(demo["base_url"], alex)
    consent = browser.http.get(web.get("/connect").headers["Location"], timeout=10)
    denied = browser.http.post(
        consent.url,
        data={"csrf_token": _csrf(consent.text), "decision": "deny"},
        allow_redirects=False,
        timeout=10,
    )
    back = urlsplit(denied.headers["Location"])
    page = web.get(f"{back.path}?{back.query}")
    assert page.status_code == 403
    assert "You did not connect your utility account" in page.get_data(as_text=True)
    assert web.get(f"{back.path}?{back.query}").status_code == 400  # used once


def test_midas_down_a_missing_category_and_a_revoked_grant(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    web = asp(demo, tmp_path, MIDAS_BASE_URL="http://127.0.0.1:9")  # nothing listens there
    browser = connect(demo, web, "alex", [c for c in ALL if c != "sst:rate_change"])
    page = web.get("/dashboard")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "USCA-PGPG-0100-0000" in text
    assert "price not available" in text and "Traceback" not in text
    assert "Not shared with us: Enable rate change" in text and 'name="rin"' not in text

    # Forcing a rate change anyway: the utility refuses, the page says what to share.
    form = {
        "csrf": CSRF.search(text).group(1),  # type: ignore[union-attr]
        "point": re.search(r'id="agreement-([^"]+)"', text).group(1),  # type: ignore[union-attr]
        "rin": "USCA-PGPG-0010-0000",
    }
    refused = web.post("/rate-change", data=form)
    assert refused.status_code == 403 and "Enable rate change" in refused.get_data(as_text=True)

    assert browser.revoke_all() >= 1
    ended = web.get("/dashboard")
    assert ended.status_code == 403
    assert "Your utility ended this connection" in ended.get_data(as_text=True)
    assert web.get("/dashboard").status_code == 302  # the grant is forgotten: start over


def test_library_errors_become_pages_a_customer_understands(tmp_path: Path) -> None:
    app = create_asp_app(
        {
            "UTILITY_ISSUER": "http://127.0.0.1:9",  # nothing listens: discovery fails
            "CLIENT_ID": "x",
            "REDIRECT_URI": "http://127.0.0.1:8765/callback",
            "TOKEN_STORE": str(tmp_path / "tokens.json"),
            "SECRET_KEY": "test",
        }
    )
    errors: dict[str, Exception] = {
        "ended": AuthorizationEnded("the grant can no longer be refreshed"),
        "scope": InsufficientScope("GET http://u/UsagePoint/1/BillComparison: no (not shared)"),
        "limited": RateLimited("GET http://u/x: rate limited", retry_after=7),
        "down": ServerError("GET http://u/x: HTTP 503"),
    }
    for name, error in errors.items():
        app.add_url_rule(f"/boom/{name}", name, _raising(error))
    web = app.test_client()

    expected = {
        "/connect": (502, "Your utility is not answering right now"),
        "/boom/ended": (403, "Your utility ended this connection"),
        "/boom/scope": (403, "Release bill comparison"),
        "/boom/limited": (503, "try again in 7 seconds"),
        "/boom/down": (502, "Your utility is not answering right now"),
    }
    for path, (status, text) in expected.items():
        page = web.get(path)
        assert page.status_code == status and text in page.get_data(as_text=True), path
    assert web.get("/boom/limited").headers["Retry-After"] == "7"
    assert "script-src" not in web.get("/").headers["Content-Security-Policy"]  # none at all


def _raising(error: Exception) -> Any:
    def view() -> None:
        raise error

    return view


def test_the_config_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="UTILITY_ISSUER"):
        create_asp_app({"CLIENT_ID": "x"})
