"""Errors on the wire: the one place that turns an error into an HTTP answer.

:func:`answer` writes every error answer of the server: JSON ``{"error",
"error_description", ...fields}`` (the shape of RFC 6749 section 5.2, RFC 6750 section 3.1
and the resource API), or the portal's error page where a person reads it -- the portal and
``/oauth/authorize`` (:func:`read_by_a_person`, the one rule; before, the edge screen and
the rate limits each kept a copy) -- with ``WWW-Authenticate``, ``Retry-After`` as the error
says, and ``Cache-Control: no-store`` on every one.  Before it answers, the request's
database session is rolled back, so no view needs a try/rollback of its own: views commit
on success, and an error undoes what they wrote.

:func:`init_app` registers the handlers, all here: the server's tree
(:class:`~espi_sst_server.errors.EspiServerError`; one without a status is a fault on this
side, left to Flask: logged, 500), the library's ``EspiError`` (in the resource API a 500
``server_error`` naming its code; elsewhere a fault), Werkzeug's HTTP errors (in the
resource API JSON with the API's codes; elsewhere Flask's own answer), Flask-WTF's CSRF
error and SQLAlchemy's ``OperationalError`` / ``InterfaceError`` (the database does not
answer: 503 ``database_unavailable`` with ``Retry-After``, not a 500).  Two translations stay beside what they translate and call :func:`answer`: the edge
screen's ``RequestEntityTooLarge`` (``security/edge.py``) and Flask-Limiter's
``RateLimitExceeded`` (``limits/``), which need their module's state.  OAuth protocol errors
at the OAuth endpoints are Authlib's ``OAuth2Error``, answered by Authlib (RFC 6749).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from espi_sst import EspiError

from ..storage import db
from . import EspiServerError, Refused, Unavailable

DATABASE_RETRY_AFTER = 5
"""Seconds a client is told to wait when the database does not answer (a restart or a
fail-over takes seconds; bench/soak restarts PostgreSQL with 10 s down)."""

BROWSER_PATHS = ("/portal/", "/sst/portal/", "/sst/consent", "/oauth/authorize")
"""Where a person reads the answer: these get an HTML page, everything else JSON
(``/sst/...``: the bolt-on's pages beside an unmodified custodian, ``PORTAL_PATH``)."""
MACHINE_PATHS = ("/sst/consent/requests",)
"""Under a browser path but read by a program: the ASP's pushed add-on request."""
RESOURCE_BLUEPRINT = "espi_resource"
"""The ESPI resource API (``resource/routes.py``): its HTTP errors are JSON too."""


def read_by_a_person(path: str) -> bool:
    """Whether a person reads the answer at ``path`` (a page), not a program (JSON)."""
    return path.startswith(BROWSER_PATHS) and not path.startswith(MACHINE_PATHS)


def answer(error: EspiServerError) -> Response:
    """The HTTP answer for ``error`` (which must have a status): the one place that writes one.

    Rolls the request's database session back first: whatever the view wrote before it
    refused is not kept (the views commit only on success).
    """
    assert error.status is not None, "an error without a status is a fault: let it raise"
    _roll_back()
    response: Response | None = None
    if read_by_a_person(request.path):
        response = _page(error.code, error.for_people, error.status)
    if response is None:
        response = jsonify(error=error.code, error_description=error.description, **error.fields)
        response.status_code = error.status
    challenge = error.challenge
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(code: str, description: str, status: int) -> Response:
    try:
        page = render_template("portal/error.html", error=code, description=description)
        return make_response(page, status)
    except Exception:  # the page must not turn a 4xx into a 500
        current_app.logger.exception("error page not rendered; answering in plain text")
        return make_response(
            f"{code}: {description}\n", status, {"Content-Type": "text/plain; charset=utf-8"}
        )


def _roll_back() -> None:
    if "espi_sst_db" in current_app.extensions:  # an app made by create_app has one
        try:
            db.session.rollback()
        except (OperationalError, InterfaceError):  # the database is away: nothing to undo
            current_app.logger.warning("rollback failed: the database does not answer")


def _server_error(error: EspiServerError) -> Response:
    if error.status is None:  # a fault on this side: Flask logs it and answers 500
        raise error
    return answer(error)


def _in_resource_api() -> bool:
    return request.blueprint == RESOURCE_BLUEPRINT


def _library_error(error: EspiError) -> Response:
    """The resource API's data cannot be written as schema-valid ESPI: a data or
    configuration fault on this side.  The log gets the details, the client the kind."""
    if not _in_resource_api():
        raise error
    current_app.logger.error("ESPI resource not served: %s", error)
    return answer(
        EspiServerError(
            f"the resource cannot be written as valid ESPI ({error.code})",
            status=500,
        )
    )


_RESOURCE_CODES = {
    400: "invalid_request",
    401: "invalid_token",
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
}
_RESOURCE_DESCRIPTIONS = {
    404: "no such resource in the ESPI resource API",
    405: "the ESPI resource API is read-only: use GET",
}


def _http_error(error: HTTPException) -> Any:
    """Werkzeug's HTTP errors: JSON in the resource API, Flask's own answer elsewhere."""
    if not _in_resource_api():
        return error  # Flask's own answer, as without this handler
    if error.response is not None:  # a response made by whoever raised it: as it is
        return error.response
    code = error.code or 500
    if code >= 500:
        # Flask has logged the exception already (Flask.log_exception).
        return answer(EspiServerError("the resource server failed", status=500))
    description = _RESOURCE_DESCRIPTIONS.get(
        code, (error.description or error.name or "request refused").replace('"', "")
    )
    response = answer(Refused(code, _RESOURCE_CODES.get(code, "invalid_request"), description))
    allow = dict(error.get_headers()).get("Allow")
    if code == 405 and allow:
        response.headers["Allow"] = allow
    return response


def _database_unavailable(error: OperationalError | InterfaceError) -> Response:
    """The database did not answer (stopped, restarting, connection cut): 503 with
    ``Retry-After`` (RFC 9110 sections 15.6.4 and 10.2.3), not a 500.

    The server is not broken, a system behind it is away for a moment, and a client told
    so waits and retries (the library's client does, for a GET) instead of reporting a
    failure.  Found by the reliability soak (bench/soak: PostgreSQL stopped 10 s answered
    "500 the resource server failed" to every request meanwhile).  The pool drops the dead
    connections (``pool_pre_ping`` and SQLAlchemy's invalidation), so the next request after
    the restart gets a fresh one.  Logged as one line, not a traceback per request.
    """
    current_app.logger.error(
        "database unavailable: %s", str(getattr(error, "orig", error)).strip()[:300]
    )
    return answer(
        Unavailable(
            503,
            "database_unavailable",
            f"the database is unavailable for a moment; retry after {DATABASE_RETRY_AFTER} seconds",
            retry_after=DATABASE_RETRY_AFTER,
        )
    )


def _csrf_error(error: CSRFError) -> Response:
    return answer(Refused(400, "csrf", str(error.description)))


def init_app(app: Flask) -> None:
    """Register the one mapping for every error the app's views can raise."""
    app.register_error_handler(EspiServerError, _server_error)
    app.register_error_handler(EspiError, _library_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)


__all__ = ["BROWSER_PATHS", "RESOURCE_BLUEPRINT", "answer", "init_app", "read_by_a_person"]
