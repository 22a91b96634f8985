"""Errors of the ESPI resource API: every failure is a JSON body with the right HTTP status.

Bodies follow the OAuth 2 error shape (RFC 6749 section 5.2, RFC 6750 section 3.1) so an
ASP parses one format everywhere: ``{"error": ..., "error_description": ...}``, plus
``"parameter"`` when a query parameter is at fault.  Descriptions stay ASCII without
quotes (house style: Authlib refuses anything else in OAuth errors).

* 400 ``invalid_request`` -- a bad query parameter (named, with the expected form);
* 401 / 403 -- the token guard's RFC 6750 answers (``insufficient_scope`` raised here
  carries the same ``WWW-Authenticate`` challenge);
* 404 ``not_found`` -- an unknown id *or* one outside the token's grant: the API never
  tells an ASP that a resource it may not see exists;
* 405 ``method_not_allowed`` -- the resource API is read-only;
* 500 ``server_error`` -- a resource the ESPI schema cannot carry (``SerializeError``) or
  any other fault; the description never includes stored data.

The errors are :class:`~espi_sst_server.errors.Refused`; ``server/errors/wire.py`` writes every
answer (and maps Werkzeug's 404 / 405 and the library's errors here to the codes above).
"""

from __future__ import annotations

from ..errors import Refused


def not_found(what: str) -> Refused:
    """404 for an unknown id and for one the grant does not cover (never a 403)."""
    return Refused(404, "not_found", f"no {what} with this id is available to this token")


def insufficient_scope(description: str) -> Refused:
    return Refused(403, "insufficient_scope", description)


def bad_parameter(parameter: str, expected: str) -> Refused:
    return Refused(
        400, "invalid_request", f"query parameter {parameter}: {expected}", parameter=parameter
    )
