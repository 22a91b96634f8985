"""Discovery and metadata: RFC 8414, OpenID Connect Discovery 1.0, the JWKS (RFC 7517),
and what RFC 9700 and RFC 9207 ask a server to advertise."""

from __future__ import annotations

from ..context import Context
from ..registry import scenario

PRIVATE_KEY_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


@scenario(
    "DISC-01",
    "Authorization server metadata names this issuer and its endpoints",
    references=("RFC 8414 3, 3.3", "OIDC Discovery 1.0 4.3", "concept design 7.3"),
    group="discovery",
)
def metadata(ctx: Context) -> None:
    data = ctx.metadata()
    ctx.check(
        data.get("issuer") == ctx.config.issuer,
        f"metadata issuer {data.get('issuer')!r} is not the configured {ctx.config.issuer!r} "
        "(RFC 8414 3.3: they must be identical)",
    )
    for name in ("authorization_endpoint", "token_endpoint", "response_types_supported"):
        ctx.check(data.get(name), f"metadata lacks {name} (RFC 8414 2)")
    ctx.check(
        "code" in data["response_types_supported"],
        "response_types_supported does not list 'code'",
    )
    for name in ("authorization_endpoint", "token_endpoint"):
        ctx.check(
            str(data[name]).startswith("https://") or ctx.config.issuer.startswith("http://"),
            f"{name} is not https",
        )


@scenario(
    "DISC-02",
    "OpenID Connect discovery and the JWKS publish only public signing keys",
    references=("OIDC Discovery 1.0 3, 4", "RFC 7517 4, 6.3", "RFC 8414 2 (jwks_uri)"),
    group="discovery",
)
def jwks(ctx: Context) -> None:
    data = ctx.metadata()
    url = data.get("jwks_uri")
    if not url:
        scopes = data.get("scopes_supported") or []
        if "openid" in scopes:
            ctx.fail("scopes_supported lists openid but the metadata names no jwks_uri")
        ctx.skip("the server offers no OpenID Connect (no jwks_uri, no openid scope)")
    response = ctx.http.get(str(url))
    ctx.check(response.status_code == 200, f"jwks_uri answered {response.status_code}")
    keys = response.json().get("keys")
    ctx.check(isinstance(keys, list) and keys, "the JWKS has no keys")
    for key in keys:
        ctx.check(key.get("kty"), f"a key without kty: {sorted(key)}")
        leaked = [m for m in PRIVATE_KEY_MEMBERS if m in key]
        ctx.check(not leaked, f"key {key.get('kid')!r} publishes private members {leaked}")
    if len(keys) > 1:
        ctx.check(all(k.get("kid") for k in keys), "several keys, not all with a kid")
    algs = data.get("id_token_signing_alg_values_supported") or []
    ctx.check("none" not in algs, "id_token_signing_alg_values_supported lists 'none'")


@scenario(
    "DISC-03",
    "Metadata advertises PKCE S256 (not plain) and the iss response parameter",
    references=("RFC 9700 2.1.1", "RFC 7636 4.2", "RFC 9207 3", "RFC 8414 2"),
    group="discovery",
)
def advertised_defences(ctx: Context) -> None:
    data = ctx.metadata()
    methods = data.get("code_challenge_methods_supported") or []
    ctx.check("S256" in methods, f"code_challenge_methods_supported {methods} lacks S256")
    ctx.check("plain" not in methods, "code_challenge_methods_supported offers plain")
    ctx.check(
        data.get("authorization_response_iss_parameter_supported") is True,
        "authorization_response_iss_parameter_supported is not true (RFC 9207 3)",
    )
    grants = data.get("grant_types_supported") or ["authorization_code", "implicit"]
    ctx.check("implicit" not in grants, "grant_types_supported offers implicit (RFC 9700 2.1.2)")
    ctx.check("password" not in grants, "grant_types_supported offers password (RFC 9700 2.4)")
