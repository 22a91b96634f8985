"""signing key rotation: when a key was activated and when it was retired

Revision ID: a0002
Revises: a0001

Before this revision every key row was published and the newest signed; each existing key is
therefore recorded as activated when it was made (the newest stays the active one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authority_signing_keys") as batch:
        batch.add_column(sa.Column("activated_at", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.Integer(), nullable=True))
    op.execute("UPDATE authority_signing_keys SET activated_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("authority_signing_keys") as batch:
        batch.drop_column("retired_at")
        batch.drop_column("activated_at")
