"""Item 26 of issue 11: the append-only audit log kept every typed user name, so a password
typed into the user-name field was stored forever.  Now a failed sign-in names a known
account's customer, and an unknown one only by a keyed hash (HMAC with SECRET_KEY) of the
normalised name, enough to correlate attempts (server/portal/guard.py)."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from espi_sst_server.storage.models import OutboxMessage, PortalSession, SignInThrottle
from portal_world import ALICE_UUID, Portal

SECRET_LIKE = "Tr0ub4dor&3-Secret!"


def everything_stored(portal: Portal) -> str:
    """Every audit, throttle, session and outbox row as text."""
    parts: list[str] = []
    for event in portal.audit():
        parts += [event.actor, event.action, str(event.subject), json.dumps(event.detail)]
    for row in portal.rows(SignInThrottle):
        parts.append(row.key)
    for row in portal.rows(PortalSession):
        parts.append(row.sid_hash)
    for row in portal.rows(OutboxMessage):
        parts += [row.destination, json.dumps(row.payload), json.dumps(portal.opened(row))]
    return "\n".join(parts)


def test_a_password_typed_as_the_user_name_is_kept_nowhere(
    portal: Portal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(12):  # enough for a burst, a backoff and its notice
        portal.browser().sign_in(SECRET_LIKE, "anything")
    stored = everything_stored(portal)
    assert "login_failed" in stored
    for form in (SECRET_LIKE, SECRET_LIKE.casefold(), "Tr0ub4dor"):
        assert form.casefold() not in stored.casefold(), form
        assert form.casefold() not in caplog.text.casefold(), form


def test_a_failed_sign_in_of_a_known_account_names_the_customer(portal: Portal) -> None:
    assert portal.browser().sign_in("alice", "wrong").status_code == 401
    (event,) = [e for e in portal.audit() if e.action == "login_failed"]
    assert event.subject == f"customer:{ALICE_UUID}"


def test_unknown_names_correlate_by_a_keyed_hash(portal: Portal) -> None:
    for typed in ("Nobody", "  nobody ", "someone-else"):
        assert portal.browser().sign_in(typed, "wrong").status_code == 401
    subjects = [e.subject for e in portal.audit() if e.action == "login_failed"]
    assert len(subjects) == 3 and subjects[0] == subjects[1] != subjects[2]
    assert all(s is not None and s.startswith("username-hmac:") for s in subjects)
    digest = subjects[0].removeprefix("username-hmac:")  # type: ignore[union-attr]
    # keyed: not the plain SHA-256 anyone could compute from a guessed name
    assert digest not in {
        hashlib.sha256(b"nobody").hexdigest(),
        hashlib.sha256(b"Nobody").hexdigest(),
    }
