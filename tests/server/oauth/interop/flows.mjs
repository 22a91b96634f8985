// An ASP built on openid-client, driven step by step by tests/integration/test_openid_client_demo.py.
//
// stdin: one JSON object; stdout: one JSON line.  Common fields: issuer, client_id,
// client_secret (null for a public client: client.None(), PKCE only).
//
// action "authorize": builds the authorization URL the way the library does (PKCE S256,
//   state, nonce; response_type "code" or "code id_token") -> {url, verifier, state, nonce}.
// action "redeem": reads the customer's callback (callback, verifier, state, nonce, hybrid),
//   redeems the code, then runs `then`:
//   "none"    -> {grant}
//   "refresh" -> refresh, then the old refresh token again (RFC 9700 4.14.2: refused, and
//                the reuse ends the family: the new one is refused too)
//   "revoke"  -> RFC 7009: revoke the access token (userinfo refuses it, the refresh token
//                still works), then revoke the refresh token (refresh and userinfo refused).
// Every step is {ok, ...}: on failure the library's error name, OAuth error and HTTP status.
import * as client from 'openid-client';

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const input = JSON.parse(raw);

const auth =
  input.client_secret == null ? client.None() : client.ClientSecretBasic(input.client_secret);
const config = await client.discovery(new URL(input.issuer), input.client_id, undefined, auth, {
  execute: [client.allowInsecureRequests], // the demo is plain http on 127.0.0.1
});
if (input.hybrid) client.useCodeIdTokenResponseType(config);

function failure(err) {
  return {
    ok: false,
    name: err.name,
    code: err.code,
    error: err.error,
    status: err.status ?? err.response?.status,
    message: err.message,
    cause: err.cause?.message,
  };
}

async function attempt(step) {
  try {
    return { ok: true, ...(await step()) };
  } catch (err) {
    return failure(err);
  }
}

function summary(tokens) {
  return {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    scope: tokens.scope,
    resourceURI: tokens.resourceURI,
    claims: tokens.claims(),
  };
}

const userinfo = (token, sub) => attempt(async () => ({ claims: await client.fetchUserInfo(config, token, sub) }));
const refresh = (token) => attempt(async () => summary(await client.refreshTokenGrant(config, token)));
const revoke = (token, hint) =>
  attempt(async () => {
    await client.tokenRevocation(config, token, { token_type_hint: hint });
    return {};
  });

async function redeem() {
  const result = {};
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(config, new URL(input.callback), {
      pkceCodeVerifier: input.verifier,
      expectedState: input.state,
      expectedNonce: input.nonce,
    });
  } catch (err) {
    return { grant: failure(err) };
  }
  result.grant = { ok: true, ...summary(tokens) };
  const sub = tokens.claims()?.sub ?? client.skipSubjectCheck;
  if (input.then === 'refresh') {
    result.userinfo = await userinfo(tokens.access_token, sub);
    result.refresh = await refresh(tokens.refresh_token);
    result.reuse = await refresh(tokens.refresh_token);
    if (result.refresh.ok) result.after_reuse = await refresh(result.refresh.refresh_token);
  } else if (input.then === 'revoke') {
    result.userinfo = await userinfo(tokens.access_token, sub);
    result.revoke_access = await revoke(tokens.access_token, 'access_token');
    result.userinfo_revoked = await userinfo(tokens.access_token, sub);
    result.refresh = await refresh(tokens.refresh_token);
    if (result.refresh.ok) {
      const fresh = result.refresh;
      result.revoke_refresh = await revoke(fresh.refresh_token, 'refresh_token');
      result.refresh_revoked = await refresh(fresh.refresh_token);
      result.userinfo_after_refresh_revoked = await userinfo(fresh.access_token, sub);
    }
  }
  return result;
}

if (input.action === 'authorize') {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else {
  console.log(JSON.stringify(await redeem()));
}
