"""Every real Green Button file in tests/data/corpus, one parametrized case per MANIFEST row.

These files are what utilities actually publish (PG&E, SCE, Ameren, Enbridge, Eversource,
Texas ThirdPartyX, UtilityAPI, the GBA sandbox ...), warts and all.  The cases protect the
promises users rely on for each of them:

* it reads (or, for the one damaged file, fails with a ParseError naming line 1);
* no interval reading is lost or invented (counted independently with plain lxml) and the
  streaming reader yields exactly what the whole-document reader yields;
* the resources found are the ones the MANIFEST lists;
* a parse -> serialize -> parse round trip gives an equal document, and the writer's
  output validates against the official ESPI 4.0 schemas;
* validating the ORIGINAL file gives the verdict recorded in the MANIFEST.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from corpus_data import CORPUS, corpus_manifest
from lxml import etree

import espi_sst
from espi_sst import Document, SerializeError
from espi_sst.model import ApplicationInformation, ReadingType
from espi_sst.model._base import ModelObject
from espi_sst.model.enums import GrantType, ResponseType
from espi_sst.validation import xmlschema_issues

ESPI_READING = "{http://naesb.org/espi}IntervalReading"

ROWS = corpus_manifest()
MALFORMED = [row for row in ROWS if "MALFORMED" in row["file"]]
WELL_FORMED = [row for row in ROWS if "MALFORMED" not in row["file"]]

UNWRITABLE = {
    # The GBA sandbox's admin ApplicationInformation: response_types 'token' (ESPI only
    # knows 'code'), a single grant type, and several required elements missing.
    "gba-sandbox_ApplicationInformation.xml": {
        "thirdPartyNotifyUri",
        "redirect_uri",
        "grant_types",
        "response_types",
        "registration_access_token",
    },
    # UtilityAPI exports an ApplicationInformation that holds only a thirdPartyName.
    "utilityapi-export_intervals_APUC000000_electric.xml": None,  # every required field
}


def ids(rows: list[dict[str, str]]) -> list[str]:
    return [row["file"] for row in rows]


@cache
def parsed(name: str) -> Document:
    """Parse each corpus file once per session (parsing is deterministic)."""
    return espi_sst.parse(CORPUS / name)


@cache
def written(name: str) -> bytes:
    return espi_sst.serialize(parsed(name), allow_invalid=name in UNWRITABLE)


def lxml_reading_count(path: Path) -> int:
    """Independent count: every espi:IntervalReading element, whatever its prefix."""
    return sum(1 for _ in etree.parse(str(path)).iter(ESPI_READING))


def manifest_contents(row: dict[str, str]) -> dict[str, int]:
    """``espi:IntervalBlock=24;cust:Meter=1`` -> {"espi:IntervalBlock": 24, "cust:Meter": 1}."""
    out: dict[str, int] = {}
    for part in filter(None, row["contents"].split(";")):
        key, _, count = part.rpartition("=")
        out[key] = int(count)
    return out


def required_fields_missing(obj: ModelObject) -> set[str]:
    """XML names of the required elements a model object leaves empty (from the model metadata)."""
    missing = set()
    for field in dataclasses.fields(obj):
        xml = field.metadata.get("xml")
        if xml is None or xml.kind != "element" or xml.min_occurs == 0:
            continue
        value = getattr(obj, field.name)
        count = len(value) if xml.many else (0 if value is None else 1)
        if count < xml.min_occurs:
            missing.add(xml.name)
    return missing


# ---- reading ---------------------------------------------------------------------------
@pytest.mark.parametrize("row", ROWS, ids=ids(ROWS))
def test_file_parses(row: dict[str, str]) -> None:
    """Every well-formed file reads; the damaged one is refused with its line, never repaired."""
    path = CORPUS / row["file"]
    if row in MALFORMED:
        with pytest.raises(espi_sst.ParseError) as caught:
            espi_sst.parse(path)
        assert caught.value.line == 1
        assert caught.value.code == "malformed_xml"
        assert "not well-formed" in str(caught.value)
        assert f"{path}:1:" in str(caught.value)
        return
    doc = espi_sst.parse(path)
    assert doc.entries, "a Green Button file holds at least one resource"
    assert doc.source == str(path)


@pytest.mark.parametrize("row", MALFORMED, ids=ids(MALFORMED))
def test_malformed_file_is_refused_by_every_entry_point(row: dict[str, str]) -> None:
    """Streaming and validation refuse the damaged file the same way parse() does."""
    path = CORPUS / row["file"]
    for read in (
        lambda: list(espi_sst.iter_interval_readings(path)),
        lambda: espi_sst.validate(path),
    ):
        with pytest.raises(espi_sst.ParseError) as caught:
            read()
        assert caught.value.line == 1
        assert "not well-formed" in str(caught.value)


@pytest.mark.parametrize("row", WELL_FORMED, ids=ids(WELL_FORMED))
def test_reading_count_matches_independent_lxml_count(row: dict[str, str]) -> None:
    """No interval reading is lost or invented by the whole-document reader."""
    path = CORPUS / row["file"]
    readings = list(parsed(row["file"]).interval_readings())
    assert len(readings) == lxml_reading_count(path)


@pytest.mark.parametrize("row", WELL_FORMED, ids=ids(WELL_FORMED))
def test_streaming_yields_the_same_readings_as_parse(row: dict[str, str]) -> None:
    """iter_interval_readings (bounded memory) and parse() agree reading for reading."""
    path = CORPUS / row["file"]
    whole = [(r.start, r.duration, r.value) for r in parsed(row["file"]).interval_readings()]
    streamed = [(r.start, r.duration, r.value) for r in espi_sst.iter_interval_readings(path)]
    assert len(streamed) == lxml_reading_count(path)
    assert streamed == whole


@pytest.mark.parametrize("row", WELL_FORMED, ids=ids(WELL_FORMED))
def test_streaming_scales_like_parse(row: dict[str, str]) -> None:
    """The stream finds the same ReadingType (unit, power of ten) for every reading."""
    path = CORPUS / row["file"]
    whole = [(r.scaled_value, r.unit) for r in parsed(row["file"]).interval_readings()]
    streamed = [(r.scaled_value, r.unit) for r in espi_sst.iter_interval_readings(path)]
    assert streamed == whole


@pytest.mark.parametrize("row", WELL_FORMED, ids=ids(WELL_FORMED))
def test_resource_counts_match_manifest(row: dict[str, str]) -> None:
    """The reader finds exactly the resources the MANIFEST lists, by model class name."""
    doc = parsed(row["file"])
    expected: dict[str, int] = {}
    foreign: list[str] = []
    for key, count in manifest_contents(row).items():
        prefix, _, local = key.rpartition(":")
        if prefix in ("espi", "cust"):
            expected[local] = count
        else:
            foreign.append(local)  # e.g. atom:published misplaced inside atom:content
    assert doc.resource_counts() == expected
    if foreign:
        # Not resources: the reader takes them as the entry's Atom metadata, and says so.
        codes = {w.code for w in doc.warnings}
        assert "atom_metadata_in_content" in codes
        for local in foreign:
            assert local not in doc.resource_counts()
            assert any(getattr(entry, local) is not None for entry in doc.entries)


@pytest.mark.parametrize(
    "row",
    [r for r in WELL_FORMED if r["reading_durations"]],
    ids=ids([r for r in WELL_FORMED if r["reading_durations"]]),
)
def test_reading_durations_match_manifest(row: dict[str, str]) -> None:
    """The MANIFEST's most common reading durations (``3600x2015``) are what the reader sees."""
    durations = Counter(r.duration for r in parsed(row["file"]).interval_readings())
    for part in row["reading_durations"].split(","):
        duration, _, count = part.partition("x")
        assert durations[int(duration)] == int(count), part


