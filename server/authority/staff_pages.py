"""The authority staff's pages: the review queue (registrations by status, the decisions
audit log, entity reports, complaints), one registration with its attestations and documents,
and the decision form (approve / reject / suspend / withdraw, a reason required)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request
from sqlalchemy import select

from ..errors import Refused
from .decisions import ACTIONS, decide
from .models import (
    Attestation,
    Complaint,
    Decision,
    EntityReport,
    Organisation,
    Registration,
    StaffUser,
    StatusChange,
)
from .publishing import latest_publication
from .submissions import CRITERIA
from .web import page, require_user, session_of, settings

staff_pages = Blueprint("authority_staff_pages", __name__)

QUEUE = """<p>Published list: {% if publication %}sequence <strong id="sequence">{{ publication.sequence }}</strong>{% else %}none yet{% endif %}</p>
<h2>Registrations</h2><table id="registrations"><tr><th>software id</th><th>organisation</th><th>class</th><th>status</th></tr>
{% for r, org in registrations %}<tr><td><a href="/staff/registrations/{{ r.id }}">{{ r.software_id }}</a></td><td>{{ org.name }}</td><td>{{ r.asp_class }}</td><td>{{ r.status }}</td></tr>{% endfor %}</table>
<h2>Decisions</h2><table id="decisions"><tr><th>when</th><th>who</th><th>software id</th><th>action</th><th>reason</th><th>list</th></tr>
{% for d, who, r in decisions %}<tr><td>{{ d.at }}</td><td>{{ who.email }}</td><td>{{ r.software_id }}</td><td>{{ d.action }}</td><td>{{ d.reason }}</td><td>{{ d.publication_sequence or '' }}</td></tr>{% endfor %}</table>
<h2>Entity reports</h2><table id="reports"><tr><th>entity</th><th>sequence</th><th>software id</th><th>action</th><th>client id</th><th>error</th></tr>
{% for e in reports %}<tr><td>{{ e.entity }}</td><td>{{ e.sequence }}</td><td>{{ e.software_id }}</td><td>{{ e.action }}</td><td>{{ e.client_id or '' }}</td><td>{{ e.error or '' }}</td></tr>{% endfor %}</table>
<h2>Complaints</h2><table id="complaints"><tr><th>entity</th><th>reference</th><th>software id</th><th>category</th><th>text</th><th>filed</th></tr>
{% for c in complaints %}<tr><td>{{ c.entity }}</td><td>{{ c.reference }}</td><td>{{ c.software_id }}</td><td>{{ c.category }}</td><td>{{ c.text }}</td><td>{{ c.filed_at }}</td></tr>{% endfor %}</table>"""

DETAIL = """<dl><dt>Status</dt><dd id="status">{{ r.status }}{% if r.reason %} ({{ r.reason }}){% endif %}</dd>
<dt>Legal entity</dt><dd>{{ r.legal_entity }}</dd><dt>Software</dt><dd>{{ r.software_name }} ({{ r.software_id }})</dd>
<dt>Class</dt><dd>{{ r.asp_class }}</dd><dt>Terms version</dt><dd>{{ r.terms_version }}</dd>
<dt>Contacts</dt><dd>{% for c in r.contacts %}{{ c.role }}: {{ c.email }}<br>{% endfor %}</dd>
<dt>Redirect URIs</dt><dd>{% for u in r.redirect_uris %}{{ u }}<br>{% endfor %}</dd><dt>Notify URI</dt><dd>{{ r.notify_uri or '' }}</dd></dl>
<h2>Attestations</h2><ul>{% for a in attestations %}<li>{{ criteria[a.criterion] }}:
<a href="/staff/registrations/{{ r.id }}/documents/{{ a.criterion }}">{{ a.document_name }}</a> ({{ a.document_type }}, {{ a.document|length }} bytes)</li>{% endfor %}</ul>
<h2>History</h2><ul>{% for s in history %}<li>{{ s.at }} {{ s.status }}: {{ s.note }}</li>{% endfor %}</ul>
<h2>Decide</h2><form method="post" action="/staff/registrations/{{ r.id }}/decision">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label for="action">Decision</label><select id="action" name="action">{% for a in actions %}<option>{{ a }}</option>{% endfor %}</select>
<label for="reason">Reason (required; recorded and published)</label><textarea id="reason" name="reason" required></textarea>
<p><button>Record the decision</button></p></form>"""


@staff_pages.get("/staff")
def queue() -> Any:
    require_user(authority_staff=True)
    db = session_of()
    order = {"pending": 0, "qualified": 1, "suspended": 2, "rejected": 3, "withdrawn": 4}
    registrations = sorted(
        db.execute(
            select(Registration, Organisation).join(
                Organisation, Organisation.id == Registration.organisation_id
            )
        ).all(),
        key=lambda row: (order.get(row[0].status, 9), row[0].submitted_at),
    )
    decisions = db.execute(
        select(Decision, StaffUser, Registration)
        .join(StaffUser, StaffUser.id == Decision.by_user_id)
        .join(Registration, Registration.id == Decision.registration_id)
        .order_by(Decision.id.desc())
    ).all()
    return page(
        "Review queue",
        QUEUE,
        publication=latest_publication(db),
        registrations=registrations,
        decisions=decisions,
        reports=db.scalars(select(EntityReport).order_by(EntityReport.id.desc())).all(),
        complaints=db.scalars(select(Complaint).order_by(Complaint.id.desc())).all(),
    )


def _registration(registration_id: int) -> Registration:
    found = session_of().get(Registration, registration_id)
    if found is None:
        raise Refused(404, "not_found", f"no registration {registration_id}")
    return found


@staff_pages.get("/staff/registrations/<int:registration_id>")
def registration(registration_id: int) -> Any:
    require_user(authority_staff=True)
    db = session_of()
    r = _registration(registration_id)
    return page(
        r.software_name,
        DETAIL,
        r=r,
        attestations=db.scalars(
            select(Attestation).where(Attestation.registration_id == r.id)
        ).all(),
        history=db.scalars(
            select(StatusChange)
            .where(StatusChange.registration_id == r.id)
            .order_by(StatusChange.id)
        ).all(),
        criteria=CRITERIA,
        actions=ACTIONS,
    )


@staff_pages.get("/staff/registrations/<int:registration_id>/documents/<criterion>")
def document(registration_id: int, criterion: str) -> Any:
    require_user(authority_staff=True)
    found = session_of().scalar(
        select(Attestation).where(
            Attestation.registration_id == registration_id, Attestation.criterion == criterion
        )
    )
    if found is None:
        raise Refused(404, "not_found", f"no document for {criterion}")
    return (
        found.document,
        200,
        {
            "Content-Type": found.document_type,
            "Content-Disposition": "attachment",  # never rendered in the authority's origin
            "X-Content-Type-Options": "nosniff",
        },
    )


@staff_pages.post("/staff/registrations/<int:registration_id>/decision")
def decision(registration_id: int) -> Any:
    staff = require_user(authority_staff=True)
    decide(
        session_of(),
        settings(),
        staff,
        _registration(registration_id),
        request.form.get("action", ""),
        request.form.get("reason", ""),
    )
    return redirect(f"/staff/registrations/{registration_id}", code=303)
