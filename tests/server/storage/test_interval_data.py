"""Interval data packed per local day (server/storage/interval_data.py, issue 17): every
reading round-trips exactly -- gaps, varying durations, quality and cost on some or all
readings, DST days of 92 and 100 quarter hours, values that need 64 bits -- and migration
0007 moves the old one-row-per-reading table into blocks and back, unchanged.  SQLite and
PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

import pytest
from alembic import command
from espi_sst_server.storage import alembic_config, upgrade
from espi_sst_server.storage.interval_data import (
    IntervalDataError,
    Reading,
    by_local_day,
    delete_readings,
    iter_block_readings,
    quality_counts,
    reading_count,
    readings_between,
    usage_point_quality_counts,
    write_readings,
)
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from espi_sst.localtime import DstRule, EspiTimeZone

PACIFIC = EspiTimeZone(
    -28_800, 3_600, DstRule.decode("360E2000"), DstRule.decode("B40E2000")
)  # ESPI LocalTimeParameters of California: DST from the 2nd Sunday of March to the 1st of November
MAR_10_2024 = int(datetime(2024, 3, 10, tzinfo=PACIFIC).timestamp())  # 23-hour day
NOV_3_2024 = int(datetime(2024, 11, 3, tzinfo=PACIFIC).timestamp())  # 25-hour day


def quarter_hours(start: int, count: int, seed: int) -> list[Reading]:
    rng = random.Random(seed)
    return [(start + 900 * i, 900, rng.randint(0, 4_000), None, None) for i in range(count)]


def irregular() -> list[Reading]:
    """Gaps, durations that vary, quality and cost on some readings, a 64-bit value."""
    rng = random.Random(17)
    readings: list[Reading] = []
    moment = MAR_10_2024 - 5 * 86_400
    for index in range(700):
        duration = rng.choice((900, 900, 900, 1_800, 3_600))
        quality = rng.choice((None, None, None, 8, 9, 19))
        cost = None if index % 4 else rng.randint(-(10**6), 10**6)
        value = 2**40 + index if index == 333 else rng.randint(-500, 60_000)
        readings.append((moment, duration, value, cost, quality))
        moment += duration + (7_200 if index % 50 == 49 else 0)  # a gap now and then
    return readings


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    upgrade(engine)
    with engine.begin() as connection:  # a usage point and three meter readings to hang data on
        connection.execute(
            text("INSERT INTO reading_type (id, uuid, title) VALUES (1, 'rt', 'kWh')")
        )
        for statement in _PARENTS:
            connection.execute(text(statement))
    yield engine
    engine.dispose()


_PARENTS = (
    "INSERT INTO retail_customer (id, uuid, username, password_hash, display_name, created_at) "
    "VALUES (1, 'c', 'c', 'x', 'C', 1)",
    "INSERT INTO usage_point (id, uuid, title, customer_id, service_kind, service_agreement, "
    "udc, lse) VALUES (1, 'up', 'UP', 1, 0, 'sa', 'PGE', 'PGE')",
    *(
        f"INSERT INTO meter_reading (id, uuid, usage_point_id, reading_type_id, title) "
        f"VALUES ({i}, 'mr{i}', 1, 1, 'MR')"
        for i in (1, 2, 3)
    ),
)


def test_irregular_and_dst_days_round_trip_exactly(engine: Engine) -> None:
    spring = quarter_hours(MAR_10_2024, 92, 1)
    spring[5] = (*spring[5][:3], 1234, 8)  # cost and quality on one reading only
    autumn = [(s, d, v, None, 9) for s, d, v, _c, _q in quarter_hours(NOV_3_2024, 100, 2)]
    odd = irregular()
    with Session(engine) as session:
        write_readings(session, 1, spring + autumn, zone=PACIFIC)
        write_readings(session, 2, odd, zone=PACIFIC)
        session.commit()
    with Session(engine) as session:
        assert readings_between(session, 1) == spring + autumn
        assert readings_between(session, 2) == odd
        blocks = [(b.start, len(r)) for b, r in iter_block_readings(session, [1])]
        assert blocks == [(MAR_10_2024, 92), (NOV_3_2024, 100)]  # one row per local day
        low, high = odd[100][0], odd[450][0]
        assert readings_between(session, 2, low, high) == odd[100:450]
        assert reading_count(session) == len(spring) + len(autumn) + len(odd)


def test_quality_counts_agree_with_the_readings_themselves(engine: Engine) -> None:
    """The shortcut (a day without qualities counted from its value array's length) gives
    what counting the decoded readings gives, on whole days, days cut by the range, days
    with qualities and irregular days."""
    plain = quarter_hours(MAR_10_2024 - 10 * 86_400, 96 * 12, 3)
    odd = irregular()
    with Session(engine) as session:
        write_readings(session, 1, plain, zone=PACIFIC)
        write_readings(session, 2, odd, zone=PACIFIC)
        session.commit()
    everything = plain + odd
    ranges = [
        (plain[0][0], plain[-1][0] + 900),  # whole days only
        (plain[50][0], plain[1000][0]),  # cut at both ends
        (odd[0][0], odd[-1][0] + 1),
        (odd[123][0], odd[456][0]),
        (plain[0][0], odd[-1][0] + 1),
    ]
    with Session(engine) as session:
        for low, high in ranges:
            inside = [r for r in everything if low <= r[0] < high]
            expected = (
                len(inside),
                sum(1 for r in inside if r[4] is not None),
                {r[4] for r in inside if r[4] is not None},
            )
            assert quality_counts(session, [1, 2], low, high) == expected, (low, high)
            # the UsageSummary's one-statement form: every meter reading of the usage point
            # (meter reading 3, empty, belongs to it too)
            assert usage_point_quality_counts(session, 1, low, high) == expected, (low, high)


def test_writing_again_replaces_by_start_and_keeps_the_rest(engine: Engine) -> None:
    day = quarter_hours(MAR_10_2024 - 86_400, 96, 3)
    with Session(engine) as session:
        write_readings(session, 3, day)
        write_readings(session, 3, [(day[10][0], 900, 5, None, 8)])
        session.commit()
        expected = [*day[:10], (day[10][0], 900, 5, None, 8), *day[11:]]
        assert readings_between(session, 3) == expected
        assert delete_readings(session, [3], start=day[20][0], end=day[30][0]) == 10
        assert readings_between(session, 3) == expected[:20] + expected[30:]


def test_bad_readings_are_refused_with_a_clear_error(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(IntervalDataError, match="two readings start at 900"):
            write_readings(session, 1, [(900, 900, 1, None, None), (900, 900, 2, None, None)])
        with pytest.raises(IntervalDataError, match="negative duration"):
            write_readings(session, 1, [(900, -1, 1, None, None)])
        with pytest.raises(IntervalDataError, match="64-bit"):
            write_readings(session, 1, [(900, 900, 2**63, None, None)])


def test_migration_0007_moves_the_readings_and_back(database_url: str) -> None:
    """Readings in the old table (0006) -> packed blocks (0007) -> the old table again."""
    engine = create_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0006")
        spring = quarter_hours(MAR_10_2024, 92, 4)
        odd = irregular()
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO reading_type (id, uuid, title) VALUES (1, 'rt', 'kWh')")
            )
            connection.execute(
                text(
                    "INSERT INTO local_time_parameters (id, uuid, title, tz_offset, dst_offset, "
                    "dst_start_rule, dst_end_rule) VALUES (1, 'l', 'PT', -28800, 3600, "
                    "'360E2000', 'B40E2000')"
                )
            )
            for statement in _PARENTS:
                connection.execute(text(statement))
            connection.execute(text("UPDATE usage_point SET local_time_id = 1"))
            connection.execute(
                text(
                    "INSERT INTO interval_reading (meter_reading_id, start, duration, value, "
                    "cost, quality) VALUES (:m, :s, :d, :v, :c, :q)"
                ),
                [
                    {"m": m, "s": r[0], "d": r[1], "v": r[2], "c": r[3], "q": r[4]}
                    for m, readings in ((1, spring), (2, odd))
                    for r in readings
                ],
            )
        command.upgrade(alembic_config(engine), "0007")
        with Session(engine) as session:
            assert readings_between(session, 1) == spring
            assert readings_between(session, 2) == odd
            assert [len(r) for _b, r in iter_block_readings(session, [1])] == [92]  # local day
        command.downgrade(alembic_config(engine), "0006")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT meter_reading_id, start, duration, value, cost, quality "
                    "FROM interval_reading ORDER BY meter_reading_id, start"
                )
            ).all()
        assert [tuple(r[1:]) for r in rows if r[0] == 1] == spring
        assert [tuple(r[1:]) for r in rows if r[0] == 2] == odd
        upgrade(engine)  # and up again to the head
    finally:
        engine.dispose()


def test_migration_0007_round_trips_thousands_of_days_in_bounded_pages(database_url: str) -> None:
    """Up, down and up again over ~2,300 local days (77k readings, three meter readings, DST
    days, gaps and varying durations): exactly the same readings each way, one block per
    local day even where a page boundary cut a day, and every SELECT of either table is a
    bounded page (LIMIT), never the whole table at once."""
    engine = create_engine(database_url)
    first_hour = NOV_3_2024 - 1_000 * 86_400
    hourly = [
        (first_hour + i * 3_600, 3_600, r[2], -i if i % 13 == 0 else None, 8 if i % 97 else None)
        for i, r in enumerate(quarter_hours(first_hour, 48_000, 5))
    ]
    quarters = quarter_hours(MAR_10_2024 - 150 * 86_400, 28_800, 6)
    odd = irregular()
    data = {1: hourly, 2: odd, 3: quarters}
    selects: list[str] = []

    def record(_c: object, _cursor: object, statement: str, *_rest: object) -> None:
        flat = " ".join(statement.split()).upper()
        if flat.startswith("SELECT") and (
            "FROM INTERVAL_READING" in flat or "FROM INTERVAL_BLOCK" in flat
        ):
            selects.append(flat)

    try:
        command.upgrade(alembic_config(engine), "0006")
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO reading_type (id, uuid, title) VALUES (1, 'rt', 'kWh')")
            )
            connection.execute(
                text(
                    "INSERT INTO local_time_parameters (id, uuid, title, tz_offset, dst_offset, "
                    "dst_start_rule, dst_end_rule) VALUES (1, 'l', 'PT', -28800, 3600, "
                    "'360E2000', 'B40E2000')"
                )
            )
            for statement in _PARENTS:
                connection.execute(text(statement))
            connection.execute(text("UPDATE usage_point SET local_time_id = 1"))
            connection.execute(
                text(
                    "INSERT INTO interval_reading (meter_reading_id, start, duration, value, "
                    "cost, quality) VALUES (:m, :s, :d, :v, :c, :q)"
                ),
                [
                    {"m": m, "s": r[0], "d": r[1], "v": r[2], "c": r[3], "q": r[4]}
                    for m, readings in data.items()
                    for r in readings
                ],
            )
        event.listen(engine, "before_cursor_execute", record)
        command.upgrade(alembic_config(engine), "0007")
        upgrade_selects, selects[:] = list(selects), []
        days = {m: len(list(by_local_day(r, PACIFIC))) for m, r in data.items()}
        assert sum(days.values()) > 2_000
        with Session(engine) as session:
            for m, readings in data.items():
                assert readings_between(session, m) == readings
            stored = session.execute(
                text("SELECT meter_reading_id, COUNT(*) FROM interval_block GROUP BY 1")
            ).all()
            assert dict((int(m), int(n)) for m, n in stored) == days
        selects.clear()  # the checks above are not the migration's
        command.downgrade(alembic_config(engine), "0006")
        downgrade_selects = list(selects)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT meter_reading_id, start, duration, value, cost, quality "
                    "FROM interval_reading ORDER BY meter_reading_id, start"
                )
            ).all()
        for m, readings in data.items():
            assert [tuple(r[1:]) for r in rows if r[0] == m] == readings
        upgrade(engine)  # and up again: the same readings
        with Session(engine) as session:
            for m, readings in data.items():
                assert readings_between(session, m) == readings
    finally:
        event.remove(engine, "before_cursor_execute", record)
        engine.dispose()
    for name, found in (("upgrade", upgrade_selects), ("downgrade", downgrade_selects)):
        assert len(found) >= 4, (name, found)  # several pages of the table
        assert all(" LIMIT " in s for s in found), (name, [s for s in found if " LIMIT " not in s])
