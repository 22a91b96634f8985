"""Customer accounts, between a customer and its usage points

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-10

Why (issue 16, the standalone data loader): a utility's CIS exports customers, their billing
accounts (ESPI customer.xsd CustomerAccount) and the service agreements under each account.
``customer_account`` keeps the account number the utility knows an account by, so that
``espi-sst load accounts`` and ``espi-sst load usage-points`` can be re-run idempotently
against it, and ``usage_point.account_id`` names the account a loaded usage point belongs to
(NULL for usage points written otherwise: the demo, bolt-on mode).

The loader keeps no progress table: a re-run finds what an interrupted run committed by
these natural keys and leaves it unchanged (docs/operations.md, "Loading data").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["retail_customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_number"),
    )
    with op.batch_alter_table("customer_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_account_customer_id"), ["customer_id"], unique=False
        )
    with op.batch_alter_table("usage_point", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_usage_point_account_id", "customer_account", ["account_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_usage_point_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_point", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_point_account_id"))
        batch_op.drop_constraint("fk_usage_point_account_id", type_="foreignkey")
        batch_op.drop_column("account_id")
    with op.batch_alter_table("customer_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_account_customer_id"))
    op.drop_table("customer_account")
