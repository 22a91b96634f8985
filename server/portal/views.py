"""Portal routes: sign in (with optional TOTP), sign out, list and revoke authorizations."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..lifecycle import end_authorization
from ..limits import login_limit, second_factor_limit
from ..oauth.audit import record
from ..security import now
from ..storage import db
from ..storage.models import Authorization, RetailCustomer
from ..usable import grant_refusal
from . import bp
from .forms import LoginForm, RevokeForm, SecondFactorForm
from .identity import IdentitySource
from .session import current_customer, sign_in, sign_out


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


@bp.route("/login", methods=["GET", "POST"])
@login_limit
def login() -> str | Response:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    if form.validate_on_submit():
        customer = _identity().authenticate(form.username.data or "", form.password.data or "")
        if customer is None:
            error = "The user name or password is not right."
            record("anonymous", "login_failed", subject=f"username:{form.username.data}")
            db.session.commit()
        elif _identity().needs_second_factor(customer):
            session.clear()
            session["pending_customer_id"] = customer.id
            return redirect(url_for("portal.second_factor", next=form.next.data or ""))
        else:
            sign_in(customer)
            record(f"customer:{customer.uuid}", "login")
            db.session.commit()
            return redirect(_safe_next(form.next.data))
    return render_template("portal/login.html", form=form, error=error), 200 if not error else 401


@bp.route("/login/code", methods=["GET", "POST"])
@second_factor_limit
def second_factor() -> str | Response:
    pending = session.get("pending_customer_id")
    customer = db.session.get(RetailCustomer, pending) if pending else None
    if customer is None:
        return redirect(url_for("portal.login"))
    form = SecondFactorForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    if form.validate_on_submit():
        if _identity().verify_second_factor(customer, form.code.data or ""):
            sign_in(customer)
            record(f"customer:{customer.uuid}", "login", detail={"second_factor": True})
            db.session.commit()
            return redirect(_safe_next(form.next.data))
        error = "That code is not right; enter the current code from your authenticator app."
    return render_template(
        "portal/second_factor.html", form=form, error=error
    ), 200 if not error else 401


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    sign_out()
    return redirect(url_for("portal.login"))


@bp.route("/authorizations", methods=["GET"])
def authorizations() -> str | Response:
    customer = current_customer()
    if customer is None:
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    grants = db.session.scalars(
        select(Authorization)
        .where(Authorization.customer_id == customer.id)
        .order_by(Authorization.created_at.desc())
    ).all()
    moment = now()
    active = {  # the guard's own rule (server/usable.py): "active" is what an ASP can use
        grant.id
        for grant in grants
        if grant_refusal(grant.application.qualification, grant, moment) is None
    }
    return render_template(
        "portal/authorizations.html",
        customer=customer,
        grants=grants,
        active=active,
        form=RevokeForm(),
    )


@bp.route("/authorizations/revoke", methods=["POST"])
def revoke() -> Response:
    customer = current_customer()
    if customer is None:
        abort(401)
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    grant = db.session.scalar(
        select(Authorization).where(
            Authorization.uuid == form.authorization.data, Authorization.customer_id == customer.id
        )
    )
    if grant is None:
        abort(404)
    # Concept design 7.10: the customer ends it here; its tokens die with it (audited).
    end_authorization(
        db.session,
        grant,
        reason="revoked_by_customer",
        actor=f"customer:{customer.uuid}",
        now=now(),
    )
    db.session.commit()
    return redirect(url_for("portal.authorizations"))
