"""``/portal/complaints``: a customer reports an ASP (concept design UC1.4, 6.4.6).

The form offers the ASPs the customer gave access to first, then every other registered ASP
(a company can misbehave towards someone who never said yes: asking, pressing, pretending).
What a filing does -- store, audit, e-mail the utility -- is
:func:`~espi_sst_server.lifecycle.complaints.file_complaint`; the customer is then shown
the reference number to quote.  CSRF-protected like every portal form; ``COMPLAINT_RATE_LIMIT``
per customer.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from ..lifecycle.complaints import CATEGORIES, LONGEST_TEXT, SHORTEST_TEXT, file_complaint
from ..limits import complaint_limit
from ..security import now
from ..storage import db
from ..storage.models import Application, AspComplaint, Authorization, RetailCustomer
from . import bp
from .session import current_customer

GRANTED = "Companies you gave access to"
OTHERS = "Other registered companies"


class ComplaintForm(FlaskForm):
    """Which ASP, what kind of problem, in the customer's words."""

    application = SelectField(
        "Which company is it about?",
        validators=[InputRequired(message="Choose the company this is about.")],
        validate_choice=True,
    )
    category = RadioField(
        "What happened?",
        choices=[SelectChoice(key, label) for key, label in CATEGORIES.items()],
        validators=[InputRequired(message="Choose what happened.")],
    )
    text = TextAreaField(
        "Tell us more",
        validators=[
            DataRequired(message="Describe what happened, in a few sentences."),
            Length(
                min=SHORTEST_TEXT,
                max=LONGEST_TEXT,
                message=(
                    f"Write between {SHORTEST_TEXT} and {LONGEST_TEXT} characters "
                    "(you wrote %(length)d)."
                ),
            ),
        ],
        render_kw={"maxlength": LONGEST_TEXT, "rows": 6},
    )


def _registered_asps() -> list[Application]:
    """Every ASP registered here; resource servers (introspection-only clients) are not ASPs."""
    found = db.session.scalars(select(Application).order_by(Application.client_name)).all()
    return [app for app in found if app.grant_types != ["introspection"]]


def _granted_ids(customer: RetailCustomer) -> set[int]:
    """The applications this customer ever authorized (ended grants too: a complaint is
    often about what happened before the customer revoked)."""
    return set(
        db.session.scalars(
            select(Authorization.application_id).where(Authorization.customer_id == customer.id)
        )
    )


def _choices(asps: list[Application], granted: set[int]) -> list[SelectChoice]:
    """The ASPs the customer granted access to (in their own group, first), then the rest."""
    mine = [
        SelectChoice(a.client_id, a.client_name, optgroup=GRANTED) for a in asps if a.id in granted
    ]
    others = [
        SelectChoice(a.client_id, a.client_name, optgroup=OTHERS)
        for a in asps
        if a.id not in granted
    ]
    return mine + others


@bp.route("/complaints", methods=["GET", "POST"])
@complaint_limit
def complaint() -> ResponseReturnValue:
    customer = current_customer()
    if customer is None:
        if request.method == "POST":
            abort(401)
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    asps = _registered_asps()
    granted = _granted_ids(customer)
    form = ComplaintForm()
    form.application.choices = _choices(asps, granted)
    if request.method == "GET" and request.args.get("asp"):
        form.application.data = request.args["asp"]
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        page = render_template(
            "portal/complaint.html",
            form=form,
            asps=asps,
            shortest=SHORTEST_TEXT,
            longest=LONGEST_TEXT,
        )
        return page, status
    chosen = next(app for app in asps if app.client_id == form.application.data)
    filed = file_complaint(
        db.session,
        customer=customer,
        application=chosen,
        category=str(form.category.data),
        text=str(form.text.data).strip(),
        had_grant=chosen.id in granted,
        now=now(),
    )
    db.session.commit()
    return redirect(url_for("portal.complaint_filed", reference=filed.reference))


@bp.route("/complaints/<reference>", methods=["GET"])
def complaint_filed(reference: str) -> ResponseReturnValue:
    """The confirmation, with the reference number (only the customer who filed it sees it)."""
    customer = current_customer()
    if customer is None:
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    filed = db.session.scalar(
        select(AspComplaint).where(
            AspComplaint.reference == reference, AspComplaint.customer_id == customer.id
        )
    )
    if filed is None:
        abort(404)
    return render_template(
        "portal/complaint_filed.html", complaint=filed, category=CATEGORIES[filed.category]
    )
