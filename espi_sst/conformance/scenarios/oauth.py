"""OAuth 2.0 per the Security BCP (RFC 9700): the code flow with PKCE, and its defences."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from ..agent import WalkOutcome
from ..config import ClientConfig, CustomerConfig
from ..context import AuthorizationAttempt, Context, pkce_pair
from ..errors import ScenarioFailed
from ..registry import scenario


@scenario(
    "OAUTH-01",
    "Authorization code with PKCE S256: code, state and iss back; tokens with ESPI's URIs",
    references=(
        "RFC 6749 4.1",
        "RFC 7636 4",
        "RFC 9207 2",
        "NAESB REQ.21 (ESPI) resourceURI / authorizationURI",
        "concept design 7.3",
    ),
    group="oauth",
    needs=("DISC-01",),
)
def code_flow(ctx: Context) -> None:
    client, customer = ctx.primary_client, ctx.primary_customer
    attempt = ctx.authorize(client, customer)
    ctx.check(
        attempt.code,
        f"no code in the redirect: {attempt.outcome.callback or attempt.outcome.page_text[:200]}",
    )
    ctx.check(
        attempt.response.get("state") == attempt.params["state"],
        "the redirect does not carry the request's state unchanged (RFC 6749 4.1.2)",
    )
    ctx.check(
        attempt.response.get("iss") == ctx.config.issuer,
        f"the redirect's iss {attempt.response.get('iss')!r} is not the issuer (RFC 9207 2)",
    )
    response = ctx.redeem(attempt)
    ctx.check(response.status_code == 200, f"the code exchange answered {response.status_code}")
    token = response.json()
    ctx.check(token.get("access_token"), "no access_token")
    ctx.check(
        str(token.get("token_type", "")).lower() == "bearer",
        f"token_type {token.get('token_type')!r} is not Bearer",
    )
    for name in ("resourceURI", "authorizationURI"):
        ctx.check(token.get(name), f"the token response lacks ESPI's {name}")
    ctx.check(
        "no-store" in response.headers.get("Cache-Control", ""),
        "the token response is not Cache-Control: no-store (RFC 6749 5.1)",
    )
    ctx.shared["grant_token"] = token


# ---- helpers of the defence scenarios ----------------------------------------------------


def _pkce_clients(ctx: Context) -> list[ClientConfig]:
    """The first public and the first confidential client of CONFIG (public first)."""
    chosen = [*ctx.config.public_clients[:1], *ctx.config.confidential_clients[:1]]
    return chosen or [ctx.primary_client]


def _kind(client: ClientConfig) -> str:
    return f"{'confidential' if client.confidential else 'public'} client {client.client_id}"


def _refused_at_authorization(
    ctx: Context, attempt: AuthorizationAttempt, error: str, why: str
) -> None:
    """No code; either an error page or an error redirect with ``error``, state and iss.

    RFC 6749 4.1.2.1: the error response carries the request's state; RFC 9207 2: and the
    issuer's iss, in whichever response mode the redirect uses.
    """
    who = _kind(attempt.client)
    ctx.check(
        attempt.code is None,
        f"the server issued a code to the {who} although {why}",
    )
    if not attempt.response:
        ctx.check(
            attempt.outcome.status < 500,
            f"the {who}'s request, in which {why}, ended in a server error "
            f"({attempt.outcome.status}), not a refusal (RFC 6749 4.1.2.1: invalid_request): "
            f"{attempt.outcome.page_text[:120]}",
        )
        ctx.note(
            f"{who}: the server showed a page ({attempt.outcome.status}) instead of "
            f"redirecting: {attempt.outcome.page_text[:160]}"
        )
        return
    _check_error_redirect(ctx, attempt, error)


def _check_error_redirect(ctx: Context, attempt: AuthorizationAttempt, error: str) -> None:
    got = attempt.response
    ctx.check(
        got.get("error") == error,
        f"the error redirect says error={got.get('error')!r}, not {error} (RFC 6749 4.1.2.1)",
    )
    ctx.check(
        got.get("state") == attempt.params["state"],
        f"the error redirect does not carry the request's state (got {got.get('state')!r}; "
        "RFC 6749 4.1.2.1: REQUIRED if the request had one)",
    )
    ctx.check(
        got.get("iss") == ctx.config.issuer,
        f"the error redirect's iss is {got.get('iss')!r}, not the issuer (RFC 9207 2)",
    )


def _oauth_error(response: requests.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


def _refused_at_token(
    ctx: Context, response: requests.Response, errors: tuple[str, ...], what: str
) -> None:
    """A token endpoint refusal: 400 (or 401) with one of ``errors`` (RFC 6749 5.2)."""
    error = _oauth_error(response)
    ctx.check(
        response.status_code in (400, 401) and "access_token" not in response.text,
        f"{what}: the token endpoint answered {response.status_code} "
        f"{response.text[:160]!r}, it must refuse",
    )
    ctx.check(
        error in errors,
        f"{what}: refused with error={error!r}, RFC 6749 5.2 / RFC 7636 4.6 want "
        f"{' or '.join(errors)}",
    )


def _approved(ctx: Context, client: ClientConfig, customer: CustomerConfig) -> AuthorizationAttempt:
    attempt = ctx.authorize(client, customer)
    if attempt.code is None:
        ctx.fail(
            f"{customer.username} approving the {_kind(client)} with PKCE S256 got no code: "
            f"{attempt.outcome.callback or attempt.outcome.page_text[:200]}"
        )
    return attempt


def _fetch_patiently(ctx: Context, url: str, token: str) -> requests.Response:
    """``ctx.fetch``: the recorder waits out a 429 with a short Retry-After (RFC 6585 4), so
    a server's rate limit is not taken for a verdict on what the token may read."""
    return ctx.fetch(url, token)


