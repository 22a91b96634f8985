"""Interval data packed one row per meter reading and local day

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01

Why (issue 17): one ``interval_reading`` row per reading, with a surrogate key and a unique
index, took ~60 bytes of table and index for ~8 bytes of data; 1M usage points x 13 months
of 15-minute data would need ~2.5 TB.  ``interval_block`` holds a meter reading's readings
of one local day (its usage point's LocalTimeParameters; UTC without) packed as
``storage/interval_data.py`` documents, under the primary key ``(meter_reading_id, start)``.

The readings are moved, not copied: upgrade packs every ``interval_reading`` row into the
new table and drops the old one; downgrade unpacks them back, one row per reading, exactly
(start, duration, value, cost, quality).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, tzinfo
from typing import Any

import sqlalchemy as sa
from alembic import op
from espi_sst_server.storage.interval_data import (  # type: ignore[import-not-found]
    Reading,
    by_local_day,
    pack_block,
    unpack_block,
)
from espi_sst_server.storage.zones import zone_of_parameters  # type: ignore[import-not-found]

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 2_000

_readings = sa.table(
    "interval_reading",
    sa.column("meter_reading_id", sa.Integer),
    sa.column("start", sa.BigInteger),
    sa.column("duration", sa.Integer),
    sa.column("value", sa.BigInteger),
    sa.column("cost", sa.BigInteger),
    sa.column("quality", sa.Integer),
)
_blocks = sa.table(
    "interval_block",
    sa.column("meter_reading_id", sa.Integer),
    sa.column("duration", sa.Integer),
    sa.column("start", sa.BigInteger),
    sa.column("block_end", sa.BigInteger),
    sa.column("value_data", sa.LargeBinary),
    sa.column("timing", sa.LargeBinary),
    sa.column("cost_data", sa.LargeBinary),
    sa.column("quality_data", sa.LargeBinary),
)


def _zones(connection: sa.Connection) -> dict[int, tzinfo]:
    """Each meter reading's local zone (its usage point's LocalTimeParameters)."""
    rows = connection.execute(
        sa.text(
            "SELECT m.id, l.tz_offset, l.dst_offset, l.dst_start_rule, l.dst_end_rule "
            "FROM meter_reading m JOIN usage_point u ON u.id = m.usage_point_id "
            "LEFT JOIN local_time_parameters l ON l.id = u.local_time_id"
        )
    )
    return {
        row[0]: UTC if row[1] is None else zone_of_parameters(row[1], row[2], row[3], row[4])
        for row in rows
    }


def _per_meter_reading(connection: sa.Connection) -> Iterator[tuple[int, list[Reading]]]:
    c = _readings.c
    ids: Sequence[int] = (
        connection.execute(sa.select(c.meter_reading_id).distinct()).scalars().all()
    )
    for meter_reading_id in sorted(ids):
        rows = connection.execute(
            sa.select(c.start, c.duration, c.value, c.cost, c.quality)
            .where(c.meter_reading_id == meter_reading_id)
            .order_by(c.start)
        )
        yield meter_reading_id, [tuple(row) for row in rows]


def upgrade() -> None:
    op.create_table(
        "interval_block",
        sa.Column("meter_reading_id", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("block_end", sa.BigInteger(), nullable=False),
        sa.Column("value_data", sa.LargeBinary(), nullable=False),
        sa.Column("timing", sa.LargeBinary(), nullable=True),
        sa.Column("cost_data", sa.LargeBinary(), nullable=True),
        sa.Column("quality_data", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["meter_reading_id"], ["meter_reading.id"]),
        sa.PrimaryKeyConstraint("meter_reading_id", "start"),
    )
    connection = op.get_bind()
    zones = _zones(connection)
    pending: list[dict[str, Any]] = []
    for meter_reading_id, readings in _per_meter_reading(connection):
        zone = zones.get(meter_reading_id, UTC)
        for day in by_local_day(readings, zone):
            pending.append(pack_block(meter_reading_id, day))
            if len(pending) >= BATCH:
                connection.execute(_blocks.insert(), pending)
                pending = []
    if pending:
        connection.execute(_blocks.insert(), pending)
    op.drop_table("interval_reading")


def downgrade() -> None:
    op.create_table(
        "interval_reading",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_reading_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["meter_reading_id"], ["meter_reading.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meter_reading_id", "start", name="uq_interval_reading_start"),
    )
    connection = op.get_bind()
    c = _blocks.c
    rows = connection.execute(
        sa.select(
            c.meter_reading_id, c.start, c.duration, c.value_data, c.timing, c.cost_data,
            c.quality_data,
        ).order_by(c.meter_reading_id, c.start)
    ).all()  # fmt: skip
    pending: list[dict[str, Any]] = []
    for row in rows:
        for start, duration, value, cost, quality in unpack_block(
            row[1], row[2], row[3], row[4], row[5], row[6]
        ):
            pending.append(
                {
                    "meter_reading_id": row[0],
                    "start": start,
                    "duration": duration,
                    "value": value,
                    "cost": cost,
                    "quality": quality,
                }
            )
            if len(pending) >= BATCH * 10:
                connection.execute(_readings.insert(), pending)
                pending = []
    if pending:
        connection.execute(_readings.insert(), pending)
    op.drop_table("interval_block")
