"""Onboarding Mode 1 (concept design section 7.2): the customer starts at the utility.

The customer signs in, picks a qualified ASP from the list and pre-authorizes what to share;
when that ASP later sends the customer through the authorization flow, only sign-in is
asked (the consent was given here).  A pre-authorization is used once.
"""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from espi_sst.scope import Category, Scope

from ..lifecycle.classes import forbidden_categories
from ..lifecycle.terms import new_grant_refusal
from ..security import now
from ..sst import phases
from ..storage import db
from ..storage.models import Application, PreAuthorization
from ..storage.rows import audit
from . import bp
from .consent_page import render_consent
from .forms import ConsentForm
from .session import current_customer


@bp.route("/asps")
def asps() -> str | Response:
    customer = current_customer()
    if customer is None:
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    applications = db.session.scalars(
        select(Application)
        .where(Application.qualification == "qualified")
        .order_by(Application.client_name)
    ).all()
    # 6.4.3 item 6: an ASP that has not accepted the SST terms in force cannot be chosen now.
    applications = [a for a in applications if new_grant_refusal(a) is None]
    return render_template("portal/asps.html", applications=applications, customer=customer)


@bp.route("/asps/<client_id>/preauthorize", methods=["GET", "POST"])
def preauthorize(client_id: str) -> str | Response | tuple[str, int]:
    customer = current_customer()
    if customer is None:
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    application = db.session.scalar(
        select(Application).where(
            Application.client_id == client_id, Application.qualification == "qualified"
        )
    )
    if application is None or new_grant_refusal(application) is not None:
        abort(404)  # not on the list of ASPs a customer may choose (terms: lifecycle/terms.py)
    # What the ASP may ask for now: its registration, less its class's forbidden categories
    # (6.4.2.1) and the functions of a later phase (6.1).
    registered = Scope.parse(application.scope)
    offered = phases.narrowed(registered, current_app.config)
    barred = forbidden_categories(application.asp_class)
    categories = [c for c in Category if c in offered.categories and c not in barred]
    points = list(customer.usage_points)
    form = ConsentForm()
    form.categories.choices = [(c.value, c.label) for c in categories]
    form.usage_points.choices = [(p.uuid, p.title) for p in points]
    error = None
    if request.method == "POST" and request.form.get("decision") != "approve":
        # Deny (or no decision at all): nothing is recorded (CSRFProtect has checked the form).
        audit(
            db.session,
            now(),
            f"customer:{customer.uuid}",
            "preauthorization_declined",
            subject=f"client:{application.client_id}",
        )
        db.session.commit()
        return redirect(url_for("portal.asps"))
    if request.method == "POST" and form.validate_on_submit():
        chosen_points = [p for p in points if p.uuid in set(form.usage_points.data or [])]
        chosen = [Category(v) for v in form.categories.data or []]
        ends_at = form.ends_at()
        if not chosen_points:
            error = "Choose at least one service agreement to share."
        elif not chosen:
            error = "Choose at least one kind of information to share."
        else:
            row = PreAuthorization(
                customer_id=customer.id,
                application_id=application.id,
                scope=" ".join(c.value for c in chosen),
                ends_at=ends_at,
                created_at=now(),
                usage_points=chosen_points,
            )
            db.session.add(row)
            audit(
                db.session,
                now(),
                f"customer:{customer.uuid}",
                "preauthorized",
                subject=f"client:{application.client_id}",
                detail={"scope": row.scope, "usage_points": [p.uuid for p in chosen_points]},
            )
            db.session.commit()
            return render_template("portal/preauthorized.html", application=application)
    elif request.method == "POST" and form.how_long_error:
        error = form.how_long_error  # no choice of how long, or a date out of range
    elif request.method == "POST":
        error = "The form expired; please try again."
    status = 400 if error else 200
    page = render_consent(
        client=application,
        customer=customer,
        scope=offered,
        categories=categories,
        usage_points=points,
        form=form,
        error=error,
    )
    return page, status