def _token_works(ctx: Context, token: str, url: str | None) -> bool | None:
    """Whether a resource server still accepts ``token`` (None: nothing cheap to ask)."""
    if not url:
        return None
    response = ctx.fetch(url, token)
    return response.status_code not in (401, 403)


# ---- PKCE (RFC 7636, RFC 9700 2.1.1) --------------------------------------------------------


@scenario(
    "OAUTH-02",
    "An authorization request without code_challenge gets no code (public clients: refused)",
    references=("RFC 9700 2.1.1", "RFC 7636 4.4.1", "RFC 6749 4.1.2.1", "RFC 9207 2"),
    group="oauth",
    needs=("DISC-01",),
)
def pkce_missing(ctx: Context) -> None:
    """RFC 9700 2.1.1: public clients MUST use PKCE, so the server must refuse them a code
    without a challenge; a confidential client MAY use the OpenID nonce instead, so a code
    for it is allowed -- but then a code_verifier at the token endpoint must be refused
    (the PKCE downgrade RFC 9700 2.1.1 tells servers to stop)."""
    customer = ctx.primary_customer
    for client in _pkce_clients(ctx):
        attempt = ctx.authorize(client, customer, method=None)
        if not client.confidential:
            _refused_at_authorization(
                ctx, attempt, "invalid_request", "the request had no code_challenge"
            )
            continue
        if attempt.code is None:
            _refused_at_authorization(ctx, attempt, "invalid_request", "")
            ctx.note(f"{_kind(client)}: refused without code_challenge (PKCE for every client)")
            continue
        ctx.note(
            f"{_kind(client)}: a code without code_challenge (RFC 9700 2.1.1 allows it for a "
            "confidential client using nonce); checking the PKCE downgrade"
        )
        response = ctx.redeem(attempt, verifier=pkce_pair()[0])
        _refused_at_token(
            ctx,
            response,
            ("invalid_grant", "invalid_request"),
            "a code_verifier for a code issued without code_challenge (PKCE downgrade, "
            "RFC 9700 2.1.1)",
        )
    if not ctx.config.public_clients:
        ctx.note("CONFIG lists no public client: the MUST of RFC 9700 2.1.1 was not exercised")


