"""Item 22 of issue 11: the sign-in, consent and authorizations pages carried no
``Cache-Control: no-store``, so a shared computer's browser cache (or a proxy) could keep a
customer's personal pages and the forms' CSRF tokens.  Every portal page and every HTML
answer of /oauth/authorize now says ``no-store`` (and ``Pragma: no-cache`` for HTTP/1.0
caches); server/portal/__init__.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from portal_world import ASP, CAROL_TOTP, Portal, authorize_query


def _assert_not_stored(response: Any, what: str) -> None:
    assert response.headers.get("Cache-Control") == "no-store", (what, response.headers)
    assert response.headers.get("Pragma") == "no-cache", (what, response.headers)


def test_every_portal_page_and_authorize_answer_is_no_store(portal: Portal) -> None:
    stranger = portal.browser()
    pages: dict[str, Any] = {
        "sign-in page": stranger.get("/portal/login"),
        "sign-in failed": stranger.sign_in("alice", "wrong"),
        "authorize, not signed in": stranger.get(
            "/oauth/authorize", query_string=authorize_query()
        ),
        "authorize error page": stranger.get(
            "/oauth/authorize", query_string=authorize_query("no-such-client")
        ),
        "authorizations, not signed in": stranger.get("/portal/authorizations"),
    }
    carol = portal.browser()
    pages["sign-in, to the code"] = carol.sign_in("carol", "carol's password")
    pages["code page"] = carol.get("/portal/login/code")
    pages["code wrong"] = carol.enter_code("000000")
    pages["code right"] = carol.enter_code(pyotp.TOTP(CAROL_TOTP).now())
    alice = portal.browser()
    pages["signed in"] = alice.sign_in("alice", "correct horse")
    pages["authorizations"] = alice.get("/portal/authorizations")
    pages["consent page"] = alice.get("/oauth/authorize", query_string=authorize_query())
    pages["ASP list"] = alice.get("/portal/asps")
    pages["pre-authorization"] = alice.get(f"/portal/asps/{ASP}/preauthorize")
    pages["signed out"] = alice.sign_out()
    assert (
        pages["consent page"].status_code == 200
        and b'name="decision"' in pages["consent page"].data
    )
    assert pages["authorizations"].status_code == 200
    assert pages["authorize error page"].mimetype == "text/html"
    for what, response in pages.items():
        _assert_not_stored(response, what)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/oauth/jwks.json"])
def test_public_documents_may_still_be_cached(
    make_portal: Callable[..., Portal], path: str
) -> None:
    """Only pages about a customer are no-store; discovery and keys stay cacheable."""
    portal = make_portal()
    response = portal.browser().get(path)
    assert response.status_code == 200 and response.headers.get("Pragma") is None
