"""Portal routes: sign in (with optional TOTP) and sign out (the authorizations pages:
:mod:`.authorizations_page`).

Both sign-in steps go through :mod:`.guard` (backoff per account and recognised browser,
the owner told of guessing bursts) after the per-address limit of server/limits/__init__.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from ..limits import login_limit, second_factor_limit
from ..security import now
from ..storage import db
from ..storage.models import RetailCustomer
from ..storage.rows import audit
from . import bp
from .device import remember
from .forms import LoginForm, SecondFactorForm
from .guard import CODE, PASSWORD, Attempt, account_of_name
from .identity import IdentitySource
from .session import sign_in, sign_out

PENDING_SECOND_FACTOR_SECONDS = 300
"""After the password, the code must follow within five minutes (then: the password again)."""
_PENDING_CUSTOMER = "pending_customer_id"
_PENDING_ACCOUNT = "pending_account"
_PENDING_AT = "pending_at"


def _identity() -> IdentitySource:
    source: IdentitySource = current_app.extensions["espi_sst_identity"]
    return source


def _safe_next(target: str | None) -> str:
    """Only same-site relative targets (no open redirect through ?next=)."""
    if not target:
        return url_for("portal.authorizations")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("portal.authorizations")
    return target


def _account_of(typed: str) -> RetailCustomer | None:
    """The customer a typed user name names, if the identity source can tell (audit and
    notices only; never decides a sign-in)."""
    find = getattr(_identity(), "account_of", None)
    return find(typed) if find is not None else None


def _wait(template: str, form: FlaskForm, seconds: int) -> Response:
    """429 (RFC 6585 4) with Retry-After, and the page saying when to try again."""
    until = datetime.fromtimestamp(now() + seconds, UTC).strftime("%H:%M:%S UTC")
    minutes = f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
    notice = (
        f"Too many sign-in attempts. For your safety, try again in {minutes} (after {until}). "
        "A browser you have signed in with before is not held up."
    )
    response = make_response(render_template(template, form=form, error=notice), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/login", methods=["GET", "POST"])
@login_limit
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        return render_template("portal/login.html", form=form, error=None)
    typed = form.username.data or ""
    attempt = Attempt.at(PASSWORD, account_of_name(typed))
    wait = attempt.admit()
    if wait is not None:
        return _wait("portal/login.html", form, wait)
    customer = _identity().authenticate(typed, form.password.data or "")
    if customer is None:
        attempt.failed(_account_of(typed))
        error = "The user name or password is not right."
        return render_template("portal/login.html", form=form, error=error), 401
    attempt.passed()
    if _identity().needs_second_factor(customer):
        db.session.commit()
        session.clear()
        session[_PENDING_CUSTOMER] = customer.id
        session[_PENDING_ACCOUNT] = attempt.account
        session[_PENDING_AT] = now()
        return redirect(url_for("portal.second_factor", next=form.next.data or ""))
    audit(db.session, now(), f"customer:{customer.uuid}", "login", detail={"second_factor": False})
    remember(attempt.account)
    sign_in(customer)  # commits
    return redirect(_safe_next(form.next.data))


def _pending() -> tuple[RetailCustomer, str] | None:
    """The customer who passed the password step in this browser, for a few minutes."""
    customer_id = session.get(_PENDING_CUSTOMER)
    account = session.get(_PENDING_ACCOUNT)
    started = session.get(_PENDING_AT)
    if customer_id is None or not isinstance(account, str) or not isinstance(started, int):
        return None
    if now() - started > PENDING_SECOND_FACTOR_SECONDS:
        for name in (_PENDING_CUSTOMER, _PENDING_ACCOUNT, _PENDING_AT):
            session.pop(name, None)
        return None
    customer = db.session.get(RetailCustomer, customer_id)
    return (customer, account) if customer is not None else None


@bp.route("/login/code", methods=["GET", "POST"])
@second_factor_limit
def second_factor() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        return redirect(url_for("portal.login"))
    customer, account = pending
    form = SecondFactorForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        return render_template("portal/second_factor.html", form=form, error=None)
    attempt = Attempt.at(CODE, account)
    wait = attempt.admit()
    if wait is not None:
        return _wait("portal/second_factor.html", form, wait)
    if _identity().verify_second_factor(customer, form.code.data or ""):
        attempt.passed()
        audit(
            db.session, now(), f"customer:{customer.uuid}", "login", detail={"second_factor": True}
        )
        remember(account)
        sign_in(customer)  # commits, with the code's step claimed
        return redirect(_safe_next(form.next.data))
    attempt.failed(customer)
    error = "That code is not right; enter the current code from your authenticator app."
    return render_template("portal/second_factor.html", form=form, error=error), 401


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    sign_out()
    return redirect(url_for("portal.login"))