@scenario(
    "OAUTH-03",
    "code_challenge_method=plain is refused with invalid_request; no code",
    references=("RFC 9700 2.1.1", "RFC 7636 4.2, 4.4.1", "RFC 8414 2"),
    group="oauth",
    needs=("DISC-01",),
)
def pkce_plain(ctx: Context) -> None:
    """RFC 9700 2.1.1 wants S256 (plain exposes the verifier in the request); a server that
    does not support a method MUST answer invalid_request (RFC 7636 4.4.1).  A server that
    advertises plain fails DISC-03 already, and fails here too."""
    methods = ctx.metadata().get("code_challenge_methods_supported") or []
    for client in _pkce_clients(ctx):
        attempt = ctx.authorize(client, ctx.primary_customer, method="plain")
        _refused_at_authorization(
            ctx,
            attempt,
            "invalid_request",
            f"the challenge method was plain (code_challenge_methods_supported: {methods})",
        )


@scenario(
    "OAUTH-04",
    "A token request with the wrong code_verifier is refused with invalid_grant",
    references=("RFC 7636 4.6", "RFC 9700 2.1.1", "RFC 6749 5.2"),
    group="oauth",
    needs=("DISC-01",),
)
def pkce_wrong_verifier(ctx: Context) -> None:
    for client in _pkce_clients(ctx):
        attempt = _approved(ctx, client, ctx.primary_customer)
        response = ctx.redeem(attempt, verifier=pkce_pair()[0])
        _refused_at_token(
            ctx, response, ("invalid_grant",), f"{_kind(client)}: a wrong code_verifier"
        )


@scenario(
    "OAUTH-05",
    "A token request without code_verifier, for a code issued with a challenge, is refused",
    references=("RFC 7636 4.5, 4.6", "RFC 9700 2.1.1", "RFC 6749 5.2"),
    group="oauth",
    needs=("DISC-01",),
)
def pkce_missing_verifier(ctx: Context) -> None:
    """RFC 9700 2.1.1: a client that sent a code_challenge MUST have its code_verifier
    checked; leaving the verifier out must not skip the check."""
    for client in _pkce_clients(ctx):
        attempt = _approved(ctx, client, ctx.primary_customer)
        response = ctx.redeem(attempt, verifier=None)
        _refused_at_token(
            ctx,
            response,
            ("invalid_grant", "invalid_request"),
            f"{_kind(client)}: no code_verifier",
        )


# ---- redirect URIs and authorization responses ---------------------------------------------


