"""The customer's passcode channel: e-mail or a text message to a mobile number

Revision ID: 0010
Revises: 0008
Create Date: 2027-02-01

Why (issue 13; concept design 7.6, Class 2 authentication): customers without e-mail, or who
prefer it, confirm a rate change with a passcode sent by SMS.  ``retail_customer`` gains the
mobile number (E.164, at most 15 digits and the "+") and the channel chosen for passcodes.
Every existing customer keeps what they had: ``passcode_channel`` is "email" (a server
default, so the column is filled on SQLite and PostgreSQL alike) and no phone number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("retail_customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "passcode_channel",
                sa.String(length=8),
                nullable=False,
                server_default="email",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("retail_customer", schema=None) as batch_op:
        batch_op.drop_column("passcode_channel")
        batch_op.drop_column("phone")
