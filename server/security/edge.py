"""Input at the edge: what no view, and no database, should ever see.

Every request passes ``screen()`` (a ``before_request`` registered first, before CSRF and
the views) and is refused, with a clear error, when it carries:

* **a NUL character** (raw, ``%00`` or JSON's ``\\u0000``) in the path, the query string,
  a header (RFC 9110 section 5.5: field values never contain NUL), the HTTP Basic client
  credentials (form-encoded, RFC 6749 section 2.3.1, so ``%00`` there is a NUL too), a
  cookie, a form field or a JSON string.  PostgreSQL cannot store NUL in a text value; a
  NUL bound to a query used to be an unauthenticated 500 (sign-in, token, authorize,
  resource ids, rate changes).  No identifier, name or code of this server contains one,
  so the refusal loses nothing.  400 ``invalid_request``.
* **JSON nested deeper than** ``JSON_MAX_DEPTH`` (64): Python's parser recurses, and a
  body 5,000 levels deep raised ``RecursionError`` -- a 500 -- inside a view.  The body is
  parsed here once, inside a guard, and walked without recursion.  400 ``invalid_request``.
* **a body over** ``MAX_CONTENT_LENGTH`` (1 MiB; Flask's own setting, which Werkzeug
  enforces while reading) or a form over Werkzeug's ``MAX_FORM_MEMORY_SIZE`` /
  ``MAX_FORM_PARTS``.  413 ``request_too_large`` (RFC 9110 section 15.5.14).

Only JSON (``application/json``, ``*+json``) and form bodies are read here; any other body
(XML, say) is left to its view untouched, bar the size limit.

Refusals are :class:`~espi_sst_server.errors.Refused`, answered like every error of the
server (``server/errors/wire.py``): JSON (``{"error", "error_description"}``, the shape of RFC
6749 section 5.2 and of the resource API) except where a person reads the answer -- the
portal and ``/oauth/authorize`` -- which get the portal's error page.  The description says
what and where (which field, header or parameter), never echoes the input, and building it
cannot fail: a refusal is never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ..errors import Refused
from ..errors.wire import answer

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL = "\x00"


def _nul_in(where: str) -> Refused:
    return Refused(
        400,
        "invalid_request",
        f"{where} contains a NUL character (%00 or \\u0000); no value here may hold one",
    )


def _too_large(what: str) -> Refused:
    return Refused(413, "request_too_large", f"{what}; send a smaller request")


def _body_too_large() -> Refused:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return _too_large(f"the request body is larger than {limit} bytes (MAX_CONTENT_LENGTH)")


def _check_pairs(pairs: Iterable[tuple[str, str]], kind: str) -> None:
    for name, value in pairs:
        if NUL in name or NUL in value:
            shown = name.replace(NUL, "%00")
            raise _nul_in(f"{kind} {shown}")


def _check_url_and_headers() -> None:
    if NUL in request.path:
        raise _nul_in("the URL path")
    _check_pairs(request.args.items(multi=True), "query parameter")
    _check_pairs(request.headers.items(), "header")
    try:
        client_id, secret = extract_basic_authorization(request.headers)
    except (UnicodeDecodeError, ValueError):  # not Basic credentials: Authlib refuses them
        client_id = secret = None
    if NUL in (client_id or "") or NUL in (secret or ""):
        raise _nul_in("the Authorization header's client credentials")
    _check_pairs(request.cookies.items(multi=True), "cookie")


def _check_form() -> None:
    _check_pairs(request.form.items(multi=True), "form field")
    for name, upload in request.files.items(multi=True):
        if NUL in name or NUL in (upload.filename or ""):
            raise _nul_in(f"form file {name.replace(NUL, '%00')}")


def _check_json(max_depth: int) -> None:
    raw = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit is not None and len(raw) >= int(limit):
        # A streamed (chunked) body: Werkzeug stops reading at the limit and returns what
        # it has, silently cut.  Reaching the limit means the body did not fit.
        raise _body_too_large()
    if not raw:
        return
    try:
        document = json.loads(raw)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError:  # not JSON at all: the view says what it expected
        return
    _walk(document, max_depth)


def _too_deep(max_depth: int) -> Refused:
    return Refused(
        400,
        "invalid_request",
        f"the JSON body is nested more than {max_depth} levels deep (JSON_MAX_DEPTH)",
    )


def _walk(document: Any, max_depth: int) -> None:
    """Depth and NUL check of a parsed JSON value, iteratively (no recursion to exhaust)."""
    pending: list[tuple[Any, str, int]] = [(document, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, member in items:
                if NUL in str(key):
                    raise _nul_in(f"a JSON member name under {where or 'the top level'}")
                pending.append((member, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, str) and NUL in value:
            raise _nul_in(f"JSON member {where or '(the whole body)'}")


def screen() -> None:
    """The ``before_request`` check: returns to let the request through, else raises
    :class:`~espi_sst_server.errors.Refused`."""
    config = current_app.config
    try:
        limit = config.get("MAX_CONTENT_LENGTH")
        if limit is not None and (request.content_length or 0) > int(limit):
            raise _body_too_large()
        _check_url_and_headers()
        if request.mimetype in _FORMS:
            _check_form()
        elif request.is_json:
            _check_json(int(config.get("JSON_MAX_DEPTH") or 64))
    except Refused as refusal:
        _log(refusal)
        raise
    except RequestEntityTooLarge:  # Werkzeug, while reading the body or parsing the form
        too_large = _form_or_body_too_large()
        _log(too_large)
        raise too_large from None


def _form_or_body_too_large() -> Refused:
    if request.mimetype in _FORMS:
        config = current_app.config
        return _too_large(
            "the form is larger than allowed: at most "
            f"{config.get('MAX_CONTENT_LENGTH')} bytes in all (MAX_CONTENT_LENGTH), "
            f"{config.get('MAX_FORM_MEMORY_SIZE')} bytes per field (MAX_FORM_MEMORY_SIZE) "
            f"and {config.get('MAX_FORM_PARTS')} fields (MAX_FORM_PARTS)"
        )
    return _body_too_large()


def _log(refusal: Refused) -> None:
    current_app.logger.info("refused at the edge (%s): %s", refusal.status, refusal.description)


def _entity_too_large(_error: RequestEntityTooLarge) -> Response:
    """A body read by a view after ``screen()`` (a chunked body, say) that grew too big."""
    refusal = _form_or_body_too_large()
    _log(refusal)
    return answer(refusal)


def init_app(app: Flask) -> None:
    """Screen every request first: call before any other extension registers a hook."""
    app.before_request(screen)
    app.register_error_handler(RequestEntityTooLarge, _entity_too_large)


__all__ = ["init_app", "screen"]