def _same_endpoint(url: str, other: str) -> bool:
    """Same scheme, host, port and path (what a redirect goes to, whatever its query)."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def _redirect_variants(registered: str) -> list[tuple[str, str]]:
    """URIs that differ from the registered one the way attacks do (RFC 9700 4.1.1)."""
    parts = urlsplit(registered)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    other_port = parts._replace(netloc=f"{host}:{port + 1}")
    extra_path = parts._replace(path=parts.path.rstrip("/") + "/extra")
    query = f"{parts.query}&x=1" if parts.query else "x=1"
    return [
        ("an extra path segment", urlunsplit(extra_path)),
        ("an extra query parameter", urlunsplit(parts._replace(query=query))),
        ("another port", urlunsplit(other_port)),
    ]


@scenario(
    "OAUTH-06",
    "A redirect_uri not exactly the registered one is never redirected to, and gets no code",
    references=("RFC 9700 2.1, 4.1.3", "RFC 6749 3.1.2.4, 4.1.2.1"),
    group="oauth",
    needs=("DISC-01",),
)
def exact_redirect_matching(ctx: Context) -> None:
    """RFC 9700 2.1: redirect URIs are compared by exact string matching; RFC 6749 4.1.2.1:
    for a mismatching one the server MUST NOT redirect (it tells the customer instead)."""
    client, customer = ctx.primary_client, ctx.primary_customer
    for what, variant in _redirect_variants(client.redirect_uri):
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": variant,
            "scope": client.scope,
            "state": "st-" + secrets.token_urlsafe(12),
            "nonce": "n-" + secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = ctx.endpoint("authorization_endpoint")
        url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        evidence, _notes = ctx.collected()
        first = len(evidence)
        broken = None
        try:
            outcome = ctx.agent.walk(url, customer, "approve", variant)
        except requests.RequestException as exc:  # it followed the server somewhere unreachable
            broken = f"the customer's browser was sent on to an unreachable address: {exc}"
            outcome = WalkOutcome(None, 0, broken)
        if outcome.callback is not None:
            ctx.fail(
                f"redirect_uri with {what}: the server redirected to {outcome.callback[:120]} "
                "(RFC 6749 4.1.2.1: MUST NOT redirect to a mismatching URI)"
            )
        for exchange in evidence[first:]:
            ctx.check(
                not _same_endpoint(exchange.url, client.redirect_uri),
                f"redirect_uri with {what}: the server redirected the customer to the "
                f"registered URI ({exchange.url[:120]}) instead of showing an error "
                "(RFC 6749 4.1.2.1)",
            )
        ctx.check(broken is None, f"redirect_uri with {what}: {broken}")
        ctx.check(
            "code=" not in outcome.page_text,
            f"redirect_uri with {what}: the page shows a code",
        )
        ctx.note(f"{what}: an error page ({outcome.status}): {outcome.page_text[:120]}")


@scenario(
    "OAUTH-07",
    "A denial redirects error=access_denied with state and iss, and no code",
    references=("RFC 6749 4.1.2.1", "RFC 9207 2", "RFC 9700 4.7"),
    group="oauth",
    needs=("DISC-01",),
)
def denial(ctx: Context) -> None:
    client, customer = ctx.primary_client, ctx.primary_customer
    attempt = ctx.authorize(client, customer, decision="deny")
    ctx.check(attempt.code is None, "the customer denied, yet the redirect carries a code")
    ctx.check(
        attempt.response,
        "the denial did not redirect to the client (RFC 6749 4.1.2.1: error responses go "
        f"to the valid redirect URI): {attempt.outcome.page_text[:200]}",
    )
    _check_error_redirect(ctx, attempt, "access_denied")


# ---- OpenID Connect hybrid flow (fragment response mode) -----------------------------------


def _half_hash(value: str, alg: str) -> str:
    """OIDC Core 3.3.2.11: the left half of the hash of ``value`` named by the JWS alg."""
    bits = alg[-3:]
    function = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}.get(bits)
    if function is None:
        raise ScenarioFailed(f"the id_token's alg {alg!r} names no SHA-2 hash for c_hash")
    digest = function(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _verified_id_token(ctx: Context, id_token: str) -> tuple[dict[str, Any], str]:
    """The id_token's claims and alg, its signature checked against the server's JWKS."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    jwks_uri = ctx.metadata().get("jwks_uri")
    ctx.check(jwks_uri, "an id_token was issued but the metadata names no jwks_uri")
    response = ctx.http.get(str(jwks_uri))
    ctx.check(response.status_code == 200, f"jwks_uri answered {response.status_code}")
    header_part = id_token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(header_part + "=" * (-len(header_part) % 4)))
        alg = str(header["alg"])
        keys = KeySet.import_key_set(response.json())
        claims = jwt.decode(id_token, keys, algorithms=[alg]).claims
    except (ValueError, KeyError, TypeError, JoseError) as exc:
        ctx.fail(f"the id_token does not verify against the JWKS: {type(exc).__name__}: {exc}")
    ctx.check(alg != "none", "the id_token is unsigned (alg none)")
    return dict(claims), alg


