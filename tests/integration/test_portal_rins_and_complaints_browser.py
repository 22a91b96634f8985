"""Issue 13, as a customer sees it in Debian's Chromium at a phone's width (375 px) and a
desktop's (1280 px): the RINs in the online account (Title 20 1623(c)(4)) as text and as a
QR code a camera reads -- decoded here from Chromium's own pixels -- and a complaint about an
ASP (concept design UC1.4, 6.4.6) with its visible confirmation.

The seeded demo utility serves on a free port (live_servers.py); Blake is unbundled (PG&E
delivers, Peninsula Clean Energy generates), so the page has a delivery RIN and a
generation RIN.  Screenshots are written under the test's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from live_servers import LiveUtility
from portal_browser import full_page, no_sideways_scroll, viewport
from qr_pixels import decode_png
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

RIN = re.compile(r"^USCA-[A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}


def _sign_in(browser: Any, issuer: str, username: str, password: str, path: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{issuer}/portal/login?next=/portal/{path}")
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.NAME, "username"))
    )
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The sign-in page's own address contains "next=/portal/{path}": wait for the path itself.
    WebDriverWait(browser, 20).until(lambda b: urlsplit(b.current_url).path == f"/portal/{path}")
    WebDriverWait(browser, 20).until(
        expected_conditions.visibility_of_element_located((By.TAG_NAME, "h1"))
    )


@pytest.mark.parametrize("device", list(WIDTHS))
def test_the_customer_sees_and_scans_both_rins(
    live_utility: LiveUtility, browser: Any, tmp_path: Path, device: str
) -> None:
    width, height = WIDTHS[device]
    viewport(browser, width, height)
    blake = live_utility.demo.customer("unbundled")
    _sign_in(browser, live_utility.issuer, blake.username, blake.password, "rates")

    figures = browser.find_elements(By.CSS_SELECTOR, "figure.rin")
    labels = [f.find_element(By.TAG_NAME, "strong").text for f in figures]
    assert labels == ["Delivery RIN", "Generation RIN"]
    for figure in figures:
        text = figure.find_element(By.CSS_SELECTOR, "code.rin-text")
        assert text.is_displayed() and RIN.match(text.text), text.text
        code = figure.find_element(By.CSS_SELECTOR, "svg.rin-qr")
        box = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height, r.right];",
            code,
        )
        assert box[0] >= 120 and box[1] >= 120, f"QR code {box[0]}x{box[1]} px"
        assert box[2] <= width, "the code fits the screen"
        browser.execute_script("arguments[0].scrollIntoView()", code)
        png = code.screenshot_as_png
        (tmp_path / f"qr-{device}-{len(png)}.png").write_bytes(png)
        assert decode_png(png) == [text.text], "the camera reads exactly the RIN shown"
    assert "Peninsula Clean Energy" in figures[1].text
    no_sideways_scroll(browser)
    full_page(browser, tmp_path / f"rates-{device}.png")
    assert (tmp_path / f"rates-{device}.png").stat().st_size > 0


@pytest.mark.parametrize("device", list(WIDTHS))
def test_the_customer_reports_an_asp_and_sees_the_reference(
    live_utility: LiveUtility, browser: Any, tmp_path: Path, device: str
) -> None:
    width, height = WIDTHS[device]
    viewport(browser, width, height)
    alex = live_utility.demo.customer("bundled")
    _sign_in(browser, live_utility.issuer, alex.username, alex.password, "complaints")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Report a company"

    # Too short first: the form says what to fix, and keeps what was chosen.
    Select(browser.find_element(By.ID, "application")).select_by_visible_text("End-to-end ASP")
    browser.find_element(By.CSS_SELECTOR, "input[name=category][value=misleading]").click()
    browser.find_element(By.ID, "text").send_keys("pushy")
    no_sideways_scroll(browser)
    for target in ("#application", "fieldset label", "form button[type=submit]"):
        tall = browser.execute_script(
            "return arguments[0].getBoundingClientRect().height",
            browser.find_element(By.CSS_SELECTOR, target),
        )
        assert tall >= 44, f"{target} is a {tall} px tap target"
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    alert = WebDriverWait(browser, 20).until(
        expected_conditions.visibility_of_element_located((By.ID, "errors"))
    )
    assert "Your report was not sent." in alert.text
    assert "Write between 10 and 2000 characters (you wrote 5)." in alert.text
    full_page(browser, tmp_path / f"complaint-error-{device}.png")
    viewport(browser, width, height)

    words = browser.find_element(By.ID, "text")
    words.clear()
    words.send_keys("It phoned me every day to switch my rate, after I said no.")
    assert browser.find_element(
        By.CSS_SELECTOR, "input[name=category][value=misleading]"
    ).is_selected()
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    confirmation = WebDriverWait(browser, 20).until(
        expected_conditions.visibility_of_element_located((By.ID, "confirmation"))
    )
    reference = browser.find_element(By.ID, "reference").text
    assert re.fullmatch(r"C-[A-Z2-9]{8}", reference), reference
    assert f"Your reference number is {reference}." in confirmation.text
    assert "End-to-end ASP" in browser.find_element(By.TAG_NAME, "main").text
    no_sideways_scroll(browser)
    full_page(browser, tmp_path / f"complaint-filed-{device}.png")
