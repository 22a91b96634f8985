"""Item 8 of issue 11: a TOTP code was good twice within its time step (and the next one).
Now the last accepted step is kept per customer and a code is accepted only for a later
step, claimed with a conditional UPDATE (server/portal/identity.py) -- so two parallel
submissions of one code cannot both pass."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp
import pytest
from parallel import serve, together
from portal_world import CAROL_TOTP, HttpBrowser, Portal

TOTP = pyotp.TOTP(CAROL_TOTP)


def test_a_code_signs_in_once(portal: Portal) -> None:
    code = TOTP.now()
    first = portal.browser()
    assert first.sign_in("carol", "carol's password").status_code == 302
    assert first.enter_code(code).status_code == 302 and first.signed_in()
    # Someone who watched the code being typed, with the password: a second browser.
    second = portal.browser()
    assert second.sign_in("carol", "carol's password").status_code == 302
    replayed = second.enter_code(code)
    assert replayed.status_code == 401 and not second.signed_in()


def test_a_code_of_an_earlier_step_is_refused_after_a_later_one(portal: Portal) -> None:
    """The +-1 step window stays (clock drift), but never backwards past an accepted step."""
    moment = time.time()
    current, previous = TOTP.at(moment), TOTP.at(moment - TOTP.interval)
    if current == previous:
        pytest.skip("the two steps' codes happen to be equal (one chance in a million)")
    browser = portal.browser()
    assert browser.sign_in("carol", "carol's password").status_code == 302
    assert browser.enter_code(current).status_code == 302
    later = portal.browser()
    assert later.sign_in("carol", "carol's password").status_code == 302
    assert later.enter_code(previous).status_code == 401


def test_parallel_submissions_of_one_code_sign_in_once(
    make_portal: Callable[..., Portal],
) -> None:
    """Six browsers that passed the password step send one code at the same moment."""
    portal = make_portal(SIGN_IN_FREE_FAILURES=50)  # the backoff must not hide the race
    count = 6
    with serve(portal.app) as base:
        browsers = [HttpBrowser(base) for _ in range(count)]
        try:
            forms = []
            for browser in browsers:
                step = browser.sign_in("carol", "carol's password")
                assert step.status_code == 302 and "/portal/login/code" in step.headers["Location"]
                forms.append(browser.code_form())
            code = TOTP.now()
            answers = together(
                count,
                lambda index: browsers[index].post(
                    "/portal/login/code", {**forms[index], "code": code}
                ),
            )
        finally:
            for browser in browsers:
                browser.close()
    statuses = sorted(getattr(a, "status_code", repr(a)) for a in answers)
    assert statuses == [302] + [401] * (count - 1), statuses