@scenario(
    "OAUTH-08",
    "code id_token: fragment with state and iss, a signed id_token with nonce and c_hash; "
    "its denial too",
    references=("OIDC Core 3.3.2.5, 3.3.2.11, 3.3.2.12", "RFC 9207 2, 2.4", "RFC 6749 4.1.2.1"),
    group="oauth",
    needs=("DISC-01",),
)
def hybrid_flow(ctx: Context) -> None:
    types = ctx.metadata().get("response_types_supported") or []
    if "code id_token" not in types:
        ctx.skip(f"response_types_supported {types} does not list 'code id_token'")
    client, customer = ctx.primary_client, ctx.primary_customer
    if "openid" not in client.scope.split():
        ctx.skip(f"CONFIG's scope of {client.client_id} lacks openid (the hybrid flow needs it)")
    attempt = ctx.authorize(client, customer, response_type="code id_token")
    got = attempt.response
    ctx.check(attempt.code, f"no code: {attempt.outcome.callback or attempt.outcome.page_text}")
    ctx.check(
        attempt.in_fragment,
        "the hybrid response is not in the fragment (OIDC Core 3.3.2.5: the default mode)",
    )
    ctx.check(got.get("state") == attempt.params["state"], "the fragment lacks the state")
    ctx.check(
        got.get("iss") == ctx.config.issuer,
        f"the fragment's iss is {got.get('iss')!r}, not the issuer (RFC 9207 2)",
    )
    id_token = got.get("id_token")
    ctx.check(id_token, "the fragment has no id_token (response_type code id_token)")
    claims, alg = _verified_id_token(ctx, str(id_token))
    ctx.check(
        claims.get("iss") == ctx.config.issuer,
        f"the id_token's iss {claims.get('iss')!r} is not the issuer (OIDC Core 3.1.3.7)",
    )
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    ctx.check(
        client.client_id in audiences,
        f"the id_token's aud {audience!r} lacks {client.client_id}",
    )
    ctx.check(
        claims.get("nonce") == attempt.params["nonce"],
        "the id_token's nonce is not the request's (OIDC Core 3.3.2.11)",
    )
    ctx.check(
        isinstance(claims.get("exp"), int) and claims["exp"] > time.time(),
        f"the id_token's exp {claims.get('exp')!r} is not in the future",
    )
    ctx.check(
        claims.get("c_hash") == _half_hash(str(attempt.code), alg),
        "the id_token's c_hash does not match the code (OIDC Core 3.3.2.11: REQUIRED)",
    )
    denied = ctx.authorize(client, customer, response_type="code id_token", decision="deny")
    ctx.check(denied.code is None, "the hybrid denial carries a code")
    ctx.check(
        denied.response and denied.in_fragment,
        "the hybrid denial is not a redirect with the error in the fragment "
        f"(OIDC Core 3.3.2.6): {denied.outcome.callback or denied.outcome.page_text[:160]}",
    )
    _check_error_redirect(ctx, denied, "access_denied")


# ---- codes and refresh tokens ----------------------------------------------------------------


@scenario(
    "OAUTH-09",
    "An authorization code is single use: a second redemption is refused (invalid_grant)",
    references=("RFC 6749 4.1.2, 10.5", "RFC 9700 4.2.4", "RFC 6749 5.2"),
    group="oauth",
    needs=("DISC-01",),
)
def code_single_use(ctx: Context) -> None:
    attempt = _approved(ctx, ctx.primary_client, ctx.primary_customer)
    first = ctx.redeem(attempt)
    ctx.check(first.status_code == 200, f"the first redemption answered {first.status_code}")
    token = first.json()
    second = ctx.redeem(attempt)
    _refused_at_token(ctx, second, ("invalid_grant",), "the same code a second time")
    works = _token_works(ctx, str(token.get("access_token", "")), token.get("authorizationURI"))
    if works is None:
        ctx.note("no authorizationURI to test whether the first tokens were revoked")
    elif works:
        ctx.note(
            "the access token of the first redemption still works after the replay "
            "(RFC 6749 4.1.2: SHOULD be revoked; not a failure)"
        )
    else:
        ctx.note("the replay revoked the first redemption's access token (RFC 6749 4.1.2)")


