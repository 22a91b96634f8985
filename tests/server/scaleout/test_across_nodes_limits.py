"""Rate limits are counted once for the whole server, not once per node (issue 21).

With ``RATELIMIT_STORAGE_URI`` on one Redis, a limit of N per minute is reached by requests
split over nodes A and B, alternating: the N+1st is refused by whichever node gets it.
(With ``memory://`` each node would allow N: 2N in all.)  Small limits are set for the
module; Redis is emptied before each test so each starts with full budgets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from itertools import cycle
from urllib.parse import urlsplit

import pytest
import requests
from node_browser import TIMEOUT, Browser, basic, resource
from two_nodes import CUSTOMER, Node, running_nodes

pytestmark = pytest.mark.slow  # two gunicorn nodes start per module

SIGN_INS = 6
TOKENS = 8
READS = 10
LIMITS = {
    "ESPI_LOGIN_IP_RATE_LIMIT": f"{SIGN_INS} per minute",
    "ESPI_TOKEN_RATE_LIMIT": f"{TOKENS} per minute",
    "ESPI_RESOURCE_RATE_LIMIT": f"{READS} per minute",
}


@pytest.fixture(scope="module")
def nodes(
    shared_database: str, shared_redis: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Node, Node]]:
    folder = tmp_path_factory.mktemp("nodes")
    with running_nodes(folder, shared_database, shared_redis, LIMITS) as pair:
        yield pair


@pytest.fixture(autouse=True)
def empty_limits(shared_redis: str) -> None:
    """FLUSHALL on the test's own redis-server: every budget full again."""
    address = urlsplit(shared_redis)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(b"FLUSHALL\r\n")
        assert connection.recv(16).startswith(b"+OK")


def _alternating(nodes: tuple[Node, Node], count: int) -> list[Node]:
    turn = cycle(nodes)
    return [next(turn) for _ in range(count)]


def test_sign_ins_from_one_address_are_counted_over_both_nodes(nodes: tuple[Node, Node]) -> None:
    statuses = []
    for node in _alternating(nodes, SIGN_INS):
        statuses.append(Browser().sign_in(node.url, node.url, *CUSTOMER).status_code)
    assert statuses == [302] * SIGN_INS  # A, B, A, ...: N in all, not N per node
    for node in nodes:  # the next one is refused whichever node gets it
        refused = Browser().sign_in(node.url, node.url, *CUSTOMER)
        assert refused.status_code == 429, (node.name, refused.status_code)
        assert int(refused.headers["Retry-After"]) > 0


def _client_token(node: Node) -> requests.Response:
    return requests.post(
        f"{node.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "FB=34_35"},
        headers=basic(),
        timeout=TIMEOUT,
    )


def test_token_requests_of_one_client_are_counted_over_both_nodes(
    nodes: tuple[Node, Node],
) -> None:
    answers = [_client_token(node) for node in _alternating(nodes, TOKENS)]
    assert [a.status_code for a in answers] == [200] * TOKENS, answers[0].text
    for node in nodes:
        refused = _client_token(node)
        assert refused.status_code == 429, (node.name, refused.text)
        assert refused.json()["error"] == "too_many_requests"


def test_resource_reads_of_one_asp_are_counted_over_both_nodes(nodes: tuple[Node, Node]) -> None:
    issued = _client_token(nodes[0]).json()
    token, uri = issued["access_token"], issued["resourceURI"]
    reads = [resource(node.url, token, uri) for node in _alternating(nodes, READS)]
    assert reads == [200] * READS
    for node in nodes:
        assert resource(node.url, token, uri) == 429, node.name
