"""The customer portal: sign-in, consent, and the customer's authorizations.

Server-rendered HTML that works without JavaScript; every form is CSRF-protected
(Flask-WTF), no page may be framed (X-Frame-Options DENY, CSP frame-ancestors 'none') and
no page may be cached (Cache-Control no-store).
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, request

from ..config import load_named
from .identity import IdentitySource, TableIdentitySource

bp = Blueprint(
    "portal", __name__, url_prefix="/portal", template_folder="templates", static_folder="static"
)


def _style_hash() -> str:
    """CSP hash of base.html's one inline <style> block: styles apply, nothing else inline does.

    ``default-src 'self'`` alone blocks the inline block (browsers then show the pages
    unstyled and log a violation); ``'unsafe-inline'`` would also admit injected styles.
    """
    source = (Path(__file__).parent / "templates" / "portal" / "base.html").read_text()
    match = re.search(r"<style>(.*?)</style>", source, re.DOTALL)
    if match is None:
        return ""
    digest = hashlib.sha256(match.group(1).encode()).digest()
    return f" 'sha256-{base64.b64encode(digest).decode()}'"


_CSP = f"frame-ancestors 'none'; default-src 'self'; style-src 'self'{_style_hash()}"


def _deny_framing(response: Response) -> Response:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


_PERSONAL_PATHS = ("/portal/", "/sst/portal/", "/sst/consent", "/oauth/authorize")
"""Pages about one customer or carrying their forms' CSRF tokens: sign-in, second factor,
consent, authorizations, onboarding (the authorize view's HTML answers and redirects too)."""


def _no_store(response: Response) -> Response:
    """Issue 11, item 22: no cache -- a shared computer's browser, a proxy -- keeps them.

    ``no-store`` (RFC 9111 5.2.2.5) forbids storing the answer at all; ``Pragma:
    no-cache`` is for HTTP/1.0 caches.  Keyed on the path (``request.path`` has no script
    root), so the authorize view needs no change of its own.
    """
    if request.path.startswith(_PERSONAL_PATHS):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def _date(epoch: int | None) -> str:
    """Epoch seconds as a calendar date for the pages (UTC)."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d")


def _web_link(uri: str | None) -> str | None:
    """``uri`` if a page may make it a link (http or https with a host), else None.

    Registration accepts only https client URIs now, but rows registered earlier or loaded
    by other means are not re-checked: a ``javascript:`` or ``data:`` value must never
    become something a customer can click (issue 11, item 25)."""
    if not uri:
        return None
    parts = urlsplit(uri.strip())
    return uri if parts.scheme in ("http", "https") and parts.netloc else None


def _identity_source(setting: object) -> IdentitySource:
    """``IDENTITY_SOURCE``: None (the built-in table), an object, or "module:attribute"."""
    if setting is None:
        return TableIdentitySource()
    found = load_named(setting, "IDENTITY_SOURCE")
    if isinstance(setting, str) and isinstance(found, type):  # a class named: one instance
        found = found()
    return found  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    from . import (  # noqa: F401  (register the routes on bp)
        authorizations_page,
        complaints_view,
        contact,
        onboarding,
        rates_view,
        views,
    )

    # PORTAL_PATH: /portal, or /sst/portal beside a custodian whose own portal is at /portal
    app.register_blueprint(bp, url_prefix=str(app.config.get("PORTAL_PATH") or "/portal"))
    # The signed cookie is worth nothing after a session's absolute end (the row decides;
    # this bounds what a cookie without a row could carry, such as a pending sign-in).
    app.permanent_session_lifetime = timedelta(seconds=int(app.config["PORTAL_SESSION_SECONDS"]))
    app.after_request(_deny_framing)
    app.after_request(_no_store)
    app.extensions["espi_sst_identity"] = _identity_source(app.config.get("IDENTITY_SOURCE"))
    if app.config.get("LOGIN_RATE_LIMIT"):  # an operator's setting that now does nothing
        app.logger.warning(
            "LOGIN_RATE_LIMIT is no longer used: a window per account let strangers lock "
            "customers out (issue 11). Accounts back off instead (SIGN_IN_* settings); "
            "LOGIN_IP_RATE_LIMIT limits each address (docs/server.md, Rate limits)."
        )
    app.add_template_filter(_date, "date")
    app.add_template_filter(_web_link, "web_link")
