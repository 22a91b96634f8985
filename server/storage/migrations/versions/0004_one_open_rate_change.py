"""One open rate change per service agreement, held by a partial unique index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Why (issue 11, docs/security.md): "one open rate change per service agreement" was a
check-then-insert, and four parallel POSTs with different Idempotency-Keys opened four.  The
database now refuses a second open request (SQLite and PostgreSQL both have partial indexes).

It also forgets the bodies of outbox messages already delivered or given up (issue 11,
item 4): sent passcode e-mails kept "Your confirmation code is: NNNNNN" in clear.  Only the
subject (e-mail) and client id (ASP notification) stay, as the outbox keeps them from now
on; messages still pending are sent as they are and purged then.  The downgrade cannot
bring the bodies back.

A database that already holds two open requests for one usage point (only a race could make
one) cannot take the index: the upgrade stops and names them, so an operator decides which
to cancel (``UPDATE rate_change_request SET status = 'cancelled' WHERE uuid = ...``).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CONDITION = "status IN ('awaitingConfirmation', 'confirmed', 'submitted')"
INDEX = "uq_rate_change_one_open_per_usage_point"


def upgrade() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT usage_point_id, uuid, status FROM rate_change_request "
                f"WHERE {CONDITION} AND usage_point_id IN ("
                f"  SELECT usage_point_id FROM rate_change_request WHERE {CONDITION} "
                "  GROUP BY usage_point_id HAVING COUNT(*) > 1) "
                "ORDER BY usage_point_id, id"
            )
        )
        .all()
    )
    if duplicates:
        listed = "; ".join(f"usage point {row[0]}: {row[1]} ({row[2]})" for row in duplicates)
        raise RuntimeError(
            "migration 0004 needs at most one open rate change per usage point, and these "
            f"usage points have several: {listed}. Cancel all but one of each "
            "(UPDATE rate_change_request SET status = 'cancelled' WHERE uuid = '...') and "
            "start the server again."
        )
    with op.batch_alter_table("rate_change_request", schema=None) as batch_op:
        batch_op.create_index(
            INDEX,
            ["usage_point_id"],
            unique=True,
            sqlite_where=sa.text(CONDITION),
            postgresql_where=sa.text(CONDITION),
        )
    _purge_delivered_outbox_bodies()


def _purge_delivered_outbox_bodies() -> None:
    outbox = sa.table(
        "outbox_message",
        sa.column("id", sa.Integer),
        sa.column("payload", sa.JSON),
        sa.column("sent_at", sa.BigInteger),
        sa.column("failed_at", sa.BigInteger),
    )
    bind = op.get_bind()
    done = bind.execute(
        sa.select(outbox.c.id, outbox.c.payload).where(
            sa.or_(outbox.c.sent_at.is_not(None), outbox.c.failed_at.is_not(None))
        )
    ).all()
    for message_id, payload in done:
        stored = cast(dict[str, Any], payload or {})  # the JSON column
        kept = {k: v for k, v in stored.items() if k in ("subject", "client_id")}
        if kept != payload:
            bind.execute(outbox.update().where(outbox.c.id == message_id).values(payload=kept))


def downgrade() -> None:
    with op.batch_alter_table("rate_change_request", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
