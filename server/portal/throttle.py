"""Sign-in backoff: failures counted per key in ``sign_in_throttle``, atomically.

Why (issue 11, item 9): a window limit per account ("10 per minute;100 per day") was a lock
-out anyone could trigger -- eleven wrong passwords and the owner's right one got 429; a
hundred locked the account for a day.  NIST SP 800-63B 5.2.2 asks for throttling that
keeps a stranger to about 100 guesses a day *without* letting them shut the owner out.  So
a key earns an exponential backoff after a few free failures: the next attempt under it
waits ``SIGN_IN_BACKOFF_FIRST_SECONDS``, doubling up to ``SIGN_IN_BACKOFF_MAX_SECONDS``
(with the defaults, 5 at once, then 1 s, 2 s ... 512 s, then every 15 minutes: about 100
a day), never a lock; failures are forgotten after ``SIGN_IN_FORGET_SECONDS`` without any.

A key is a keyed hash (HMAC-SHA256 with ``SECRET_KEY``) of what is throttled -- an account
by its normalised user name, one recognised browser -- never the typed text, so the table
holds nothing a typed password could be found in (item 26).

Race-safety: an attempt is *claimed* before its password or code is checked -- counted as
a failure by one INSERT ... ON CONFLICT DO UPDATE whose WHERE admits it only if the key is
not backing off -- and committed at once (the slow password hash runs outside the
transaction).  Parallel guesses are counted exactly and a burst sent at once gets exactly
the free attempts through, not one per request in flight.  A success resets the count.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..storage.models import SignInThrottle
from ..storage.rows import rowcount

NOTIFY_AT_MOST_EVERY_SECONDS = 86400
"""The owner hears of guessing at their account at most once a day."""
_PURGE_EVERY_SECONDS = 600
_PURGED = "espi_sst_throttle_purged"


@dataclass(frozen=True)
class Backoff:
    """How long the next attempt under a key waits after ``failures`` failures."""

    free_failures: int
    first_seconds: int
    max_seconds: int
    forget_seconds: int

    @classmethod
    def configured(cls) -> Backoff:
        config = current_app.config
        return cls(
            free_failures=int(config["SIGN_IN_FREE_FAILURES"]),
            first_seconds=int(config["SIGN_IN_BACKOFF_FIRST_SECONDS"]),
            max_seconds=int(config["SIGN_IN_BACKOFF_MAX_SECONDS"]),
            forget_seconds=int(config["SIGN_IN_FORGET_SECONDS"]),
        )

    def delay(self, failures: int) -> int:
        """0 for the first ``free_failures - 1`` failures, then first, 2 x first ... max."""
        doublings = failures - self.free_failures
        if doublings < 0:
            return 0
        if doublings >= 40:  # 2**40 seconds is beyond any cap
            return self.max_seconds
        return int(min(self.max_seconds, self.first_seconds * 2**doublings))


def normalized_name(typed: str) -> str:
    """NFKC, case-folded, stripped: ``Alice`` and `` alice`` are one account's name."""
    return unicodedata.normalize("NFKC", typed).casefold().strip()


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``SECRET_KEY`` (hex), separated by ``purpose``.

    Correlates without revealing: equal inputs give equal hashes, and without the key a
    hash cannot be tested against guessed names (unlike a plain SHA-256).
    """
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (SQLite >= 3.24 and PostgreSQL share it)."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise RuntimeError(f"sign-in backoff needs SQLite or PostgreSQL, not {dialect}")


def claim(session: Session, key: str, moment: int, backoff: Backoff) -> int | None:
    """Count one attempt under ``key`` and commit; None if admitted, else seconds to wait.

    The refused attempt is not counted: waiting out the backoff is always enough.
    """
    _purge_now_and_then(session, moment, backoff)
    table = SignInThrottle.__table__
    column = table.c
    forgotten = column.last_failure_at <= moment - backoff.forget_seconds
    statement = (
        _insert(session)(table)
        .values(
            key=key,
            failures=1,
            first_failure_at=moment,
            last_failure_at=moment,
            next_allowed_at=0,  # free: see below
        )
        .on_conflict_do_update(
            index_elements=[column.key],
            set_={
                "failures": case((forgotten, 1), else_=column.failures + 1),
                "first_failure_at": case((forgotten, moment), else_=column.first_failure_at),
                "last_failure_at": moment,
            },
            where=column.next_allowed_at <= moment,
        )
        .returning(column.failures)
    )
    failures = session.execute(statement).scalar()
    if failures is None:  # backing off: the row is as it was
        until = session.scalar(select(column.next_allowed_at).where(column.key == key))
        session.commit()
        return max(1, int(until if until is not None else moment + 1) - moment)
    delay = backoff.delay(int(failures))
    if delay > 0:  # a free failure leaves the key open: parallel requests read the clock
        # before they queue for the row, so "open from now" could refuse one that read it
        # a second earlier
        session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.key == key)
            .values(next_allowed_at=moment + delay)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return None


def succeeded(session: Session, key: str, moment: int) -> None:
    """The attempt under ``key`` was right: its failures end (in the caller's transaction).

    The row stays, with its ``notified_at``: the owner is still told at most once a day.
    """
    session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.key == key)
        .values(failures=0, first_failure_at=moment, next_allowed_at=0)
        .execution_options(synchronize_session=False)
    )


def claim_notice(session: Session, key: str, moment: int, threshold: int) -> int | None:
    """Failures under ``key`` if they just reached a burst to tell the owner of, else None.

    One conditional UPDATE of ``notified_at``: of parallel failures, exactly one is told
    to notify; then nobody for a day (the caller's transaction).
    """
    column = SignInThrottle.__table__.c
    claimed = session.execute(
        update(SignInThrottle)
        .where(
            column.key == key,
            column.failures >= threshold,
            or_(
                column.notified_at.is_(None),
                column.notified_at <= moment - NOTIFY_AT_MOST_EVERY_SECONDS,
            ),
        )
        .values(notified_at=moment)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    return session.scalar(select(column.failures).where(column.key == key))


def first_failure_at(session: Session, key: str) -> int | None:
    return session.scalar(select(SignInThrottle.first_failure_at).where(SignInThrottle.key == key))


def _purge_now_and_then(session: Session, moment: int, backoff: Backoff) -> None:
    """Delete rows with nothing left to remember (every few minutes per process): keys of
    names that do not exist would otherwise pile up under a spraying attack."""
    extensions = current_app.extensions
    if moment - int(extensions.get(_PURGED, 0)) < _PURGE_EVERY_SECONDS:
        return
    extensions[_PURGED] = moment
    column = SignInThrottle.__table__.c
    session.execute(
        delete(SignInThrottle).where(
            and_(
                column.last_failure_at <= moment - backoff.forget_seconds,
                column.next_allowed_at <= moment,
                or_(
                    column.notified_at.is_(None),
                    column.notified_at <= moment - NOTIFY_AT_MOST_EVERY_SECONDS,
                ),
            )
        )
    )
    session.commit()
