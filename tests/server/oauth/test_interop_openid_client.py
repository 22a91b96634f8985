"""A third-party relying party reads our authorization responses (issue 11, items 5 and 6).

The penetration test named openid-client (npm), which rejected our hybrid denial
("response parameter state missing") and, being strict about RFC 9207, an ``iss`` outside
the component the rest was in.  Here the real library (``interop/``, pinned in its
package-lock.json; ``npm ci --prefix tests/server/oauth/interop``) validates the redirect
-- state, iss, for the hybrid the id_token's signature, nonce and c_hash -- then redeems
the code at the token endpoint, against the app on a real socket.

Skipped when Node.js 20+ or the package is missing, unless ESPI_REQUIRE_NODE is set (.ci/run
installs both and sets it: a missing runtime then fails instead of hiding the test).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from node_packages import NODE, require_npm_package
from oauth_world import World, authorize_params, consent, login, pkce
from parallel import serve

INTEROP = Path(__file__).parent / "interop"


@pytest.fixture()
def openid_client() -> Path:
    require_npm_package(INTEROP, "openid-client", " (openid-client 6 needs it)")
    return INTEROP / "callback.mjs"


def _read_with_openid_client(script: Path, **values: Any) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(script)],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("response_type", "decision"),
    [
        ("code", "approve"),
        ("code", "deny"),
        ("code id_token", "approve"),
        ("code id_token", "deny"),
    ],
)
def test_openid_client_accepts_our_responses(
    world: World, openid_client: Path, response_type: str, decision: str
) -> None:
    with serve(world.app) as base:
        world.app.config["ISSUER"] = base  # discovery must name the URL the client uses
        client = world.app.test_client()
        login(client, world.customer_username, world.customer_password)
        verifier, challenge = pkce()
        params = authorize_params(
            world.confidential_id,
            challenge,
            response_type=response_type,
            state="st-" + secrets.token_urlsafe(12),
        )
        answer = consent(client, params, decision=decision, usage_points=world.usage_points)
        assert answer.status_code == 302, answer.data
        outcome = _read_with_openid_client(
            openid_client,
            issuer=base,
            client_id=world.confidential_id,
            client_secret=world.confidential_secret,
            callback=answer.headers["Location"],
            state=params["state"],
            nonce=params["nonce"],
            verifier=verifier,
            hybrid=response_type == "code id_token",
        )
    if decision == "deny":
        # The library checked state and iss, then reported the customer's denial.
        assert outcome["ok"] is False, json.dumps(outcome)
        assert outcome["name"] == "AuthorizationResponseError", json.dumps(outcome)
        assert outcome["error"] == "access_denied", json.dumps(outcome)
    else:
        assert outcome["ok"] is True, json.dumps(outcome)
        assert outcome["claims"]["sub"] == "11111111-1111-4111-8111-111111111111"
        assert outcome["claims"]["nonce"] == params["nonce"]
