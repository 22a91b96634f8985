"""Signing the central authority's list of qualified ASPs, and publishing its keys (issue 20).

A minimal stand-in with the same interface as h20b's module (which also runs the entities'
payload check before signing: the lead keeps that version when merging).  Compact JWS (RFC
7515 section 7.1), ES256 (RFC 7518 section 3.4), ``kid`` = the key's RFC 7638 thumbprint,
explicit ``typ`` (RFC 8725 section 3.11).  joserfc, Authlib's JOSE successor (``authlib.jose``
warns that it is deprecated; the server's id_tokens use joserfc too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

REGISTRY_FORMAT_2 = "espi-sst-asp-registry/2"
REGISTRY_TYP = "espi-sst-asp-registry+jws"
REGISTRY_ALG = "ES256"


def new_signing_key() -> ECKey:
    """A new P-256 private key whose ``kid`` is its RFC 7638 thumbprint."""
    key = ECKey.generate_key("P-256")
    key.ensure_kid()
    return key


def private_jwk(key: ECKey) -> dict[str, Any]:
    """The private key as a JWK dict, to store (the authority keeps it in its database)."""
    return dict(key.as_dict(private=True))


def key_from_jwk(jwk: dict[str, Any]) -> ECKey:
    """A stored private JWK back as a key (its ``kid`` kept)."""
    key = ECKey.import_key(jwk)
    key.ensure_kid()
    return key


def sign_registry(payload: dict[str, Any], key: ECKey) -> str:
    """The payload as a compact JWS signed with ``key``."""
    key.ensure_kid()
    header: dict[str, Any] = {"alg": REGISTRY_ALG, "kid": key.kid, "typ": REGISTRY_TYP}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return jws.serialize_compact(header, body, key, algorithms=[REGISTRY_ALG])


def public_jwks(keys: Iterable[ECKey]) -> dict[str, Any]:
    """The public halves as a JWK Set (RFC 7517 section 5), each with ``kid``, ``use: sig``
    and ``alg: ES256``; never a private member."""
    published = []
    for key in keys:
        key.ensure_kid()
        jwk: dict[str, Any] = dict(key.as_dict(private=False))
        jwk.update({"kid": key.kid, "use": "sig", "alg": REGISTRY_ALG})
        published.append(jwk)
    return {"keys": published}
