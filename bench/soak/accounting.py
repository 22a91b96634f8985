"""The final accounting: what the database says happened against what the sinks received.

Run once the load has stopped and the outbox has drained (bounded).  Each figure is a
count the goal wants at zero:

* **rate changes** (SST 1623(c)(1)(D)): every request the database holds as confirmed must
  be decided -- accepted, rejected, or cancelled with its grant -- (else *lost*), by exactly
  one decision audit event and at most one ``scheduled_rate_change`` row (else *applied
  twice*); every request the load saw confirmed must be in the database;
* **passcode mails** and every other e-mail: each outbox e-mail row carries the Message-ID
  ``<outbox-ID.…>`` (server/outbox/queue.py, ``mail_message_id``); the sink must hold each
  exactly once (missing: *lost*, even when the outbox gave up; twice: *duplicated*); a
  rate change request without its passcode e-mail row is lost too;
* **notifications**: each outbox notification row's ``Idempotency-Key`` must have been
  acknowledged by its ASP's endpoint (else *lost*).  A key acknowledged more than once is
  a repeat the receiver drops by that id (``deduplicated``, allowed); a POST without a key
  could not be dropped and counts as *duplicated*;
* **grants in an impossible state**: an authorization neither active nor ended, ended
  without a reason or time, active with a revocation time; a live token of an ended grant;
  an open rate change on an ended grant.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

TERMINAL = ("accepted", "rejected", "cancelled", "expired")
PASSCODE_SUBJECT = "your code to confirm a rate change"
OUTBOX_MESSAGE_ID = re.compile(r"<outbox-(\d+)\.([0-9a-f]+)@")


def _psql(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def drain(database_url: str, bound_s: float) -> float:
    """Wait (at most ``bound_s``) until no rate change is in flight and the outbox is empty;
    returns the seconds waited.  A request still awaiting its passcode is not in flight."""
    started = time.monotonic()
    with _psql(database_url) as db:
        while time.monotonic() - started < bound_s:
            busy = db.execute(
                "SELECT (SELECT count(*) FROM rate_change_request "
                "        WHERE status IN ('confirmed', 'submitted'))"
                "     + (SELECT count(*) FROM outbox_message "
                "        WHERE sent_at IS NULL AND failed_at IS NULL)"
            ).fetchone()
            if busy is not None and busy[0] == 0:
                break
            time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def rate_changes(db: Any, confirmed_urls: list[str]) -> dict[str, int]:
    rows = db.execute("SELECT uuid, status, confirmed_at FROM rate_change_request").fetchall()
    status = {uuid: s for uuid, s, _c in rows}
    decisions = Counter(
        subject.split(":", 1)[1]
        for (subject,) in db.execute(
            "SELECT subject FROM audit_event WHERE action IN "
            "('rate_change_accepted', 'rate_change_rejected')"
        )
    )
    scheduled = Counter(
        uuid for (uuid,) in db.execute("SELECT request_uuid FROM scheduled_rate_change")
    )
    seen = {url.rstrip("/").rsplit("/", 1)[1] for url in confirmed_urls}
    confirmed = {uuid for uuid, _s, at in rows if at is not None}
    lost = sum(1 for uuid in confirmed if status[uuid] not in TERMINAL)
    lost += sum(1 for uuid in seen if uuid not in status)
    lost += sum(1 for uuid in confirmed if status[uuid] in ("accepted", "rejected")
                and decisions[uuid] == 0)  # fmt: skip
    twice = sum(1 for uuid in status if decisions[uuid] > 1 or scheduled[uuid] > 1)
    return {
        "rate_changes_requested": len(rows),
        "rate_changes_confirmed": len(confirmed),
        "rate_changes_confirmed_by_load": len(seen),
        "rate_changes_accepted": sum(1 for s in status.values() if s == "accepted"),
        "rate_changes_rejected": sum(1 for s in status.values() if s == "rejected"),
        "rate_changes_cancelled": sum(1 for s in status.values() if s == "cancelled"),
        "rate_changes_lost": lost,
        "rate_changes_applied_twice": twice,
    }


def _issuer_tag(issuer: str) -> str:
    """The issuer's tag in an outbox Message-ID (server/outbox/queue.py, ``_issuer_tag``):
    the mails of two databases sharing one sink tell apart by it."""
    return hashlib.sha256(issuer.encode()).hexdigest()[:12]


def mails(db: Any, maildir: Path, issuer: str) -> dict[str, int]:
    from espi_sst_server.demo.mail_sink import read_maildir

    rows = db.execute("SELECT id, payload, failed_at, created_at, sent_at, attempts, last_error "
                      "FROM outbox_message WHERE kind = 'email'").fetchall()  # fmt: skip
    subjects = {}
    for row_id, payload, *_rest in rows:
        fields = json.loads(payload) if isinstance(payload, str) else (payload or {})  # SQLite
        subjects[row_id] = str(fields.get("subject", ""))
    received: Counter[int] = Counter()
    delivered: dict[int, list[float]] = {}
    strangers = 0
    tag = _issuer_tag(issuer)
    for message in read_maildir(maildir):
        found = OUTBOX_MESSAGE_ID.match(message.message_id)
        if found is not None and found.group(2) != tag:
            continue  # another database's mail (the soak's other phase)
        if found is None or int(found.group(1)) not in subjects:
            strangers += 1
        else:
            received[int(found.group(1))] += 1
            delivered.setdefault(int(found.group(1)), []).append(message.delivered)
    passcode_rows = [i for i, s in subjects.items() if PASSCODE_SUBJECT in s]
    requests_made = db.execute("SELECT count(*) FROM rate_change_request").fetchone()[0]
    missing_rows = max(0, requests_made - len(passcode_rows))
    return {
        "mails": len(rows),
        "mails_received": sum(received.values()) + strangers,
        "mails_gave_up": sum(1 for row in rows if row[2] is not None),
        "mails_lost": sum(1 for i in subjects if received[i] == 0),
        "mails_duplicated": sum(n - 1 for n in received.values() if n > 1) + strangers,
        "passcode_mails": len(passcode_rows),
        "passcode_mails_lost": sum(1 for i in passcode_rows if received[i] == 0) + missing_rows,
        "passcode_mail_rows_missing": missing_rows,
        "passcode_mails_duplicated": sum(
            received[i] - 1 for i in passcode_rows if received[i] > 1
        ),  # fmt: skip
        # each repeated mail's story, to lay beside the faults' windows (epoch seconds)
        "mails_duplicated_detail": [
            {
                "outbox_id": row_id,
                "subject": subjects[row_id],
                "created_at": created,
                "sent_at": sent,
                "attempts": attempts,
                "last_error": error,
                "delivered_at": sorted(delivered[row_id]),
            }
            for row_id, _p, _f, created, sent, attempts, error in rows
            if received[row_id] > 1
        ][:10],  # fmt: skip
    }


def notifications(db: Any, issuer: str, acknowledged: Counter[str], unkeyed: int
                  ) -> dict[str, int]:  # fmt: skip
    rows = db.execute("SELECT id, sent_at, failed_at FROM outbox_message "
                      "WHERE kind = 'asp_notification'").fetchall()  # fmt: skip
    keys = {f"{issuer}/notification/{row_id}" for row_id, _s, _f in rows}
    return {
        "notifications": len(rows),
        "notifications_acknowledged": sum(1 for k in keys if acknowledged[k] > 0),
        "notifications_gave_up": sum(1 for _i, _s, failed in rows if failed is not None),
        "notifications_lost": sum(1 for k in keys if acknowledged[k] == 0),
        "notifications_deduplicated": sum(n - 1 for k, n in acknowledged.items() if n > 1),
        "notifications_unknown": sum(1 for k in acknowledged if k not in keys),
        "notifications_duplicated": unkeyed,
    }


IMPOSSIBLE_GRANTS = {
    "neither active nor ended": 'SELECT count(*) FROM "authorization" WHERE status NOT IN (0, 1)',
    "ended without time or reason": 'SELECT count(*) FROM "authorization" WHERE status = 0 '
    "AND (revoked_at IS NULL OR ended_reason IS NULL)",
    "active with a revocation time": 'SELECT count(*) FROM "authorization" WHERE status = 1 '
    "AND revoked_at IS NOT NULL",
    "live token of an ended grant": 'SELECT count(*) FROM token t JOIN "authorization" a '
    "ON a.id = t.authorization_id WHERE a.status = 0 AND t.revoked_at IS NULL",
    "open rate change on an ended grant": "SELECT count(*) FROM rate_change_request r "
    'JOIN "authorization" a ON a.id = r.authorization_id WHERE a.status = 0 '
    "AND r.status IN ('awaitingConfirmation', 'confirmed', 'submitted')",
}
"""Each query counts grants (or their tokens and rate changes) in a state no sequence of
requests may leave them in (server/lifecycle/access.py ends a grant, its tokens and its
open rate changes in one transaction)."""


def grants(db: Any) -> dict[str, Any]:
    found = {name: int(db.execute(sql).fetchone()[0]) for name, sql in IMPOSSIBLE_GRANTS.items()}
    return {
        "grants": int(db.execute('SELECT count(*) FROM "authorization"').fetchone()[0]),
        "grants_impossible": sum(found.values()),
        "grants_impossible_by_kind": {k: v for k, v in found.items() if v},
    }


def account(database_url: str, issuer: str, maildir: Path, acknowledged: Counter[str],
            unkeyed: int, confirmed_urls: list[str]) -> dict[str, Any]:  # fmt: skip
    with _psql(database_url) as db:
        figures: dict[str, Any] = {
            **rate_changes(db, confirmed_urls),
            **mails(db, maildir, issuer),
            **notifications(db, issuer, acknowledged, unkeyed),
            **grants(db),
        }
    # (A lost passcode mail is in mails_lost already; a passcode never queued is not.)
    figures["lost"] = (figures["rate_changes_lost"] + figures["mails_lost"]
                       + figures["passcode_mail_rows_missing"] + figures["notifications_lost"])  # fmt: skip
    figures["duplicated"] = (figures["rate_changes_applied_twice"] + figures["mails_duplicated"]
                             + figures["notifications_duplicated"])  # fmt: skip
    return figures
