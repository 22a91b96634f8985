"""Issue 12, "one consistent grant lifecycle": what an ASP's RFC 7009 revocation and a new
consent do to the customer's grant -- through real sockets (a robot ASP with requests, the
customer's browser on the portal's pages), on SQLite and PostgreSQL, with races.

* revoking the **refresh token** ends the grant (ESPI status revoked, ``revoked_by_asp``),
  the portal says "ended by <ASP>", the customer is e-mailed;
* revoking an **access token** revokes that token only (RFC 7009 2.1 "MAY": not taken);
* a new consent for the same ASP and usage points **replaces** the earlier grant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from espi_sst_server.storage import db
from espi_sst_server.storage.models import AuditEvent, Authorization, OutboxMessage
from oauth_world import REDIRECT, World, authorize_params, basic, pkce
from parallel import serve, together
from sqlalchemy import func, select

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PARALLEL = 5


@pytest.fixture
def base(world: World) -> Iterator[str]:
    with serve(world.app) as url:
        yield url


class Browser:
    """Alice at the portal: signs in, approves consent pages, revokes."""

    def __init__(self, base: str, world: World) -> None:
        self.base, self.http = base, requests.Session()
        page = self.http.get(f"{base}/portal/login", timeout=30)
        signed = self.http.post(
            f"{base}/portal/login",
            data={
                "username": world.customer_username,
                "password": world.customer_password,
                "csrf_token": _csrf(page.text),
            },
            allow_redirects=False,
            timeout=30,
        )
        assert signed.status_code == 302, signed.text

    def consent_page(self, params: dict[str, str]) -> str:
        page = self.http.get(f"{self.base}/oauth/authorize", params=params, timeout=30)
        assert page.status_code == 200, page.text
        return _csrf(page.text)

    def approve(self, params: dict[str, str], csrf: str, points: list[str]) -> requests.Response:
        return self.http.post(
            f"{self.base}/oauth/authorize",
            params=params,
            data={
                "csrf_token": csrf,
                "decision": "approve",
                "until_revoked": "y",
                "categories": ["basic", "billing", "usage", "sst:rin"],
                "usage_points": points,
            },
            allow_redirects=False,
            timeout=30,
        )

    def authorizations(self) -> str:
        return self.http.get(f"{self.base}/portal/authorizations", timeout=30).text

    def revoke(self, authorization: str) -> requests.Response:
        return self.http.post(
            f"{self.base}/portal/authorizations/revoke",
            data={"csrf_token": _csrf(self.authorizations()), "authorization": authorization},
            allow_redirects=False,
            timeout=30,
        )


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def _connect(base: str, world: World, browser: Browser) -> dict[str, Any]:
    """The robot ASP's whole connection: authorize, the customer approves, the code is
    exchanged; the token response (with ESPI's resourceURI and authorizationURI)."""
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    answer = browser.approve(params, browser.consent_page(params), world.usage_points)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(world.confidential_id, world.confidential_secret),
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return dict(tokens.json())


def _revoke(base: str, world: World, token: str, hint: str | None = None) -> requests.Response:
    data = {"token": token} | ({"token_type_hint": hint} if hint else {})
    return requests.post(
        f"{base}/oauth/revoke",
        data=data,
        headers=basic(world.confidential_id, world.confidential_secret),
        timeout=30,
    )


def _refresh(base: str, world: World, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(world.confidential_id, world.confidential_secret),
        timeout=30,
    )


def _resource(base: str, tokens: dict[str, Any]) -> requests.Response:
    path = urlsplit(tokens["resourceURI"]).path
    return requests.get(
        base + path, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=30
    )


def _grants(world: World) -> list[Authorization]:
    with world.app.app_context():
        rows = db.session.scalars(select(Authorization).order_by(Authorization.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def _count(world: World, model: Any, *where: Any) -> int:
    with world.app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _uuid(tokens: dict[str, Any]) -> str:
    return str(tokens["authorizationURI"]).rsplit("/", 1)[1]


# ---- the ASP revokes -----------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_an_asp_revoking_its_refresh_token_ends_the_grant(
    world: World, base: str, hint: str | None
) -> None:
    """RFC 7009 2.1: the hint only orders the look-up; a refresh token is what ends it."""
    browser = Browser(base, world)
    tokens = _connect(base, world, browser)
    assert _resource(base, tokens).status_code == 200
    mail = (OutboxMessage.kind == "email", OutboxMessage.destination == "alice@example.com")
    before = _count(world, OutboxMessage, *mail)  # the grant's confirmation (7.4)

    assert _revoke(base, world, tokens["refresh_token"], hint).status_code == 200

    (grant,) = _grants(world)
    assert (grant.status, grant.ended_reason) == (0, "revoked_by_asp")  # ESPI: revoked
    assert _resource(base, tokens).status_code == 401
    refused = _refresh(base, world, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    page = browser.authorizations()
    assert "ended by Confidential ASP" in page and ">active<" not in page
    assert 'name="authorization"' not in page  # nothing left to revoke
    assert _count(world, OutboxMessage, *mail) == before + 1  # and the end
    ended = _count(
        world,
        AuditEvent,
        AuditEvent.action == "authorization_ended",
        AuditEvent.actor == f"client:{world.confidential_id}",
    )
    assert ended == 1


def test_revoking_an_access_token_revokes_that_token_only(world: World, base: str) -> None:
    """RFC 7009 2.1 lets the server revoke the grant too ("MAY"); this one does not."""
    browser = Browser(base, world)
    tokens = _connect(base, world, browser)
    before = _count(world, OutboxMessage)  # the grant's confirmation and BatchList (7.4)

    assert _revoke(base, world, tokens["access_token"]).status_code == 200

    assert _resource(base, tokens).status_code == 401
    (grant,) = _grants(world)
    assert grant.status == 1 and grant.ended_reason is None
    assert ">active<" in browser.authorizations()
    fresh = _refresh(base, world, tokens["refresh_token"])
    assert fresh.status_code == 200, fresh.text
    assert _resource(base, fresh.json()).status_code == 200
    assert _count(world, OutboxMessage) == before  # nothing ended, nobody told


def test_a_foreign_or_unknown_token_changes_nothing(world: World, base: str) -> None:
    tokens = _connect(base, world, Browser(base, world))
    assert _revoke(base, world, "not-a-token").status_code == 200  # RFC 7009 2.2
    stranger = requests.post(
        f"{base}/oauth/revoke",
        data={"token": tokens["refresh_token"]},
        headers=basic(world.other_id, world.other_secret),
        timeout=30,
    )
    assert stranger.status_code == 400
    (grant,) = _grants(world)
    assert grant.status == 1


# ---- a new consent replaces the earlier grant ------------------------------------------------


def test_a_new_consent_replaces_the_earlier_grant(world: World, base: str) -> None:
    browser = Browser(base, world)
    first = _connect(base, world, browser)
    second = _connect(base, world, browser)

    old, new = _grants(world)
    assert (old.status, old.ended_reason) == (0, "replaced")
    assert (new.status, new.ended_reason) == (1, None)
    assert new.subscription_uuid != old.subscription_uuid  # new ESPI ids for the ASP
    assert _uuid(second) == new.uuid and new.subscription_uuid in second["resourceURI"]
    assert _resource(base, first).status_code == 401
    assert _resource(base, second).status_code == 200
    page = browser.authorizations()
    assert page.count(">active<") == 1
    assert "replaced by your newer permission" in page


def test_a_consent_for_fewer_usage_points_keeps_the_wider_grant(world: World, base: str) -> None:
    """The customer did not take the other service agreement back: both grants stay."""
    browser = Browser(base, world)
    _connect(base, world, browser)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    answer = browser.approve(params, browser.consent_page(params), world.usage_points[:1])
    assert answer.status_code == 302
    assert [g.status for g in _grants(world)] == [1, 1]


def test_parallel_reconnects_leave_one_active_grant(world: World, base: str) -> None:
    browser = Browser(base, world)
    _connect(base, world, browser)
    pages = []
    for _ in range(PARALLEL):
        _verifier, challenge = pkce()
        params = authorize_params(world.confidential_id, challenge)
        pages.append((params, browser.consent_page(params)))

    answers = together(PARALLEL, lambda i: browser.approve(*pages[i], world.usage_points))

    assert all(a.status_code == 302 for a in answers), [a.text for a in answers]
    grants = _grants(world)
    assert len(grants) == PARALLEL + 1
    assert sum(g.status == 1 for g in grants) == 1
    assert {g.ended_reason for g in grants if g.status == 0} == {"replaced"}
    assert browser.authorizations().count(">active<") == 1


def test_parallel_revocations_end_the_grant_once(world: World, base: str) -> None:
    """The ASP revoking (several times at once) while the customer revokes in the portal:
    one end, one audit row, one e-mail."""
    browser = Browser(base, world)
    tokens = _connect(base, world, browser)
    uuid = _uuid(tokens)
    before = _count(world, OutboxMessage, OutboxMessage.kind == "email")  # the confirmation

    def revoke(i: int) -> int:
        if i == 0:
            return browser.revoke(uuid).status_code
        return _revoke(base, world, tokens["refresh_token"]).status_code

    assert together(PARALLEL, revoke) == [302] + [200] * (PARALLEL - 1)
    (grant,) = _grants(world)
    assert grant.status == 0 and grant.ended_reason in {"revoked_by_asp", "revoked_by_customer"}
    assert _count(world, AuditEvent, AuditEvent.action == "authorization_ended") == 1
    assert _count(world, OutboxMessage, OutboxMessage.kind == "email") == before + 1
