"""Grants and extensions: where this server is stricter than Authlib's defaults (RFC 9700).

* PKCE with S256 is required of EVERY client, confidential or public; ``plain``, a missing
  method and a verifier without a challenge are refused (Authlib's ``CodeChallenge``
  forces PKCE for public clients only and allows ``plain``).
* Authorization codes are single-use and short-lived; a code presented twice revokes every
  token of the grant it was issued for (RFC 6749 4.1.2, RFC 9700 4.5).
* Refresh tokens rotate; presenting a used refresh token revokes the whole token family
  (RFC 9700 4.14.2).
* Both are claimed race-safely: a conditional UPDATE marks the code or refresh token used
  as the request's first write, committed only with the new token (``save_token``).  Of N
  parallel requests exactly one gets tokens; the others are replays, refused and punished
  (issue 11, items 2 and 13).
* OpenID Connect (id_tokens, the ``code id_token`` hybrid) is ``openid.py``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, compare_s256_code_challenge
from flask import current_app, g
from sqlalchemy import select, update

from espi_sst.scope import Scope

from ..lifecycle.usable import grant_refusal
from ..security import hash_secret, now
from ..storage import db
from ..storage.models import (
    Application,
    Authorization,
    AuthorizationCode,
    RetailCustomer,
    Token,
)
from ..storage.rows import audit, revoke_tokens, rowcount
from .adapters import OAuthClient, OAuthCode, OAuthToken

Params = list[tuple[str, str]]
"""Authorization response parameters, in order."""


class StrictPKCE(CodeChallenge):
    """PKCE S256 for every client (RFC 9700 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "Missing 'code_challenge': PKCE with S256 is required of every client",
                redirect_uri=redirect_uri,
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "'code_challenge_method' must be S256 ('plain' and a missing method are refused)",
                redirect_uri=redirect_uri,
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        verifier = grant.request.form.get("code_verifier")
        challenge = grant.request.authorization_code.row.code_challenge
        if not challenge:
            raise InvalidRequestError("The authorization had no code challenge; refused")
        if not verifier:
            raise InvalidRequestError("Missing 'code_verifier'")
        if not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidRequestError("Invalid 'code_verifier'")
        if not compare_s256_code_challenge(verifier, challenge):
            raise InvalidGrantError(description="Code challenge failed.")


def save_code(code: str, request: Any, response_type: str) -> None:
    """Store a code's hash with what the customer consented to (set by the consent view)."""
    consent = g.espi_consent
    payload = request.payload
    row = AuthorizationCode(
        code_hash=hash_secret(code),
        client_id=request.client.get_client_id(),
        authorization_id=consent.authorization_id,
        redirect_uri=payload.redirect_uri,
        response_type=response_type,
        scope=consent.scope,
        nonce=payload.data.get("nonce"),
        code_challenge=payload.data.get("code_challenge"),
        code_challenge_method=payload.data.get("code_challenge_method") or "S256",
        auth_time=consent.auth_time,
        expires_at=now() + int(current_app.config["AUTHORIZATION_CODE_SECONDS"]),
    )
    db.session.add(row)
    db.session.commit()


def query_code(code: str, client: OAuthClient) -> OAuthCode | None:
    """Find the code and claim it for this request: a code is used once (RFC 6749 4.1.2).

    The claim is a conditional UPDATE (``used_at`` set where it is still NULL), so of N
    requests presenting one code at once exactly one matches the row; the others wait on
    the row lock (PostgreSQL) or the write lock (SQLite) and match nothing.  It is NOT
    committed here: ``save_token`` commits it together with the token, and a request that
    fails after the claim (wrong PKCE verifier, wrong redirect_uri) is rolled back by the
    token endpoint (``EspiAuthorizationServer.create_token_response``), so the code stays
    usable by its holder.  A request that finds the code already used is a replay:
    :func:`_refuse_replayed_code`.
    """
    row = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == hash_secret(code))
    )
    if row is None or row.client_id != client.get_client_id():
        return None
    moment = now()
    claimed = rowcount(
        db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=moment)
        )
    )
    if not claimed:
        _refuse_replayed_code(row, moment)
        return None
    if row.expires_at <= moment:
        return None  # the claim is rolled back with the refused request
    return OAuthCode(row)


def _refuse_replayed_code(row: AuthorizationCode, moment: int) -> None:
    """A second use of a code: revoke every token of the grant it was issued for (RFC 6749
    4.1.2, RFC 9700 4.5) -- each consent is its own Authorization row, so its tokens are
    exactly what this code produced, in every family (a refreshed token included).  The
    request that claimed the code first has committed its token before this statement runs
    (it held the lock this request waited on), so a racer revokes the winner's token too.
    Committed here: the refusal that follows rolls back nothing of it."""
    revoked = revoke_tokens(db.session, Token.authorization_id == row.authorization_id, moment)
    audit(
        db.session,
        now(),
        "client:" + row.client_id,
        "code_reused",
        subject=f"authorization:{row.authorization_id}",
        detail={"tokens_revoked": revoked},
    )
    db.session.commit()


def _qualification(client_id: str) -> str | None:
    return db.session.scalar(
        select(Application.qualification).where(Application.client_id == client_id)
    )


