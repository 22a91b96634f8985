"""The customer's part of an authorization: sign in at the utility's portal and consent.

Three ways, chosen by CONFIG's ``[browser] mode``:

* ``form`` -- :class:`FormWalker`, built in: follows redirects, fills the sign-in form (and
  a one-time-code form when the customer has a ``totp_secret``), then presses the consent
  form's allow or deny button, until the server redirects to the client's redirect URI.
  Works on any portal whose pages are plain HTML forms (ours, the GBA DataCustodian's).
* ``selenium`` -- :class:`ScriptAgent`: a Python file of the utility's or ASP's own whose
  ``walk(...)`` drives a real browser through a portal that needs JavaScript and returns the
  URL the browser ended at (examples/conformance/selenium_walk.py is one).
* ``paste`` -- :class:`PasteAgent`: a person at a Plug Fest opens the printed URL, signs in,
  chooses, and pastes the address the browser ends at.

Each returns a :class:`WalkOutcome`: the redirect back to the client (with its code or
error), or the page the server showed instead (an error page is a valid answer to a bad
request: RFC 6749 4.1.2.1 forbids redirecting to an unverified redirect URI).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests

from .config import BrowserConfig, CustomerConfig
from .errors import ConformanceConfigError, ScenarioFailed
from .recorder import RecordingHttp

__all__ = ["CustomerAgent", "FormWalker", "PasteAgent", "ScriptAgent", "WalkOutcome", "make_agent"]

MAX_STEPS = 15
_APPROVE = re.compile(r"allow|approve|authori[sz]e|accept|agree|grant|consent|yes", re.I)
_DENY = re.compile(r"deny|reject|decline|cancel|refuse|\bno\b", re.I)
_OTP = re.compile(r"otp|totp|one.?time|passcode|second.?factor|^code$", re.I)


@dataclass(frozen=True)
class WalkOutcome:
    """Where the customer's part ended: ``callback`` (the redirect to the client), or a page."""

    callback: str | None
    status: int
    page_text: str = ""


class CustomerAgent(Protocol):
    def walk(
        self, authorize_url: str, customer: CustomerConfig, decision: str, redirect_uri: str
    ) -> WalkOutcome: ...


def is_callback(url: str, redirect_uri: str) -> bool:
    """``url`` is the redirect URI itself plus a query or fragment (exact match, RFC 9700 2.1)."""
    base = url.split("#", 1)[0].split("?", 1)[0]
    return base == redirect_uri.split("?", 1)[0]


class FormWalker:
    """Walks plain HTML sign-in and consent forms with a cookie session per customer."""

    def __init__(self, http: RecordingHttp, browser: BrowserConfig) -> None:
        self.http = http
        self.browser = browser
        self.sessions: dict[str, requests.Session] = {}

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()

    def walk(
        self, authorize_url: str, customer: CustomerConfig, decision: str, redirect_uri: str
    ) -> WalkOutcome:
        from lxml import html

        session = self.sessions.setdefault(customer.username, requests.Session())
        method, url, data = "GET", authorize_url, None
        filled_password = False
        for _step in range(MAX_STEPS):
            if is_callback(url, redirect_uri):
                return WalkOutcome(url, 302)
            response = self.http.request(method, url, data=data, session=session)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                method, data = "GET", None
                continue
            body = response.text
            if "html" not in response.headers.get("Content-Type", "") or not body.strip():
                return WalkOutcome(None, response.status_code, body[:500])
            page = html.fromstring(body, base_url=url)
            forms = [f for f in page.forms if f.xpath(".//input|.//button")]
            if not forms or response.status_code >= 400:
                return WalkOutcome(None, response.status_code, _text(page))
            form = forms[0]
            values = dict(form.form_values())
            fields = list(form.form_values())
            password = self._password_input(form)
            if password is not None:
                if filled_password:
                    return WalkOutcome(None, response.status_code, _text(page))
                values[password] = customer.password
                values[self._username_input(form, password)] = customer.username
                fields = list(values.items())
                filled_password = True
            elif (otp := self._otp_input(form)) is not None:
                if not customer.totp_secret:
                    raise ScenarioFailed(
                        f"the portal asks {customer.username} for a one-time code: give the "
                        "customer a totp_secret in CONFIG"
                    )
                values[otp] = _totp(customer.totp_secret)
                fields = list(values.items())
            else:
                button = self._button(form, decision)
                if button is None:
                    raise ScenarioFailed(
                        f"no {decision} button found on the consent page at {url}: set "
                        f'[browser] {decision} = "name=value" in CONFIG'
                    )
                fields = [*fields, button]
            action = urljoin(url, form.action or url)
            if (form.method or "GET").upper() == "POST":
                method, url, data = "POST", action, fields
            else:
                method, url, data = "GET", _with_query(action, fields), None
        raise ScenarioFailed(f"the portal did not reach the redirect URI in {MAX_STEPS} steps")

    def _password_input(self, form: object) -> str | None:
        wanted = self.browser.password_field
        for field in form.inputs:  # type: ignore[attr-defined]
            name = getattr(field, "name", None)
            if name and (
                name == wanted or (wanted is None and getattr(field, "type", "") == "password")
            ):
                return str(name)
        return None

    def _username_input(self, form: object, password: str) -> str:
        if self.browser.username_field:
            return self.browser.username_field
        for field in form.inputs:  # type: ignore[attr-defined]
            kind = getattr(field, "type", "")
            name = getattr(field, "name", None)
            if name and name != password and kind in ("text", "email", "tel", ""):
                if getattr(field, "tag", "") == "input":
                    return str(name)
        raise ScenarioFailed(
            "the sign-in form has no user-name input: set [browser] username_field"
        )

    @staticmethod
    def _otp_input(form: object) -> str | None:
        for field in form.inputs:  # type: ignore[attr-defined]
            name = getattr(field, "name", None)
            if (
                name
                and getattr(field, "type", "") in ("text", "number", "tel")
                and _OTP.search(name)
            ):
                return str(name)
        return None

    def _button(self, form: Any, decision: str) -> tuple[str, str] | None:
        configured = self.browser.approve if decision == "approve" else self.browser.deny
        if configured:
            name, _, value = configured.partition("=")
            return name, value
        pattern = _APPROVE if decision == "approve" else _DENY
        other = _DENY if decision == "approve" else _APPROVE
        for button in form.xpath(
            ".//button[@type='submit' or not(@type)]|.//input[@type='submit']"
        ):
            label = " ".join(
                [button.get("value", ""), button.text_content(), button.get("name", "")]
            )
            if pattern.search(label) and not other.search(button.text_content() or ""):
                if button.get("name"):
                    return button.get("name"), button.get("value", "")
        return None