@pytest.mark.parametrize(
    "row",
    [r for r in WELL_FORMED if r["intervalLength"]],
    ids=ids([r for r in WELL_FORMED if r["intervalLength"]]),
)
def test_reading_type_interval_lengths_match_manifest(row: dict[str, str]) -> None:
    """ReadingType.intervalLength values are read as the integers the file holds."""
    lengths = {rt.interval_length for rt in parsed(row["file"]).resources(ReadingType)}
    assert lengths == {int(x) for x in row["intervalLength"].split(",")}


# ---- writing ---------------------------------------------------------------------------
@pytest.mark.parametrize("row", WELL_FORMED, ids=ids(WELL_FORMED))
def test_round_trip_gives_an_equal_document(row: dict[str, str]) -> None:
    """parse(serialize(doc)) == doc: nothing read is lost or changed by writing it back."""
    doc = parsed(row["file"])
    again = espi_sst.parse(written(row["file"]))
    assert again == doc
    assert again.resource_counts() == doc.resource_counts()
    assert [(r.start, r.duration, r.value) for r in again.interval_readings()] == [
        (r.start, r.duration, r.value) for r in doc.interval_readings()
    ]


@pytest.mark.parametrize(
    "row",
    [r for r in WELL_FORMED if r["file"] not in UNWRITABLE],
    ids=ids([r for r in WELL_FORMED if r["file"] not in UNWRITABLE]),
)
def test_writer_output_validates(row: dict[str, str]) -> None:
    """Whatever the utility sent, what we write is valid ESPI 4.0 (only 60% of inputs are)."""
    assert espi_sst.validate(written(row["file"])) == []


def _expected_problem_fields(name: str) -> set[str]:
    fields = UNWRITABLE[name]
    if fields is not None:
        return fields
    (app,) = parsed(name).resources(ApplicationInformation)
    return required_fields_missing(app)


@pytest.mark.parametrize(
    "name",
    [
        "gba-sandbox_ApplicationInformation.xml",
        pytest.param("utilityapi-export_intervals_APUC000000_electric.xml"),
    ],
)
def test_unwritable_input_names_every_missing_or_invalid_field(name: str) -> None:
    """The writer never invents required data; it says exactly which fields to fill in."""
    expected = _expected_problem_fields(name)
    assert expected, "the input lacks required data"
    with pytest.raises(espi_sst.SerializeError) as caught:
        espi_sst.serialize(parsed(name))
    message = str(caught.value)
    assert caught.value.code == "invalid_model"
    for field in expected:
        assert re.search(rf"ApplicationInformation/{field}: ", message), field


