"""bench/soak/accounting.py sees what the soak must never let through.

The short soak (test_soak_short.py) asserts ``lost == 0`` and ``duplicated == 0``; that is
only worth something if the counts would be non-zero when things go wrong.  Here the
accounting's own SQL runs on a real PostgreSQL database holding, by hand, each bad outcome
(a rate change decided twice, one scheduled twice, one confirmed and never decided; a mail
never delivered, one delivered twice; a notification never acknowledged; a grant ended
with a live token) beside good ones, and every bad one is counted -- and nothing else.
"""

from __future__ import annotations

import glob
import json
import mailbox
import os
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench" / "soak")]

import accounting  # noqa: E402  (bench/soak/accounting.py)

ISSUER = "http://127.0.0.1:9"
SCHEMA = """
CREATE TABLE rate_change_request (uuid text, status text, confirmed_at bigint,
                                  authorization_id int);
CREATE TABLE audit_event (action text, subject text);
CREATE TABLE scheduled_rate_change (request_uuid text);
CREATE TABLE outbox_message (id int, kind text, payload json, sent_at bigint, failed_at bigint,
                             created_at bigint, attempts int, last_error text);
CREATE TABLE "authorization" (id int, status int, revoked_at bigint, ended_reason text);
CREATE TABLE token (authorization_id int, revoked_at bigint);
"""


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    existing = os.environ.get("ESPI_TEST_POSTGRESQL_URL")
    if existing:
        yield existing
        return
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        if os.environ.get("ESPI_REQUIRE_POSTGRESQL"):
            pytest.fail("ESPI_REQUIRE_POSTGRESQL is set but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed")
    folder = tempfile.mkdtemp(prefix="espi-soak-accounting-pg.")
    cluster = ["bash", str(ROOT / "scripts" / "pg-test-cluster")]
    url = subprocess.run([*cluster, "start", folder], capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    try:
        yield url
    finally:
        subprocess.run([*cluster, "stop", folder], capture_output=True)


@pytest.fixture
def db(server_url: str) -> Iterator[Any]:
    import psycopg

    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"soak_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(plain.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
            conn.execute(SCHEMA)
            yield conn
    finally:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name}")


def _decided(db: Any, uuid_: str, status: str, *, decisions: int, scheduled: int) -> None:
    db.execute(
        "INSERT INTO rate_change_request (uuid, status, confirmed_at) VALUES (%s, %s, 1)",
        (uuid_, status),
    )
    for _ in range(decisions):
        db.execute("INSERT INTO audit_event VALUES (%s, %s)",
                   (f"rate_change_{status}", f"rate_change_request:{uuid_}"))  # fmt: skip
    for _ in range(scheduled):
        db.execute("INSERT INTO scheduled_rate_change VALUES (%s)", (uuid_,))


def test_a_rate_change_applied_twice_or_never_is_counted(db: Any) -> None:
    _decided(db, "good", "accepted", decisions=1, scheduled=1)
    _decided(db, "rejected-once", "rejected", decisions=1, scheduled=0)
    _decided(db, "decided-twice", "accepted", decisions=2, scheduled=1)
    _decided(db, "scheduled-twice", "accepted", decisions=1, scheduled=2)
    _decided(db, "never-decided", "submitted", decisions=0, scheduled=0)
    db.execute(
        "INSERT INTO rate_change_request (uuid, status, confirmed_at) VALUES ('awaiting', 'awaitingConfirmation', NULL)"
    )
    figures = accounting.rate_changes(db, [f"{ISSUER}/x/RateChangeRequest/good",
                                           f"{ISSUER}/x/RateChangeRequest/not-in-the-database"])  # fmt: skip
    assert figures["rate_changes_applied_twice"] == 2
    assert figures["rate_changes_lost"] == 2  # never decided; confirmed but missing
    assert figures["rate_changes_confirmed"] == 5


def _mail(box: mailbox.Maildir, row_id: int) -> None:
    message = EmailMessage()
    message["Message-ID"] = f"<outbox-{row_id}.{accounting._issuer_tag(ISSUER)}@utility.example>"
    message["To"] = "casey@example.com"
    message["Subject"] = "s"
    message.set_content("hello")
    box.add(message)


def test_a_mail_lost_or_sent_twice_is_counted(db: Any, tmp_path: Path) -> None:
    passcode = {"subject": f"Utility: {accounting.PASSCODE_SUBJECT}"}
    for row_id in (1, 2, 3):
        db.execute("INSERT INTO outbox_message VALUES (%s, 'email', %s, 1, NULL)",
                   (row_id, json.dumps(passcode)))  # fmt: skip
    db.execute(
        "INSERT INTO rate_change_request (uuid, status, confirmed_at) VALUES ('a', 'accepted', 1)"
    )
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    _mail(box, 1)
    _mail(box, 2)
    _mail(box, 2)  # row 2 twice, row 3 never
    other = EmailMessage()  # another database's row 3, beside: not this one's
    other["Message-ID"] = "<outbox-3.0123456789ab@utility.example>"
    other.set_content("x")
    box.add(other)
    figures = accounting.mails(db, tmp_path / "mail", ISSUER)
    assert figures["mails_lost"] == figures["passcode_mails_lost"] == 1
    assert figures["mails_duplicated"] == figures["passcode_mails_duplicated"] == 1
    assert figures["passcode_mail_rows_missing"] == 0
    (story,) = figures["mails_duplicated_detail"]  # the repeat's timeline, to explain it
    assert story["outbox_id"] == 2 and len(story["delivered_at"]) == 2


def test_a_lost_notification_is_counted_and_a_keyed_repeat_is_not(db: Any) -> None:
    for row_id in (1, 2, 3):
        db.execute("INSERT INTO outbox_message VALUES (%s, 'asp_notification', '{}', 1, NULL)",
                   (row_id,))  # fmt: skip
    acknowledged = Counter({f"{ISSUER}/notification/1": 1, f"{ISSUER}/notification/2": 3})
    figures = accounting.notifications(db, ISSUER, acknowledged, unkeyed=0)
    assert figures["notifications_lost"] == 1  # row 3
    assert figures["notifications_deduplicated"] == 2  # allowed: the receiver drops them
    assert figures["notifications_duplicated"] == 0
    assert accounting.notifications(db, ISSUER, acknowledged, unkeyed=1)[
        "notifications_duplicated"] == 1  # fmt: skip


def test_a_grant_in_an_impossible_state_is_counted(db: Any) -> None:
    db.execute("""INSERT INTO "authorization" VALUES (1, 1, NULL, NULL),
                  (2, 0, 5, 'revoked_by_customer'), (3, 0, 5, 'revoked_by_customer'),
                  (4, 1, 5, NULL)""")
    db.execute("INSERT INTO token VALUES (1, NULL), (2, 5), (3, NULL)")  # 3: live, grant ended
    db.execute(
        "INSERT INTO rate_change_request VALUES ('open', 'submitted', 1, 2), "
        "('done', 'accepted', 1, 3)"
    )  # an open rate change on ended grant 2
    figures = accounting.grants(db)
    assert figures["grants_impossible"] == 3
    assert set(figures["grants_impossible_by_kind"]) == {
        "live token of an ended grant", "active with a revocation time",
        "open rate change on an ended grant"}  # fmt: skip
