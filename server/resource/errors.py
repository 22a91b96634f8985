"""Errors of the ESPI resource API: every failure is a JSON body with the right HTTP status.

Bodies follow the OAuth 2 error shape (RFC 6749 section 5.2, RFC 6750 section 3.1) so an
ASP parses one format everywhere: ``{"error": ..., "error_description": ...}``, plus
``"parameter"`` when a query parameter is at fault.  Descriptions stay ASCII without
quotes (house style: Authlib refuses anything else in OAuth errors).

* 400 ``invalid_request`` -- a bad query parameter (named, with the expected form);
* 401 / 403 -- the token guard's RFC 6750 responses, passed through unchanged
  (``insufficient_scope`` raised here carries the same ``WWW-Authenticate`` challenge);
* 404 ``not_found`` -- an unknown id *or* one outside the token's grant: the API never
  tells an ASP that a resource it may not see exists;
* 405 ``method_not_allowed`` -- the resource API is read-only;
* 500 ``server_error`` -- a resource the ESPI schema cannot carry (``SerializeError``) or
  any other fault; the description never includes stored data.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from espi_sst import EspiError


class ResourceError(Exception):
    """An error response of the resource API: HTTP status, machine code, description."""

    def __init__(self, status: int, error: str, description: str, **extra: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.extra = extra

    def response(self) -> Response:
        response = jsonify(error=self.error, error_description=self.description, **self.extra)
        response.status_code = self.status
        if self.status in (401, 403):
            response.headers["WWW-Authenticate"] = (
                f'Bearer error="{self.error}", error_description="{self.description}"'
            )
        return response


def not_found(what: str) -> ResourceError:
    """404 for an unknown id and for one the grant does not cover (never a 403)."""
    return ResourceError(404, "not_found", f"no {what} with this id is available to this token")


def insufficient_scope(description: str) -> ResourceError:
    return ResourceError(403, "insufficient_scope", description)


def bad_parameter(parameter: str, expected: str) -> ResourceError:
    return ResourceError(
        400, "invalid_request", f"query parameter {parameter}: {expected}", parameter=parameter
    )


_CODES = {
    400: "invalid_request",
    401: "invalid_token",
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
}


def _resource_error(exc: ResourceError) -> Response:
    return exc.response()


def _http_error(exc: HTTPException) -> Any:
    if exc.response is not None:  # the guard's RFC 6750 response: keep it as it is
        return exc.response
    code = exc.code or 500
    if code >= 500:
        return _server_error(exc)
    description = {
        404: "no such resource in the ESPI resource API",
        405: "the ESPI resource API is read-only: use GET",
    }.get(code, (exc.description or exc.name or "request refused").replace('"', ""))
    response = ResourceError(code, _CODES.get(code, "invalid_request"), description).response()
    if code == 405 and exc.get_headers():
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow
    return response


def _library_error(exc: EspiError) -> Response:
    # The stored data cannot be written as schema-valid ESPI: a data or configuration
    # fault on our side.  The log gets the details; the client the kind of fault only.
    current_app.logger.error("ESPI resource not served: %s", exc)
    return ResourceError(
        500, "server_error", f"the resource cannot be written as valid ESPI ({exc.code})"
    ).response()


def _server_error(_exc: Exception) -> Response:
    # Flask has logged the exception already (Flask.log_exception).
    return ResourceError(500, "server_error", "the resource server failed").response()


def register_handlers(bp: Blueprint) -> None:
    """One place maps every failure of the blueprint's views to a JSON response."""
    bp.register_error_handler(ResourceError, _resource_error)
    bp.register_error_handler(EspiError, _library_error)
    bp.register_error_handler(InternalServerError, _server_error)
    bp.register_error_handler(HTTPException, _http_error)
