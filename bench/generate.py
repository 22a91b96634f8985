"""Generate realistic, deterministic Green Button (ESPI) feeds for the benchmarks.

Why generate instead of vendoring: a 5-year 15-minute feed is tens of megabytes, and the
benchmark needs exact, known sizes (35,040 and 175,200 readings).  The same seed always
gives the same bytes, so numbers from different machines or commits compare like for like.

What a file looks like (the shape of a Green Button Alliance "Batch/Subscription" download):

* an Atom feed, Atom as the default namespace and ``espi:`` for http://naesb.org/espi;
* one UsagePoint, its LocalTimeParameters (Pacific: tzOffset -28800, dstOffset 3600,
  dstStartRule 360E2000, dstEndRule B40E2000), one MeterReading and one ReadingType
  (Wh, uom 72, powerOfTenMultiplier 0, intervalLength 900), tied by GBA ``self``/``up``/
  ``related`` hrefs;
* one IntervalBlock entry per day, each with 96 IntervalReadings (``timePeriod``
  duration+start, ``value``), indented like real exports.  Blocks are 86,400 s long from
  local standard midnight, so every block has exactly 96 readings.
* Some readings carry ``ReadingQuality/quality``: about one day in twelve has a metering
  gap whose readings are estimated (9, linear interpolation, for short gaps; 8, reference
  day, for long ones), as utilities mark them.  Mixed blocks (some readings with a quality,
  most without) are the realistic case a reader must handle.

Two more shapes copy what today's real exports look like (``--sizes 1y-quality,1y-cost``),
with the same readings, values and gaps:

* ``quality``: a ``ReadingQuality`` on EVERY reading, before its ``timePeriod``, as PG&E
  Share My Data and Ameren (Bidgely, 2023) write them (tests/data/corpus/pge-cmd_IntervalBlock.xml,
  ameren-bidgely-2023_*.xml): 17 (validated) by default, 8 or 9 in the estimated gaps;
  Atom the default namespace, ``espi:`` the ESPI prefix (Ameren's choice).
* ``cost``: a ``cost`` on every reading, before its ``timePeriod``, as the Texas
  ThirdPartyX files (texas-premise*.xml) and the SCE bulk file write them; ESPI the
  default namespace and ``ns2:`` the Atom prefix (the Texas files' choice).  The cost is
  the energy at 30 cents per kWh, in ESPI's hundred-thousandths of a dollar.  The estimated
  gaps keep their qualities, so blocks mix a cost on every reading with a quality on some.

The file is written with plain string writing (one ``write`` per entry), so generating the
5-year file takes about a second and never holds the document in memory.  A JSON manifest
next to each file records the expected reading count and value sum: the benchmark checks
every contender against it, so a fast-but-wrong reader cannot win.

Usage::

    .venv/bin/python bench/generate.py            # the benchmark's files into bench/data/
    .venv/bin/python bench/generate.py --check    # and check the 1-year files with espi_sst
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

GENERATOR_VERSION = 2
"""Bump when the output changes, so cached files in bench/data/ are regenerated."""

DATA_DIR = Path(__file__).resolve().parent / "data"
SIZES: dict[str, int] = {
    "1y": 365,
    "5y": 1825,
    "1y-quality": 365,
    "1y-cost": 365,
    "5y-quality": 1825,
    "5y-cost": 1825,
}
"""Name -> number of days (one IntervalBlock each): 35,040 and 175,200 readings."""
DEFAULT_SIZES = ("1y", "5y", "1y-quality", "1y-cost")
"""What the benchmark measures by default: the 5-year files of the new shapes add nothing
(the readers' cost is per block), so only the historical shape is measured at 5 years."""

SHAPES = ("mixed", "quality", "cost")
"""``mixed``: a quality on the readings of rare estimated gaps; ``quality``: on every
reading; ``cost``: a cost on every reading (module docstring)."""


def shape_of(size: str) -> str:
    """The shape a size name asks for: ``1y`` is mixed, ``1y-cost`` is cost."""
    return size.partition("-")[2] or "mixed"


SEED = 20240101
READINGS_PER_DAY = 96
INTERVAL = 900
DAY = 86_400
END = 1_735_718_400
"""2025-01-01T08:00:00Z, local (PST) midnight: the feed covers the days before it."""
TZ_OFFSET = -28_800
STAMP = "2025-01-01T12:00:00Z"

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
BASE = "https://utility.example.com/DataCustodian/espi/1_1/resource"
SUBSCRIPTION = f"{BASE}/Subscription/1"
USAGE_POINT = f"{SUBSCRIPTION}/UsagePoint/1"
METER_READING = f"{USAGE_POINT}/MeterReading/1"
INTERVAL_BLOCKS = f"{METER_READING}/IntervalBlock"
READING_TYPE = f"{BASE}/ReadingType/1"
LOCAL_TIME = f"{BASE}/LocalTimeParameters/1"

GAP_DAY_PROBABILITY = 1 / 12
ESTIMATED_INTERPOLATED = 9
ESTIMATED_REFERENCE_DAY = 8
VALIDATED = 17
COST_PER_WH = 30
"""30 cents per kWh in hundred-thousandths of a dollar per Wh (ESPI's cost unit)."""


@dataclass(frozen=True)
class Style:
    """Namespace prefixes of one exporter: ``a`` for Atom elements, ``e`` for ESPI ones."""

    a: str
    e: str
    root: str
    """The feed element's start tag with its namespace declarations."""


ATOM_DEFAULT = Style("", "espi:", f'<feed xmlns="{ATOM}" xmlns:espi="{ESPI}">')
ESPI_DEFAULT = Style("ns2:", "", f'<ns2:feed xmlns:ns2="{ATOM}" xmlns="{ESPI}">')


@dataclass(frozen=True)
class Manifest:
    """What a generated file holds; the benchmark's ground truth."""

    generator_version: int
    seed: int
    days: int
    readings: int
    value_sum: int
    readings_with_quality: int
    blocks_with_quality: int
    bytes: int
    first_start: int
    last_start: int
    shape: str = "mixed"
    readings_with_cost: int = 0

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def paths(size: str, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """(xml, manifest) paths of one size."""
    stem = f"espi-15min-{size}"  # 1y-quality: espi-15min-1y-quality.xml
    return data_dir / f"{stem}.xml", data_dir / f"{stem}.json"


def ensure(size: str, data_dir: Path = DATA_DIR, seed: int = SEED) -> tuple[Path, Manifest]:
    """Return the file of ``size``, generating it unless an up-to-date copy exists."""
    xml_path, manifest_path = paths(size, data_dir)
    manifest = Manifest.load(manifest_path)
    if (
        manifest is not None
        and manifest.generator_version == GENERATOR_VERSION
        and manifest.seed == seed
        and manifest.days == SIZES[size]
        and manifest.shape == shape_of(size)
        and xml_path.is_file()
        and xml_path.stat().st_size == manifest.bytes
    ):
        return xml_path, manifest
    return xml_path, generate(xml_path, manifest_path, SIZES[size], seed, shape_of(size))


def generate(
    xml_path: Path, manifest_path: Path, days: int, seed: int = SEED, shape: str = "mixed"
) -> Manifest:
    """Write the feed (atomically: a killed run never leaves a half file) and its manifest."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    style = ESPI_DEFAULT if shape == "cost" else ATOM_DEFAULT
    first_start = END - days * DAY
    tmp = xml_path.with_suffix(".xml.tmp")
    value_sum = with_quality = blocks_with_quality = with_cost = 0
    with open(tmp, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
        _write_head(out, rng, style)
        for day in range(days):
            block_start = first_start + day * DAY
            values = _day_values(rng, block_start)
            qualities = _day_qualities(rng)
            if shape == "quality":
                qualities = [VALIDATED if q is None else q for q in qualities]
            costs = [v * COST_PER_WH for v in values] if shape == "cost" else [None] * len(values)
            value_sum += sum(values)
            flagged = sum(q is not None for q in qualities)
            with_quality += flagged
            blocks_with_quality += flagged > 0
            with_cost += sum(c is not None for c in costs)
            out.write(_block_entry(rng, style, day + 1, block_start, values, qualities, costs))
        out.write(f"</{style.a}feed>\n")
    os.replace(tmp, xml_path)
    manifest = Manifest(
        generator_version=GENERATOR_VERSION,
        seed=seed,
        days=days,
        readings=days * READINGS_PER_DAY,
        value_sum=value_sum,
        readings_with_quality=with_quality,
        blocks_with_quality=blocks_with_quality,
        bytes=xml_path.stat().st_size,
        first_start=first_start,
        last_start=first_start + days * DAY - INTERVAL,
        shape=shape,
        readings_with_cost=with_cost,
    )
    manifest_path.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def _links(style: Style, self_href: str, up_href: str, related: tuple[str, ...] = ()) -> str:
    a = style.a
    lines = [
        f'    <{a}link rel="self" href="{self_href}"/>',
        f'    <{a}link rel="up" href="{up_href}"/>',
    ]
    lines += [f'    <{a}link rel="related" href="{href}"/>' for href in related]
    return "\n".join(lines)


def _entry(rng: random.Random, style: Style, links: str, title: str, content: str) -> str:
    a = style.a
    return (
        f"  <{a}entry>\n"
        f"    <{a}id>urn:uuid:{_uuid(rng)}</{a}id>\n"
        f"{links}\n"
        f"    <{a}title>{title}</{a}title>\n"
        f"    <{a}content>\n"
        f"{content}"
        f"    </{a}content>\n"
        f"    <{a}published>{STAMP}</{a}published>\n"
        f"    <{a}updated>{STAMP}</{a}updated>\n"
        f"  </{a}entry>\n"
    )


def _write_head(out: TextIO, rng: random.Random, style: Style) -> None:
    """Feed header plus the four small resources that give the readings their meaning."""
    a, e = style.a, style.e
    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{style.root}\n"
        f"  <{a}id>urn:uuid:{_uuid(rng)}</{a}id>\n"
        f"  <{a}title>Green Button Usage Feed</{a}title>\n"
        f"  <{a}updated>{STAMP}</{a}updated>\n"
        f'  <{a}link rel="self" href="{BASE}/Batch/Subscription/1"/>\n'
    )
    out.write(
        _entry(
            rng,
            style,
            _links(
                style,
                USAGE_POINT,
                f"{SUBSCRIPTION}/UsagePoint",
                (f"{USAGE_POINT}/MeterReading", LOCAL_TIME),
            ),
            "Residential electric service",
            f"      <{e}UsagePoint>\n"
            f"        <{e}ServiceCategory>\n"
            f"          <{e}kind>0</{e}kind>\n"
            f"        </{e}ServiceCategory>\n"
            f"        <{e}status>1</{e}status>\n"
            f"      </{e}UsagePoint>\n",
        )
    )
    out.write(
        _entry(
            rng,
            style,
            _links(style, LOCAL_TIME, f"{BASE}/LocalTimeParameters"),
            "DST For North America",
            f"      <{e}LocalTimeParameters>\n"
            f"        <{e}dstEndRule>B40E2000</{e}dstEndRule>\n"
            f"        <{e}dstOffset>3600</{e}dstOffset>\n"
            f"        <{e}dstStartRule>360E2000</{e}dstStartRule>\n"
            f"        <{e}tzOffset>{TZ_OFFSET}</{e}tzOffset>\n"
            f"      </{e}LocalTimeParameters>\n",
        )
    )
    out.write(
        _entry(
            rng,
            style,
            _links(
                style, METER_READING, f"{USAGE_POINT}/MeterReading", (INTERVAL_BLOCKS, READING_TYPE)
            ),
            "Electricity consumption, 15-minute intervals",
            f"      <{e}MeterReading/>\n",
        )
    )
    reading_type = [
        ("accumulationBehaviour", 4),
        ("commodity", 1),
        ("currency", 840),
        ("dataQualifier", 12),
        ("flowDirection", 1),
        ("intervalLength", INTERVAL),
        ("kind", 12),
        ("phase", 769),
        ("powerOfTenMultiplier", 0),
        ("timeAttribute", 0),
        ("uom", 72),
    ]
    out.write(
        _entry(
            rng,
            style,
            _links(style, READING_TYPE, f"{BASE}/ReadingType"),
            "Energy delivered (Wh)",
            f"      <{e}ReadingType>\n"
            + "".join(f"        <{e}{name}>{value}</{e}{name}>\n" for name, value in reading_type)
            + f"      </{e}ReadingType>\n",
        )
    )


def _day_values(rng: random.Random, block_start: int) -> list[int]:
    """96 quarter-hour energies (Wh) of a household: base load, daily shape, season, noise."""
    day_of_year = ((block_start + TZ_OFFSET) // DAY) % 365
    # Summer (peak late July) adds air conditioning in the afternoon and evening.
    summer = max(0.0, math.cos(2 * math.pi * (day_of_year - 205) / 365))
    winter = max(0.0, -math.cos(2 * math.pi * (day_of_year - 205) / 365))
    base = rng.uniform(70, 110)
    values = []
    for i in range(READINGS_PER_DAY):
        hour = i / 4
        shape = (
            0.6 * math.exp(-((hour - 7.5) ** 2) / 2.0)
            + 1.2 * math.exp(-((hour - 19.0) ** 2) / 6.0)
            + 0.4 * winter * math.exp(-((hour - 21.0) ** 2) / 8.0)
            + 2.5 * summer * math.exp(-((hour - 16.5) ** 2) / 7.0)
        )
        values.append(max(5, int(base * (1 + shape) * rng.lognormvariate(0, 0.18))))
    return values


def _day_qualities(rng: random.Random) -> list[int | None]:
    """Quality per reading: None (the ReadingType's default) except in an estimated gap."""
    qualities: list[int | None] = [None] * READINGS_PER_DAY
    if rng.random() < GAP_DAY_PROBABILITY:
        length = rng.randint(1, 24)
        first = rng.randrange(READINGS_PER_DAY - length + 1)
        code = ESTIMATED_INTERPOLATED if length <= 8 else ESTIMATED_REFERENCE_DAY
        qualities[first : first + length] = [code] * length
    return qualities


def _block_entry(
    rng: random.Random,
    style: Style,
    number: int,
    block_start: int,
    values: list[int],
    qualities: list[int | None],
    costs: list[int | None],
) -> str:
    """One day's IntervalBlock entry; children in the XSD's order (cost, ReadingQuality,
    timePeriod, value), as the real exports cited in the module docstring write them."""
    e = style.e
    parts = [
        f"      <{e}IntervalBlock>\n"
        f"        <{e}interval>\n"
        f"          <{e}duration>{DAY}</{e}duration>\n"
        f"          <{e}start>{block_start}</{e}start>\n"
        f"        </{e}interval>\n"
    ]
    for i, (value, quality, cost) in enumerate(zip(values, qualities, costs, strict=True)):
        parts.append(f"        <{e}IntervalReading>\n")
        if cost is not None:
            parts.append(f"          <{e}cost>{cost}</{e}cost>\n")
        if quality is not None:
            parts.append(
                f"          <{e}ReadingQuality>\n"
                f"            <{e}quality>{quality}</{e}quality>\n"
                f"          </{e}ReadingQuality>\n"
            )
        parts.append(
            f"          <{e}timePeriod>\n"
            f"            <{e}duration>{INTERVAL}</{e}duration>\n"
            f"            <{e}start>{block_start + i * INTERVAL}</{e}start>\n"
            f"          </{e}timePeriod>\n"
            f"          <{e}value>{value}</{e}value>\n"
            f"        </{e}IntervalReading>\n"
        )
    parts.append(f"      </{e}IntervalBlock>\n")
    links = _links(style, f"{INTERVAL_BLOCKS}/{number}", INTERVAL_BLOCKS)
    return _entry(rng, style, links, "", "".join(parts))


def check(path: Path, manifest: Manifest) -> list[str]:
    """Problems found reading ``path`` with espi_sst (parse, warnings, counts, schema); [] if none.

    Run on the 1-year files: it proves the generator writes what the benchmark claims
    (schema-valid, deviation-free ESPI), not a shape only our reader accepts.
    """
    import warnings

    import espi_sst

    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = espi_sst.parse(path)
        readings = list(doc.interval_readings())
    problems += [f"python warning: {w.message}" for w in caught]
    problems += [f"parse warning: {w}" for w in doc.warnings]
    if len(readings) != manifest.readings:
        problems.append(f"parse found {len(readings)} readings, expected {manifest.readings}")
    if sum(r.value or 0 for r in readings) != manifest.value_sum:
        problems.append("value sum differs from the manifest")
    if sum(r.quality is not None for r in readings) != manifest.readings_with_quality:
        problems.append("readings with a quality differ from the manifest")
    if sum(r.cost is not None for r in readings) != manifest.readings_with_cost:
        problems.append("readings with a cost differ from the manifest")
    if readings and (readings[0].unit != "Wh" or readings[0].context.time_zone is None):
        problems.append("readings lack their ReadingType (Wh) or LocalTimeParameters")
    problems += [f"schema: {issue}" for issue in espi_sst.validate(path)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(DEFAULT_SIZES),
        help=f"comma-separated, from {', '.join(SIZES)}",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument(
        "--check", action="store_true", help="parse and schema-validate the 1-year files"
    )
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = set(sizes) - set(SIZES)
    if unknown:
        parser.error(f"unknown size(s) {sorted(unknown)}; choose from {sorted(SIZES)}")
    for size in sizes:
        began = time.perf_counter()
        path, manifest = ensure(size, args.out, args.seed)
        print(
            f"{path}: {manifest.readings:,} readings in {manifest.days:,} blocks, "
            f"{manifest.bytes / 1e6:.1f} MB, {manifest.readings_with_quality:,} readings with a "
            f"quality in {manifest.blocks_with_quality} blocks, "
            f"{manifest.readings_with_cost:,} with a cost ({time.perf_counter() - began:.1f} s)"
        )
    if args.check:
        failed = False
        for size in ("1y", "1y-quality", "1y-cost"):
            path, manifest = ensure(size, args.out, args.seed)
            began = time.perf_counter()
            problems = check(path, manifest)
            for problem in problems:
                print(f"CHECK FAILED ({size}): {problem}", file=sys.stderr)
            failed = failed or bool(problems)
            if not problems:
                print(
                    f"{path}: parses without warnings, {manifest.readings:,} readings, "
                    f"schema-valid ({time.perf_counter() - began:.1f} s)"
                )
        if failed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
