"""Local time from ESPI LocalTimeParameters: bit-encoded DST rules turned into a real tzinfo.

Bills, time-of-use rates and the SST's comparisons all work in the customer's local time,
so a wrong DST date shifts a whole evening's peak into the wrong price period.  These tests
check the rule decoding against known calendar dates, the resulting time zone against the
IANA database hour by hour, and the autumn night when 01:00-02:00 happens twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from corpus_data import CORPUS

import espi_sst
from espi_sst.document import time_zone_of
from espi_sst.localtime import DstRule, EspiTimeZone, InvalidDstRule
from espi_sst.model import LocalTimeParameters

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
US_START = "360E2000"  # 2nd Sunday of March, 02:00
US_END = "B40E2000"  # 1st Sunday of November, 02:00


def encode(
    month: int, operator: int, day_of_month: int, day_of_week: int, hour: int, seconds: int = 0
) -> str:
    """Build a DstRuleType value from its fields (espi.xsd bit layout), independently of the decoder."""
    raw = (
        (month << 28)
        | (operator << 25)
        | (day_of_month << 20)
        | (day_of_week << 17)
        | (hour << 12)
        | seconds
    )
    return f"{raw:08X}"


def pacific() -> EspiTimeZone:
    return EspiTimeZone(-28800, 3600, DstRule.decode(US_START), DstRule.decode(US_END))


# ---- decoding rules --------------------------------------------------------------------------
def test_us_rules_decode_to_their_fields() -> None:
    assert encode(3, 3, 0, 7, 2) == US_START
    assert encode(11, 2, 0, 7, 2) == US_END
    assert DstRule.decode(US_START) == DstRule(
        month=3, day_of_month=0, day_of_week=7, operator=3, hour=2
    )
    assert DstRule.decode(US_END) == DstRule(
        month=11, day_of_month=0, day_of_week=7, operator=2, hour=2
    )


@pytest.mark.parametrize(
    ("year", "start", "end"),
    [
        (2023, date(2023, 3, 12), date(2023, 11, 5)),
        (2024, date(2024, 3, 10), date(2024, 11, 3)),
        (2025, date(2025, 3, 9), date(2025, 11, 2)),
    ],
)
def test_us_rules_fire_on_the_right_days(year: int, start: date, end: date) -> None:
    """360E2000: second Sunday in March, 02:00; B40E2000: first Sunday in November, 02:00."""
    assert DstRule.decode(US_START).local_standard_time(year) == datetime.combine(
        start, datetime.min.time()
    ) + timedelta(hours=2)
    assert DstRule.decode(US_END).local_standard_time(year) == datetime.combine(
        end, datetime.min.time()
    ) + timedelta(hours=2)


@pytest.mark.parametrize(
    ("rule", "year", "expected"),
    [
        (encode(3, 7, 0, 7, 1), 2024, datetime(2024, 3, 31, 1)),  # EU: last Sunday of March
        (encode(10, 7, 0, 7, 1), 2024, datetime(2024, 10, 27, 1)),  # EU: last Sunday of October
        (encode(3, 1, 8, 7, 2), 2024, datetime(2024, 3, 10, 2)),  # first Sunday on or after 8 March
        (encode(3, 1, 8, 7, 2), 2026, datetime(2026, 3, 8, 2)),  # ... which can be the 8th itself
        (
            encode(4, 0, 15, 0, 0, 1800),
            2024,
            datetime(2024, 4, 15, 0, 30),
        ),  # fixed day, with seconds
        (encode(2, 0, 31, 0, 0), 2024, datetime(2024, 2, 29)),  # day clamped to the month's end
        (encode(9, 6, 0, 1, 3), 2024, datetime(2024, 9, 30, 3)),  # 5th Monday of Sept 2024 exists
        (encode(3, 4, 0, 5, 1, 2700), 2024, datetime(2024, 3, 15, 1, 45)),  # espi.xsd's own example
        pytest.param(
            encode(2, 6, 0, 1, 3),
            2025,
            datetime(
                2025, 2, 24, 3
            ),  # no 5th Monday in Feb 2025: the last Monday (as POSIX TZ "M2.5.1")
        ),
    ],
    ids=[
        "eu-start",
        "eu-end",
        "on-or-after",
        "on-or-after-same-day",
        "fixed-day",
        "clamped-day",
        "fifth",
        "xsd-example",
        "fifth-missing",
    ],
)
def test_other_rule_operators(rule: str, year: int, expected: datetime) -> None:
    assert DstRule.decode(rule).local_standard_time(year) == expected


def test_rules_accept_lower_case_and_whitespace() -> None:
    assert DstRule.decode(" 360e2000 ") == DstRule.decode(US_START)


def test_ffffffff_disables_dst() -> None:
    assert DstRule.decode("FFFFFFFF") is None
    zone = EspiTimeZone(-28800, 3600, DstRule.decode("FFFFFFFF"), DstRule.decode("FFFFFFFF"))
    july = datetime(2024, 7, 1, 12, tzinfo=UTC).astimezone(zone)
    assert july.utcoffset() == timedelta(hours=-8)
    assert july.dst() == timedelta(0)


def test_document_with_ffffffff_rules_uses_standard_time_without_warning() -> None:
    ltp = LocalTimeParameters(
        dst_end_rule="FFFFFFFF", dst_offset=3600, dst_start_rule="FFFFFFFF", tz_offset=-25200
    )
    warnings: list[espi_sst.EspiWarning] = []
    zone = time_zone_of(ltp, warnings)
    assert warnings == []
    assert datetime(2024, 7, 1, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(
        hours=-7
    )  # Arizona


@pytest.mark.parametrize(
    "rule",
    [
        "360E20",
        "0000000",
        "",
        "zz",
        "360E20G0",
        "00000000",
        encode(3, 3, 0, 7, 24),
        encode(1, 7, 16, 7, 2),
        encode(3, 2, 0, 0, 2),
    ],
    ids=[
        "3-bytes",
        "7-digits",
        "empty",
        "not-hex",
        "bad-digit",
        "month-0",
        "hour-24",
        "op7-with-day",
        "no-weekday",
    ],
)
def test_short_or_invalid_rules_raise(rule: str) -> None:
    with pytest.raises(InvalidDstRule):
        DstRule.decode(rule)


def test_invalid_dst_rule_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        DstRule.decode("zz")


def test_unusable_rule_in_a_document_falls_back_to_standard_time_with_a_warning() -> None:
    ltp = LocalTimeParameters(
        dst_end_rule="00000000", dst_offset=3600, dst_start_rule="00000000", tz_offset=-28800
    )
    warnings: list[espi_sst.EspiWarning] = []
    zone = time_zone_of(ltp, warnings)
    assert [w.code for w in warnings] == ["invalid_dst_rule"]
    assert datetime(2024, 7, 1, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(hours=-8)


# ---- against the IANA database ---------------------------------------------------------------
def hours_of(year: int) -> range:
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) - 86400
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) + 86400
    return range(start, end, 3600)


@pytest.mark.parametrize(
    ("name", "zone", "iana"),
    [
        ("us-pacific", lambda: pacific(), "America/Los_Angeles"),
        (
            "us-eastern",
            lambda: EspiTimeZone(-18000, 3600, DstRule.decode(US_START), DstRule.decode(US_END)),
            "America/New_York",
        ),
        (
            "europe",
            lambda: EspiTimeZone(
                3600,
                3600,
                DstRule.decode(encode(3, 7, 0, 7, 2)),
                DstRule.decode(encode(10, 7, 0, 7, 3)),
            ),
            "Europe/Berlin",
        ),
        (
            "sydney",
            lambda: EspiTimeZone(
                36000,
                3600,
                DstRule.decode(encode(10, 2, 0, 7, 2)),
                DstRule.decode(encode(4, 2, 0, 7, 3)),
            ),
            "Australia/Sydney",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_time_zone_agrees_with_zoneinfo_every_hour_of_2024(name: str, zone, iana: str) -> None:  # type: ignore[no-untyped-def]
    """UTC -> local for every hour of the year (plus a day each side), fold included."""
    ours, theirs = zone(), ZoneInfo(iana)
    for ts in hours_of(2024):
        mine, reference = datetime.fromtimestamp(ts, ours), datetime.fromtimestamp(ts, theirs)
        assert mine.utcoffset() == reference.utcoffset(), mine
        assert (mine.replace(tzinfo=None), mine.fold) == (
            reference.replace(tzinfo=None),
            reference.fold,
        ), mine


@pytest.mark.parametrize(
    ("name", "zone", "iana"),
    [
        ("us-pacific", lambda: pacific(), "America/Los_Angeles"),
        (
            "us-eastern",
            lambda: EspiTimeZone(-18000, 3600, DstRule.decode(US_START), DstRule.decode(US_END)),
            "America/New_York",
        ),
        (
            "europe",
            lambda: EspiTimeZone(
                3600,
                3600,
                DstRule.decode(encode(3, 7, 0, 7, 2)),
                DstRule.decode(encode(10, 7, 0, 7, 3)),
            ),
            "Europe/Berlin",
        ),
        (
            "sydney",
            lambda: EspiTimeZone(
                36000,
                3600,
                DstRule.decode(encode(10, 2, 0, 7, 2)),
                DstRule.decode(encode(4, 2, 0, 7, 3)),
            ),
            "Australia/Sydney",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_fast_offset_agrees_with_zoneinfo_every_hour_of_2024(
    name: str, zone, iana: str
) -> None:  # type: ignore[no-untyped-def]
    """``offset_seconds_at`` (the readings' fast path, issue 18) is the offset zoneinfo
    gives at every hour of the year, both hemispheres, and Reading.start_local uses it."""
    from espi_sst.readings import Reading, ReadingContext

    ours, theirs = zone(), ZoneInfo(iana)
    context = ReadingContext(None, None, None, ours)
    for ts in hours_of(2024):
        expected = datetime.fromtimestamp(ts, theirs)
        assert ours.offset_seconds_at(ts) == expected.utcoffset().total_seconds(), ts
        local = Reading(context, ts, 3600, 1).start_local
        assert local is not None and local.timestamp() == ts
        assert local.replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_wall_clock_times_map_to_utc_like_zoneinfo() -> None:
    """Local wall time -> offset (the other direction), for existing and repeated times."""
    ours, theirs = pacific(), ZoneInfo("America/Los_Angeles")
    moment = datetime(2024, 1, 1)
    while moment.year == 2024:
        for fold in (0, 1):
            if moment.date() == date(2024, 3, 10) and moment.hour == 2:
                continue  # the spring gap: checked separately
            mine = moment.replace(tzinfo=ours, fold=fold)
            assert mine.utcoffset() == moment.replace(tzinfo=theirs, fold=fold).utcoffset(), (
                moment,
                fold,
            )
        moment += timedelta(minutes=30)


def test_spring_gap_wall_times_follow_pep_495() -> None:
    ours, theirs = pacific(), ZoneInfo("America/Los_Angeles")
    for minute in (0, 30):
        for fold in (0, 1):
            moment = datetime(2024, 3, 10, 2, minute, fold=fold)
            assert (
                moment.replace(tzinfo=ours).utcoffset() == moment.replace(tzinfo=theirs).utcoffset()
            ), (moment, fold)


# ---- readings across the DST changes ---------------------------------------------------------
def feed_with_readings(start: int, count: int, duration: int = 900) -> bytes:
    """A small clean feed: UsagePoint -> LocalTimeParameters (US Pacific), the only
    ReadingType, and one block of readings."""
    readings = "".join(
        f"<espi:IntervalReading><espi:timePeriod><espi:duration>{duration}</espi:duration>"
        f"<espi:start>{start + duration * i}</espi:start></espi:timePeriod><espi:value>{i}</espi:value></espi:IntervalReading>"
        for i in range(count)
    )
    up = "/espi/1_1/resource/Subscription/1/UsagePoint/1"
    return (
        f'<feed xmlns="{ATOM}" xmlns:espi="{ESPI}"><id>urn:f</id><title>t</title>'
        f'<entry><id>urn:1</id><link rel="self" href="{up}"/><link rel="up" href="/espi/1_1/resource/Subscription/1/UsagePoint"/>'
        f'<link rel="related" href="/espi/1_1/resource/LocalTimeParameters/1"/><content><espi:UsagePoint/></content></entry>'
        f'<entry><id>urn:2</id><link rel="self" href="/espi/1_1/resource/LocalTimeParameters/1"/>'
        f'<link rel="up" href="/espi/1_1/resource/LocalTimeParameters"/><content><espi:LocalTimeParameters>'
        f"<espi:dstEndRule>{US_END}</espi:dstEndRule><espi:dstOffset>3600</espi:dstOffset>"
        f"<espi:dstStartRule>{US_START}</espi:dstStartRule><espi:tzOffset>-28800</espi:tzOffset>"
        f"</espi:LocalTimeParameters></content></entry>"
        f'<entry><id>urn:4</id><link rel="self" href="/espi/1_1/resource/ReadingType/1"/>'
        f'<link rel="up" href="/espi/1_1/resource/ReadingType"/><content><espi:ReadingType>'
        f"<espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier><espi:uom>72</espi:uom>"
        f"</espi:ReadingType></content></entry>"
        f'<entry><id>urn:3</id><link rel="self" href="{up}/MeterReading/1/IntervalBlock/1"/>'
        f'<link rel="up" href="{up}/MeterReading/1/IntervalBlock"/><content><espi:IntervalBlock>{readings}</espi:IntervalBlock></content></entry>'
        "</feed>"
    ).encode()


FALL_BACK_START = int(datetime(2024, 11, 3, 7, 0, tzinfo=UTC).timestamp())  # 00:00 PDT
FALL_BACK_COUNT = 20  # 00:00 PDT .. 04:00 PST: five hours of 15-minute readings


def fall_back_readings() -> list[espi_sst.Reading]:
    readings = list(
        espi_sst.parse(feed_with_readings(FALL_BACK_START, FALL_BACK_COUNT)).interval_readings()
    )
    assert len(readings) == FALL_BACK_COUNT
    return readings


def test_fall_back_night_tells_the_two_one_oclock_hours_apart() -> None:
    """01:00-01:59 happens twice; readings carry the offset in force (PDT, then PST), so the
    two hours are distinct however they are compared; the zone itself sets fold=1 on the
    second, for callers converting times with it directly."""
    readings = fall_back_readings()
    walls = [(r.start_local.strftime("%H:%M"), r.start_local.utcoffset()) for r in readings]
    pdt, pst = timedelta(hours=-7), timedelta(hours=-8)
    assert walls[:8] == [(f"{h:02d}:{m:02d}", pdt) for h in (0, 1) for m in (0, 15, 30, 45)]
    assert walls[8:12] == [(f"01:{m:02d}", pst) for m in (0, 15, 30, 45)]
    assert walls[12:] == [(f"{h:02d}:{m:02d}", pst) for h in (2, 3) for m in (0, 15, 30, 45)]
    zone = readings[0].context.time_zone
    folds = [r.start_utc.astimezone(zone).fold for r in readings]
    assert folds == [0] * 8 + [1] * 4 + [0] * 8


def test_fall_back_night_local_times_are_distinct_instants() -> None:
    """Converted back to UTC, every local start is the reading's own instant (nothing collapses)."""
    readings = fall_back_readings()
    instants = [r.start_local.astimezone(UTC) for r in readings]
    assert instants == [r.start_utc for r in readings]
    assert len(set(instants)) == FALL_BACK_COUNT
    for r in readings:
        assert r.end_local.astimezone(UTC) - r.start_local.astimezone(UTC) == timedelta(seconds=900)


def test_fall_back_night_every_interval_ends_after_it_starts() -> None:
    for r in fall_back_readings():
        assert r.end_local > r.start_local, (r.start_local, r.end_local)
        assert r.end_local - r.start_local == timedelta(seconds=900)


def test_spring_forward_skips_the_two_oclock_hour() -> None:
    start = int(datetime(2024, 3, 10, 8, 0, tzinfo=UTC).timestamp())  # 00:00 PST
    readings = list(espi_sst.parse(feed_with_readings(start, 16)).interval_readings())
    hours = [r.start_local.hour for r in readings]
    assert 2 not in hours
    assert hours == [0] * 4 + [1] * 4 + [3] * 4 + [4] * 4
    assert readings[7].end_local.isoformat() == "2024-03-10T03:00:00-07:00"


def test_time_zone_names() -> None:
    zone = pacific()
    assert zone.tzname(datetime(2024, 7, 1, tzinfo=zone)) == "UTC-07:00"
    assert zone.tzname(datetime(2024, 1, 1, tzinfo=zone)) == "UTC-08:00"
    assert zone.tzname(None) == "UTC-08:00"
    assert EspiTimeZone(19800).tzname(None) == "UTC+05:30"


def test_equal_parameters_give_equal_time_zones() -> None:
    assert pacific() == pacific()
    assert hash(pacific()) == hash(pacific())
    assert pacific() != EspiTimeZone(-28800)


# ---- the epoch-as-rule deviation (Enbridge) --------------------------------------------------
def test_epoch_seconds_as_rule_is_read_as_a_fixed_instant() -> None:
    """Enbridge writes 65ED5A70 (= 1710054000, 2024-03-10 07:00 UTC) instead of a rule."""
    assert int("65ED5A70", 16) == 1710054000
    rule = DstRule.decode("65ED5A70")
    assert rule is not None and rule.fixed_epoch == 1710054000


def test_enbridge_file_applies_its_epoch_rules_to_their_year_only() -> None:
    doc = espi_sst.parse(CORPUS / "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml")
    zone = doc.time_zone(doc.usage_points[0])
    assert zone is not None
    assert "dst_rule_as_epoch" in {w.code for w in doc.warnings}

    def offset(*args: int) -> timedelta:
        return datetime(*args, tzinfo=UTC).astimezone(zone).utcoffset()

    assert offset(2024, 1, 15) == timedelta(hours=-5)  # EST
    assert offset(2024, 3, 10, 6, 59) == timedelta(hours=-5)
    assert offset(2024, 3, 10, 7, 0) == timedelta(hours=-4)  # the file's own start instant
    assert offset(2024, 7, 15) == timedelta(hours=-4)  # EDT
    assert offset(2024, 11, 3, 6, 59) == timedelta(hours=-4)
    assert offset(2024, 11, 3, 7, 0) == timedelta(hours=-5)  # the file's own end instant
    # Other years: the instants say nothing about them, so standard time (documented).
    assert offset(2023, 7, 15) == timedelta(hours=-5)

    readings = list(doc.interval_readings())
    assert len(readings) == 20
    assert all(
        r.start_local is not None
        and r.start_local.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
        for r in readings
    )


def test_sce_file_with_unusable_rules_uses_standard_time_and_warns() -> None:
    doc = espi_sst.parse(CORPUS / "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml")
    readings = list(doc.interval_readings())
    assert readings and all(r.start_local.utcoffset() == timedelta(hours=-8) for r in readings)
    assert "invalid_dst_rule" in {w.code for w in doc.warnings}


def unusable_rules_feed() -> bytes:
    return (
        feed_with_readings(FALL_BACK_START, 1)
        .replace(US_START.encode(), b"00000000")
        .replace(US_END.encode(), b"00000000")
    )


def test_strict_streaming_refuses_an_unusable_dst_rule() -> None:
    assert espi_sst.parse(feed_with_readings(FALL_BACK_START, 1), strict=True).warnings == []
    with pytest.raises(espi_sst.ParseError) as caught:
        list(espi_sst.iter_interval_readings(unusable_rules_feed(), strict=True))
    assert caught.value.code == "invalid_dst_rule"


def test_lenient_parse_warns_about_an_unusable_dst_rule_once_readings_are_read() -> None:
    """Today's behaviour: the warning appears on doc.warnings when local times are first needed."""
    doc = espi_sst.parse(unusable_rules_feed())
    list(doc.interval_readings())
    assert [w.code for w in doc.warnings] == ["invalid_dst_rule"]


def test_strict_parse_refuses_an_unusable_dst_rule_like_streaming_does() -> None:
    with pytest.raises(espi_sst.ParseError) as caught:
        espi_sst.parse(unusable_rules_feed(), strict=True)
    assert caught.value.code == "invalid_dst_rule"
