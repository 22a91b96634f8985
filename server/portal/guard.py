"""One sign-in step's attempt at one account: admitted, or told when to try again.

Why (issue 11, items 9 and 26): the policy of NIST SP 800-63B 5.2.2 and OWASP's device
cookies, for both steps (password, then the TOTP code):

* a browser the account signed in from before (:mod:`.device`) is counted under its own
  key; every other browser under the account's key -- so strangers slow down strangers;
* the attempt is claimed before the password or code is checked (:func:`.throttle.claim`);
  while backing off it is answered 429 without checking anything (no oracle), and unknown
  user names are handled exactly like known ones (same keys, same work, same answers);
* when strangers' failures at an account reach ``SIGN_IN_NOTIFY_FAILURES``, its owner is
  e-mailed through the outbox in the same transaction, at most once a day; nothing in the
  answer to the requester changes;
* audit rows name a known account's customer and an unknown one by a keyed hash of the
  typed name -- never the typed text (a password typed into the user-name field must not
  be kept forever in the append-only log).

The per-address window limit (``LOGIN_IP_RATE_LIMIT``, server/limits/__init__.py) runs before this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from ..outbox.queue import enqueue_email
from ..security import now
from ..storage import db
from ..storage.models import RetailCustomer
from ..storage.rows import audit
from . import device, throttle

PASSWORD = "password"
CODE = "code"


def account_of_name(typed: str) -> str:
    """The account a typed user name means, as the keyed hash the throttle and audit use."""
    return throttle.keyed_hash("sign-in account", throttle.normalized_name(typed))


def audit_subject(account: str, customer: RetailCustomer | None) -> str:
    return f"customer:{customer.uuid}" if customer is not None else f"username-hmac:{account}"


@dataclass(frozen=True)
class Attempt:
    """One attempt of ``step`` at ``account`` (the keyed hash of the typed user name)."""

    step: str
    account: str
    nonce: str | None  # this browser's recognised-device nonce for the account

    @classmethod
    def at(cls, step: str, account: str) -> Attempt:
        return cls(step, account, device.recognised(account))

    @property
    def key(self) -> str:
        if self.nonce is not None:
            return f"{self.step}:device:{throttle.keyed_hash('sign-in device', self.nonce)}"
        return f"{self.step}:account:{self.account}"

    def admit(self) -> int | None:
        """Claim the attempt (committed); None to go on, else the seconds to wait."""
        return throttle.claim(db.session, self.key, now(), throttle.Backoff.configured())

    def passed(self) -> None:
        """Right password or code: this key's failures end (the caller commits)."""
        throttle.succeeded(db.session, self.key, now())

    def failed(self, customer: RetailCustomer | None) -> None:
        """Wrong: audit it, tell the owner of a burst of strangers' guesses; commits."""
        subject = audit_subject(self.account, customer)
        action = "login_failed" if self.step == PASSWORD else "login_code_failed"
        audit(db.session, now(), "anonymous", action, subject=subject, detail=self._detail())
        if self.nonce is None:
            self._notice_burst(customer, subject)
        db.session.commit()

    def _detail(self) -> dict[str, object]:
        return {"recognised_browser": self.nonce is not None}

    def _notice_burst(self, customer: RetailCustomer | None, subject: str) -> None:
        moment = now()
        threshold = int(current_app.config["SIGN_IN_NOTIFY_FAILURES"])
        failures = throttle.claim_notice(db.session, self.key, moment, threshold)
        if failures is None:
            return
        emailed = customer is not None and bool(customer.email)
        if customer is not None and customer.email:
            since = throttle.first_failure_at(db.session, self.key) or moment
            enqueue_email(
                db.session,
                to=customer.email,
                subject=f"Failed sign-in attempts on your {current_app.config['UTILITY_NAME']} account",
                text=_burst_text(self.step, failures, since),
                now=moment,
            )
        audit(
            db.session,
            now(),
            "system",
            "sign_in_guessing",
            subject=subject,
            detail={"step": self.step, "failures": failures, "owner_emailed": emailed},
        )


def _burst_text(step: str, failures: int, since: int) -> str:
    """What happened and what to do, in plain words (no typed text, no addresses)."""
    utility = current_app.config["UTILITY_NAME"]
    when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if step == CODE:
        happened = (
            f"Since {when}, someone signed in to your {utility} account with your correct "
            f"password and then entered a wrong code from your authenticator app {failures} "
            "times. Your code kept them out, but your password is known to someone else."
        )
        advice = (
            "Change your password now, and do not use it on any other site. If you did "
            "this yourself, you can ignore this message."
        )
    else:
        happened = (
            f"Since {when}, someone has tried to sign in to your {utility} account "
            f"{failures} times with a wrong password."
        )
        advice = (
            "If that was you, there is nothing to do. If not: make sure your password is "
            "long and not used on any other site, and change it if you are unsure."
        )
    return (
        f"{happened}\n\n"
        "Your account is not locked. Browsers you have signed in with before are not held "
        "up; other browsers have to wait longer after each wrong attempt, so guessing is "
        f"slow.\n\n{advice}\n\n"
        "We tell you about such attempts at most once a day. Nobody trying to sign in is "
        f"told that we sent this message.\n\n{utility}\n"
    )
