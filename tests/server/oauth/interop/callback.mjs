// Reads one authorization response the way an ASP using openid-client would, then
// exchanges its code: stdin is a JSON object (issuer, client_id, client_secret, callback,
// state, nonce, verifier, hybrid); stdout one JSON line, the outcome.
import * as client from 'openid-client';

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const input = JSON.parse(raw);

const config = await client.discovery(
  new URL(input.issuer),
  input.client_id,
  undefined,
  client.ClientSecretBasic(input.client_secret),
  { execute: [client.allowInsecureRequests] }, // the test server is plain http on 127.0.0.1
);
if (input.hybrid) client.useCodeIdTokenResponseType(config);
try {
  const tokens = await client.authorizationCodeGrant(config, new URL(input.callback), {
    pkceCodeVerifier: input.verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
  });
  console.log(JSON.stringify({ ok: true, claims: tokens.claims(), scope: tokens.scope }));
} catch (err) {
  console.log(
    JSON.stringify({
      ok: false,
      name: err.name,
      code: err.code,
      error: err.error,
      message: err.message,
      cause: err.cause?.message,
    }),
  );
}
