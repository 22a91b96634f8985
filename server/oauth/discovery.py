"""Discovery metadata: RFC 8414 (OAuth 2.0 Authorization Server Metadata) and OpenID
Connect Discovery 1.0, one document at both well-known URLs.

It must say what the server does, no more: a client chooses a response mode, an
authentication method, a PKCE method or a scope from it (``scopes_supported`` names only the
SST functions of this utility's phase, ``SST_PHASE``, concept design 6.1).  ``response_modes_supported`` is the
response modes ``responses.py`` implements; ``authorization_response_iss_parameter_supported``
promises RFC 9207's ``iss`` in every authorization response.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from espi_sst.scope import Category

from ..config import RESOURCE_PATH
from ..lifecycle.registration import DEFAULT_SCOPE
from ..sst import phases
from . import responses


def _categories_offered() -> list[str]:
    """Every Green Button category, and the SST ones of this utility's phase (6.1)."""
    switched_off = phases.switched_off(current_app.config)
    return [c.value for c in Category if c not in switched_off]


ESPI_SCOPE = DEFAULT_SCOPE.split()[0]
"""The ESPI function-block scope token a registered client gets by default (GBC sends
exactly one ``FB=...;IntervalDuration=...`` token): a real string a client can request, not
a pattern -- RFC 8414 2 says ``scopes_supported`` lists scope values."""


def metadata() -> dict[str, Any]:
    issuer = current_app.config["ISSUER"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks.json",
        "response_types_supported": ["code", "code id_token"],
        "response_modes_supported": responses.ADVERTISED,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": ["openid", *_categories_offered(), ESPI_SCOPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "name", "email", "auth_time", "nonce", "c_hash", "at_hash"],
        "authorization_response_iss_parameter_supported": True,
        "require_pushed_authorization_requests": False,
        "espi_resource_endpoint": f"{issuer}{RESOURCE_PATH}",
        "service_documentation": f"{issuer}/",
    }
