"""The GBA certification catalogue's automated data rules, and their evaluation on a document.

The catalogue (``data/gba-test-cases-2019_index.tsv``, provenance in ``data/PROVENANCE.md``)
gives each automated data test of the Green Button Alliance's certification a schematron
rule: a CONTEXT XPath and a TEST XPath that must hold for every node the context selects,
XSLT's ``current()`` being that node (schematron ``assert`` semantics).  The kit applies the
rules of the function blocks a server's scope claims (NAESB REQ.21 ESPI ``FB=...``).

Most rules look at one entry (it has an id, a self link, a kind); some need the whole
subscription in one document -- the feed has a UsagePoint entry, a MeterReading's related
link is a ReadingType entry of the same feed (:attr:`Rule.whole_document`).  The GBA test
harness ran them on the downloaded Batch feeds, where every entry of a subscription is
present; on a single-resource feed they would fail by construction, so the kit applies
those only to Batch feeds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lxml import etree

from ..scope import Scope

__all__ = [
    "CATALOGUE_FILE",
    "NAMESPACES",
    "Rule",
    "RuleNotXPath",
    "claimed_blocks",
    "data_rules",
    "violations",
]

CATALOGUE_FILE = "gba-test-cases-2019_index.tsv"
RULE_COLUMN = "xslt_context_and_test(for data tests)"
NAMESPACES = {"atom": "http://www.w3.org/2005/Atom", "espi": "http://naesb.org/espi"}
_WHOLE_FEED_CONTEXTS = ("/", "/atom:feed")


class RuleNotXPath(ValueError):
    """The catalogue's text of a rule is not an XPath (D078's TEST is cut short)."""


@dataclass(frozen=True)
class Rule:
    """One automated data test: its GBA id, function block, name and schematron XPaths."""

    test_id: str
    function_block: str  # "FB_15"
    name: str
    context: str
    test: str

    @property
    def whole_document(self) -> bool:
        """The rule needs the whole subscription in one document: it asks whether the feed
        has an entry of a kind (context ``/`` or ``/atom:feed``), or its test looks at
        other entries by an absolute path (a link's target, uniqueness)."""
        return self.context.strip() in _WHOLE_FEED_CONTEXTS or "/atom:feed" in self.test

    @property
    def block_number(self) -> int:
        return int(self.function_block.removeprefix("FB_"))


def _split(text: str) -> tuple[str, str]:
    context, test = text.split("| TEST:", 1)
    return context.removeprefix("CONTEXT:").strip(), test.strip()


@lru_cache(maxsize=1)
def data_rules() -> tuple[Rule, ...]:
    """Every automated data rule of the catalogue, in its order (one per test id)."""
    source = resources.files(__package__) / "data" / CATALOGUE_FILE
    rules: dict[str, Rule] = {}
    with source.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            text = (row.get(RULE_COLUMN) or "").strip()
            if not text or "| TEST:" not in text:
                continue
            context, test = _split(text)
            rules.setdefault(
                row["test_id"],
                Rule(row["test_id"], row["function_block"], row["test_name"], context, test),
            )
    return tuple(rules.values())


def claimed_blocks(scopes: Iterable[str]) -> set[int]:
    """The ESPI function blocks (numbers) the ``FB=...`` words of ``scopes`` claim."""
    blocks: set[int] = set()
    for scope in scopes:
        for word in scope.split():
            if word.startswith("FB="):
                blocks |= set(Scope.parse(word).function_blocks)
    return blocks


def _compiled(rule: Rule, current: list[etree._Element]) -> tuple[etree.XPath, etree.XPath]:
    try:
        context = etree.XPath(rule.context, namespaces=NAMESPACES)
        test = etree.XPath(
            rule.test,
            namespaces=NAMESPACES,
            extensions={(None, "current"): lambda _ctx: current[:1]},
        )
    except etree.XPathSyntaxError as exc:
        raise RuleNotXPath(f"{rule.test_id}: the catalogue's rule is not an XPath: {exc}") from None
    return context, test


def violations(tree: etree._ElementTree, rule: Rule) -> list[str]:
    """The paths of the context nodes for which the rule's test is false.

    ``tree`` must come from the library's safe reader (:func:`espi_sst.xml.reader.parse_tree`);
    ``current()`` in the test is the context node, as in XSLT.

    Raises:
        RuleNotXPath: the catalogue's CONTEXT or TEST does not compile.
    """
    current: list[etree._Element] = []
    context, test = _compiled(rule, current)
    if rule.context.strip() == "/":
        # lxml evaluates on the root element, never the document node: a rule about the
        # document (D000: "the root is atom:feed") is its test taken from the root down.
        _, document_test = _compiled(Rule(rule.test_id, "", "", "/", "/" + rule.test), current)
        return [] if document_test(tree) else ["/"]
    failed = []
    try:
        nodes = context(tree)
        for node in nodes if isinstance(nodes, list) else []:
            current[:] = [node]
            if not test(node):
                failed.append(tree.getpath(node) if isinstance(node, etree._Element) else "/")
    except etree.XPathEvalError as exc:
        raise RuleNotXPath(
            f"{rule.test_id}: the catalogue's rule does not evaluate: {exc}"
        ) from None
    return failed
