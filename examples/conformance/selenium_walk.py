"""A browser script for ``espi-sst conformance`` when the portal needs JavaScript.

CONFIG::

    [browser]
    mode = "selenium"
    script = "selenium_walk.py"   # relative to CONFIG's folder

The kit calls :func:`walk` once per authorization it needs, with the authorization URL it
built (PKCE, state, nonce) and the test customer's credentials; the script drives a real
browser through sign-in and consent and returns the URL the browser was sent to at the
client's redirect URI (with the code or the error).  The ASP's redirect URI need not be
served: the URL is read from Chromium's network log, so nothing has to listen there.

Adapt the three ``_fill`` / ``_choose`` helpers to your portal's pages (these fit the
espi-sst portal: ``username`` / ``password`` inputs, ``button[value=approve|deny]``).
Needs ``pip install selenium`` and Chromium + chromedriver (Debian: chromium,
chromium-driver); ``CHROMIUM`` / ``CHROMEDRIVER`` override where they are.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 20


def _driver() -> Any:
    options = webdriver.ChromeOptions()
    binary = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if binary:
        options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='espi-walk-')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    service = Service(driver) if driver else Service()
    return webdriver.Chrome(service=service, options=options)


def _sent_to(browser: Any, redirect_uri: str) -> str | None:
    """The first request the browser made to the redirect URI, from the network log."""
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            request = message["params"]["request"]
            url = str(request["url"])
            if url.split("?", 1)[0].split("#", 1)[0] == redirect_uri:
                # A fragment (the hybrid flow's answer) is never sent: Chromium keeps it apart.
                return url + str(request.get("urlFragment") or "")
    return None


def _fill(browser: Any, username: str, password: str) -> None:
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def _choose(browser: Any, decision: str) -> None:
    button = (By.CSS_SELECTOR, f"button[value={decision}]")
    WebDriverWait(browser, TIMEOUT).until(expected_conditions.element_to_be_clickable(button))
    browser.find_element(*button).click()


def walk(
    *,
    authorize_url: str,
    username: str,
    password: str,
    decision: str,
    redirect_uri: str,
    totp_secret: str | None = None,
) -> str | None:
    browser = _driver()
    try:
        browser.get(authorize_url)
        if browser.find_elements(By.NAME, "password"):
            _fill(browser, username, password)
        chosen = False
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            found = _sent_to(browser, redirect_uri)
            if found:
                return found
            buttons = browser.find_elements(By.CSS_SELECTOR, f"button[value={decision}]")
            if buttons and not chosen:
                _choose(browser, decision)
                chosen = True
            elif (
                not chosen
                and browser.execute_script("return document.readyState") == "complete"
                and not browser.find_elements(By.CSS_SELECTOR, "form")
            ):
                return None  # a page without a form and no redirect: the portal's error page
            time.sleep(0.2)
        return None
    finally:
        browser.quit()
