"""What the customer-side browser tests assert, in one place: an exact CSS viewport, waiting
for what a person would see, no sideways scrolling, tap targets a thumb can hit, full-page
screenshots, and the PKCE pair an ASP sends (RFC 7636 4.1-4.2).

Sizes come from getBoundingClientRect (CSS pixels), never from status codes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

TAP_TARGET_PX = 44  # WCAG 2.5.5 target size; Apple's and Google's guidance for phones
PHONE_WIDTH = 600  # below this the viewport is emulated as a phone's


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 4.1, 4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def viewport(browser: Any, width: int, height: int) -> None:
    """An exact CSS viewport (a window's size would include the browser's own frame)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < PHONE_WIDTH},
    )


def wait_for(browser: Any, css: str, timeout: float = 20) -> Any:
    """The first element matching ``css`` once it is visible."""
    return WebDriverWait(browser, timeout).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def visible_text(browser: Any) -> str:
    """The page's text as rendered (hidden elements excluded)."""
    return str(browser.find_element(By.TAG_NAME, "body").text)


def rect(browser: Any, element: Any) -> dict[str, float]:
    """The element's box in CSS pixels."""
    box: dict[str, float] = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, right: r.right, width: r.width, height: r.height};",
        element,
    )
    return box


def no_sideways_scroll(browser: Any) -> None:
    """Nothing is wider than the viewport; names the elements that stick out if it is."""
    wide, inner = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if wide > inner:
        culprits = browser.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)"
        )
        raise AssertionError(f"the page is {wide} px wide in a {inner} px viewport: {culprits}")


def tappable(browser: Any, element: Any, viewport_width: int) -> None:
    """Shown, inside the viewport's width, and tall enough for a finger."""
    assert element.is_displayed(), element.get_attribute("outerHTML")
    box = rect(browser, element)
    assert box["left"] >= 0 and box["right"] <= viewport_width, box
    assert box["height"] >= TAP_TARGET_PX, (box, element.get_attribute("outerHTML")[:200])


def buttons_tappable(browser: Any, viewport_width: int) -> int:
    """Every visible button (and link styled as one) on the page is tappable; how many."""
    found = [
        e
        for e in browser.find_elements(
            By.CSS_SELECTOR, "main button, main a.button, main input[type=submit]"
        )
        if e.is_displayed()
    ]
    for element in found:
        tappable(browser, element, viewport_width)
    return len(found)


def full_page(browser: Any, path: Path) -> None:
    """A screenshot of the whole page at the current width; the viewport is restored."""
    width, height, tall = browser.execute_script(
        "return [document.documentElement.clientWidth, window.innerHeight,"
        " document.documentElement.scrollHeight]"
    )
    viewport(browser, width, max(height, tall))
    browser.save_screenshot(str(path))
    viewport(browser, width, height)
    assert path.stat().st_size > 0
