"""The ASP's self-service pages (plain HTML forms; no JavaScript needed): sign up with a
verified e-mail address, sign in with password + TOTP, submit the one registration and edit it
while pending (concept design 6.4.3 and 11.3: register once for every entity)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, session
from sqlalchemy import select

from .accounts import provisioning_uri, send_verification, sign_in, sign_up, verify_email
from .errors import AccountError, SubmissionError
from .limits import count_verification_email
from .models import Registration, StatusChange
from .submissions import ASP_CLASSES, CONTACT_ROLES, CRITERIA, Document, Submission, submit
from .web import page, require_user, session_of, settings, signed_in_user

asp_pages = Blueprint("authority_asp_pages", __name__)

CSRF = '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">'

INDEX = """<ul><li><a href="/sign-up">Sign up an ASP organisation</a></li>
<li><a href="/sign-in">Sign in</a> (ASP staff and authority staff)</li>
<li><a href="/registry">The signed list</a> and <a href="/.well-known/jwks.json">its keys</a></li></ul>"""

SIGN_UP = (
    """<form method="post">"""
    + CSRF
    + """
<label for="organisation">Organisation</label><input id="organisation" name="organisation" required value="{{ organisation }}">
<label for="email">Your e-mail address</label><input id="email" name="email" type="email" required value="{{ email }}">
<label for="password">Password (12 characters or more)</label><input id="password" name="password" type="password" required minlength="12">
<p><button>Sign up</button></p></form>"""
)

SIGNED_UP = """<p>We sent a link to <strong>{{ email }}</strong>: open it to confirm the address.</p>
<p>Enrol your authenticator app now (it is shown only once):
key <code id="totp-secret">{{ secret }}</code>, or <code id="totp-uri">{{ uri }}</code>.</p>
<p>Then <a href="/sign-in">sign in</a>.</p>"""

SIGN_IN = (
    """<form method="post">"""
    + CSRF
    + """
<label for="email">E-mail address</label><input id="email" name="email" type="email" required>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<label for="code">Authenticator code</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<p><button>Sign in</button></p></form>"""
)

REGISTRATION = (
    """{% if registration %}<p>Status: <strong id="status">{{ registration.status }}</strong>
{% if registration.reason %}({{ registration.reason }}){% endif %}</p>
<h2>History</h2><ul>{% for change in history %}<li>{{ change.status }}: {{ change.note }}</li>{% endfor %}</ul>{% endif %}
{% if editable %}<form method="post" enctype="multipart/form-data">"""
    + CSRF
    + """
