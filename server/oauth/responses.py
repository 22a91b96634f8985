"""Authorization responses: the one place that writes the redirect back to the client.

Where the answer goes (the response mode) and what always goes with it:

* ``code`` answers in the query (its default) or, on request, in the fragment;
  ``code id_token`` answers in the fragment only -- OAuth 2.0 Multiple Response Type
  Encoding Practices, section 5: for a response type that returns an id_token "the query
  encoding MUST NOT be used", it would put the id_token in server logs and Referer headers.
  ``form_post`` is neither advertised nor implemented, so it is refused like any unknown
  mode.  Discovery's ``response_modes_supported`` is :data:`ADVERTISED`.
* A mode the server does not offer for the response type is ``invalid_request`` before the
  consent page (:func:`check_response_mode`), so no grant exists that its ASP never got.
* Every answer -- a code, an error, a denial -- carries ``state`` (RFC 6749 4.1.2, when the
  request had one) and ``iss`` (RFC 9207) in the SAME component as the rest: a client
  reads the query or the fragment, never both.  Authlib's ``IssuerParameter`` appends
  ``iss`` to the query whatever the mode, and its hybrid denial drops ``state`` (issue 11,
  item 6), so these responses are written here, not by Authlib.

An error the server cannot trust the redirect for (unknown client, unregistered redirect
URI) is not a response of this module: it gets an error page (RFC 6749 4.1.2.1).
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Payload
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import redirect
from werkzeug.wrappers import Response

QUERY = "query"
FRAGMENT = "fragment"

MODES: dict[str, tuple[str, ...]] = {"code": (QUERY, FRAGMENT), "code id_token": (FRAGMENT,)}
"""The response modes offered per response type."""

ADVERTISED = [QUERY, FRAGMENT]
"""Discovery's ``response_modes_supported``: every mode offered for some response type."""

Params = list[tuple[str, str]]


def default_mode(response_type: str | None) -> str:
    """The response type's default mode (Multiple Response Types, sections 2.1 and 5):
    the query for ``code`` (and anything unknown), the fragment for any response type that
    returns a token or an id_token -- also when that response type is refused."""
    kinds = set((response_type or "").split())
    return FRAGMENT if kinds & {"token", "id_token"} else QUERY


def _requested_mode(payload: OAuth2Payload) -> str | None:
    """The ``response_mode`` parameter; empty counts as absent (RFC 6749 3.1)."""
    return payload.data.get("response_mode") or None


def delivery_mode(payload: OAuth2Payload) -> str:
    """The mode an answer to this request travels in: the requested one when it is offered
    for the response type, else the response type's default -- so the refusal of a bad
    ``response_mode`` arrives where the client expects that response type's errors."""
    requested = _requested_mode(payload)
    if requested is not None and requested in MODES.get(payload.response_type or "", ()):
        return requested
    return default_mode(payload.response_type)


def check_response_mode(payload: OAuth2Payload, redirect_uri: str) -> None:
    """Refuse a ``response_mode`` not offered for the response type (``invalid_request``).

    Called once the client and redirect URI are verified and before the consent page.
    The description does not echo the value (it could hold quotes or non-ASCII text,
    which OAuth error descriptions must not).
    """
    if len(payload.datalist.get("response_mode", [])) > 1:
        raise InvalidRequestError("Multiple response_mode in request", redirect_uri=redirect_uri)
    requested = _requested_mode(payload)
    offered = MODES.get(payload.response_type or "", ())
    if requested is None or requested in offered:
        return
    raise InvalidRequestError(
        f"the response_mode is not offered for response_type {payload.response_type}: "
        f"use {' or '.join(offered)} (form_post is not supported)",
        redirect_uri=redirect_uri,
    )


def authorization_redirect(
    redirect_uri: str, params: Params, *, mode: str, state: str | None, issuer: str
) -> Response:
    """302 to the client with ``params``, then ``state`` and ``iss``, all in ``mode``'s
    component of the redirect URI."""
    everything = list(params)
    if state:
        everything.append(("state", state))
    everything.append(("iss", issuer))
    location = add_params_to_uri(redirect_uri, everything, fragment=mode == FRAGMENT)
    response = redirect(location, 302)
    response.headers["Cache-Control"] = "no-store"  # a code or id_token: never cached
    return response


def error_params(error: OAuth2Error) -> Params:
    """An OAuth error as response parameters (RFC 6749 4.1.2.1), without ``state``."""
    params = [("error", str(error.error))]
    if error.description:
        params.append(("error_description", str(error.description)))
    if error.uri:
        params.append(("error_uri", str(error.uri)))
    return params


__all__ = [
    "ADVERTISED",
    "FRAGMENT",
    "MODES",
    "QUERY",
    "authorization_redirect",
    "check_response_mode",
    "default_mode",
    "delivery_mode",
    "error_params",
]
