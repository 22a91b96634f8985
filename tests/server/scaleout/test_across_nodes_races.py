"""One authorization code, or one refresh token, sent to node A and node B at the same
moment (issue 21): the database decides, not either node's memory.

RFC 6749 4.1.2: a code is used once, a second use is denied and should revoke what the
code issued; RFC 9700 4.14.2: a rotating refresh token used twice revokes its family.  Both
reactions must hold when the two uses land on different nodes.  Each trial releases two
threads at one barrier (tests/server/parallel.py), one per node, each on its own connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from node_browser import Browser, redeem, refresh, userinfo
from parallel import statuses, together
from two_nodes import CUSTOMER, Node, running_nodes

pytestmark = pytest.mark.slow  # two gunicorn nodes start per module

TRIALS = 20


@pytest.fixture(scope="module")
def nodes(
    shared_database: str, shared_redis: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Node, Node]]:
    # Trials run back to back, ~20 token requests a second: more than TOKEN_RATE_LIMIT allows
    # one ASP (counted over both nodes, in Redis), so it is raised here.
    limits = {"ESPI_TOKEN_RATE_LIMIT": "1000 per second"}
    folder = tmp_path_factory.mktemp("nodes")
    with running_nodes(folder, shared_database, shared_redis, limits) as pair:
        yield pair


@pytest.fixture(scope="module")
def browser(nodes: tuple[Node, Node]) -> Browser:
    a, b = nodes
    customer = Browser()
    assert customer.sign_in(a.url, b.url, *CUSTOMER).status_code == 302
    return customer


def _one_winner(answers: list[object], trial: int) -> dict[str, str]:
    got = statuses(answers)  # type: ignore[arg-type]
    assert got == [(200, None), (400, "invalid_grant")], (trial, got)
    return next(a.json() for a in answers if a.status_code == 200)  # type: ignore[attr-defined]


def test_one_code_sent_to_both_nodes_at_once_gives_one_token_and_the_replay_revokes_it(
    nodes: tuple[Node, Node], browser: Browser
) -> None:
    a, b = nodes
    for trial in range(TRIALS):
        issuer, other = (a, b) if trial % 2 == 0 else (b, a)
        code, verifier = browser.code(issuer.url, issuer.url)
        answers = together(2, lambda i, c=code, v=verifier: redeem(nodes[i].url, c, v))
        winner = _one_winner(answers, trial)
        # The loser was a replay: the winner's tokens are revoked, seen by both nodes.
        for node in (issuer, other):
            assert userinfo(node.url, winner["access_token"]) == 401, (trial, node.name)
        again = refresh(other.url, winner["refresh_token"])
        assert again.status_code == 400, (trial, again.text, again.headers)


def test_one_refresh_token_sent_to_both_nodes_at_once_refreshes_once_and_the_family_dies(
    nodes: tuple[Node, Node], browser: Browser
) -> None:
    a, b = nodes
    for trial in range(TRIALS):
        code, verifier = browser.code(a.url, b.url)
        first = redeem(a.url if trial % 2 else b.url, code, verifier)
        assert first.status_code == 200, first.text
        token = first.json()["refresh_token"]
        answers = together(2, lambda i, t=token: refresh(nodes[i].url, t))
        winner = _one_winner(answers, trial)
        assert winner["refresh_token"] != token
        # Reuse detected (on whichever node lost): the successor the winner got dies too.
        for node in (a, b):
            assert userinfo(node.url, winner["access_token"]) == 401, (trial, node.name)
            assert refresh(node.url, winner["refresh_token"]).status_code == 400, trial