def _text(page: Any) -> str:
    """What a person reads on the page (not its style sheet or scripts), cut short."""
    for hidden in page.xpath("//style|//script|//head/title"):
        hidden.drop_tree()
    return " ".join(page.text_content().split())[:500]


def _with_query(url: str, fields: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode(fields)


def _totp(secret: str) -> str:
    try:
        import pyotp
    except ImportError:
        raise ConformanceConfigError(
            "a customer has a totp_secret: the kit needs pyotp for it (pip install pyotp)"
        ) from None
    return str(pyotp.TOTP(secret).now())


class ScriptAgent:
    """Calls ``walk(authorize_url, username, password, decision, redirect_uri, totp_secret)``
    of the configured Python file; it returns the URL the browser ended at (or None)."""

    def __init__(self, script: object) -> None:
        spec = importlib.util.spec_from_file_location("espi_sst_conformance_walk", str(script))
        if spec is None or spec.loader is None:
            raise ConformanceConfigError(f"browser.script: {script} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's script: report, do not crash the kit
            raise ConformanceConfigError(
                f"browser.script: {script} failed to load: {exc}"
            ) from None
        walk = getattr(module, "walk", None)
        if not callable(walk):
            raise ConformanceConfigError(f"browser.script: {script} defines no walk(...) function")
        self._walk = walk

    def walk(
        self, authorize_url: str, customer: CustomerConfig, decision: str, redirect_uri: str
    ) -> WalkOutcome:
        try:
            ended = self._walk(
                authorize_url=authorize_url,
                username=customer.username,
                password=customer.password,
                decision=decision,
                redirect_uri=redirect_uri,
                totp_secret=customer.totp_secret,
            )
        except Exception as exc:  # the browser script's own failure
            raise ScenarioFailed(
                f"the browser script failed: {type(exc).__name__}: {exc}"
            ) from None
        if ended and is_callback(str(ended), redirect_uri):
            return WalkOutcome(str(ended), 302)
        return WalkOutcome(None, 0, f"the browser ended at {ended!r}")


class PasteAgent:
    """A person does the customer's part in their own browser and pastes where it ended."""

    def walk(
        self, authorize_url: str, customer: CustomerConfig, decision: str, redirect_uri: str
    ) -> WalkOutcome:
        choice = "ALLOW" if decision == "approve" else "DENY"
        sys.stderr.write(
            f"\nOpen this address in a browser, sign in as {customer.username} and {choice}:\n"
            f"  {authorize_url}\n"
            f"Then paste the address the browser ends at (it starts with {redirect_uri};\n"
            "the page itself may not load), or an empty line if the portal showed an error: "
        )
        sys.stderr.flush()
        line = sys.stdin.readline().strip()
        if line and is_callback(line, redirect_uri):
            return WalkOutcome(line, 302)
        return WalkOutcome(None, 0, line or "(the person saw an error page)")


def make_agent(browser: BrowserConfig, http: RecordingHttp) -> CustomerAgent:
    if browser.mode == "selenium":
        return ScriptAgent(browser.script)
    if browser.mode == "paste":
        return PasteAgent()
    return FormWalker(http, browser)
