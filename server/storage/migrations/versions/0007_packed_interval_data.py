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

Both read in bounded pages (keyset pagination on ``(meter_reading_id, start)``, the key
of both tables): ``READING_PAGE`` old rows or ``BLOCK_PAGE`` packed rows per SELECT, and
write ``BATCH`` rows per INSERT, so memory stays bounded whatever the table holds (5 years
of 15-minute data is 175k readings per meter reading; a utility has millions).  A local day
cut by a page boundary is held back and packed whole with the next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, tzinfo
from itertools import groupby
from operator import itemgetter
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
"""Rows per INSERT."""
READING_PAGE = 20_000
"""``interval_reading`` rows per SELECT (upgrade)."""
BLOCK_PAGE = 500
"""``interval_block`` rows per SELECT (downgrade; up to ~100 readings each)."""

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


def _after(table: Any, key: tuple[int, int] | None) -> Any:
    """Rows of ``table`` after ``key`` in ``(meter_reading_id, start)`` order (keyset)."""
    c = table.c
    if key is None:
        return sa.true()
    return sa.or_(
        c.meter_reading_id > key[0],
        sa.and_(c.meter_reading_id == key[0], c.start > key[1]),
    )


def _reading_pages(connection: sa.Connection) -> Iterator[list[tuple[int, Reading]]]:
    """The old table's rows as ``(meter_reading_id, reading)``, ``READING_PAGE`` at a time."""
    c = _readings.c
    key: tuple[int, int] | None = None
    while True:
        rows = connection.execute(
            sa.select(c.meter_reading_id, c.start, c.duration, c.value, c.cost, c.quality)
            .where(_after(_readings, key))
            .order_by(c.meter_reading_id, c.start)
            .limit(READING_PAGE)
        ).all()
        if not rows:
            return
        yield [(row[0], tuple(row[1:])) for row in rows]
        key = (rows[-1][0], rows[-1][1])


def _packed_days(connection: sa.Connection, zones: dict[int, tzinfo]) -> Iterator[dict[str, Any]]:
    """Every meter reading's readings packed per local day, page by page; a meter reading's
    last day of a page is held back (it may go on in the next page)."""
    meter: int | None = None
    held: list[Reading] = []  # the current meter reading's last, perhaps unfinished, day
    for page in _reading_pages(connection):
        for meter_reading_id, run in groupby(page, key=itemgetter(0)):
            if meter_reading_id != meter:
                if meter is not None:
                    yield pack_block(meter, held)
                meter, held = meter_reading_id, []
            days = list(by_local_day([*held, *(r for _m, r in run)], zones.get(meter, UTC)))
            held = days.pop()
            for day in days:
                yield pack_block(meter, day)
    if meter is not None:
        yield pack_block(meter, held)


def _insert_in_batches(
    connection: sa.Connection, table: Any, rows: Iterator[dict[str, Any]]
) -> None:
    pending: list[dict[str, Any]] = []
    for row in rows:
        pending.append(row)
        if len(pending) >= BATCH:
            connection.execute(table.insert(), pending)
            pending = []
    if pending:
        connection.execute(table.insert(), pending)


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
    _insert_in_batches(connection, _blocks, _packed_days(connection, _zones(connection)))
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
    _insert_in_batches(op.get_bind(), _readings, _unpacked(op.get_bind()))
    op.drop_table("interval_block")


def _unpacked(connection: sa.Connection) -> Iterator[dict[str, Any]]:
    """Every packed row unpacked into ``interval_reading`` rows, ``BLOCK_PAGE`` rows a page."""
    c = _blocks.c
    key: tuple[int, int] | None = None
    while True:
        rows = connection.execute(
            sa.select(
                c.meter_reading_id, c.start, c.duration, c.value_data, c.timing, c.cost_data,
                c.quality_data,
            )
            .where(_after(_blocks, key))
            .order_by(c.meter_reading_id, c.start)
            .limit(BLOCK_PAGE)
        ).all()  # fmt: skip
        if not rows:
            return
        for row in rows:
            for start, duration, value, cost, quality in unpack_block(
                row[1], row[2], row[3], row[4], row[5], row[6]
            ):
                yield {
                    "meter_reading_id": row[0],
                    "start": start,
                    "duration": duration,
                    "value": value,
                    "cost": cost,
                    "quality": quality,
                }
        key = (rows[-1][0], rows[-1][1])
