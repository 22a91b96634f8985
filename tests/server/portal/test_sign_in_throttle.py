"""Item 9 of issue 11: strangers could lock a customer out.  Eleven wrong passwords for a
customer and the real password then got 429; a hundred locked the account for a day.

Now (server/portal/throttle.py, server/portal/guard.py): a stranger only slows its own
address (LOGIN_IP_RATE_LIMIT) and, per account, browsers the account was not used in --
exponential backoff after a few free failures, capped at minutes, never a lock; a browser
the owner signed in from carries a "recognised device" cookie and is held only by its own
counter (OWASP "Slow Down Online Guessing Attacks with Device Cookies"; NIST SP 800-63B
5.2.2); the owner is e-mailed once when a burst of guesses hits the account.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from espi_sst_server.storage.models import SignInThrottle
from parallel import serve, together
from portal_world import CAROL_TOTP, Browser, Clock, HttpBrowser, Portal

TOTP = pyotp.TOTP(CAROL_TOTP)
DAY = 86400


def code_now() -> str:
    """The current code by the (possibly moved) clock the server reads."""
    return TOTP.at(time.time())


def recognised_browser(portal: Portal, username: str, password: str) -> Browser:
    """The owner's own browser: signed in once (and out again), so it is recognised."""
    browser = portal.browser()
    assert browser.sign_in(username, password).status_code == 302
    assert browser.signed_in()
    browser.sign_out()
    return browser


def strangers_guess(portal: Portal, username: str, guesses: int) -> list[int]:
    """``guesses`` wrong passwords, each from a new browser at a new address, at once."""
    return [portal.browser().sign_in(username, f"guess-{n}").status_code for n in range(guesses)]


def retry_after(response: Any) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def guess_until(portal: Portal, clock: Clock, username: str, guesses: int) -> int:
    """``guesses`` wrong passwords from strangers who wait whenever told to; the seconds
    that took on the (moved) clock."""
    started = time.time()
    made = 0
    while made < guesses:
        answer = portal.browser().sign_in(username, f"guess-{made}")
        if answer.status_code == 429:
            wait = retry_after(answer)
            assert wait <= 900, f"a stranger was told to wait {wait} s"
            clock.advance(wait)
            continue
        assert answer.status_code == 401, answer.status_code
        made += 1
    return int(time.time() - started)


def without_csrf(html: bytes) -> str:
    """The page without its form values (CSRF token, typed name) and numbers (times)."""
    return re.sub(r"\d", "#", re.sub(r'value="[^"]*"', 'value=""', html.decode()))


# ---- the reported attack ----------------------------------------------------------------------


def test_strangers_cannot_lock_the_owner_out_of_a_recognised_browser(portal: Portal) -> None:
    own = recognised_browser(portal, "alice", "correct horse")
    statuses = strangers_guess(portal, "alice", 11)
    assert statuses[:5] == [401] * 5
    (row,) = portal.throttles()
    assert row.next_allowed_at > row.last_failure_at, "the strangers earned a backoff"
    assert own.sign_in("alice", "correct horse").status_code == 302
    assert own.signed_in()


def test_a_fresh_browser_waits_a_bounded_time_then_signs_in(
    make_portal: Callable[..., Portal], clock: Clock
) -> None:
    # A minute first (not a second), so a slow test machine is still within the wait.
    portal = make_portal(SIGN_IN_BACKOFF_FIRST_SECONDS=60)
    strangers_guess(portal, "alice", 11)
    fresh = portal.browser()
    right = fresh.sign_in("alice", "correct horse")
    wait = retry_after(right)
    assert 1 <= wait <= 900
    assert "try again" in right.get_data(as_text=True).lower()
    assert right.headers["Cache-Control"] == "no-store"
    # While backing off, the password is not checked: the right one is answered like a
    # wrong one (no oracle).
    wrong = portal.browser().sign_in("alice", "not it")
    assert abs(retry_after(wrong) - wait) <= 1
    assert without_csrf(wrong.data) == without_csrf(right.data)
    clock.advance(wait)
    assert fresh.sign_in("alice", "correct horse").status_code == 302
    assert fresh.signed_in()


def test_a_hundred_guesses_do_not_lock_the_owner_out(portal: Portal, clock: Clock) -> None:
    own = recognised_browser(portal, "alice", "correct horse")
    took = guess_until(portal, clock, "alice", 100)
    # NIST SP 800-63B 5.2.2: no more than about 100 failed attempts a day at one account.
    assert took >= 18 * 3600, f"100 guesses took only {took} s"
    assert own.sign_in("alice", "correct horse").status_code == 302  # at once
    fresh = portal.browser()
    answer = fresh.sign_in("alice", "correct horse")
    if answer.status_code == 429:
        assert retry_after(answer) <= 900, "never a day-long lock"
        clock.advance(retry_after(answer))
        answer = fresh.sign_in("alice", "correct horse")
    assert answer.status_code == 302 and fresh.signed_in()