def test_gba_sandbox_application_information_error_explains_each_problem() -> None:
    """The message says what is wrong with each field, not just its name."""
    with pytest.raises(espi_sst.SerializeError) as caught:
        espi_sst.serialize(parsed("gba-sandbox_ApplicationInformation.xml"))
    message = str(caught.value)
    assert "5 problem(s)" in message
    assert "response_types: 'token' is not a ResponseType (code)" in message
    assert "grant_types: needs 2 values, but has 1" in message
    assert "thirdPartyNotifyUri: is required, but has none" in message
    assert "allow_invalid=True" in message


def test_utilityapi_application_information_error_counts_every_problem() -> None:
    """With many problems the message still gives the total, so none is silently dropped."""
    name = "utilityapi-export_intervals_APUC000000_electric.xml"
    (app,) = parsed(name).resources(ApplicationInformation)
    missing = required_fields_missing(app)
    with pytest.raises(espi_sst.SerializeError) as caught:
        espi_sst.serialize(parsed(name))
    assert f"{len(missing)} problem(s)" in str(caught.value)
    assert len(missing) == 21


@pytest.mark.parametrize("name", sorted(UNWRITABLE))
def test_unwritable_input_still_round_trips_with_allow_invalid(name: str) -> None:
    """allow_invalid=True writes what was read (for debugging an export) without loss."""
    doc = parsed(name)
    xml = espi_sst.serialize(doc, allow_invalid=True)
    assert espi_sst.parse(xml) == doc
    issues = espi_sst.validate(xml)
    # Every issue lies inside the ApplicationInformation (libxml2 names the offending child
    # element, xmlschema named the parent: both point into it).
    lines = xml.decode().splitlines()
    first = next(n for n, line in enumerate(lines, 1) if "ApplicationInformation" in line)
    last = max(n for n, line in enumerate(lines, 1) if "ApplicationInformation" in line)
    assert issues and all(
        issue.element in {"ApplicationInformation", "response_types"}
        or (issue.line is not None and first <= issue.line <= last)
        for issue in issues
    ), issues


@pytest.mark.parametrize("name", sorted(UNWRITABLE))
def test_document_without_the_unwritable_entry_serializes_validly(name: str) -> None:
    """Only the incomplete ApplicationInformation blocks writing; the rest is valid ESPI."""
    doc = parsed(name)
    rest = [e for e in doc.entries if not isinstance(e.content, ApplicationInformation)]
    assert len(rest) == len(doc.entries) - 1
    feed = dataclasses.replace(doc.feed, entries=rest) if doc.feed is not None else None
    smaller = Document(feed=feed, entries=rest)
    if not rest:
        # A single-entry document has nothing left: an empty feed is not valid Atom either,
        # and the writer says so instead of writing one.
        with pytest.raises(SerializeError, match="at least 3 children"):
            espi_sst.serialize(smaller)
        return
    xml = espi_sst.serialize(smaller)
    assert espi_sst.validate(xml) == []
    again = espi_sst.parse(xml)
    assert again.resource_counts() == {
        k: v for k, v in doc.resource_counts().items() if k != "ApplicationInformation"
    }
    assert len(list(again.interval_readings())) == len(list(doc.interval_readings()))


def test_gba_sandbox_application_information_validates_once_completed() -> None:
    """Filling in exactly the fields the error names is enough for a valid file."""
    doc = espi_sst.parse(CORPUS / "gba-sandbox_ApplicationInformation.xml")
    app = doc.entries[0].content
    assert isinstance(app, ApplicationInformation)
    app.third_party_notify_uri = "https://thirdparty.example/notify"
    app.redirect_uri = ["https://thirdparty.example/callback"]
    app.grant_types = [GrantType.client_credentials, GrantType.authorization_code]
    app.response_types = ResponseType.code
    app.registration_access_token = "token-value"
    xml = espi_sst.serialize(doc)
    assert espi_sst.validate(xml) == []


# ---- validating the original -----------------------------------------------------------
@pytest.mark.parametrize("row", ROWS, ids=ids(ROWS))
def test_original_file_validity_matches_manifest(row: dict[str, str]) -> None:
    """validate() gives the verdict recorded when the corpus was built; the issue count
    recorded is xmlschema's (libxml2 counts a broken content model differently), so it is
    checked against the xmlschema engine (tests/espi_sst/test_validation_engines.py
    proves the verdicts agree)."""
    path = CORPUS / row["file"]
    verdict = row["validates_espi40"]
    if verdict.startswith("no (not well-formed)"):
        with pytest.raises(espi_sst.ParseError):
            espi_sst.validate(path)
        return
    issues = espi_sst.validate(path)
    assert verdict in ("yes", "no")
    assert (issues == []) == (verdict == "yes"), [str(i) for i in issues[:3]]
    assert len(xmlschema_issues(path)) == int(row["n_errors"])
    for issue in issues:
        assert issue.line is None or issue.line >= 1
        assert issue.message
