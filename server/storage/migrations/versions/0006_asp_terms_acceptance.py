"""The SST terms and conditions version each ASP accepted

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10

Why (issue 12; Title 20 1623(c)(2)(C); concept design 6.4.3 item 6): an ASP must accept the
statewide SST terms before it may ask customers for access, and when the utility publishes
a new version, ASPs that have not accepted it are refused new grants.  The application row
keeps the version it accepted last, the SHA-256 of that text and when; every acceptance is
also an audit row (``asp_terms_accepted``), so the history is kept where history belongs.

Existing ASPs accepted nothing yet (NULL): with ``TERMS_VERSION`` configured, the operator
records each ASP's acceptance (``espi-sst asp accept-terms CLIENT_ID VERSION``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("terms_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("terms_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("terms_accepted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_column("terms_accepted_at")
        batch_op.drop_column("terms_sha256")
        batch_op.drop_column("terms_version")
