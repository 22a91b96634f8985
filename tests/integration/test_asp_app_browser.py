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

SCREENSHOT = Path("/tmp/asp-dashboard.png")
PRICE = re.compile(r"^\$\d+\.\d{4} per kWh$")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with demo_process(tmp_path) as document:  # the ASP app on its default port, 8765
        yield document


def _wait(browser: Any, css: str, timeout: float = 30) -> Any:
    return WebDriverWait(browser, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def test_a_customer_uses_the_sample_asp(demo: dict[str, Any], browser: Any) -> None:
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
    browser.save_screenshot(str(SCREENSHOT))

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
    assert browser.find_elements(By.CSS_SELECTOR, "ul.notifications li")
