"""The ASP's side of OAuth (espi_sst/client/oauth.py) against a scripted custodian on a real socket.

tests/integration/test_client_flow.py runs the client against our own server; this file
covers what that server does not easily do on demand (fake_custodian.py plays it):

* discovery: the metadata's issuer must be the one asked for (RFC 8414 3.3), with the
  RFC 8414 well-known URL as fallback;
* the code flow: PKCE S256 (RFC 7636 4.2, checked on the Appendix B vector), ``state``,
  ``iss`` (RFC 9207), ``error=``, and every id_token check (signature, ``aud``, ``exp``,
  ``nonce``), before anything is saved.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fake_custodian import (
    AUTHORIZATION_ID,
    CLIENT_ID,
    REDIRECT_URI,
    SCOPE,
    USAGE_POINTS,
    FakeCustodian,
    asp,
    closed_port,
    query,
    rsa_key,
    s256,
)

from espi_sst.client import (
    AuthorizationFlowError,
    DiscoveryError,
    discover,
)


# ---- discovery ---------------------------------------------------------------------------
def test_discover_reads_the_openid_metadata(custodian: FakeCustodian) -> None:
    metadata = discover(custodian.base_url + "/")
    assert metadata.issuer == custodian.base_url
    assert metadata.token_endpoint == custodian.base_url + "/oauth/token"
    assert metadata.jwks_uri == custodian.base_url + "/oauth/jwks.json"
    assert "openid" in metadata.scopes_supported
    assert custodian.counts["/.well-known/openid-configuration"] == 1
    assert custodian.counts["/.well-known/oauth-authorization-server"] == 0


def test_discover_refuses_metadata_naming_another_issuer(custodian: FakeCustodian) -> None:
    custodian.issuer_override = "https://attacker.example"
    with pytest.raises(DiscoveryError, match="RFC 8414"):
        discover(custodian.base_url)


def test_discover_falls_back_to_the_oauth_authorization_server_metadata(
    custodian: FakeCustodian,
) -> None:
    custodian.openid_configuration = False
    metadata = discover(custodian.base_url)
    assert metadata.authorization_endpoint == custodian.base_url + "/oauth/authorize"
    assert custodian.counts["/.well-known/openid-configuration"] == 1
    assert custodian.counts["/.well-known/oauth-authorization-server"] == 1


def test_discover_waits_out_a_rate_limited_gateway(custodian: FakeCustodian) -> None:
    """The statewide gateway limits requests per address: a 429 with Retry-After is asked
    again, as the resource calls are (espi_sst.retry), not taken for missing metadata."""
    custodian.busy_discovery = 2
    metadata = discover(custodian.base_url)
    assert metadata.issuer == custodian.base_url
    assert custodian.counts["/.well-known/openid-configuration"] == 3
    assert custodian.counts["/.well-known/oauth-authorization-server"] == 0


def test_discover_of_an_unreachable_issuer_is_a_discovery_error() -> None:
    with pytest.raises(DiscoveryError, match="cannot reach"):
        discover(f"http://127.0.0.1:{closed_port()}", timeout=5)


# ---- starting the code flow --------------------------------------------------------------
def test_authorization_url_carries_pkce_s256_state_and_nonce(custodian: FakeCustodian) -> None:
    # RFC 7636 Appendix B: our S256 helper is the standard's before it judges the client.
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    client = asp(custodian)
    started = client.authorization_url()
    sent = query(started.url)
    assert started.url.startswith(custodian.base_url + "/oauth/authorize?")
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] == s256(started.code_verifier)
    assert 43 <= len(started.code_verifier) <= 128  # RFC 7636 4.1
    assert sent["state"] == started.state and len(started.state) >= 22
    assert started.nonce and sent["nonce"] == started.nonce
    assert sent["client_id"] == CLIENT_ID and sent["redirect_uri"] == REDIRECT_URI
    assert sent["scope"] == SCOPE and sent["response_type"] == "code"
    again = client.authorization_url()
    assert (again.state, again.code_verifier, again.nonce) != (
        started.state,
        started.code_verifier,
        started.nonce,
    )


def test_nonce_only_when_openid_is_asked_for(custodian: FakeCustodian) -> None:
    started = asp(custodian).authorization_url(scope="usage sst:rate_change")
    assert started.nonce is None
    assert "nonce" not in query(started.url)
    assert query(started.url)["scope"] == "usage sst:rate_change"


# ---- the redirect back -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("promised", "callback", "message"),
    [
        (False, lambda c, url: c.approve(url).replace("state=", "state=forged"), "state"),
        (False, lambda c, url: c.approve(url, iss="https://attacker.example"), "RFC 9207"),
        (True, lambda c, url: c.approve(url, iss=None), "lacks the iss"),
    ],
    ids=["state-mismatch", "iss-mismatch", "iss-missing-but-promised"],
)
def test_a_forged_redirect_is_refused_before_the_code_is_exchanged(
    custodian: FakeCustodian, promised: bool, callback: Any, message: str
) -> None:
    custodian.iss_parameter_supported = promised
    client = asp(custodian)
    started = client.authorization_url()
    with pytest.raises(AuthorizationFlowError, match=message):
        client.fetch_token(callback(custodian, started.url), started)
    assert custodian.counts["authorization_code"] == 0
    assert client.token_store.load(AUTHORIZATION_ID) is None


def test_a_refusal_is_an_authorization_flow_error_with_its_code(custodian: FakeCustodian) -> None:
    client = asp(custodian)
    started = client.authorization_url()
    with pytest.raises(AuthorizationFlowError) as refused:
        client.fetch_token(custodian.approve(started.url, error="access_denied"), started)
    assert refused.value.code == "access_denied"
    assert custodian.counts["/oauth/token"] == 0


@pytest.mark.parametrize(
    ("claims", "signer"),
    [
        ({"nonce": "another-login"}, "custodian-1"),
        ({"aud": "another-asp"}, "custodian-1"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "custodian-1"),
        ({"iss": "https://attacker.example"}, "custodian-1"),
        ({}, "stranger"),  # same kid, another key: the signature is wrong
        ({}, "unknown-kid"),
    ],
    ids=["nonce", "aud", "expired", "iss", "wrong-key", "unknown-kid"],
)
def test_a_bad_id_token_is_refused_and_nothing_is_saved(
    custodian: FakeCustodian, claims: dict[str, Any], signer: str
) -> None:
    custodian.id_token_claims = claims
    if signer == "stranger":
        custodian.signing_key = rsa_key("custodian-1", copy=1)
    elif signer == "unknown-kid":
        custodian.signing_key = rsa_key("unknown-kid")
    client = asp(custodian)
    started = client.authorization_url()
    with pytest.raises(AuthorizationFlowError, match="id_token"):
        client.fetch_token(custodian.approve(started.url), started)
    assert custodian.counts["authorization_code"] == 1
    assert client.token_store.load(AUTHORIZATION_ID) is None


def test_a_good_id_token_gives_its_claims_and_the_token_is_saved(
    custodian: FakeCustodian,
) -> None:
    client = asp(custodian)
    started = client.authorization_url()
    grant = client.fetch_token(custodian.approve(started.url), started)
    assert grant.id_token_claims is not None
    assert grant.id_token_claims["nonce"] == started.nonce
    assert grant.id_token_claims["aud"] == CLIENT_ID
    assert grant.id_token_claims["sub"] == "customer-1"
    # The key is the ESPI Authorization id, the last segment of authorizationURI.
    assert grant.key == AUTHORIZATION_ID
    assert grant.subscription_uri == custodian.base_url + USAGE_POINTS.rsplit("/", 1)[0]
    saved = client.token_store.load(AUTHORIZATION_ID)
    assert saved is not None and saved["access_token"].startswith("at-")
    assert saved["refresh_token"].startswith("rt-") and saved["scope"] == SCOPE


def test_without_openid_no_id_token_is_needed_nor_iss_unless_promised(
    custodian: FakeCustodian,
) -> None:
    client = asp(custodian)
    started = client.authorization_url(scope="usage")
    grant = client.fetch_token(custodian.approve(started.url, iss=None), started)
    assert grant.id_token_claims is None and grant.scope == "usage"
    assert custodian.counts["/oauth/jwks.json"] == 0
    assert client.token_store.load(AUTHORIZATION_ID) is not None