<label for="legal_entity">Legal entity</label><input id="legal_entity" name="legal_entity" required value="{{ v.legal_entity }}">
<label for="software_id">Software id</label><input id="software_id" name="software_id" required value="{{ v.software_id }}">
<label for="software_name">Software name (customers see it)</label><input id="software_name" name="software_name" required value="{{ v.software_name }}">
{% for role in roles %}<label for="contact_{{ role }}">{{ role|capitalize }} contact e-mail</label>
<input id="contact_{{ role }}" name="contact_{{ role }}" type="email" value="{{ v.contacts.get(role, '') }}">{% endfor %}
<label for="redirect_uris">Redirect URIs (https, one a line)</label><textarea id="redirect_uris" name="redirect_uris" required>{{ v.redirect_uris|join('\n') }}</textarea>
<label for="notify_uri">Notification URI (https; where entities tell you of new data)</label><input id="notify_uri" name="notify_uri" required value="{{ v.notify_uri or '' }}">
<label for="asp_class">Requested class</label><select id="asp_class" name="asp_class">
{% for c in classes %}<option{% if c == v.asp_class %} selected{% endif %}>{{ c }}</option>{% endfor %}</select>
<h2>Minimum criteria (6.4.3)</h2>
{% for key, text in criteria.items() %}<fieldset><label><input type="checkbox" name="attest_{{ key }}" value="yes"{% if key in v.attested %} checked{% endif %}> {{ text }}</label>
<label for="document_{{ key }}">Supporting document (PDF, PNG or JPEG)</label><input id="document_{{ key }}" name="document_{{ key }}" type="file" accept="application/pdf,image/png,image/jpeg"></fieldset>{% endfor %}
<label><input type="checkbox" name="terms_version" value="{{ terms }}"{% if v.accepted_terms_version == terms %} checked{% endif %}> I accept the SST terms and conditions, version {{ terms }}</label>
<p><button>Submit the registration</button></p></form>{% endif %}"""
)


@asp_pages.get("/")
def index() -> Any:
    return page("SST central authority", INDEX)


@asp_pages.route("/sign-up", methods=["GET", "POST"])
def sign_up_page() -> Any:
    if request.method == "GET":
        return page("Sign up", SIGN_UP, organisation="", email="")
    form = request.form
    db = session_of()
    try:
        user, secret = sign_up(
            db, form.get("organisation", ""), form.get("email", ""), form.get("password", "")
        )
        count_verification_email(user.email)  # 429 before any mail, whoever asks
        send_verification(settings(), user)
    except AccountError as exc:
        db.rollback()
        return page(
            "Sign up",
            SIGN_UP,
            error=exc.description,
            status=400,
            organisation=form.get("organisation", ""),
            email=form.get("email", ""),
        )
    db.commit()
    return page(
        "Check your e-mail", SIGNED_UP, email=user.email, secret=secret, uri=provisioning_uri(user)
    )


@asp_pages.get("/verify")
def verify_page() -> Any:
    user = verify_email(session_of(), settings(), request.args.get("token", ""))
    return page(
        "E-mail confirmed",
        '<p id="verified">{{ email }} is confirmed. <a href="/sign-in">Sign in</a>.</p>',
        email=user.email,
    )


@asp_pages.route("/sign-in", methods=["GET", "POST"])
def sign_in_page() -> Any:
    if request.method == "GET":
        return page("Sign in", SIGN_IN)
    form = request.form
    try:
        user = sign_in(
            session_of(), form.get("email", ""), form.get("password", ""), form.get("code", "")
        )
    except AccountError as exc:
        return page("Sign in", SIGN_IN, error=exc.description, status=exc.status or 400)
    session.clear()  # a new session at sign-in (no fixation)
    session["authority_user"] = user.id
    return redirect("/staff" if user.organisation_id is None else "/registration", code=303)


@asp_pages.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    return redirect("/", code=303)


@asp_pages.route("/registration", methods=["GET", "POST"])
def registration_page() -> Any:
    user = require_user(authority_staff=False)
    db = session_of()
    registration = db.scalar(
        select(Registration).where(Registration.organisation_id == user.organisation_id)
    )
    error = None
    status = 200
    if request.method == "POST":
        given = _submission()
        try:
            registration = submit(db, settings(), user, given)
            return redirect("/registration", code=303)
        except SubmissionError as exc:
            db.rollback()
            error, status, values = exc.description, 400, given
    if error is None:
        values = _values_of(registration)
    history = (
        []
        if registration is None
        else db.scalars(
            select(StatusChange)
            .where(StatusChange.registration_id == registration.id)
            .order_by(StatusChange.id)
        ).all()
    )
    return page(
        "Your registration",
        REGISTRATION,
        error=error,
        status=status,
        registration=registration,
        history=history,
        editable=registration is None or registration.status in ("pending", "rejected"),
        v=values,
        roles=CONTACT_ROLES,
        classes=ASP_CLASSES,
        criteria=CRITERIA,
        terms=settings()["AUTHORITY_TERMS_VERSION"],
    )


def _submission() -> Submission:
    form = request.form
    documents = {}
    for criterion in CRITERIA:
        upload = request.files.get(f"document_{criterion}")
        if upload is not None and upload.filename:
            documents[criterion] = Document(
                name=upload.filename, content_type=upload.mimetype, content=upload.read()
            )
    return Submission(
        legal_entity=form.get("legal_entity", ""),
        software_id=form.get("software_id", ""),
        software_name=form.get("software_name", ""),
        contacts={role: form.get(f"contact_{role}", "") for role in CONTACT_ROLES},
        redirect_uris=form.get("redirect_uris", "").splitlines(),
        notify_uri=form.get("notify_uri", ""),
        asp_class=form.get("asp_class", ""),
        accepted_terms_version=form.get("terms_version", ""),
        attested={c for c in CRITERIA if form.get(f"attest_{c}")},
        documents=documents,
    )


def _values_of(registration: Registration | None) -> Submission:
    if registration is None:
        return Submission("", "", "", {}, [], "", "data-only", "", set())
    return Submission(
        legal_entity=registration.legal_entity,
        software_id=registration.software_id,
        software_name=registration.software_name,
        contacts={c["role"]: c["email"] for c in registration.contacts},
        redirect_uris=list(registration.redirect_uris),
        notify_uri=registration.notify_uri or "",
        asp_class=registration.asp_class,
        accepted_terms_version=registration.terms_version,
        attested=set(CRITERIA),
    )


__all__ = ["asp_pages", "signed_in_user"]
