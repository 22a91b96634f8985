"""An OpenID Certified relying-party library is the demo's ASP (issue 14).

panva's ``openid-client`` (npm, pinned in tests/server/oauth/interop/package-lock.json;
``interop/flows.mjs``) plays both demo ASPs against the real ``espi-sst demo`` process:
the confidential ``demo-energy-insights`` (client_secret_basic) and the public
``demo-rate-coach-mobile`` (``client.None()``: no secret, PKCE only, RFC 7636).  The library
builds the authorization URL (PKCE S256, state, nonce), a customer approves or denies at
the demo's real portal (sign-in and consent forms, :class:`demo_process.CustomerBrowser`),
and the library validates the redirect -- state, RFC 9207 ``iss``, for ``code id_token``
the id_token's signature, nonce and c_hash -- redeems the code, then:

* **refresh** (``client.refreshTokenGrant``): a new refresh token; the old one presented
  again is refused (rotation), and that reuse ends the family (RFC 9700 4.14.2): the new
  one is refused too;
* **revocation** (``client.tokenRevocation``, RFC 7009): a revoked access token is refused
  at userinfo (the resource-side check; introspection needs a confidential client, the
  public one has none) while the grant's refresh token still works; a revoked refresh token
  is refused at the token endpoint and its family's access token at userinfo.

Against the demo, not a test world over a socket: the demo's redirect URIs name its ASP
app's port (8765), but ``--asp-port 0`` leaves that app unstarted and the customer's
"browser" never follows the redirect -- it hands the Location to the library, as an ASP's
callback handler would receive it.  So no fixed port is bound and the test may run beside
other demos.

Skipped when Node.js 20+ or the package is missing, unless ESPI_REQUIRE_NODE is set.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_process import CSRF, CustomerBrowser, demo_process
from node_packages import NODE, require_npm_package

INTEROP = Path(__file__).parents[1] / "server" / "oauth" / "interop"
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin openid"
)
CLIENTS = {"confidential": "demo-energy-insights", "public": "demo-rate-coach-mobile"}


@pytest.fixture(scope="module")
def flows() -> Path:
    require_npm_package(INTEROP, "openid-client", " (openid-client 6 needs it)")
    return INTEROP / "flows.mjs"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, flows: Path) -> Iterator[dict[str, Any]]:
    with demo_process(tmp_path_factory.mktemp("openid-client"), ["--asp-port", "0"]) as document:
        yield document


def _node(script: Path, **values: Any) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(script)],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _run(
    flows: Path,
    demo: dict[str, Any],
    kind: str,
    *,
    response_type: str = "code",
    decision: str = "approve",
    then: str = "none",
) -> dict[str, Any]:
    """One authorization through the library and the portal; the library's outcome."""
    asp = next(c for c in demo["clients"] if c["client_id"] == CLIENTS[kind])
    assert (asp["client_secret"] is None) == (kind == "public")
    common = {
        "issuer": demo["issuer"],
        "client_id": asp["client_id"],
        "client_secret": asp["client_secret"],
        "hybrid": response_type == "code id_token",
    }
    started = _node(
        flows, action="authorize", redirect_uri=asp["redirect_uris"][0], scope=SCOPE, **common
    )
    customer = next(c for c in demo["customers"] if c["username"] == "alex")
    browser = CustomerBrowser(demo["base_url"], customer)
    if decision == "approve":
        callback = browser.approve(started["url"])
    else:
        callback = _deny(browser, started["url"])
    assert callback.startswith(asp["redirect_uris"][0]), callback
    return _node(
        flows,
        action="redeem",
        callback=callback,
        verifier=started["verifier"],
        state=started["state"],
        nonce=started["nonce"],
        then=then,
        **common,
    )


def _deny(browser: CustomerBrowser, authorization_url: str) -> str:
    page = browser.http.get(authorization_url, timeout=10)
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text)
    assert token, "the consent page carries a CSRF token"
    answer = browser.http.post(
        page.url,
        data={"csrf_token": token.group(1), "decision": "deny"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


@pytest.mark.parametrize("kind", ["confidential", "public"])
@pytest.mark.parametrize("response_type", ["code", "code id_token"])
@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_authorization_response(
    flows: Path, demo: dict[str, Any], kind: str, response_type: str, decision: str
) -> None:
    outcome = _run(flows, demo, kind, response_type=response_type, decision=decision)["grant"]
    if decision == "deny":
        # state and iss passed the library's checks; the denial reached the ASP as such
        assert outcome["ok"] is False, json.dumps(outcome)
        assert outcome["name"] == "AuthorizationResponseError", json.dumps(outcome)
        assert outcome["error"] == "access_denied", json.dumps(outcome)
        return
    assert outcome["ok"] is True, json.dumps(outcome)
    assert outcome["refresh_token"], "an authorization_code grant with refresh_token"
    assert "/Batch/Subscription/" in outcome["resourceURI"]
    claims = outcome["claims"]
    assert CLIENTS[kind] in claims["aud"]
    assert claims["iss"] == demo["issuer"]


@pytest.mark.parametrize("kind", ["confidential", "public"])
def test_refresh_rotates_and_reuse_ends_the_family(
    flows: Path, demo: dict[str, Any], kind: str
) -> None:
    outcome = _run(flows, demo, kind, then="refresh")
    assert outcome["grant"]["ok"] is True, json.dumps(outcome)
    assert outcome["userinfo"]["ok"] is True, json.dumps(outcome)
    refreshed = outcome["refresh"]
    assert refreshed["ok"] is True, json.dumps(outcome)
    assert refreshed["refresh_token"] != outcome["grant"]["refresh_token"]
    assert refreshed["access_token"] != outcome["grant"]["access_token"]
    for step in ("reuse", "after_reuse"):
        assert outcome[step]["ok"] is False, json.dumps(outcome)
        assert outcome[step]["error"] == "invalid_grant", json.dumps(outcome)


@pytest.mark.parametrize("kind", ["confidential", "public"])
def test_revocation(flows: Path, demo: dict[str, Any], kind: str) -> None:
    outcome = _run(flows, demo, kind, then="revoke")
    dumped = json.dumps(outcome)
    assert outcome["userinfo"]["ok"] is True, dumped
    assert outcome["revoke_access"]["ok"] is True, dumped
    assert outcome["userinfo_revoked"]["ok"] is False, dumped
    assert outcome["userinfo_revoked"]["status"] == 401, dumped
    assert outcome["refresh"]["ok"] is True, dumped  # an access token's revocation alone
    assert outcome["revoke_refresh"]["ok"] is True, dumped
    assert outcome["refresh_revoked"]["ok"] is False, dumped
    assert outcome["refresh_revoked"]["error"] == "invalid_grant", dumped
    assert outcome["userinfo_after_refresh_revoked"]["ok"] is False, dumped
    assert outcome["userinfo_after_refresh_revoked"]["status"] == 401, dumped
