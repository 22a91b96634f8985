"""OAuth 2.0 per the Security BCP (RFC 9700): the code flow with PKCE, and its defences."""

from __future__ import annotations

from ..context import Context
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
