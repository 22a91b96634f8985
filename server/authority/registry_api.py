"""The published list and its keys: ``GET /registry`` (the newest compact JWS,
``application/jose``, a strong ETag and 304 on If-None-Match, RFC 9110 sections 8.8.3 and
13.1.2) and ``GET /.well-known/jwks.json`` (RFC 7517 section 5)."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..errors import Refused
from . import signed_list
from .keys import all_keys, signing_key
from .publishing import refresh_if_stale
from .web import session_of, settings

registry_api = Blueprint("authority_registry_api", __name__)


@registry_api.get("/registry")
def registry() -> Any:
    publication = refresh_if_stale(session_of(), settings())
    if publication is None:
        raise Refused(404, "not_published", "no list has been published yet (no ASP approved)")
    etag = '"' + hashlib.sha256(publication.jws.encode()).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return Response(status=304, headers=headers)
    return Response(publication.jws, status=200, headers=headers, content_type="application/jose")


@registry_api.get("/.well-known/jwks.json")
def jwks() -> Any:
    db = session_of()
    signing_key(db)  # generated at first start if missing
    return jsonify(signed_list.public_jwks(all_keys(db)))
