"""The demo's SMS inbox page: the text messages the demo utility sent, passcodes included.

Beside the e-mail inbox (server/demo/inbox.py): a customer who chose text messages for
rate-change passcodes (``/portal/contact``) gets them here, from the demo's SMS sink
(server/demo/sms_sink.py), grouped by number, newest first, reloading every few seconds.

Registered only when ``DEMO_SMS_DIR`` is set: a real utility sends real text messages and
must never publish them on a web page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, make_response, render_template

from .inbox import REFRESH_SECONDS, _highlight_passcodes, find_passcodes
from .sms_sink import SmsMessage, read_sms

__all__ = ["bp", "init_app"]

bp = Blueprint(
    "demo_sms",
    __name__,
    url_prefix="/demo/sms",
    template_folder=str(Path(__file__).resolve().parent.parent / "portal" / "templates"),
)


@dataclass(frozen=True)
class Phone:
    """One number's messages, newest first; ``name`` is the demo customer's name."""

    number: str
    name: str | None
    messages: list[SmsMessage]


def init_app(app: Flask) -> None:
    """Registers the SMS inbox iff ``DEMO_SMS_DIR`` is set (the demo), else does nothing."""
    if app.config.get("DEMO_SMS_DIR"):
        app.register_blueprint(bp)


@bp.get("")
def all_phones() -> Response:
    """Every demo customer with a mobile number, then any other number the utility texted."""
    customers = _demo_phones()
    messages = read_sms(_folder())
    numbers = list(customers) + sorted({m.to for m in messages} - set(customers))
    phones = [Phone(n, customers.get(n), [m for m in messages if m.to == n]) for n in numbers]
    return _page(phones, single=None, status=200)


@bp.get("/<number>")
def one_phone(number: str) -> Response:
    """One number's messages; 404 (still refreshing) for a number that is no demo
    customer's and has no message yet."""
    customers = _demo_phones()
    messages = read_sms(_folder(), number)
    wanted = next((m.to for m in messages), number.strip())
    status = 200 if messages or wanted in customers else 404
    return _page([Phone(wanted, customers.get(wanted), messages)], single=wanted, status=status)


def _page(phones: list[Phone], *, single: str | None, status: int) -> Response:
    html = render_template(
        "portal/demo_sms_inbox.html",
        phones=phones,
        single=single,
        refresh_seconds=REFRESH_SECONDS,
        passcodes=find_passcodes,
        highlight=_highlight_passcodes,
        when=_when,
        mail_inbox=bool(current_app.config.get("DEMO_MAILDIR")),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"  # passcodes: never cached
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def _folder() -> Path:
    return Path(str(current_app.config["DEMO_SMS_DIR"]))


def _demo_phones() -> dict[str, str]:
    from .customers import CUSTOMERS

    return {c.phone: c.display_name for c in CUSTOMERS if c.phone}


def _when(received: float) -> str:
    return datetime.fromtimestamp(received, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
