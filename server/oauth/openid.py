"""OpenID Connect on top of the grants: how id_tokens are signed and what they claim.

* A nonce is required (for ``code`` and the ``code id_token`` hybrid), and a nonce cannot
  be replayed for the same client.
* The token endpoint's id_token (``RequiredNonceOpenIDCode``) names the customer (name,
  e-mail) only when the grant has the basic category -- as userinfo does.
* The hybrid ``code id_token`` (concept design section 8) answers in the front channel
  with the code and an id_token that carries no personal claim (issue 11, item 20).
"""

from __future__ import annotations

from typing import Any

from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode, OpenIDHybridGrant
from authlib.oidc.core.util import create_half_hash
from flask import current_app, g
from joserfc import jwt
from sqlalchemy import select

from espi_sst.scope import Category, Scope

from ..security import now
from ..storage import db
from ..storage.models import AuthorizationCode, RetailCustomer
from .adapters import OAuthClient
from .grants import Params, save_code
from .keys import ALGORITHM, signing_key


def _user_info(customer: RetailCustomer, scope: str) -> UserInfo:
    info = UserInfo(sub=customer.uuid)
    if Scope.parse(scope).allows(Category.BASIC):
        info["name"] = customer.display_name
        if customer.email:
            info["email"] = customer.email
    return info


class OpenIDSigning:
    """How id_tokens are signed and what they claim (shared by code and hybrid flows)."""

    def resolve_client_private_key(self, client: OAuthClient) -> Any:
        return signing_key(db.session)[1]

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return ALGORITHM

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        return {"alg": ALGORITHM, "kid": signing_key(db.session)[0]}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        moment = now()
        return {
            "iss": current_app.config["ISSUER"],
            "aud": [client.get_client_id()],
            "iat": moment,
            "exp": moment + int(current_app.config["ID_TOKEN_SECONDS"]),
        }

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """A nonce already used with this client is a replay."""
        return (
            db.session.scalar(
                select(AuthorizationCode.id).where(
                    AuthorizationCode.client_id == request.payload.client_id,
                    AuthorizationCode.nonce == nonce,
                )
            )
            is not None
        )

    def generate_user_info(self, user: RetailCustomer, scope: str) -> UserInfo:
        return _user_info(user, scope)


class RequiredNonceOpenIDCode(OpenIDSigning, OpenIDCode):
    def __init__(self) -> None:
        super().__init__(require_nonce=True)


class HybridGrant(OpenIDSigning, OpenIDHybridGrant):
    """``response_type=code id_token`` (concept design section 8): id_token with c_hash."""

    RESPONSE_TYPES = {"code id_token"}

    def validate_consent_request(self) -> str:
        """Authlib's check, keeping the verified redirect URI on the grant as the code
        grant does (the authorization endpoint answers every error there)."""
        redirect_uri: str = super().validate_consent_request()
        self.redirect_uri = redirect_uri
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        save_code(code, request, "code id_token")

    def front_channel_params(self, grant_user: RetailCustomer) -> Params:
        """The code and an id_token -- nothing else: no ``expires_in`` or ``scope``, which
        describe an access token the front channel never gets (issue 11, item 6)."""
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        return [("code", code), ("id_token", self._front_channel_id_token(grant_user, code))]

    def _front_channel_id_token(self, customer: RetailCustomer, code: str) -> str:
        """Who signed in, when, for which request, bound to the code (OIDC Core 3.3.2.11:
        iss, sub, aud, exp, iat, auth_time, nonce, c_hash) -- and nothing personal (issue
        11, item 20).  The fragment is read by the browser and by any script at the
        redirect URI; name and e-mail go only to the authenticated client, in the token
        endpoint's id_token and at userinfo, and only with the basic category granted."""
        client = self.request.client
        claims = self.get_client_claims(client)
        half_hash = create_half_hash(code, ALGORITHM)
        assert half_hash is not None  # RS256 has a hash
        claims.update(
            sub=customer.uuid,
            auth_time=g.espi_consent.auth_time,
            nonce=self.request.payload.data["nonce"],  # required (validate_nonce)
            c_hash=half_hash.decode("ascii"),
        )
        header = self.get_encode_header(client)
        return jwt.encode(header, claims, self.resolve_client_private_key(client), [ALGORITHM])
