"""ASP classes: data-only and rate-change (concept design 6.4.2.1-6.4.2.2)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20

Why (issue 12): the concept design qualifies two classes of ASP -- data-only (RINs, bill
comparison, Green Button data) and rate-change (also ``sst:rate_change``, stricter
qualification).  ``application.asp_class`` records which one an ASP is; the guard, the
authorization endpoint and the token scope follow it (``server/lifecycle/classes.py``).

Existing rows: ``rate-change`` when their registered scope names ``sst:rate_change``, else
``data-only``.  A migration cannot tell customers anything, so it must not take away what
an ASP's existing grants allow: an ASP registered for rate changes keeps them until the
central registry (or ``espi-sst asp class``) downgrades it, which ends that part of its
grants and tells the customers and the ASP.  Resource servers (introspection clients, no
scope) become ``data-only``.  The downgrade drops the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("asp_class", sa.String(length=16), nullable=False, server_default="data-only")
        )
    rows = op.get_bind().execute(sa.text("SELECT id, scope FROM application")).all()
    rate_change = [row.id for row in rows if "sst:rate_change" in (row.scope or "").split()]
    if rate_change:
        op.get_bind().execute(
            sa.text("UPDATE application SET asp_class = 'rate-change' WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": rate_change},
        )


def downgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_column("asp_class")
