"""Issue 13's "done when": one customer's whole walk through the utility's side, in Debian's
Chromium, at a phone's width (375 px) and a desktop's (1280 px).

In order, as one customer would: sign in at the ASP's request; consent through
/oauth/authorize (a real authorization-code flow with PKCE, RFC 7636: the test is the ASP,
driving requests; the browser is the customer), seeing the ASP's name, the data categories
in plain words and the service address, choosing "Until a date I choose"; the authorizations
page shows the grant in the consent's words; the customer chooses text messages at
/portal/contact; the ASP asks for a rate change; the worker texts the passcode to the demo SMS
sink; the customer reads it in the SMS inbox (/demo/sms) and the ASP relays it (concept design
7.6); the authorizations page says the change is confirmed; the rates page shows the RIN(s)
as text and as QR codes that decode (zxing-cpp, from Chromium's own pixels) to exactly that
text (Title 20 1623(c)(4)); a complaint about the ASP is filed and its reference shown
(UC1.4, 6.4.6); the grant is revoked through its confirmation step and shows "ended by you".

Every page: no sideways scrolling, every button in it (and the navigation) at least 44 px
tall at 375 px, a full-page screenshot under the test's tmp_path (the folder is printed).
At the end the server side is checked: the complaint row and its queued mail, the rate change
confirmed, the grant ended by the customer.

Blake (unbundled: a delivery and a generation RIN) walks at 375 px; Casey (bundled electric
plus gas: two service agreements) at 1280 px.  One utility on a free loopback port (SQLite,
the demo seed), the worker run in-process.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.demo import DemoData, seed
from espi_sst_server.demo.sms_sink import SmsSink
from espi_sst_server.lifecycle.registration import register_application
from espi_sst_server.outbox._seal import unseal
from espi_sst_server.outbox.queue import SEALED
from espi_sst_server.storage import db
from espi_sst_server.storage.models import (
    Application,
    AspComplaint,
    Authorization,
    OutboxMessage,
    RateChangeRequestRecord,
    RetailCustomer,
)
from espi_sst_server.worker import Worker
from flask import Flask
from live_servers import _Callback, free_port
from portal_browser import (
    buttons_tappable,
    full_page,
    no_sideways_scroll,
    pkce,
    rect,
    tappable,
    viewport,
    visible_text,
    wait_for,
)
from qr_pixels import decode_png
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select
from werkzeug.serving import make_server

ASP = "Walk-through Energy"
COMPLAINTS_DESK = "complaints@utility.example"
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=13"
    " basic billing usage sst:rin sst:rate_change"
)
RIN = re.compile(r"^USCA-[A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")


@dataclass(frozen=True)
class Walker:
    username: str
    address: str
    phone_typed: str
    phone: str  # E.164, as the portal stores it
    target_rin: str  # a rate they may choose now
    rin_labels: tuple[str, ...]  # the RIN figures on the rates page, in order


WALKERS = {
    375: Walker(
        "blake",
        "318 Hillcrest Dr, San Mateo, CA 94402",
        "+1 (650) 555-0123",
        "+16505550123",
        "USCA-PGXX-0010-0000",
        ("Delivery RIN", "Generation RIN"),  # unbundled: PG&E delivers, PCE generates
    ),
    1280: Walker(
        "casey",
        "5120 Claremont Ave, Oakland, CA 94618",
        "+1 510 555 0142",
        "+15105550142",
        "USCA-PGPG-0100-0000",
        ("Rate identification number (RIN)",),  # bundled: one RIN (the gas has none)
    ),
}


@dataclass
class WalkUtility:
    app: Flask
    base: str
    demo: DemoData
    client_id: str
    client_secret: str
    redirect_uri: str


@pytest.fixture(scope="module")
def walk_utility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalkUtility]:
    folder = tmp_path_factory.mktemp("walk-utility")
    sink = SmsSink(folder / "sms", token="walk-sink").start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/walk.db",
            "ISSUER": base,
            "SECRET_KEY": "walk-browser",
            "UTILITY_NAME": "Demo Utility",
            "SMS_URL": sink.url,
            "SMS_TOKEN": sink.token,
            "DEMO_SMS_DIR": str(sink.folder),
            "COMPLAINTS_EMAIL": COMPLAINTS_DESK,
            "NOTIFY_ALLOW_LOOPBACK": True,
            "RATELIMIT_ENABLED": False,
        }
    )
    callback = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    callback.requests = []  # type: ignore[attr-defined]
    redirect_uri = f"http://127.0.0.1:{callback.server_address[1]}/callback"
    with app.app_context():
        with db.transaction() as session:
            demo = seed(session, now=int(time.time()))
        registered = register_application(
            db.session,
            name=ASP,
            redirect_uris=[redirect_uri],
            notify_uri=redirect_uri + "/notify",
            asp_class="rate-change",
        )
    assert registered.client_secret is not None
    server = make_server("127.0.0.1", port, app, threaded=True)
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=callback.serve_forever, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield WalkUtility(
            app, base, demo, registered.client_id, registered.client_secret, redirect_uri
        )
    finally:
        server.shutdown()
        server.server_close()
        callback.shutdown()
        callback.server_close()
        sink.stop()
        app.extensions["espi_sst_db"].engine.dispose()


class Page:
    """Checks every page the same way and keeps its screenshot."""

    def __init__(self, browser: Any, folder: Path, width: int) -> None:
        self.browser, self.folder, self.width = browser, folder, width
        self.taken: list[str] = []

    def check(self, name: str) -> None:
        no_sideways_scroll(self.browser)
        if self.width < 600:
            buttons_tappable(self.browser, self.width)
            for link in self.browser.find_elements(By.CSS_SELECTOR, "nav a"):
                if link.is_displayed():
                    tappable(self.browser, link, self.width)
        full_page(self.browser, self.folder / f"{len(self.taken) + 1:02d}-{name}-{self.width}.png")
        self.taken.append(name)


def _consent_url(utility: WalkUtility, challenge: str, state: str) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": utility.client_id,
            "redirect_uri": utility.redirect_uri,
            "scope": SCOPE,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{utility.base}/oauth/authorize?{query}"


def _electric_point(app: Flask, username: str) -> str:
    with app.app_context():
        customer = db.session.scalar(
            select(RetailCustomer).where(RetailCustomer.username == username)
        )
        assert customer is not None
        return next(p.uuid for p in customer.usage_points if p.service_kind == 0)


@pytest.mark.parametrize("width", [375, 1280])
def test_one_customer_walks_the_portal(
    walk_utility: WalkUtility, browser: Any, tmp_path: Path, width: int
) -> None:
    started = time.monotonic()
    walker = WALKERS[width]
    customer = next(c for c in walk_utility.demo.customers if c.username == walker.username)
    page = Page(browser, tmp_path, width)
    print(f"screenshots: {tmp_path}")
    browser.delete_all_cookies()
    viewport(browser, width, 812 if width < 600 else 900)
    http = requests.Session()

    # ---- the ASP sends the customer to the utility; the customer signs in
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(12)
    browser.get(_consent_url(walk_utility, challenge, state))
    wait_for(browser, "input[name=username]").send_keys(customer.username)
    browser.find_element(By.NAME, "password").send_keys(customer.password)
    page.check("sign-in")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # ---- consent: who asks, what in plain words, where, for how long
    allow = wait_for(browser, "button[value=approve]")
    text = visible_text(browser)
    assert f"{ASP} asks for access to your data" in text
    for words in (
        "Basic information",
        "Billing information",
        "Usage information",
        "Release rate identification (RIN)",
        walker.address,
        "Until I revoke it",
        "Until a date I choose",
    ):
        assert words in text, words
    assert "FB=" not in text and "sst:" not in text
    tappable(browser, allow, width)
    tappable(browser, browser.find_element(By.CSS_SELECTOR, "button[value=deny]"), width)
    page.check("consent")
    end = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=90)
    browser.find_element(By.CSS_SELECTOR, "label[for=until-date-choice]").click()
    browser.execute_script(
        "arguments[0].value = arguments[1];", browser.find_element(By.ID, "until"), end.isoformat()
    )
    assert browser.find_element(By.ID, "until-date-choice").is_selected()
    allow.click()
    wait_for(browser, "#done")  # back at the ASP, with a code

    # The ASP exchanges the code with its PKCE verifier (RFC 7636 4.5, 4.6).
    returned = parse_qs(urlsplit(browser.current_url).query)
    assert returned["state"] == [state]
    token = http.post(
        f"{walk_utility.base}/oauth/token",
        auth=(walk_utility.client_id, walk_utility.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": returned["code"][0],
            "redirect_uri": walk_utility.redirect_uri,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    batch = str(token.json()["resourceURI"])  # .../Batch/Subscription/{id} (ESPI 1.1)
    assert "/Batch/Subscription/" in batch, batch
    subscription = batch.replace("/Batch/Subscription/", "/Subscription/")

    # ---- the authorizations page: the grant in the consent's words
    browser.get(f"{walk_utility.base}/portal/authorizations")
    grant = wait_for(browser, "article.grant")
    assert ASP in grant.text and "Status: active" in grant.text
    assert "Release rate identification (RIN)" in grant.text
    assert f"until the end of {end.isoformat()}" in grant.text
    assert walker.address in grant.text
    assert "FB=" not in visible_text(browser)
    page.check("authorizations")

    # ---- codes by text message
    browser.get(f"{walk_utility.base}/portal/contact")
    assert wait_for(browser, "h1").text == "How we send your confirmation codes"
    browser.find_element(By.CSS_SELECTOR, "label[for=channel-sms]").click()
    phone = browser.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys(walker.phone_typed)
    page.check("contact")
    browser.find_element(By.CSS_SELECTOR, "button.save").click()
    saved = wait_for(browser, "#saved")
    assert saved.text == f"Saved. Your codes now go by text message to {walker.phone}."
    page.check("contact-saved")

    # ---- the ASP asks for a rate change; the worker texts the passcode
    point = _electric_point(walk_utility.app, walker.username)
    changes = f"{subscription}/UsagePoint/{point}/RateChangeRequest"
    asked = http.post(
        changes,
        json={"targetRin": walker.target_rin},
        headers={**bearer, "Idempotency-Key": f"walk-{width}"},
        timeout=30,
    )
    assert asked.status_code == 202, asked.text
    Worker(walk_utility.app).run_once()

    browser.get(f"{walk_utility.base}/portal/authorizations")
    change = wait_for(browser, "li.rate-change")
    assert "waiting for the confirmation code we texted you" in change.text, change.text

    browser.get(f"{walk_utility.base}/demo/sms/{walker.phone}")
    shown = wait_for(browser, "strong.passcode")
    code = shown.text.strip()
    assert re.fullmatch(r"\d{6}", code), code
    assert rect(browser, shown)["height"] > 0
    assert "asked to change your rate to" in visible_text(browser)
    page.check("sms-inbox")

    rid = str(asked.headers["Location"]).rsplit("/", 1)[1]
    confirmed = http.post(
        f"{changes}/{rid}/Confirmation", json={"code": code}, headers=bearer, timeout=30
    )
    assert confirmed.status_code == 200, confirmed.text

    browser.get(f"{walk_utility.base}/portal/authorizations")
    change = wait_for(browser, "li.rate-change")
    assert "confirmed by you" in change.text, change.text
    assert "waiting for the confirmation code" not in visible_text(browser)
    page.check("change-confirmed")

    # ---- the RINs, as text and as QR codes a camera reads
    browser.get(f"{walk_utility.base}/portal/rates")
    wait_for(browser, "figure.rin")
    figures = browser.find_elements(By.CSS_SELECTOR, "figure.rin")
    labels = tuple(f.find_element(By.TAG_NAME, "strong").text for f in figures)
    assert labels == walker.rin_labels, labels
    for index, figure in enumerate(figures):
        shown_rin = figure.find_element(By.CSS_SELECTOR, "code.rin-text")
        assert shown_rin.is_displayed() and RIN.match(shown_rin.text), shown_rin.text
        qr = figure.find_element(By.CSS_SELECTOR, "svg.rin-qr")
        box = rect(browser, qr)
        assert box["width"] >= 120 and box["height"] >= 120, box
        assert box["right"] <= width, box
        browser.execute_script("arguments[0].scrollIntoView()", qr)
        png = qr.screenshot_as_png
        (tmp_path / f"qr-{index + 1}-{width}.png").write_bytes(png)
        assert decode_png(png) == [shown_rin.text], "the camera reads exactly the RIN shown"
    page.check("rates")

    # ---- a complaint about the ASP
    browser.get(f"{walk_utility.base}/portal/complaints")
    assert wait_for(browser, "h1").text == "Report a company"
    Select(browser.find_element(By.ID, "application")).select_by_visible_text(ASP)
    browser.find_element(By.CSS_SELECTOR, "input[name=category][value=misleading]").click()
    complaint_text = f"It texted me at {width} px to switch my rate, after I said no."
    browser.find_element(By.ID, "text").send_keys(complaint_text)
    if width < 600:
        tappable(browser, browser.find_element(By.ID, "application"), width)
    page.check("complaint")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    confirmation = wait_for(browser, "#confirmation")
    reference = browser.find_element(By.ID, "reference").text
    assert re.fullmatch(r"C-[A-Z2-9]{8}", reference), reference
    assert f"Your reference number is {reference}." in confirmation.text
    page.check("complaint-filed")

    # ---- revoke, with its confirmation step
    browser.get(f"{walk_utility.base}/portal/authorizations")
    revoke = wait_for(browser, "article.grant a[href$='/revoke']")
    tappable(browser, revoke, width)
    revoke.click()
    yes = wait_for(browser, "button.danger")
    assert f"Stop sharing with {ASP}?" in visible_text(browser)
    assert browser.find_element(By.LINK_TEXT, "No, keep sharing").is_displayed()
    page.check("revoke-confirm")
    yes.click()
    result = wait_for(browser, "#result")
    assert f"You ended {ASP}'s access." in result.text
    grant = browser.find_elements(By.CSS_SELECTOR, "article.grant")[0]
    assert "Status: ended by you" in grant.text
    assert "Status: active" not in visible_text(browser)
    page.check("revoked")
    http.close()

    # ---- the server side agrees with what the customer saw
    with walk_utility.app.app_context():
        session = db.session
        filed = session.scalar(select(AspComplaint).where(AspComplaint.reference == reference))
        assert filed is not None and filed.text == complaint_text
        assert filed.category == "misleading" and filed.had_grant
        assert filed.mailed_to == COMPLAINTS_DESK
        assert filed.application.client_name == ASP
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.destination == COMPLAINTS_DESK)
        ).all()
        mail = next(m for m in mails if reference in m.payload["subject"])
        assert ASP in mail.payload["subject"]
        assert complaint_text in unseal(walk_utility.app, mail.payload[SEALED])["text"]
        record = session.scalar(
            select(RateChangeRequestRecord).where(RateChangeRequestRecord.uuid == rid)
        )
        assert record is not None and record.status == "confirmed"
        assert record.target_rin == walker.target_rin and record.confirmed_at is not None
        application = session.scalar(
            select(Application).where(Application.client_id == walk_utility.client_id)
        )
        assert application is not None
        ended = session.scalar(
            select(Authorization)
            .join(RetailCustomer, Authorization.customer_id == RetailCustomer.id)
            .where(
                Authorization.application_id == application.id,
                RetailCustomer.username == walker.username,
            )
        )
        assert ended is not None and ended.status == 0
        assert ended.ended_reason == "revoked_by_customer" and ended.revoked_at is not None

    assert page.taken == [
        "sign-in",
        "consent",
        "authorizations",
        "contact",
        "contact-saved",
        "sms-inbox",
        "change-confirmed",
        "rates",
        "complaint",
        "complaint-filed",
        "revoke-confirm",
        "revoked",
    ]
    assert len(list(tmp_path.glob(f"[0-9][0-9]-*-{width}.png"))) == len(page.taken)
    elapsed = time.monotonic() - started
    print(f"walk at {width} px: {elapsed:.1f} s, {len(page.taken)} pages")
    assert elapsed < 60, f"the walk took {elapsed:.0f} s"
