"""The storage rows as the objects Authlib asks for (client, authorization code, token).

Thin wrappers, so the ORM classes stay plain tables and every OAuth rule lives here:
exact redirect URI matching, the client's registered auth method, scope within what the
client registered.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from espi_sst.scope import Scope, ScopeError

from ..security import now, same_secret
from ..storage.models import Application, AuthorizationCode, Token

RESPONSE_TYPES = frozenset({"code", "code id_token"})
"""No token in the front channel (RFC 9700 2.1.2): the implicit and 'code token' flows are
off; 'code id_token' is the concept design's hybrid flow (an id_token, never an access token)."""


class OAuthClient(ClientMixin):
    def __init__(self, row: Application) -> None:
        self.row = row

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def is_public(self) -> bool:
        return self.row.client_secret_hash is None

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # redirect_uri is always required, and matched exactly

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        try:
            requested = Scope.parse(scope)
            allowed = Scope.parse(self.row.scope)
        except ScopeError:
            return ""
        return scope if requested.within(allowed) else ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact string match (RFC 9700 2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        return same_secret(client_secret, self.row.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in RESPONSE_TYPES

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


class OAuthCode(AuthorizationCodeMixin):
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class OAuthToken(TokenMixin):
    def __init__(self, row: Token, presented: str | None = None) -> None:
        self.row = row
        self.presented = presented
        """Which of the row's tokens was presented (``access_token``/``refresh_token``),
        when a look-up by string found it (revocation and introspection)."""

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, self.row.access_expires_at - self.row.issued_at)

    def is_expired(self) -> bool:
        return self.row.access_expires_at <= now()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None
