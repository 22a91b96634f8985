"""The sample ASP (examples/asp_app) as a customer uses it, in Debian's Chromium: ``espi-sst
demo`` runs the utility, the fake MIDAS and the ASP on 127.0.0.1:8765; the customer
connects, signs in at the utility and approves, reads RINs, MIDAS prices and the bill
comparison chart on the dashboard, asks for a rate change, copies the passcode from the
demo inbox and watches the status page refresh itself until the utility accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_process import demo_process
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

PRICE = re.compile(r"^\$\d+\.\d{4} per kWh$")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with demo_process(tmp_path) as document:  # the ASP app on its default port, 8765
        yield document


def _wait(browser: Any, css: str, timeout: float = 30) -> Any:
    return WebDriverWait(browser, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _no_horizontal_overflow(browser: Any) -> None:
    wide, view = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert wide <= view, f"the page is {wide} px wide in a {view} px viewport"


def _reasons(browser: Any) -> dict[str, str]:
    return {
        item.get_attribute("data-tariff"): item.find_element(By.CSS_SELECTOR, ".reason").text
        for item in browser.find_elements(By.CSS_SELECTOR, "ul.rates.unavailable li")
    }


def test_a_customer_uses_the_sample_asp(demo: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    assert demo["asp_url"] == "http://127.0.0.1:8765/" and demo["midas_url"]
    blake = next(c for c in demo["customers"] if c["username"] == "blake")

    # Connect: the ASP sends the customer to the utility, who signs in and approves.
    browser.get(demo["asp_url"])
    _wait(browser, "#connect").click()
    _wait(browser, "input[name=username]").send_keys(blake["username"])
    browser.find_element(By.NAME, "password").send_keys(blake["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser, "button[value=approve]")
    assert "Energy Insights (demo ASP)" in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()

    # The dashboard: both RINs with their roles, a MIDAS price, the bill comparison chart.
    _wait(browser, "section.agreement")
    assert browser.current_url == demo["asp_url"] + "dashboard"
    rows = {
        row.get_attribute("data-rin"): row.text
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.rin")
    }
    assert list(rows) == ["USCA-PGXX-0100-0000", "USCA-XXPE-0440-0000"]
    assert "delivery" in rows["USCA-PGXX-0100-0000"]
    assert "generation" in rows["USCA-XXPE-0440-0000"]
    prices = [p.text for p in browser.find_elements(By.CSS_SELECTOR, "tr.rin .price")]
    assert prices and all(PRICE.match(p) for p in prices), prices

    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    assert {bar.get_attribute("data-tariff") for bar in bars} == {
        "E-TOU-C-DELIVERY",
        "E-1-DELIVERY",
    }  # Blake's comparison: one estimate per rate
    for bar in bars:
        assert float(bar.get_attribute("width")) > 0 and float(bar.get_attribute("height")) > 0
        assert bar.size["width"] > 0 and bar.size["height"] > 0  # drawn, not just declared
    current = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar.current")
    assert [bar.get_attribute("data-tariff") for bar in current] == ["E-TOU-C-DELIVERY"]
    chart_text = browser.find_element(By.CSS_SELECTOR, "svg.chart").text
    assert re.search(r"\$[\d,]+ a year", chart_text), chart_text

    browser.set_window_size(1280, 1800)
    # Only what can be chosen now is offered; the rest is listed with a plain reason.
    offered = browser.find_elements(By.CSS_SELECTOR, "ul.rates.choosable input[name=rin]")
    assert [o.get_attribute("data-tariff") for o in offered] == ["E-1-DELIVERY"]
    reasons = _reasons(browser)
    assert reasons["E-TOU-C-DELIVERY"] == "This is your rate now."
    assert all(text.endswith(".") and len(text) > 15 for text in reasons.values()), reasons
    browser.save_screenshot(str(tmp_path / "asp-dashboard-1280.png"))

    # A rate change to E-1-DELIVERY, confirmed with the passcode from the demo inbox.
    browser.find_element(By.CSS_SELECTOR, "input[name=rin][data-tariff='E-1-DELIVERY']").click()
    browser.find_element(By.CSS_SELECTOR, "form.rate-change button[type=submit]").click()
    code_field = _wait(browser, "input[name=code]")
    assert "Enter the passcode your utility sent you" in browser.page_source

    asp_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{demo['inbox_url']}/{blake['email']}")
    code = _wait(browser, "strong.passcode").text.strip()
    assert re.fullmatch(r"\d{6}", code), code
    browser.close()
    browser.switch_to.window(asp_tab)

    code_field.send_keys(code)
    browser.find_element(By.CSS_SELECTOR, "form.passcode button[type=submit]").click()
    _wait(browser, "#status")
    # The status page refreshes itself (meta refresh) until the utility decides.
    WebDriverWait(browser, 90).until(
        lambda b: b.find_element(By.ID, "status").text in ("accepted", "rejected")
    )
    assert browser.find_element(By.ID, "status").text == "accepted"
    assert "Your new rate starts on" in browser.page_source
    notices = browser.find_elements(By.CSS_SELECTOR, "ul.notifications li")
    assert notices and all(
        re.match(r"\d{1,2}:\d\d:\d\d [AP]M P[SD]T — the utility notified us", n.text)
        for n in notices
    ), [n.text for n in notices]
    browser.save_screenshot(str(tmp_path / "asp-status-1280.png"))

    # Accepted: E-1-DELIVERY is no longer offered, and the dashboard says when it starts.
    for width in (1280, 375):
        browser.set_window_size(width, 1400)
        browser.get(demo["asp_url"] + "dashboard")
        _wait(browser, "section.agreement")
        assert not browser.find_elements(By.CSS_SELECTOR, "input[name=rin]")
        accepted = _reasons(browser)["E-1-DELIVERY"]
        assert re.fullmatch(
            r"Your change to this rate is accepted: it starts on \w+ \d{1,2}, \d{4}\.", accepted
        ), accepted
        reason = browser.find_element(
            By.CSS_SELECTOR, "ul.rates.unavailable li[data-tariff='E-1-DELIVERY'] .reason"
        )
        assert reason.is_displayed() and reason.size["height"] > 0
        if width == 375:
            _no_horizontal_overflow(browser)
        browser.save_screenshot(str(tmp_path / f"asp-dashboard-accepted-{width}.png"))

    # Disconnect (375 px): the utility ends the grant; the app forgets its tokens.
    disconnect = browser.find_element(By.CSS_SELECTOR, "header button.link")
    assert disconnect.text == "Disconnect" and disconnect.is_displayed()
    assert disconnect.size["height"] >= 44 and disconnect.size["width"] >= 44  # a thumb's
    disconnect.click()
    done = _wait(browser, "#disconnected")
    assert "Your utility has ended our access" in done.text and done.is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "header button.link")
    browser.save_screenshot(str(tmp_path / "asp-disconnected-375.png"))
    browser.get(demo["asp_url"] + "dashboard")
    _wait(browser, "#connect")  # nothing kept: back to Connect my utility
