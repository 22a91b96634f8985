"""The portal's home page and the customer's authorizations: list, revoke (with a
confirmation step), result (concept design 7.10: the customer ends a grant at the utility).

Issue 13: each grant is said in the consent page's words (:mod:`.scope_words`, never the
scope string), with its status ("active", "ended by you", "ended by <ASP>", "expired":
:mod:`.labels`) and its rate changes; Revoke leads to a confirmation page (a GET, nothing
changes) whose form -- CSRF-protected like every POST -- ends the grant and comes back
with a result message.  No JavaScript anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..lifecycle.access import end_authorization
from ..lifecycle.usable import grant_refusal
from ..security import now
from ..storage import db
from ..storage.models import Authorization, RateChangeRequestRecord, RetailCustomer
from . import bp
from .consent_page import PointWords, point_words
from .forms import RevokeForm
from .labels import ACTIVE, RateChangeLine, ended_label, rate_change_line
from .scope_words import ScopeWords, describe_scope
from .session import current_customer


@dataclass
class GrantLine:
    """One grant as the authorizations page shows it."""

    uuid: str
    asp: str
    words: ScopeWords
    points: list[PointWords]
    since: int
    ends_at: int | None
    ended_at: int | None
    status: str
    rate_changes: list[RateChangeLine] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


def _utility() -> str:
    return str(current_app.config.get("UTILITY_NAME") or "your utility")


def _grant_line(grant: Authorization, moment: int) -> GrantLine:
    # The guard's own rule (server/lifecycle/usable.py): "active" is what an ASP can use.
    usable = grant_refusal(grant.application.qualification, grant, moment) is None
    return GrantLine(
        uuid=grant.uuid,
        asp=grant.application.client_name,
        words=describe_scope(grant.scope),
        points=[point_words(p) for p in grant.usage_points],
        since=grant.created_at,
        ends_at=grant.ends_at,
        ended_at=None if usable else (grant.revoked_at or grant.ends_at),
        status=ACTIVE if usable else ended_label(grant, _utility(), moment),
    )


def _sign_in_first() -> Response:
    return redirect(url_for("portal.login", next=request.script_root + request.path))


def _own_grant(customer: RetailCustomer, uuid: str | None) -> Authorization | None:
    if not uuid:
        return None
    return db.session.scalar(
        select(Authorization).where(
            Authorization.uuid == uuid, Authorization.customer_id == customer.id
        )
    )


@bp.route("/", methods=["GET"])
def home() -> str:
    """Signed in: the portal's pages; signed out: an invitation to sign in (not a 404)."""
    return render_template("portal/home.html", customer=current_customer(), form=RevokeForm())


@bp.route("/authorizations", methods=["GET"])
def authorizations() -> str | Response:
    customer = current_customer()
    if customer is None:
        return _sign_in_first()
    grants = db.session.scalars(
        select(Authorization)
        .where(Authorization.customer_id == customer.id)
        .order_by(Authorization.created_at.desc(), Authorization.id.desc())
    ).all()
    moment = now()
    lines = {grant.id: _grant_line(grant, moment) for grant in grants}
    changes = db.session.scalars(
        select(RateChangeRequestRecord)
        .where(RateChangeRequestRecord.authorization_id.in_(list(lines)))
        .order_by(RateChangeRequestRecord.requested_at.desc(), RateChangeRequestRecord.id.desc())
    ).all()
    for record in changes:
        lines[record.authorization_id].rate_changes.append(rate_change_line(record))
    revoked = _own_grant(customer, request.args.get("revoked"))
    result = None
    if revoked is not None and revoked.ended_reason == "revoked_by_customer":
        result = (
            f"You ended {revoked.application.client_name}'s access. It can no longer get your "
            "data; a rate change still waiting for your code is cancelled."
        )
    return render_template(
        "portal/authorizations.html",
        customer=customer,
        grants=list(lines.values()),
        result=result,
        form=RevokeForm(),
    )


@bp.route("/authorizations/<uuid>/revoke", methods=["GET"])
def confirm_revoke(uuid: str) -> str | Response:
    """The confirmation step: what ends, and a form that ends it (nothing changes here)."""
    customer = current_customer()
    if customer is None:
        return _sign_in_first()
    grant = _own_grant(customer, uuid)
    if grant is None:
        abort(404)
    line = _grant_line(grant, now())
    if not line.active:  # nothing left to end: the list says how it ended
        return redirect(url_for("portal.authorizations"))
    form = RevokeForm()
    form.authorization.data = grant.uuid
    return render_template("portal/revoke_confirm.html", grant=line, form=form)


@bp.route("/authorizations/revoke", methods=["POST"])
def revoke() -> Response:
    """The confirmed revocation (the confirmation page's form posts here)."""
    customer = current_customer()
    if customer is None:
        abort(401)
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    grant = _own_grant(customer, form.authorization.data)
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
    return redirect(url_for("portal.authorizations", revoked=grant.uuid))
