"""What must hold across web nodes (issue 21): two gunicorn nodes on one PostgreSQL and one
Redis behave as one server for a customer and an ASP, over real HTTP.

* A portal session and its CSRF token work whichever node answers (SECRET_KEY shared, the
  session a database row: server/portal/session.py); the authorization-code flow with PKCE
  can hop nodes at every step and A's code is redeemed at B.
* A token or grant revoked at one node is refused by the other at the next request: local
  tokens are looked up in the database on every request (server/oauth/tokens.py), so the
  bound is 0 s.
* A signing key rotated beside the running nodes (``espi-sst rotate-signing-key``) signs the
  next id_token of both and is in both JWKS documents at once (server/oauth/keys.py
  re-reads the active kid per id_token and caches only the imported key per kid).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from node_browser import Browser, csrf_of, redeem, refresh, resource, revoke, userinfo
from two_nodes import CUSTOMER, Node, running_nodes, shared_env

pytestmark = pytest.mark.slow  # two gunicorn nodes start per module

ROUNDS = 6  # id_tokens per node after a rotation: with 2 workers each, both are met


@pytest.fixture(scope="module")
def nodes(
    shared_database: str, shared_redis: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Node, Node]]:
    with running_nodes(tmp_path_factory.mktemp("nodes"), shared_database, shared_redis) as pair:
        yield pair


def _signed_in(page: Node, post: Node) -> Browser:
    browser = Browser()
    answer = browser.sign_in(page.url, post.url, *CUSTOMER)
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    return browser


def _tokens(browser: Browser, a: Node, b: Node) -> dict[str, str]:
    """Consent page from A, approved at B, code redeemed at A: the token response."""
    code, verifier = browser.code(a.url, b.url)
    answer = redeem(a.url, code, verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_customer_signs_in_on_a_and_consents_on_b_and_as_code_is_redeemed_at_b(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    browser = Browser()
    # The sign-in page (and its CSRF token) from A, the form posted to B.
    signed_in = browser.sign_in(a.url, b.url, *CUSTOMER)
    assert signed_in.status_code == 302, signed_in.text[:500]
    # Signed in on B means signed in on A: the portal's own page answers on both.
    for node in (a, b):
        page = browser.get(node.url, "/portal/authorizations")
        assert page.status_code == 200 and "Alice" in page.text, (node.name, page.status_code)
    # The consent page from B, the form (B's CSRF token) to A -- and the reverse.
    for page_node, post_node in ((b, a), (a, b)):
        code, verifier = browser.code(page_node.url, post_node.url)
        # The node that approved issued the code; the other one redeems it.
        answer = redeem((b if post_node is a else a).url, code, verifier)
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        assert tokens["token_type"].lower() == "bearer" and "id_token" in tokens
        for node in (a, b):  # the access token works on both nodes
            assert userinfo(node.url, tokens["access_token"]) == 200


def test_the_code_issued_by_a_is_redeemed_at_b_and_its_tokens_refresh_at_either(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    browser = _signed_in(b, a)
    code, verifier = browser.code(a.url, a.url)  # the whole consent on A: A issues the code
    answer = redeem(b.url, code, verifier)
    assert answer.status_code == 200, answer.text
    first = answer.json()
    second = refresh(a.url, first["refresh_token"])
    assert second.status_code == 200, second.text
    third = refresh(b.url, second.json()["refresh_token"]).json()
    assert resource(a.url, third["access_token"], third["authorizationURI"]) == 200
    # The code replayed at A (it was redeemed at B): refused, and what it issued is revoked
    # (RFC 6749 4.1.2), the refreshed tokens included, on both nodes.
    assert redeem(a.url, code, verifier).json()["error"] == "invalid_grant"
    assert resource(b.url, third["access_token"], third["authorizationURI"]) == 401
    assert refresh(a.url, third["refresh_token"]).status_code == 400


def test_a_csrf_token_of_one_node_is_refused_by_the_other_once_tampered(
    nodes: tuple[Node, Node],
) -> None:
    """The cross-node acceptance above is not a CSRF check switched off: a wrong token is
    refused by B, as a missing one is."""
    a, b = nodes
    browser = Browser()
    page = browser.get(a.url, "/portal/login")
    assert page.status_code == 200
    answer = browser.post(
        b.url,
        "/portal/login",
        data={"username": CUSTOMER[0], "password": CUSTOMER[1], "csrf_token": "x" + "0" * 40},
    )
    assert answer.status_code == 400


def test_sign_out_on_one_node_ends_the_session_on_the_other(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    browser = _signed_in(a, a)
    page = browser.get(b.url, "/portal/authorizations")
    assert page.status_code == 200
    out = browser.post(a.url, "/portal/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code in (302, 303), out.text[:300]
    again = browser.get(b.url, "/portal/authorizations")
    assert again.status_code == 302 and "/portal/login" in again.headers["Location"]


# ---- revocation: refused by the other node at the next request ------------------------------


def test_a_token_revoked_at_a_rfc_7009_is_refused_by_b_at_once(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    tokens = _tokens(_signed_in(a, b), a, b)
    assert userinfo(b.url, tokens["access_token"]) == 200
    assert revoke(a.url, tokens["access_token"]).status_code == 200
    revoked_at = time.monotonic()
    assert userinfo(b.url, tokens["access_token"]) == 401
    visible_after = time.monotonic() - revoked_at
    assert visible_after < 5  # one request: no cache to wait out (the bound is 0 s)
    # A refresh token revoked at B cannot be used at A.
    assert revoke(b.url, tokens["refresh_token"], "refresh_token").status_code == 200
    assert refresh(a.url, tokens["refresh_token"]).status_code == 400


def test_a_grant_the_customer_revokes_in_as_portal_is_refused_by_b_at_once(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    browser = _signed_in(a, b)
    tokens = _tokens(browser, a, b)
    uri = tokens["authorizationURI"]
    assert resource(b.url, tokens["access_token"], uri) == 200
    page = browser.get(b.url, "/portal/authorizations")  # the list from B ...
    grant = uri.rsplit("/", 1)[1]
    assert grant in page.text
    ended = browser.post(  # ... the revoke form to A
        a.url,
        "/portal/authorizations/revoke",
        data={"csrf_token": csrf_of(page.text), "authorization": grant},
    )
    assert ended.status_code in (302, 303), ended.text[:300]
    assert resource(b.url, tokens["access_token"], uri) in (401, 403)
    assert userinfo(b.url, tokens["access_token"]) == 401
    assert refresh(b.url, tokens["refresh_token"]).status_code == 400


# ---- signing keys ---------------------------------------------------------------------------


def _published(node: Node) -> KeySet:
    answer = requests.get(f"{node.url}/oauth/jwks.json", timeout=30)
    assert answer.status_code == 200
    return KeySet.import_key_set(answer.json())


def _kid(id_token: str, keys: KeySet) -> str:
    kid: str = jwt.decode(id_token, keys).header["kid"]  # the signature checked too
    return kid


def _rotate(database_url: str, redis_url: str) -> None:
    """``espi-sst rotate-signing-key`` in its own process, with the nodes' settings."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("espi-sst")), "rotate-signing-key"],
        capture_output=True,
        text=True,
        env={**os.environ, **shared_env(database_url, redis_url)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_a_rotated_key_signs_the_next_id_token_of_both_nodes_and_both_publish_it(
    nodes: tuple[Node, Node], shared_database: str, shared_redis: str
) -> None:
    a, b = nodes
    browser = _signed_in(a, a)
    # Both nodes (each of their workers) sign with the current key first: imported, cached.
    before = {
        _kid(_tokens(browser, node, node)["id_token"], _published(node))
        for node in (a, b)
        for _ in range(ROUNDS // 2)
    }
    assert len(before) == 1
    old_kid = before.pop()
    _rotate(shared_database, shared_redis)
    rotated_at = time.monotonic()
    published = {node.name: [key.kid for key in _published(node)] for node in (a, b)}
    assert published["A"] == published["B"] and len(published["A"]) == 2, published
    assert published["A"][0] == old_kid
    new_kid = published["A"][1]
    for node in (a, b):
        for _ in range(ROUNDS):
            assert _kid(_tokens(browser, node, node)["id_token"], _published(node)) == new_kid
    assert time.monotonic() - rotated_at < 60  # no wait: the very first requests saw it
