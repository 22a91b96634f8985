"""Item 7 of issue 11: a session cookie stayed valid after sign-out (replayed for up to 31
days).  Now the cookie names a server-side session (``portal_session``) that sign-out ends,
that has an absolute end and an idle timeout (server/portal/session.py)."""

from __future__ import annotations

from collections.abc import Callable

from espi_sst_server.security import hash_secret
from espi_sst_server.storage.models import PortalSession
from portal_world import Clock, Portal, authorize_query


def test_a_copied_cookie_is_worthless_after_sign_out(portal: Portal) -> None:
    owner = portal.browser()
    assert owner.sign_in("alice", "correct horse").status_code == 302
    copied = owner.cookie()
    assert copied is not None and owner.signed_in()
    thief = portal.browser()
    thief.client.set_cookie("session", copied)
    assert thief.signed_in(), "the copy works while the owner is signed in"
    assert thief.get("/oauth/authorize", query_string=authorize_query()).status_code == 200
    assert owner.sign_out().status_code == 302
    assert not owner.signed_in()
    # The replayed copy: redirected to sign in, on the portal and at the consent page.
    assert not thief.signed_in()
    authorize = thief.get("/oauth/authorize", query_string=authorize_query())
    assert authorize.status_code == 302 and "/portal/login" in authorize.headers["Location"]


def test_the_session_cookie_is_not_a_long_lived_cookie(portal: Portal) -> None:
    """The browser forgets it when it closes; the server forgets it at the session's end."""
    signed_in = portal.browser().sign_in("alice", "correct horse")
    cookies = [c for c in signed_in.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies and all("Expires" not in c and "Max-Age" not in c for c in cookies), cookies
    assert portal.app.permanent_session_lifetime.total_seconds() <= 12 * 3600


def test_the_default_lifetimes_are_hours_not_days(portal: Portal) -> None:
    """NIST SP 800-63B 7.2 (AAL2): at most 12 hours, at most 30 minutes idle."""
    assert int(portal.app.config["PORTAL_SESSION_SECONDS"]) <= 12 * 3600
    assert int(portal.app.config["PORTAL_SESSION_IDLE_SECONDS"]) <= 1800


def test_a_session_ends_at_its_absolute_end_even_in_use(
    make_portal: Callable[..., Portal], clock: Clock
) -> None:
    lifetime, idle = 4 * 3600, 1800
    portal = make_portal(PORTAL_SESSION_SECONDS=lifetime, PORTAL_SESSION_IDLE_SECONDS=idle)
    browser = portal.browser()
    assert browser.sign_in("alice", "correct horse").status_code == 302
    used = 0
    while used + idle // 2 < lifetime:
        clock.advance(idle // 2)  # in use: never idle for long
        used += idle // 2
        assert browser.signed_in(), used
    clock.advance(lifetime - used + 1)
    assert not browser.signed_in()


def test_an_idle_session_ends(make_portal: Callable[..., Portal], clock: Clock) -> None:
    portal = make_portal(PORTAL_SESSION_IDLE_SECONDS=1800)
    browser = portal.browser()
    assert browser.sign_in("alice", "correct horse").status_code == 302
    clock.advance(1000)
    assert browser.signed_in()  # used within the idle time: still signed in
    clock.advance(1801)
    assert not browser.signed_in()


def test_a_copied_cookie_dies_at_the_session_end(
    make_portal: Callable[..., Portal], clock: Clock
) -> None:
    """Even a thief who keeps a copy "in use" is signed out at the absolute end."""
    lifetime = 3 * 3600
    portal = make_portal(PORTAL_SESSION_SECONDS=lifetime, PORTAL_SESSION_IDLE_SECONDS=1800)
    owner = portal.browser()
    assert owner.sign_in("alice", "correct horse").status_code == 302
    thief = portal.browser()
    thief.client.set_cookie("session", owner.cookie() or "")
    for _ in range(lifetime // 600):
        clock.advance(600)
        thief.signed_in()
    clock.advance(600)
    assert not thief.signed_in()


def test_signing_in_again_ends_the_previous_session(portal: Portal) -> None:
    """A fresh session at every sign-in (no fixation); the one it replaces ends."""
    browser = portal.browser()
    assert browser.sign_in("alice", "correct horse").status_code == 302
    first = browser.cookie()
    assert browser.sign_in("alice", "correct horse").status_code == 302
    assert browser.cookie() != first
    old = portal.browser()
    old.client.set_cookie("session", first or "")
    assert not old.signed_in()
    assert browser.signed_in()


def test_the_database_keeps_only_a_hash_of_the_session_id(portal: Portal) -> None:
    browser = portal.browser()
    assert browser.sign_in("alice", "correct horse").status_code == 302
    with portal.app.test_request_context():
        from flask import current_app

        serializer = current_app.session_interface.get_signing_serializer(current_app)  # type: ignore[attr-defined]
        data = serializer.loads(browser.cookie())
    sid = next(value for value in data.values() if isinstance(value, str) and len(value) >= 32)
    (row,) = [r for r in portal.rows(PortalSession) if r.ended_at is None]
    assert row.sid_hash == hash_secret(sid) and sid not in row.sid_hash
