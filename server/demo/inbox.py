"""The demo's inbox page: what the demo utility e-mailed its customers, passcodes included.

A rate change is confirmed with a one-time passcode the utility e-mails to the customer
(server/outbox/mail.py).  In the demo that mail lands in the mail sink's Maildir
(server/demo/mail_sink.py); this page shows it, grouped by recipient and newest first, and
reloads itself every few seconds so a demo user sees the code arrive and can type it in.

Registered only when ``DEMO_MAILDIR`` is set: a real utility sends real e-mail and must
never publish its customers' mail on a web page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, make_response, render_template
from markupsafe import Markup, escape

from .mail_sink import InboxMessage, read_maildir

__all__ = ["REFRESH_SECONDS", "bp", "find_passcodes", "init_app"]

REFRESH_SECONDS = 5

bp = Blueprint(
    "demo_inbox",
    __name__,
    url_prefix="/demo/inbox",
    template_folder=str(Path(__file__).resolve().parent.parent / "portal" / "templates"),
)

# A one-time passcode: 6 to 8 digits standing alone.  Not part of a longer token, date,
# time, phone number or decimal ("2026-01-15", "10:30", "555-123-4567", "1234567.5").
_PASSCODE = re.compile(r"(?<![\w.,/:+-])\d{6,8}(?![\w/:+-]|[.,]\d)")


@dataclass(frozen=True)
class Inbox:
    """One recipient's messages, newest first; ``name`` is the demo customer's name."""

    address: str
    name: str | None
    messages: list[InboxMessage]


def init_app(app: Flask) -> None:
    """Registers the inbox page iff ``DEMO_MAILDIR`` is set (the demo), else does nothing."""
    if not app.config.get("DEMO_MAILDIR"):
        return
    app.register_blueprint(bp)


@bp.get("")
def all_inboxes() -> Response:
    """Every demo customer's inbox, then any other address the utility wrote to."""
    customers = _demo_customers()
    messages = read_maildir(_maildir())
    addresses = list(customers)
    addresses += sorted({r for m in messages for r in m.recipients} - set(customers))
    inboxes = [
        Inbox(a, customers.get(a), [m for m in messages if a in m.recipients]) for a in addresses
    ]
    return _page(inboxes, single=None, status=200)


@bp.get("/<address>")
def one_inbox(address: str) -> Response:
    """One recipient's inbox; 404 (still refreshing) for an address with no mail yet that
    is no demo customer's, so a mistyped address is told apart from an empty inbox."""
    wanted = address.strip().lower()
    customers = _demo_customers()
    messages = read_maildir(_maildir(), wanted)
    status = 200 if messages or wanted in customers else 404
    return _page([Inbox(wanted, customers.get(wanted), messages)], single=wanted, status=status)


def _page(inboxes: list[Inbox], *, single: str | None, status: int) -> Response:
    html = render_template(
        "portal/demo_inbox.html",
        inboxes=inboxes,
        single=single,
        refresh_seconds=REFRESH_SECONDS,
        passcodes=find_passcodes,
        highlight=_highlight_passcodes,
        when=_when,
    )
    response = make_response(html, status)
    # Passcodes: never kept by a browser or proxy cache.
    response.headers["Cache-Control"] = "no-store"
    # The portal's policy (default-src 'self') would block the page's inline styles.  Set
    # before the portal's after_request, which only fills headers still missing.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    # Also as a header: base.html has no head block, and a meta refresh in the body is
    # honoured by browsers but not valid HTML.
    response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def _maildir() -> Path:
    return Path(str(current_app.config["DEMO_MAILDIR"]))


def _demo_customers() -> dict[str, str]:
    """The seeded demo customers' addresses and names, in the demo's order."""
    from .customers import CUSTOMERS

    return {c.email.lower(): c.display_name for c in CUSTOMERS}


def find_passcodes(text: str) -> list[str]:
    """The passcode-like numbers in a message body (6-8 digits standing alone)."""
    return _PASSCODE.findall(text)


def _highlight_passcodes(text: str) -> Markup:
    """The body, escaped, with each passcode wrapped in ``<mark>`` so the eye finds it."""
    parts: list[str] = []
    position = 0
    for match in _PASSCODE.finditer(text):
        parts.append(escape(text[position : match.start()]))
        parts.append(Markup('<mark class="passcode">%s</mark>') % match.group())
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