def _refresh(ctx: Context, client: ClientConfig, refresh_token: str) -> requests.Response:
    return ctx.token_request(
        client, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


@scenario(
    "OAUTH-10",
    "Refresh tokens of a public client rotate; reusing an old one revokes its successor",
    references=("RFC 9700 4.14.2", "RFC 6749 6, 10.4", "RFC 6749 5.2"),
    group="oauth",
    needs=("DISC-01",),
)
def refresh_rotation(ctx: Context) -> None:
    public = bool(ctx.config.public_clients)
    client = ctx.config.public_clients[0] if public else ctx.confidential_client()
    grant = ctx.new_grant(client, ctx.primary_customer)
    old = grant.refresh_token
    if old is None:
        ctx.skip(f"the token response to the {_kind(client)} has no refresh_token")
    response = _refresh(ctx, client, old)
    ctx.check(
        response.status_code == 200,
        f"refreshing answered {response.status_code}: {response.text[:160]}",
    )
    fresh = response.json()
    successor = fresh.get("refresh_token")
    if not public:
        ctx.note(
            "CONFIG lists no public client: for a confidential client RFC 9700 4.14.2 only "
            "asks that refresh tokens be bound to it (client authentication), so rotation and "
            "reuse detection are noted, not required"
        )
        if not successor or successor == old:
            ctx.note("the refresh token did not rotate")
            return
    ctx.check(
        successor and successor != old,
        "the public client's refresh token did not rotate (RFC 9700 4.14.2: sender-constrained "
        "or rotated)",
    )
    reuse = _refresh(ctx, client, old)
    if public:
        _refused_at_token(ctx, reuse, ("invalid_grant",), "the replaced refresh token")
    elif reuse.status_code == 200:
        ctx.note("the replaced refresh token still worked")
        return
    after = _refresh(ctx, client, str(successor))
    if public:
        _refused_at_token(
            ctx,
            after,
            ("invalid_grant",),
            "the successor after the old refresh token was reused (RFC 9700 4.14.2: the "
            "active refresh token is revoked)",
        )
    else:
        ctx.note(f"the successor after the reuse answered {after.status_code}")
    works = _token_works(ctx, str(fresh.get("access_token", "")), grant.authorization_uri)
    if works is not None:
        ctx.note(
            "the successor's access token "
            + ("still works" if works else "was revoked too")
            + " after the reuse"
        )


@scenario(
    "OAUTH-11",
    "Revocation: a revoked refresh token is refused afterwards; an unknown token answers 200",
    references=("RFC 7009 2.1, 2.2", "RFC 9700 2.2.2"),
    group="oauth",
    needs=("DISC-01",),
)
def revocation(ctx: Context) -> None:
    endpoint = ctx.endpoint("revocation_endpoint")
    client = ctx.primary_client
    grant = ctx.new_grant(client, ctx.primary_customer)
    refresh_token = grant.refresh_token
    if refresh_token is None:
        ctx.skip(f"the token response to the {_kind(client)} has no refresh_token")
    data = {"token": refresh_token, "token_type_hint": "refresh_token"}
    response = ctx.http.post(endpoint, **ctx.client_auth(client, data))
    ctx.check(
        response.status_code == 200,
        f"revoking the refresh token answered {response.status_code} (RFC 7009 2.2: 200)",
    )
    again = _refresh(ctx, client, refresh_token)
    _refused_at_token(ctx, again, ("invalid_grant",), "the revoked refresh token")
    works = _token_works(ctx, grant.access_token, grant.authorization_uri)
    if works is not None:
        ctx.note(
            "the grant's access token "
            + ("still works" if works else "was revoked with it")
            + " (RFC 7009 2.1: SHOULD revoke the access tokens of the same grant)"
        )
    unknown = {"token": "unknown-" + secrets.token_urlsafe(24)}
    response = ctx.http.post(endpoint, **ctx.client_auth(client, unknown))
    ctx.check(
        response.status_code == 200,
        f"revoking an unknown token answered {response.status_code} (RFC 7009 2.2: 200, "
        "an invalid token is not an error)",
    )


# ---- introspection, client credentials, client authentication ------------------------------


@scenario(
    "OAUTH-12",
    "Introspection answers only the authenticated client the token was issued to",
    references=("RFC 7662 2.1, 2.2, 2.3, 4", "RFC 6749 5.2"),
    group="oauth",
    needs=("DISC-01",),
)
def introspection_access(ctx: Context) -> None:
    endpoint = ctx.endpoint("introspection_endpoint")
    owner = ctx.confidential_client()
    grant = ctx.grant(owner, ctx.primary_customer)
    data = {"token": grant.access_token}
    own = ctx.http.post(endpoint, **ctx.client_auth(owner, data))
    ctx.check(
        own.status_code == 200 and own.json().get("active") is True,
        f"the token's own client introspecting it got {own.status_code} {own.text[:120]!r}: "
        "the live token must be active (RFC 7662 2.2)",
    )
    anonymous = ctx.http.post(endpoint, data=data)
    ctx.check(
        anonymous.status_code == 401,
        f"introspection without client authentication answered {anonymous.status_code} "
        f"{anonymous.text[:120]!r} (RFC 7662 2.1: MUST require authorization; 2.3 / RFC "
        "6749 5.2: 401)",
    )
    others = [c for c in ctx.config.clients if c.client_id != owner.client_id]
    if not others:
        ctx.note("CONFIG lists one client: another client's introspection was not tried")
    for other in others:
        answer = ctx.http.post(endpoint, **ctx.client_auth(other, data))
        active = answer.status_code == 200 and answer.json().get("active") is True
        ctx.check(
            not active,
            f"the {_kind(other)} introspected {owner.client_id}'s token and got active=true "
            "(RFC 7662 4: the server decides per client; another ASP must learn nothing)",
        )
        ctx.note(f"{_kind(other)}: {answer.status_code} {answer.text[:80]}")


@scenario(
    "OAUTH-13",
    "client_credentials: its token reads no customer data; a public client cannot get one",
    references=(
        "NAESB REQ.21 (ESPI) client access token: ApplicationInformation, Authorization, Bulk",
        "RFC 6749 4.4, 2.1",
        "RFC 9700 2.3",
    ),
    group="oauth",
    needs=("DISC-01",),
)
def client_credentials_limits(ctx: Context) -> None:
    grants = ctx.metadata().get("grant_types_supported") or []
    if "client_credentials" not in grants:
        ctx.skip(f"grant_types_supported {grants} does not list client_credentials")
    client = ctx.confidential_client()
    token = ctx.client_token(client)
    grant = ctx.grant(client, ctx.primary_customer)
    targets = [("Subscription", grant.subscription_url), ("Batch/Subscription", grant.resource_uri)]
    if grant.subscription_url:
        targets.append(("UsagePoint feed", grant.subscription_url + "/UsagePoint"))
    for what, url in targets:
        if not url:
            continue
        response = _fetch_patiently(ctx, url, token)
        ctx.check(
            response.status_code in (401, 403),
            f"the customer's {what} with the client_credentials token answered "
            f"{response.status_code}; REQ.21 gives that token only the ASP's own resources "
            "(401/403 expected)",
        )
    for public in ctx.config.public_clients[:1]:
        response = ctx.token_request(public, {"grant_type": "client_credentials"})
        ctx.check(
            response.status_code in (400, 401) and "access_token" not in response.text,
            f"the public client {public.client_id} got client_credentials "
            f"({response.status_code}); RFC 6749 4.4: confidential clients only",
        )
    if not ctx.config.public_clients:
        ctx.note("CONFIG lists no public client: its refusal was not tried")


@scenario(
    "OAUTH-14",
    "A wrong client_secret in HTTP Basic gets 401 invalid_client with WWW-Authenticate: Basic",
    references=("RFC 6749 5.2, 2.3.1", "RFC 7617 2"),
    group="oauth",
    needs=("DISC-01",),
)
def wrong_client_secret(ctx: Context) -> None:
    client = ctx.confidential_client()
    response = ctx.http.post(
        ctx.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "wrong-" + secrets.token_urlsafe(16)),
    )
    ctx.check(
        response.status_code == 401,
        f"a wrong client_secret answered {response.status_code} (RFC 6749 5.2: 401 when the "
        "client authenticated with the Authorization header)",
    )
    ctx.check(
        _oauth_error(response) == "invalid_client",
        f"error={_oauth_error(response)!r}, not invalid_client (RFC 6749 5.2)",
    )
    challenge = response.headers.get("WWW-Authenticate", "")
    ctx.check(
        challenge.lower().startswith("basic"),
        f"WWW-Authenticate is {challenge!r}; RFC 6749 5.2 wants the scheme the client used (Basic)",
    )
