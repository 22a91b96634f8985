"""The customer's side in Debian's Chromium at a phone's and a desktop's width (issue 13):
the consent page, Allow, the authorizations page, Revoke with its confirmation step, the
result.  Asserts what a person sees -- visible words, computed colours, element sizes,
no sideways scrolling -- not status codes.  Screenshots go to the test's tmp_path (its
path is printed; pytest keeps the last three runs under its basetemp)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from live_servers import LiveUtility
from portal_browser import (
    full_page,
    no_sideways_scroll,
    pkce,
    tappable,
    viewport,
    visible_text,
    wait_for,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from test_browser_flow import SCOPE

ADDRESS = "2417 E Olive Ave, Fresno, CA 93701"  # the demo's bundled customer
PHONE, DESKTOP = (375, 812), (1280, 900)


def _viewport(browser: Any, size: tuple[int, int]) -> None:
    viewport(browser, *size)


def _screenshot(browser: Any, path: Path, size: tuple[int, int]) -> None:
    """The whole page at this width (the viewport stretched to the page's height)."""
    _viewport(browser, size)
    full_page(browser, path)


def _background(browser: Any, element: Any) -> str:
    return str(
        browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor;", element)
    )


def _luminance(css: str) -> float:
    """WCAG 2.x relative luminance of a computed ``rgb(...)``/``rgba(...)`` colour."""
    red, green, blue, *alpha = (float(v) for v in re.findall(r"[\d.]+", css))
    if alpha and alpha[0] == 0:
        red = green = blue = 255.0  # transparent: the page's white shows through
    channels = [c / 255 for c in (red, green, blue)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(browser: Any, element: Any) -> float:
    """Contrast ratio of the element's text on its own (or the page's) background."""
    color, background = browser.execute_script(
        "const s = getComputedStyle(arguments[0]); return [s.color, s.backgroundColor];", element
    )
    light, dark = sorted((_luminance(color), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


WCAG_AA = 4.5  # WCAG 2.2 1.4.3, normal-size text


def _focus_order(browser: Any, presses: int = 60) -> list[str]:
    """What Tab reaches, in order, from the top of the page (ids, or button values)."""
    browser.execute_script(
        "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);"
    )
    reached: list[str] = []
    for _ in range(presses):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        name = browser.execute_script(
            "const e = document.activeElement; return e.id || e.value || e.textContent;"
        )
        if not reached or reached[-1] != name:  # a date input's parts are one control
            reached.append(str(name))
    return reached


def _authorize_url(live: LiveUtility) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": live.client_id,
            "redirect_uri": live.redirect_uri,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),  # the scope has openid
            "code_challenge": pkce()[1],
            "code_challenge_method": "S256",
        }
    )
    return f"{live.issuer}/oauth/authorize?{query}"


def _sign_in_if_asked(browser: Any, live: LiveUtility) -> None:
    WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.NAME, "username")
        or b.find_elements(By.CSS_SELECTOR, "button[value=approve]")
    )
    if browser.find_elements(By.NAME, "username"):
        customer = live.demo.customer("bundled")
        browser.find_element(By.NAME, "username").send_keys(customer.username)
        browser.find_element(By.NAME, "password").send_keys(customer.password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_consent_authorizations_and_revoke_as_a_customer_sees_them(
    live_utility: LiveUtility, browser: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    width = size[0]
    name = "phone" if width < 600 else "desktop"
    _viewport(browser, size)
    browser.get(_authorize_url(live_utility))
    _sign_in_if_asked(browser, live_utility)

    # ---- the consent page
    allow = wait_for(browser, "button[value=approve]")
    deny = browser.find_element(By.CSS_SELECTOR, "button[value=deny]")
    text = visible_text(browser)
    assert "End-to-end ASP asks for access to your data" in text
    assert "Qualified for the Single Statewide Tool" in text and "Rate-change company" in text
    for words in (
        "Basic information",
        "Billing information",
        "Usage information",
        "Release rate identification (RIN)",
        "History of up to 13 months before today.",
        "Usage in 15-minute readings.",
        "Ongoing access",
        ADDRESS,
        "Until I revoke it",
        "Until a date I choose",
        "Your authorizations",
    ):
        assert words in text, words
    assert "FB=" not in text and "sst:rin" not in text
    assert _background(browser, allow) != _background(browser, deny)
    hint = browser.find_element(By.CSS_SELECTOR, "fieldset .hint")
    for element in (allow, deny, hint, browser.find_element(By.TAG_NAME, "h1")):
        assert _contrast(browser, element) >= WCAG_AA, element.text
    # Keyboard: what to share, from where, for how long, then Allow before Deny.
    order = _focus_order(browser)
    wanted = ["category-1", "point-1", "until-revoked", "until", "approve", "deny"]
    assert all(w in order for w in wanted), order
    assert [order.index(w) for w in wanted] == sorted(order.index(w) for w in wanted), order
    if width < 600:
        tappable(browser, allow, width)
        tappable(browser, deny, width)
    no_sideways_scroll(browser)
    _screenshot(browser, tmp_path / f"consent-{name}.png", size)

    # One control for how long: clicking the label chooses the date; the date is used.
    end = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=60)
    browser.find_element(By.CSS_SELECTOR, "label[for=until-date-choice]").click()
    assert browser.find_element(By.ID, "until-date-choice").is_selected()
    assert not browser.find_element(By.ID, "until-revoked").is_selected()
    browser.execute_script(
        "arguments[0].value = arguments[1];", browser.find_element(By.ID, "until"), end.isoformat()
    )
    allow.click()
    wait_for(browser, "#done")  # back at the ASP

    # ---- the authorizations page
    browser.get(f"{live_utility.issuer}/portal/authorizations")
    grant = wait_for(browser, "article.grant")
    text = grant.text
    assert "End-to-end ASP" in text and "Status: active" in text
    assert "Basic information" in text and "Release rate identification (RIN)" in text
    assert f"until the end of {end.isoformat()}" in text  # the day chosen
    assert "FB=" not in visible_text(browser)
    revoke = grant.find_element(By.CSS_SELECTOR, "a[href$='/revoke']")
    assert revoke.text.startswith("Revoke")
    tappable(browser, revoke, width)
    no_sideways_scroll(browser)
    _screenshot(browser, tmp_path / f"authorizations-{name}.png", size)

    # ---- Revoke: a confirmation page, then the result
    revoke.click()
    yes = wait_for(browser, "button.danger")
    assert "Stop sharing with End-to-end ASP?" in visible_text(browser)
    keep = browser.find_element(By.LINK_TEXT, "No, keep sharing")
    assert _background(browser, yes) != _background(browser, keep)
    tappable(browser, yes, width)
    tappable(browser, keep, width)
    no_sideways_scroll(browser)
    _screenshot(browser, tmp_path / f"revoke-confirm-{name}.png", size)
    yes.click()

    result = wait_for(browser, "#result")
    assert "You ended End-to-end ASP's access." in result.text
    newest = browser.find_elements(By.CSS_SELECTOR, "article.grant")[0].text
    assert "Status: ended by you" in newest
    assert "Status: active" not in visible_text(browser)
    no_sideways_scroll(browser)
    _screenshot(browser, tmp_path / f"revoked-{name}.png", size)
    print(f"screenshots: {tmp_path}")
    assert len(list(tmp_path.glob("*.png"))) == 4
