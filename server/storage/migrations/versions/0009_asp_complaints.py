"""Customers' complaints about ASPs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Why (issue 13; concept design UC1.4 "The Customer to be able to communicate and raise issues
about ASPs", 6.4.6 "Customer complaints about specific ASPs may be directed at ... individual
IOU/POU/CCAs"): the portal's "Report a company" form stores each report here, with the
reference number the customer is given, the ASP, a category and the customer's words.  The
utility reads them with ``espi-sst complaints list|show``; the filing is also in the audit
log and e-mailed (through the outbox) to ``COMPLAINTS_EMAIL``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asp_complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("had_grant", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("mailed_to", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["retail_customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("asp_complaint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asp_complaint_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_asp_complaint_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_asp_complaint_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("asp_complaint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asp_complaint_customer_id"))
        batch_op.drop_index(batch_op.f("ix_asp_complaint_created_at"))
        batch_op.drop_index(batch_op.f("ix_asp_complaint_application_id"))
    op.drop_table("asp_complaint")
