"""The second passcode channel as a customer meets it, in Debian's Chromium at a phone's
width (375 px) and a desktop's (1280 px): Casey (on a phone) and Blake (on a desktop) sign in to the portal, open "How we send
your codes" (/portal/contact), are told plainly what is wrong with a number without its
country code, choose text messages with a valid number; an ASP then asks for a rate change,
the worker texts the passcode through the generic HTTP adapter to the demo's SMS sink, and
the SMS inbox page (/demo/sms) shows the message with the code picked out; the ASP relays
it and the change is confirmed.

The utility, the sink and the ASP's requests all run over real HTTP on free loopback ports.
Screenshots go to the test's own folder (pytest's tmp_path).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from espi_sst_server import create_app
from espi_sst_server.demo import DemoData, seed
from espi_sst_server.demo.sms_sink import SmsSink
from espi_sst_server.security import hash_secret, new_uuid
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application, Authorization, RetailCustomer, Token
from espi_sst_server.worker import Worker
from flask import Flask
from portal_browser import no_sideways_scroll, rect, viewport, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from werkzeug.serving import make_server

SCOPE = "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 usage sst:rin sst:rate_change"
CASES = {
    # width: (customer, their e-mail, the number typed, E.164, a rate they may choose)
    375: (
        "casey",
        "casey.nguyen@example.com",
        "+1 510 555 0142",
        "+15105550142",
        "USCA-PGPG-0100-0000",
    ),
    1280: (
        "blake",
        "blake.chen@example.com",
        "+1 (650) 555-0123",
        "+16505550123",
        "USCA-PGXX-0010-0000",
    ),
}


@dataclass
class SmsUtility:
    app: Flask
    base: str
    demo: DemoData
    sink: SmsSink


@pytest.fixture(scope="module")
def utility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmsUtility]:
    folder = tmp_path_factory.mktemp("sms-utility")
    sink = SmsSink(folder / "sms", token="browser-sink").start()
    server = make_server("127.0.0.1", 0, None, threaded=True)  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{server.server_port}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/sms.db",
            "ISSUER": base,
            "SECRET_KEY": "sms-browser",
            "UTILITY_NAME": "Demo Utility",
            "SMS_URL": sink.url,
            "SMS_TOKEN": sink.token,
            "DEMO_SMS_DIR": str(sink.folder),
            "RATELIMIT_ENABLED": False,
        }
    )
    server.app = app  # type: ignore[attr-defined]
    with app.app_context(), db.transaction() as session:
        demo = seed(session, now=int(time.time()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SmsUtility(app, base, demo, sink)
    finally:
        server.shutdown()
        server.server_close()
        sink.stop()
        app.extensions["espi_sst_db"].engine.dispose()


def _sign_in(browser: Any, utility: SmsUtility, username: str) -> None:
    customer = next(c for c in utility.demo.customers if c.username == username)
    browser.delete_all_cookies()
    browser.get(f"{utility.base}/portal/login?next=/portal/contact")
    wait_for(browser, "input[name=username]").send_keys(customer.username)
    browser.find_element(By.NAME, "password").send_keys(customer.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # Not the sign-in page's own h1: wait until the browser has left it.
    WebDriverWait(browser, 20).until(lambda b: urlsplit(b.current_url).path == "/portal/contact")
    wait_for(browser, "h1")


def _grant(app: Flask, username: str) -> tuple[str, str, str]:
    """An authorization of the demo ASP for the customer's electric service, with a bearer
    token, as the OAuth flow leaves them (the flow is tested in test_browser_flow.py)."""
    token = "t-" + new_uuid()
    moment = int(time.time())
    with app.app_context():
        session = db.session
        customer = session.scalar(select(RetailCustomer).where(RetailCustomer.username == username))
        application = session.scalar(
            select(Application).where(Application.client_id == "demo-energy-insights")
        )
        assert customer is not None and application is not None
        point = next(p for p in customer.usage_points if p.service_kind == 0)
        grant = Authorization(
            uuid=new_uuid(),
            subscription_uuid=new_uuid(),
            customer_id=customer.id,
            application_id=application.id,
            scope=SCOPE,
            status=1,
            created_at=moment,
            updated_at=moment,
            grant_type="authorization_code",
            usage_points=[point],
        )
        session.add(grant)
        session.flush()
        session.add(
            Token(
                family=new_uuid(),
                client_id=application.client_id,
                authorization_id=grant.id,
                access_token_hash=hash_secret(token),
                scope=SCOPE,
                issued_at=moment,
                access_expires_at=moment + 3600,
            )
        )
        session.commit()
        return token, grant.subscription_uuid, point.uuid


@pytest.mark.parametrize("width", [375, 1280])
def test_a_customer_chooses_sms_and_confirms_a_rate_change_by_text(
    utility: SmsUtility, browser: Any, tmp_path: Path, width: int
) -> None:
    username, email, typed, phone_number, target = CASES[width]
    viewport(browser, width, 900)
    _sign_in(browser, utility, username)
    assert browser.current_url.endswith("/portal/contact")
    heading = wait_for(browser, "h1")
    assert heading.text == "How we send your confirmation codes"
    nav = browser.find_element(By.CSS_SELECTOR, "nav a[href$='/portal/contact']")
    assert nav.text == "How we send your codes" and nav.is_displayed()
    email_choice = browser.find_element(By.CSS_SELECTOR, "label[for=channel-email]")
    sms_choice = browser.find_element(By.CSS_SELECTOR, "label[for=channel-sms]")
    save = browser.find_element(By.CSS_SELECTOR, "button.save")
    phone = browser.find_element(By.ID, "phone")
    assert f"E-mail to {email}" in email_choice.text
    for tappable in (email_choice, sms_choice, save, phone):  # targets a thumb can hit
        assert rect(browser, tappable)["height"] >= 44, tappable.get_attribute("outerHTML")
    no_sideways_scroll(browser)
    browser.save_screenshot(str(tmp_path / f"contact-{width}.png"))

    # A national number: refused, saying how to write it; nothing saved.
    sms_choice.click()
    phone.clear()
    phone.send_keys(typed.removeprefix("+1 "))
    browser.find_element(By.CSS_SELECTOR, "button.save").click()
    error = wait_for(browser, "#error")
    assert "Start the number with + and the country code" in error.text
    no_sideways_scroll(browser)
    browser.save_screenshot(str(tmp_path / f"contact-error-{width}.png"))

    browser.find_element(By.CSS_SELECTOR, "label[for=channel-sms]").click()
    phone = browser.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys(typed)
    browser.find_element(By.CSS_SELECTOR, "button.save").click()
    saved = wait_for(browser, "#saved")
    assert saved.text == f"Saved. Your codes now go by text message to {phone_number}."
    assert browser.find_element(By.ID, "channel-sms").is_selected()
    assert browser.find_element(By.ID, "phone").get_attribute("value") == phone_number
    browser.save_screenshot(str(tmp_path / f"contact-saved-{width}.png"))

    # The ASP asks for a rate change; the worker texts the code to the sink.
    token, subscription, point = _grant(utility.app, username)
    bearer = {"Authorization": f"Bearer {token}"}
    base = f"{utility.base}/espi/1_1/resource/Subscription/{subscription}/UsagePoint/{point}"
    asked = requests.post(
        f"{base}/RateChangeRequest",
        json={"targetRin": target},
        headers={**bearer, "Idempotency-Key": f"browser-{width}"},
        timeout=30,
    )
    assert asked.status_code == 202, asked.text
    Worker(utility.app).run_once()

    browser.get(f"{utility.base}/demo/sms/{phone_number}")
    shown = wait_for(browser, "strong.passcode")
    code = shown.text.strip()
    assert re.fullmatch(r"\d{6}", code), code
    message = browser.find_elements(By.CSS_SELECTOR, "article.sms")[0]
    assert "asked to change your rate to" in message.text and f"to {phone_number}" in message.text
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == f"Text messages to {phone_number}"
    assert shown.size["height"] > 0 and shown.is_displayed()
    no_sideways_scroll(browser)
    browser.save_screenshot(str(tmp_path / f"sms-inbox-{width}.png"))

    rid = str(asked.headers["Location"]).rsplit("/", 1)[1]
    confirmed = requests.post(
        f"{base}/RateChangeRequest/{rid}/Confirmation",
        json={"code": code},
        headers=bearer,
        timeout=30,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert re.search(r"<(?:\w+:)?status>confirmed</", confirmed.text), confirmed.text
    for name in ("contact", "contact-error", "contact-saved", "sms-inbox"):
        assert (tmp_path / f"{name}-{width}.png").stat().st_size > 0