def test_a_recognised_browser_has_its_own_small_counter(
    make_portal: Callable[..., Portal],
) -> None:
    """A thief with the owner's browser gets a backoff of its own; the account's
    strangers' counter, and so other browsers of the owner, are not touched by it."""
    portal = make_portal(SIGN_IN_BACKOFF_FIRST_SECONDS=60)  # slow machines: still waiting
    own = recognised_browser(portal, "alice", "correct horse")
    answers = [own.sign_in("alice", f"guess-{n}").status_code for n in range(8)]
    assert answers[0] == 401 and answers[-1] == 429, answers
    other = portal.browser()
    assert other.sign_in("alice", "correct horse").status_code == 302
    assert not portal.emails()


def test_only_a_genuine_cookie_for_this_account_is_recognised(
    make_portal: Callable[..., Portal], clock: Clock
) -> None:
    portal = make_portal(SIGN_IN_BACKOFF_FIRST_SECONDS=600)  # still waiting at the end
    own = recognised_browser(portal, "alice", "correct horse")
    device = own.cookie("sign_in_device")
    assert device is not None
    strangers_guess(portal, "alice", 11)
    tampered = portal.browser()
    tampered.client.set_cookie(
        "sign_in_device", device[:-2] + ("AA" if device[-2:] != "AA" else "BB")
    )
    assert tampered.sign_in("alice", "correct horse").status_code == 429
    bob = recognised_browser(portal, "bob", "battery staple")  # recognised, but for bob
    assert bob.sign_in("alice", "correct horse").status_code == 429
    copied = portal.browser()
    copied.client.set_cookie("sign_in_device", device)
    assert copied.sign_in("alice", "correct horse").status_code == 302
    clock.advance(91 * DAY)  # past SIGN_IN_DEVICE_SECONDS
    strangers_guess(portal, "alice", 11)
    assert own.sign_in("alice", "correct horse").status_code == 429


# ---- counting -------------------------------------------------------------------------------


def test_parallel_wrong_passwords_are_all_counted(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(SIGN_IN_FREE_FAILURES=50)
    count = 12
    with serve(portal.app) as base:
        browsers = [HttpBrowser(base) for _ in range(count)]
        try:
            answers = together(count, lambda n: browsers[n].sign_in("alice", f"guess-{n}"))
        finally:
            for browser in browsers:
                browser.close()
    assert [getattr(a, "status_code", repr(a)) for a in answers] == [401] * count
    (row,) = portal.throttles()
    assert row.failures == count


def test_parallel_guesses_cannot_outrun_the_backoff(make_portal: Callable[..., Portal]) -> None:
    """Every attempt is counted before the password is checked, so a burst sent at once
    gets exactly the free attempts through, not one per request in flight."""
    portal = make_portal(SIGN_IN_FREE_FAILURES=3, SIGN_IN_BACKOFF_FIRST_SECONDS=600)
    count = 12
    with serve(portal.app) as base:
        browsers = [HttpBrowser(base) for _ in range(count)]
        try:
            answers = together(count, lambda n: browsers[n].sign_in("alice", f"guess-{n}"))
        finally:
            for browser in browsers:
                browser.close()
    statuses = sorted(getattr(a, "status_code", repr(a)) for a in answers)
    assert statuses == [401] * 3 + [429] * (count - 3), statuses
    (row,) = portal.throttles()
    assert row.failures == 3


def test_the_backoff_doubles_from_a_second_to_its_cap(portal: Portal, clock: Clock) -> None:
    delays = []
    for _ in range(19):
        answer = portal.browser().sign_in("alice", "guess")
        if answer.status_code == 429:
            clock.advance(retry_after(answer))
            answer = portal.browser().sign_in("alice", "guess")
        assert answer.status_code == 401
        (row,) = portal.throttles()
        delays.append(max(0, row.next_allowed_at - row.last_failure_at))
    assert delays == [0] * 4 + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] + [900] * 5


def test_failures_are_forgotten_after_a_quiet_day(portal: Portal, clock: Clock) -> None:
    strangers_guess(portal, "alice", 6)
    clock.advance(DAY + 1)
    assert strangers_guess(portal, "alice", 5) == [401] * 5


# ---- unknown accounts -------------------------------------------------------------------------


