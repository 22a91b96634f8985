"""The GBA catalogue's evaluator (espi_sst.conformance.certification) on small documents."""

from __future__ import annotations

import pytest

from espi_sst.conformance.certification import (
    Rule,
    RuleNotXPath,
    claimed_blocks,
    data_rules,
    violations,
)
from espi_sst.xml.reader import parse_tree

FEED = b"""<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
<id>urn:uuid:f</id>
<entry><id>urn:uuid:up</id>
 <link rel="self" href="http://x/UsagePoint/1"/>
 <link rel="related" href="http://x/LocalTimeParameters/1"/>
 <content><espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory></espi:UsagePoint></content></entry>
<entry><id>urn:uuid:s1</id><content><espi:UsageSummary>SUMMARY1</espi:UsageSummary></content></entry>
<entry><id>urn:uuid:s2</id><content><espi:UsageSummary>SUMMARY2</espi:UsageSummary></content></entry>
</feed>"""


def rule(test_id: str) -> Rule:
    return next(r for r in data_rules() if r.test_id == test_id)


def tree(summary1: bytes = b"", summary2: bytes = b"", *, ltp: bool = False):  # type: ignore[no-untyped-def]
    body = FEED.replace(b"SUMMARY1", summary1).replace(b"SUMMARY2", summary2)
    if ltp:
        body = body.replace(
            b"</feed>",
            b'<entry><id>urn:uuid:l</id><link rel="self" href="http://x/LocalTimeParameters/1"/>'
            b"<content><espi:LocalTimeParameters/></content></entry></feed>",
        )
    return parse_tree(body)[1]


def test_the_catalogue_copy_ships_one_rule_per_test_id() -> None:
    rules = data_rules()
    ids = [r.test_id for r in rules]
    assert len(ids) == len(set(ids)) > 100
    assert rule("D099").function_block == "FB_15"
    assert rule("D099").test == "espi:qualityOfReading"


def test_a_missing_element_is_a_violation_at_each_context_node() -> None:
    quality = b"<espi:qualityOfReading>0</espi:qualityOfReading>"
    assert violations(tree(quality, quality), rule("D099")) == []
    found = violations(tree(quality, b""), rule("D099"))
    assert found == ["/*/*[4]/*[2]/espi:UsageSummary"]  # the second summary only


def test_current_is_the_context_node_in_cross_references() -> None:
    """D007: the UsagePoint's related link must be the self link of a LocalTimeParameters
    entry of the same feed -- ``current()`` must be the UsagePoint entry being checked."""
    assert violations(tree(ltp=True), rule("D007")) == []
    assert violations(tree(), rule("D007")) == ["/*/*[2]"]


def test_a_document_rule_looks_at_the_root() -> None:
    """D000 (context "/"): the document is an Atom feed; an entry document breaks it."""
    assert violations(tree(), rule("D000")) == []
    entry = parse_tree(b'<entry xmlns="http://www.w3.org/2005/Atom"><id>x</id></entry>')[1]
    assert violations(entry, rule("D000")) == ["/"]


def test_whole_document_rules_are_told_apart_from_entry_rules() -> None:
    assert rule("D006").whole_document  # the feed has a UsagePoint entry
    assert rule("D007").whole_document  # a link's target in the same feed
    assert not rule("D099").whole_document
    assert not rule("D013").whole_document


def test_a_rule_that_is_no_xpath_says_so() -> None:
    with pytest.raises(RuleNotXPath, match="D078"):
        violations(tree(), rule("D078"))


def test_claimed_blocks_come_from_the_fb_words_of_the_scopes() -> None:
    scopes = ["FB=1_4_15;IntervalDuration=3600 usage sst:rin", "openid", "FB=5_15"]
    assert claimed_blocks(scopes) == {1, 4, 5, 15}
    assert claimed_blocks(["basic usage"]) == set()
