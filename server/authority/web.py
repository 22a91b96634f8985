"""What the authority's pages share: the request's database session, the signed-in user, the
page frame, and the one error answer (a page for a person, JSON for a program)."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, render_template_string, request, session
from markupsafe import Markup
from sqlalchemy.orm import Session

from ..errors import EspiServerError, Refused
from .models import StaffUser

API_PATHS = ("/registry", "/complaints", "/.well-known")

FRAME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} - SST central authority</title>
<style>body{font-family:sans-serif;max-width:50rem;margin:1rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0 .2rem}input,select,textarea{font-size:1rem;min-height:2.75rem}
.error{color:#a00;border:1px solid #a00;padding:.5rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem}</style></head>
<body><header><a href="/">SST central authority</a>
{% if user %} | {{ user.email }} <form method="post" action="/sign-out" style="display:inline">
<button>Sign out</button></form>{% endif %}</header>
<main><h1>{{ title }}</h1>
{% if error %}<p class="error" role="alert" id="error">{{ error }}</p>{% endif %}
{{ body }}</main></body></html>"""


def session_of() -> Session:
    """The request's session (closed at the end of the request)."""
    if "authority_session" not in g:
        g.authority_session = current_app.extensions["authority_sessions"]()
    return g.authority_session  # type: ignore[no-any-return]


def close_session(_exc: BaseException | None = None) -> None:
    found = g.pop("authority_session", None)
    if found is not None:
        found.close()


def settings() -> dict[str, Any]:
    return current_app.extensions["authority_settings"]  # type: ignore[no-any-return]


def signed_in_user() -> StaffUser | None:
    user_id = session.get("authority_user")
    if user_id is None:
        return None
    return session_of().get(StaffUser, user_id)


def require_user(*, authority_staff: bool) -> StaffUser:
    """The signed-in user of the right kind; else 401 (not signed in) or 403."""
    user = signed_in_user()
    if user is None:
        raise Refused(401, "sign_in_required", "sign in first: /sign-in")
    if authority_staff != (user.organisation_id is None):
        kind = "the authority's staff" if authority_staff else "an ASP's staff"
        raise Refused(403, "wrong_account", f"this page is for {kind}")
    return user


def page(
    title: str, body: str, *, error: str | None = None, status: int = 200, **values: Any
) -> Any:
    """``body`` (a Jinja template, autoescaped) inside the frame."""
    inner = Markup(render_template_string(body, **values))  # rendered, escaped already
    html = render_template_string(
        FRAME, title=title, body=inner, error=error, user=signed_in_user()
    )
    return html, status, {"Content-Type": "text/html; charset=utf-8"}


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def error_answer(exc: EspiServerError) -> Any:
    """The one answer for every error: status, stable code, what to change."""
    status = exc.status or 400
    field = getattr(exc, "field", None)
    body: dict[str, Any] = {"error": exc.code, "error_description": exc.description}
    if field is not None:
        body["field"] = field
    headers = {}
    if exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    if exc.retry_after is not None:  # RFC 9110 section 10.2.3 (a 429's, RFC 6585 section 4)
        headers["Retry-After"] = str(exc.retry_after)
        headers["Cache-Control"] = "no-store"
    if wants_json() or request.path.startswith(API_PATHS):
        return body, status, headers
    title = "Please wait" if status == 429 else "Not accepted"
    html, status, page_headers = page(title, "", error=exc.for_people, status=status)
    return html, status, {**page_headers, **headers}