def test_unknown_accounts_are_answered_alike_and_nobody_is_emailed(
    make_portal: Callable[..., Portal], clock: Clock
) -> None:
    """A known and an unknown name, guessed in lockstep: the same answers, the same waits
    (a minute first, so the test's own running time cannot tell them apart)."""
    portal = make_portal(SIGN_IN_BACKOFF_FIRST_SECONDS=60)
    answers: dict[str, list[tuple[int, int]]] = {"alice": [], "nobody": []}
    for _ in range(20):
        for name in answers:
            got = portal.browser().sign_in(name, "guess")
            answers[name].append((got.status_code, int(got.headers.get("Retry-After", 0))))
        clock.advance(max(wait for _, wait in (answers["alice"][-1], answers["nobody"][-1])))
    statuses = {name: [status for status, _ in got] for name, got in answers.items()}
    assert statuses["alice"] == statuses["nobody"] and 429 in statuses["nobody"]
    for (_, alice_wait), (_, nobody_wait) in zip(answers["alice"], answers["nobody"], strict=True):
        assert abs(alice_wait - nobody_wait) <= 5
    assert [e.destination for e in portal.emails()] == ["alice@example.com"]


# ---- telling the owner ------------------------------------------------------------------------


def test_the_owner_is_emailed_once_per_burst(portal: Portal, clock: Clock) -> None:
    guess_until(portal, clock, "alice", 9)
    assert not portal.emails()
    guess_until(portal, clock, "alice", 16)  # the burst goes on: one e-mail for it
    (mail,) = portal.emails()
    assert mail.destination == "alice@example.com"
    text = portal.opened(mail)["text"]
    assert "not locked" in text and "password" in text
    assert "guess-" not in text  # nothing typed is repeated
    clock.advance(DAY + 1)
    guess_until(portal, clock, "alice", 10)  # a burst on another day: another e-mail
    assert [e.destination for e in portal.emails()] == ["alice@example.com"] * 2


def test_an_owner_without_an_address_is_not_emailed(portal: Portal, clock: Clock) -> None:
    guess_until(portal, clock, "bob", 12)
    assert not portal.emails()
    assert any(event.action == "sign_in_guessing" for event in portal.audit())


# ---- the second factor --------------------------------------------------------------------------


def passed_password(portal: Portal, browser: Browser | None = None) -> Browser:
    browser = browser or portal.browser()
    step = browser.sign_in("carol", "carol's password")
    assert step.status_code == 302 and "/portal/login/code" in step.headers["Location"]
    return browser


def test_wrong_codes_back_off_per_account_not_per_browser(
    make_portal: Callable[..., Portal], clock: Clock
) -> None:
    """Someone who has the password tries codes from many browsers: the account backs off;
    the owner's recognised browser still signs in."""
    portal = make_portal(SIGN_IN_BACKOFF_FIRST_SECONDS=60)  # slow machines: still waiting
    own = passed_password(portal)
    assert own.enter_code(code_now()).status_code == 302
    own.sign_out()
    statuses = [passed_password(portal).enter_code("000000").status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429, statuses
    held = passed_password(portal)
    assert held.enter_code(code_now()).status_code == 429  # not checked while backing off
    clock.advance(TOTP.interval)
    passed_password(portal, own)
    assert own.enter_code(code_now()).status_code == 302


def test_the_owner_is_told_when_their_password_passed_but_codes_failed(
    portal: Portal, clock: Clock
) -> None:
    failures = 0
    while failures < 10:
        answer = passed_password(portal).enter_code("000000")
        if answer.status_code == 429:
            clock.advance(retry_after(answer))
            continue
        assert answer.status_code == 401
        failures += 1
    (mail,) = portal.emails()
    assert mail.destination == "carol@example.com"
    assert "change your password" in portal.opened(mail)["text"].lower()


def test_a_pending_second_factor_expires(portal: Portal, clock: Clock) -> None:
    browser = passed_password(portal)
    clock.advance(301)
    page = browser.get("/portal/login/code")
    assert page.status_code == 302 and page.headers["Location"].endswith("/portal/login")


@pytest.mark.parametrize("failures", [0, 4])
def test_signing_in_clears_the_accounts_failures(
    portal: Portal, clock: Clock, failures: int
) -> None:
    strangers_guess(portal, "alice", failures)
    assert portal.browser().sign_in("alice", "correct horse").status_code == 302
    assert all(row.failures == 0 for row in portal.throttles() if isinstance(row, SignInThrottle))
    assert strangers_guess(portal, "alice", 5) == [401] * 5


def test_forgotten_keys_are_purged(portal: Portal, clock: Clock) -> None:
    """A spray of made-up names must not fill the table for good."""
    for name in ("made-up-1", "made-up-2", "made-up-3"):
        portal.browser().sign_in(name, "guess")
    assert len(portal.throttles()) == 3
    clock.advance(DAY + 601)
    portal.browser().sign_in("made-up-4", "guess")
    (row,) = portal.throttles()
    assert row.failures == 1
