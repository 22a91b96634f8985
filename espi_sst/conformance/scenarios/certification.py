"""The GBA certification catalogue's automated data rules, one scenario per test id.

Registered from the catalogue (:mod:`..certification`), ``GBA-D099`` for test D099: a Plug
Fest verdict then cites the very GBA test that failed, with the nodes that break it, and
the other rules of the same function block keep their own verdicts (one scenario per
function block would fail FB_15 for a missing qualityOfReading and hide whether its
seventeen other rules hold).  A rule applies when the server's own answers claim its
function block: the FB=... of the scopes it granted in this run's token responses and of
the ApplicationInformation it serves (NAESB REQ.21 ESPI; RFC 6749 5.1's ``scope``).

Rules run on every XML body the run collected (``ctx.documents``); the rules that need the
whole subscription in one document only on the Batch feeds (see
:attr:`~..certification.Rule.whole_document`).  A run that fetched no Batch feed (``--only
certification``) fetches the primary grant's ``resourceURI`` first.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lxml import etree

from ...errors import EspiError
from ...xml.reader import parse_tree
from ..certification import NAMESPACES, Rule, RuleNotXPath, claimed_blocks, data_rules, violations
from ..context import Context
from ..registry import scenario

CLAIMED = "certification.claimed_blocks"
TREES = "certification.trees"
SHOWN = 5  # failing nodes quoted in the reason; the rest go to the notes


def is_batch(url: str) -> bool:
    """A Batch feed (ESPI: Batch/Subscription, Batch/Bulk, Batch/RetailCustomer ...)."""
    return "/Batch/" in urlsplit(url).path


def _claimed(ctx: Context) -> set[int]:
    known = ctx.shared.get(CLAIMED)
    if isinstance(known, set):
        return known
    grant = ctx.grant()
    scopes = [grant.scope]
    for tree in _trees(ctx).values():
        scopes += [text or "" for text in tree.xpath("//espi:scope/text()", namespaces=NAMESPACES)]
    blocks = claimed_blocks(scopes)
    if not blocks:
        ctx.fail(
            f"the token response's scope {grant.scope!r} claims no ESPI function block "
            "(NAESB REQ.21: an FB=... scope)"
        )
    ctx.shared[CLAIMED] = blocks
    return blocks


def _trees(ctx: Context) -> dict[str, etree._ElementTree]:
    """Every collected body as a tree (parsed once; unreadable ones are the schema
    scenario's to fail), after making sure one Batch feed is among them."""
    if not any(is_batch(url) for url in ctx.documents):
        grant = ctx.grant()
        if grant.resource_uri:
            ctx.expect_xml(ctx.fetch(grant.resource_uri, grant.access_token), "Batch/Subscription")
    trees: dict[str, etree._ElementTree | None] = ctx.shared.setdefault(TREES, {})
    for url, body in list(ctx.documents.items()):
        if url not in trees:
            try:
                trees[url] = parse_tree(body)[1]
            except EspiError:
                trees[url] = None
    return {url: tree for url, tree in trees.items() if tree is not None}


def check_rule(ctx: Context, rule: Rule) -> None:
    blocks = _claimed(ctx)
    if rule.block_number not in blocks:
        ctx.skip(
            f"the server's scope claims function blocks {sorted(blocks)}, not {rule.function_block}"
        )
    trees = _trees(ctx)
    applied = {u: t for u, t in trees.items() if is_batch(u) or not rule.whole_document}
    if not applied:
        ctx.skip("no Batch feed was collected, and this rule needs a whole subscription")
    failing: dict[str, list[str]] = {}
    try:
        for url, tree in applied.items():
            if found := violations(tree, rule):
                failing[url] = found
    except RuleNotXPath as exc:
        ctx.skip(f"{exc} (the catalogue copy holds it so; nothing to evaluate)")
    ctx.note(f"{rule.test_id} ({rule.function_block}) on {len(applied)} document(s)")
    if failing:
        nodes = sum(len(v) for v in failing.values())
        url, where = next(iter(failing.items()))
        for other, paths in failing.items():
            ctx.note(f"{other}: {len(paths)} node(s): {', '.join(paths[:20])}")
        ctx.fail(
            f"{nodes} node(s) in {len(failing)} document(s) break {rule.test_id} "
            f"({rule.name}): for {rule.context} the test {rule.test} is false, e.g. "
            f"{url} at {', '.join(where[:SHOWN])}"
        )


def _register(rule: Rule) -> None:
    def run(ctx: Context) -> None:
        check_rule(ctx, rule)

    run.__name__ = f"gba_{rule.test_id.lower()}"
    scenario(
        f"GBA-{rule.test_id}",
        f"GBA certification {rule.test_id} ({rule.function_block}): {rule.name.strip()}",
        references=(
            f"GBA certification test {rule.test_id}",
            f"NAESB REQ.21 ESPI function block {rule.block_number}",
        ),
        group="certification",
    )(run)


for _rule in data_rules():
    _register(_rule)
