"""The conformance kit's OAuth scenarios against our authorization server on a real socket.

The kit (``espi_sst.conformance``) is a client of any server: here it runs its ``oauth``
group (and DISC-01, which the group needs) over loopback HTTP against the test world's app,
walking the real sign-in and consent pages with its form walker.  Every OAUTH scenario
must pass.  Then the same app is broken on purpose, one defence at a time, and the kit
must fail exactly the scenarios aimed at that defence -- the proof that each can fail:

* PKCE not enforced (the grants lose ``StrictPKCE``): OAUTH-02, -03, -04, -05;
* redirect URIs matched by host instead of exactly (RFC 9700 2.1): OAUTH-06.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from espi_sst_server.oauth.adapters import OAuthClient
from espi_sst_server.oauth.grants import StrictPKCE
from flask import Flask
from oauth_world import REDIRECT, SCOPE, World
from parallel import serve

from espi_sst.conformance.config import ClientConfig, CustomerConfig, KitConfig
from espi_sst.conformance.model import Verdict
from espi_sst.conformance.runner import Report, run_conformance


def _kit_config(world: World, base: str) -> KitConfig:
    """CONFIG for the test world: two confidential clients and a public one, one customer."""
    return KitConfig(
        issuer=base,
        clients=(
            ClientConfig(
                "confidential", world.confidential_id, world.confidential_secret, REDIRECT, SCOPE
            ),
            ClientConfig("public", world.public_id, None, REDIRECT, SCOPE),
            ClientConfig("other", world.other_id, world.other_secret, REDIRECT, SCOPE),
        ),
        customers=(CustomerConfig(world.customer_username, world.customer_password),),
        timeout=10,
    )


@pytest.fixture()
def served(world: World) -> Iterator[tuple[World, KitConfig]]:
    with serve(world.app) as base:
        world.app.config["ISSUER"] = base  # discovery and iss must name the URL the kit uses
        yield world, _kit_config(world, base)


def _run(config: KitConfig) -> Report:
    return run_conformance(config, only=("DISC-01", "oauth"))


def _failed(report: Report) -> dict[str, str]:
    return {r.scenario.id: r.reason for r in report.results if r.verdict is Verdict.FAIL}


def _without_pkce(app: Flask) -> None:
    """The broken server: every grant loses its StrictPKCE extension (PKCE ignored)."""
    server = app.extensions["espi_sst_oauth"]
    for registered in (server._authorization_grants, server._token_grants):
        registered[:] = [
            (grant, [e for e in (extensions or []) if not isinstance(e, StrictPKCE)])
            for grant, extensions in registered
        ]


def test_every_oauth_scenario_passes_against_our_server(
    served: tuple[World, KitConfig],
) -> None:
    _world, config = served
    report = _run(config)
    ids = [r.scenario.id for r in report.results]
    assert ids[:2] == ["DISC-01", "OAUTH-01"] and len(ids) >= 15, ids
    verdicts = {r.scenario.id: (r.verdict, r.reason) for r in report.results}
    assert all(v is Verdict.PASS for v, _ in verdicts.values()), verdicts
    # what the server does beyond the MUSTs is said in the notes
    notes = {r.scenario.id: " ".join(r.notes) for r in report.results}
    assert "revoked the first redemption's access token" in notes["OAUTH-09"]
    assert "was revoked with it" in notes["OAUTH-11"]
    # a second run in a row passes too: the kit stays within the token endpoint's limits
    again = _run(config)
    assert _failed(again) == {}


def test_a_server_that_ignores_pkce_fails_exactly_the_pkce_scenarios(
    served: tuple[World, KitConfig],
) -> None:
    world, config = served
    _without_pkce(world.app)
    failed = _failed(_run(config))
    assert set(failed) == {"OAUTH-02", "OAUTH-03", "OAUTH-04", "OAUTH-05"}, failed
    # our database still refuses a code row without a challenge: that is a 500, not a refusal
    assert "had no code_challenge, ended in a server error (500)" in failed["OAUTH-02"]
    assert "plain" in failed["OAUTH-03"]
    assert "wrong code_verifier" in failed["OAUTH-04"]
    assert "no code_verifier" in failed["OAUTH-05"]


def test_a_server_that_matches_redirect_uris_by_host_fails_exact_matching(
    served: tuple[World, KitConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, config = served

    def same_host(self: OAuthClient, redirect_uri: str) -> bool:
        return any(redirect_uri.startswith(uri.rsplit("/", 1)[0]) for uri in self.row.redirect_uris)

    monkeypatch.setattr(OAuthClient, "check_redirect_uri", same_host)
    failed = _failed(_run(config))
    assert set(failed) == {"OAUTH-06"}, failed
    assert "extra path segment" in failed["OAUTH-06"]
