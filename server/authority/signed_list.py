"""Signing and publishing the ASP list (the contract of issue 20; h20b owns this module and may
replace this minimal version with the same two functions).

The list is a compact JWS (RFC 7515 section 7.1), ES256 (RFC 7518 section 3.4), with ``kid``
and ``typ: espi-sst-asp-registry+jws`` in the protected header; the public keys are a JWK Set
(RFC 7517 section 5).  Signed with joserfc (Authlib's JOSE successor, which the server's
OpenID keys already use: ``authlib.jose`` warns that it is deprecated); any JOSE library,
Authlib's included, verifies the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

REGISTRY_FORMAT = "espi-sst-asp-registry/2"
JWS_TYPE = "espi-sst-asp-registry+jws"


def _key(key: Any) -> ECKey:
    return key if isinstance(key, ECKey) else ECKey.import_key(key)


def sign_registry(payload: dict[str, Any], key: Any) -> str:
    """``payload`` as a compact JWS signed with ``key`` (a private EC P-256 JWK, dict or key)."""
    jwk = _key(key)
    header = {"alg": "ES256", "typ": JWS_TYPE, "kid": jwk.kid or jwk.thumbprint()}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return jws.serialize_compact(header, body, jwk, algorithms=["ES256"])


def public_jwks(keys: Iterable[Any]) -> dict[str, Any]:
    """The public halves of ``keys`` as a JWK Set, each with ``kid``, ``use: sig``, ``alg``."""
    found = []
    for key in keys:
        jwk = _key(key)
        public = jwk.as_dict(private=False)
        public.update({"kid": jwk.kid or jwk.thumbprint(), "use": "sig", "alg": "ES256"})
        found.append(public)
    return {"keys": found}
