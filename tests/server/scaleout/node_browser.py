"""A customer's browser and an ASP talking to two nodes over real HTTP (two_nodes.py).

The browser is one ``requests.Session`` -- one cookie jar, as a browser behind one
load-balanced name has -- and every call names the node that answers it, so a test can
alternate nodes step by step.  The ASP's calls (token, refresh, revoke, userinfo) are
plain requests to the node given.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from two_nodes import CLIENT, REDIRECT, SCOPE, USAGE_POINTS

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TIMEOUT = 30


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client: tuple[str, str] = CLIENT) -> dict[str, str]:
    token = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def authorize_params(challenge: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def redirect_params(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:500])
    location = urlsplit(answer.headers["Location"])
    return {k: v[0] for k, v in parse_qs(location.fragment or location.query).items()}


class Browser:
    """A customer's browser: one cookie jar, whichever node answers."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def get(self, node_url: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(node_url + path, allow_redirects=False, timeout=TIMEOUT, **kwargs)

    def post(self, node_url: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(node_url + path, allow_redirects=False, timeout=TIMEOUT, **kwargs)

    def sign_in(
        self, page_node: str, post_node: str, username: str, password: str
    ) -> requests.Response:
        """The sign-in page from ``page_node``, the form (with its CSRF token) to ``post_node``."""
        page = self.get(page_node, "/portal/login")
        assert page.status_code == 200, page.text[:500]
        return self.post(
            post_node,
            "/portal/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        )

    def consent(self, page_node: str, post_node: str, params: dict[str, str]) -> dict[str, str]:
        """The consent page from ``page_node``, approved at ``post_node``; the redirect's query."""
        page = self.get(page_node, "/oauth/authorize", params=params)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        answer = self.post(
            post_node,
            "/oauth/authorize",
            params=params,
            data={
                "csrf_token": csrf_of(page.text),
                "decision": "approve",
                "until_revoked": "y",
                "categories": ["basic", "billing", "usage", "sst:rin"],
                "usage_points": USAGE_POINTS,
            },
        )
        return redirect_params(answer)

    def code(self, page_node: str, post_node: str) -> tuple[str, str]:
        """A fresh authorization code (and its PKCE verifier), the browser signed in already."""
        verifier, challenge = pkce()
        params = authorize_params(challenge)
        got = self.consent(page_node, post_node, params)
        assert got.get("state") == params["state"], got
        return got["code"], verifier


def redeem(node_url: str, code: str, verifier: str) -> requests.Response:
    return requests.post(
        f"{node_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(),
        timeout=TIMEOUT,
    )


def refresh(node_url: str, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{node_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(),
        timeout=TIMEOUT,
    )


def revoke(node_url: str, token: str, hint: str = "access_token") -> requests.Response:
    """RFC 7009 at ``node_url``."""
    return requests.post(
        f"{node_url}/oauth/revoke",
        data={"token": token, "token_type_hint": hint},
        headers=basic(),
        timeout=TIMEOUT,
    )


def userinfo(node_url: str, access_token: str) -> int:
    answer = requests.get(
        f"{node_url}/oauth/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )
    return answer.status_code


def resource(node_url: str, access_token: str, uri: str) -> int:
    """A resource API GET of ``uri`` (a token response's ``resourceURI`` or
    ``authorizationURI``, under the load balancer's name) sent to ``node_url``."""
    parts = urlsplit(uri)
    answer = requests.get(
        node_url + parts.path + (f"?{parts.query}" if parts.query else ""),
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )
    return answer.status_code
