"""``espi_sst.validate`` (espi_sst/validation.py): a report, separate from reading.

What callers rely on: a valid document gives ``[]``; every schema violation is one
:class:`~espi_sst.ValidationIssue` with its line, element and reason, in document order;
``raise_on_error`` turns a non-empty report into a :class:`~espi_sst.ValidationError`;
profiles choose the schema set (the official ESPI 4.0 set, plus our SST extension by
default, or the concept design's Appendix B form); the SST rules no schema can state are
reported too.  Hostile input is covered by xml/test_safety.py, the SST profiles by
xml/test_sst_codec.py, and every real file's verdict by tests/corpus.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from lxml import etree

import espi_sst
from espi_sst import EspiError, ParseError, ValidationError, ValidationIssue
from espi_sst.validation import PROFILES

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
SST = "urn:espi-sst:sst:1"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sst"
VALID = "pge-cmd_IntervalBlock.xml"

INVALID = f"""<feed xmlns="{ATOM}" xmlns:espi="{ESPI}">
<id>urn:uuid:6f0c1d2e-0000-5000-8000-000000000010</id><title>t</title>
<updated>2024-01-01T00:00:00Z</updated>
<entry>
<id>urn:uuid:6f0c1d2e-0000-5000-8000-000000000011</id>
<link rel="self" href="/UsagePoint/1"/><link rel="up" href="/UsagePoint"/><title>x</title>
<published>2024-01-01T00:00:00Z</published><updated>2024-01-01T00:00:00Z</updated>
<content><espi:UsagePoint>
<espi:ServiceCategory><espi:kind>seven</espi:kind></espi:ServiceCategory>
<espi:status>maybe</espi:status>
</espi:UsagePoint></content></entry></feed>""".encode()


def line_of(xml: bytes, namespace: str, local: str) -> int:
    (found,) = etree.fromstring(xml).iter(f"{{{namespace}}}{local}")
    return int(found.sourceline)


def test_a_valid_document_gives_an_empty_report(corpus_dir: Path) -> None:
    path = corpus_dir / VALID
    assert espi_sst.validate(path) == []
    assert espi_sst.validate(path.read_bytes()) == []
    with path.open("rb") as handle:
        assert espi_sst.validate(handle) == []
    assert espi_sst.validate(path, raise_on_error=True) == []


def test_each_violation_is_an_issue_with_its_line_element_and_reason() -> None:
    issues = espi_sst.validate(INVALID)
    assert [(i.line, i.element) for i in issues] == [
        (line_of(INVALID, ESPI, "kind"), "kind"),
        (line_of(INVALID, ESPI, "status"), "status"),
    ]
    assert all(isinstance(i, ValidationIssue) for i in issues)
    assert "'seven'" in issues[0].message
    assert str(issues[0]) == f"line {issues[0].line}: kind: {issues[0].message}"


def test_raise_on_error_raises_a_validation_error_naming_the_count_and_the_first() -> None:
    with pytest.raises(ValidationError) as raised:
        espi_sst.validate(INVALID, raise_on_error=True)
    assert isinstance(raised.value, EspiError) and isinstance(raised.value, ValueError)
    assert raised.value.code == "validation_error"
    assert "2 schema issue(s)" in str(raised.value) and "kind" in str(raised.value)


def test_an_unknown_profile_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as refused:
        espi_sst.validate(INVALID, profile="strict")
    assert all(name in str(refused.value) for name in PROFILES)


def test_a_document_that_is_not_xml_is_a_parse_error_with_its_line() -> None:
    with pytest.raises(ParseError) as refused:
        espi_sst.validate(b"<feed>\n<entry>\n</feed>")
    assert refused.value.code == "malformed_xml" and refused.value.line == 3


def test_the_default_profile_adds_only_the_sst_namespace() -> None:
    """A plain ESPI document gets the same report with and without our extension."""
    assert espi_sst.validate(INVALID) == espi_sst.validate(INVALID, profile="official")


def test_extra_schemas_join_the_set_by_namespace() -> None:
    """The official set plus espi-sst.xsd given as an extra schema is the sst profile."""
    xml = (
        (EXAMPLES / "bundled-customer-feed.xml")
        .read_bytes()
        .replace(b"<sst:status>available</sst:status>", b"<sst:status>approved</sst:status>")
    )
    with_extra = espi_sst.validate(xml, profile="official", extra_schemas=[(SST, "espi-sst.xsd")])
    assert with_extra == espi_sst.validate(xml, profile="sst") != []


def test_rule_beyond_the_schema_is_reported_by_validate_at_the_resource() -> None:
    """A schema-valid comparison valid for longer than one billing cycle is still reported
    by validate() (the SST rules pass), at the BillComparison's line."""
    source = (EXAMPLES / "bundled-customer-feed.xml").read_bytes()
    xml = source.replace(
        b"<sst:validUntil>1766304000</sst:validUntil>",
        b"<sst:validUntil>1766304001</sst:validUntil>",
    )
    assert xml != source
    (issue,) = espi_sst.validate(xml)
    assert issue.line == line_of(xml, SST, "BillComparison")
    assert issue.element == "BillComparison"
    assert "31 days" in issue.message
    with pytest.raises(ParseError) as info:
        espi_sst.parse(xml)
    assert info.value.line == issue.line


def test_a_text_mode_file_is_refused_as_a_type_error(corpus_dir: Path) -> None:
    with pytest.raises(TypeError):
        espi_sst.validate(io.StringIO((corpus_dir / VALID).read_text()))  # type: ignore[arg-type]


def test_sst_rules_false_checks_the_schemas_alone() -> None:
    """The conformance kit's schema verdict: a schema-valid document breaking an SST rule
    (a comparison valid beyond one billing cycle) has no schema issue, while a schema
    violation in the same document is still reported."""
    source = (EXAMPLES / "bundled-customer-feed.xml").read_bytes()
    semantic = source.replace(
        b"<sst:validUntil>1766304000</sst:validUntil>",
        b"<sst:validUntil>1766304001</sst:validUntil>",
    )
    assert espi_sst.validate(semantic) != []
    assert espi_sst.validate(semantic, sst_rules=False) == []
    schema_broken = semantic.replace(b"<sst:validUntil>", b"<sst:validTill>", 1).replace(
        b"</sst:validUntil>", b"</sst:validTill>", 1
    )
    assert schema_broken != semantic
    issues = espi_sst.validate(schema_broken, sst_rules=False)
    assert issues and all("validTill" in str(i) or "validUntil" in str(i) for i in issues[:1])