def revoke_family(family: str, *, reason: str) -> int:
    """Revoke every live token of a family (the caller commits); how many."""
    revoked = revoke_tokens(db.session, Token.family == family, now())
    audit(
        db.session,
        now(),
        "system",
        "token_family_revoked",
        subject=f"family:{family}",
        detail={"reason": reason, "tokens_revoked": revoked},
    )
    return revoked


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def front_channel_params(self, grant_user: RetailCustomer) -> Params:
        """What the approved authorization response carries: the code (RFC 6749 4.1.2).
        ``responses.authorization_redirect`` adds state and iss where the mode says."""
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        return [("code", code)]

    def save_authorization_code(self, code: str, request: Any) -> None:
        save_code(code, request, "code")

    def query_authorization_code(self, code: str, client: OAuthClient) -> OAuthCode | None:
        return query_code(code, client)

    def delete_authorization_code(self, authorization_code: OAuthCode) -> None:
        """Nothing left to do: the code was marked used when it was claimed (``query_code``)
        and that claim was committed with the token.  The row is kept so that a second
        presentation is recognised (and punished)."""

    def authenticate_user(self, authorization_code: OAuthCode) -> RetailCustomer | None:
        row = authorization_code.row
        grant = db.session.get(Authorization, row.authorization_id)
        if grant is None or grant.customer is None:
            return None
        if grant_refusal(_qualification(row.client_id), grant, now()) is not None:
            return None  # revoked between consent and exchange, or already past its end
        return grant.customer


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        """Find the refresh token and claim it for this request (rotation: used once).

        The claim is a conditional UPDATE (``refresh_used_at`` and ``revoked_at`` set where
        both are NULL), committed by ``save_token`` with the successor; a request that
        fails afterwards is rolled back by the token endpoint.  Of N parallel refreshes one
        claims the row; the others wait for its commit and match nothing -- a reuse
        (RFC 9700 4.14.2): :func:`_refuse_reused_refresh_token`.
        """
        row = db.session.scalar(
            select(Token).where(Token.refresh_token_hash == hash_secret(refresh_token))
        )
        if row is None or row.client_id != self.request.client.get_client_id():
            return None  # another client's token is not claimed (nor punished) for it
        moment = now()
        claimed = rowcount(
            db.session.execute(
                update(Token)
                .where(
                    Token.id == row.id,
                    Token.refresh_used_at.is_(None),
                    Token.revoked_at.is_(None),
                )
                .values(refresh_used_at=moment, revoked_at=moment)
            )
        )
        if not claimed:
            _refuse_reused_refresh_token(row)
            return None
        if (row.refresh_expires_at or 0) <= moment:
            return None  # the claim is rolled back with the refused request
        if grant_refusal(_qualification(row.client_id), row.authorization, moment) is not None:
            return None  # ended, past the end date the customer chose, or ASP withdrawn
        return OAuthToken(row)

    def authenticate_user(self, refresh_token: OAuthToken) -> RetailCustomer | None:
        authorization = refresh_token.row.authorization
        return authorization.customer if authorization is not None else None

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        """Nothing left to do: the old token was marked used and revoked when it was
        claimed (``authenticate_refresh_token``), committed with its successor."""


def _refuse_reused_refresh_token(row: Token) -> None:
    """A refresh token that could not be claimed: revoked (nothing to do) or already used.

    Used: someone else holds a copy, or two requests raced (RFC 9700 4.14.2).  The whole
    family is revoked -- including the successor the first use received, committed before
    this request's claim returned -- audited and committed (the refusal that follows rolls
    back nothing of it)."""
    used_at = db.session.scalar(select(Token.refresh_used_at).where(Token.id == row.id))
    if used_at is None:
        return
    revoke_family(row.family, reason="refresh token reused")
    audit(
        db.session,
        now(),
        "client:" + row.client_id,
        "refresh_reused",
        subject=f"family:{row.family}",
    )
    db.session.commit()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """ASP-level access (ApplicationInformation, Bulk) with the client's own credentials."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Authlib's, with the scope narrowed by :func:`client_token_scope` (Authlib issues
        whatever scope the request names)."""
        client: OAuthClient = self.request.client
        scope = client_token_scope(self.request.payload.scope or "", client.row.scope)
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def client_token_scope(requested: str, registered: str) -> str:
    """What a client_credentials token may carry: ESPI function blocks only (issue 11,
    item 19).

    The endpoints that take such a token (``current_grant(client_level=True)``:
    ApplicationInformation, Batch/Bulk, ReadServiceStatus) need no category; categories
    (usage, billing, basic, sst:*) and openid are a customer's to grant, never an ASP's
    own.  RFC 6749 3.3 lets the server "fully or partially ignore the scope requested"
    and says the response's ``scope`` tells the client what it got, so the request is
    narrowed, not refused: its function blocks that the client registered, with its
    parameters; when it names none of those, the registration's own ESPI scope (the
    "pre-defined default value").  Both are within the registration.
    """
    asked = Scope.parse(requested)
    allowed = Scope.parse(registered)
    if not allowed.function_blocks:
        raise InvalidScopeError("this client is registered for no ESPI function block (FB=...)")
    blocks = asked.function_blocks & allowed.function_blocks
    if blocks:
        return str(Scope(frozenset(blocks), asked.parameters))
    return str(Scope(allowed.function_blocks, allowed.parameters))
