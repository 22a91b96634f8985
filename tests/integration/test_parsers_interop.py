"""Two popular third-party Green Button parsers read every document the demo serves (issue 14).

* ``@cityssm/green-button-parser`` (npm, pinned by parsers/package-lock.json, installed by
  ./dev when Node.js 20+ is present; ``parsers/read.mjs`` prints what it found);
* ``greenbutton-objects`` (PyPI, pinned in constraints.txt and setup.cfg's test extra).

A customer with a bundled RIN (alex) and one with an unbundled pair (blake) each grant the
demo ASP through the real portal; the test then fetches, with the client library's
connection, the Batch/Subscription feed, the UsagePoint feed and every resource linked from
what it fetched (MeterReading, IntervalBlock, UsageSummary, ReadingType, LocalTimeParameters,
RateInformation, BillComparison, RateChangeRequest ... and ``UsageSummary?SST=BillComparison``),
and compares what each parser reports with an independent count by plain lxml XPath:

* npm parser, every document: entries, IntervalReadings (count and sum of values) and the
  RINs it reports (every RIN-shaped text in the contents).  Before issue 14 it crashed on
  every document holding ``<sst:bundledRin lse="PGE">USCA-...</sst:bundledRin>`` (an element
  with an attribute and digits in its text: xml2js gives ``{_: text, $: attributes}`` and
  its ``cleanContentJson`` then writes into the string);
* greenbutton-objects, every feed: it only builds UsagePoints from the ``atom:feed`` it is
  given, linking MeterReading, ReadingType and IntervalBlock entries of the same feed by
  their ``related``/``self`` hrefs.  So it reads the UsagePoints (count) of any feed and
  the readings (count and sum) of a feed holding the whole tree (Batch/Subscription); a
  single entry (``<entry>`` root) or a feed of other resources (MeterReading, IntervalBlock,
  UsageSummary, SST resources) gives it no UsagePoint, hence nothing: asserted as exactly
  that, no more, no crash.  It does not know UsageSummary or the SST resources at all.

Skipped when Node.js 20+ or the npm package is missing, unless ESPI_REQUIRE_NODE is set
(.ci/run sets it where Node.js 20+ exists).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from demo_process import CustomerBrowser, demo_process
from greenbutton_objects import parse as gbo_parse
from lxml import etree
from node_packages import NODE, require_npm_package

import espi_sst
from espi_sst.client import AspClient, FileTokenStore

PARSERS = Path(__file__).parent / "parsers"
ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
NS = {"atom": ATOM, "espi": ESPI}
RIN = re.compile(r"US[A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{1,10}")
SCOPE = (
    "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
    "HistoryLength=13 basic billing usage sst:rin sst:bill_comparison sst:rate_change openid"
)
SAMPLED_ENTRIES = 2
"""Single entries fetched per kind of resource in a feed (every IntervalBlock would be ~400)."""


@dataclass(frozen=True)
class Served:
    url: str
    path: Path
    tree: etree._Element


@dataclass(frozen=True)
class Counted:
    """What a plain XPath reading of a document finds (the independent count)."""

    entries: int
    usage_points: int
    readings: int
    value_sum: int
    rins: list[str]


@pytest.fixture()
def npm_parser() -> Path:
    require_npm_package(PARSERS, "@cityssm/green-button-parser")
    return PARSERS / "read.mjs"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Served]]]:
    """Every document the demo serves to the demo ASP for alex and for blake."""
    folder = tmp_path_factory.mktemp("parsers")
    with demo_process(folder, ["--asp-port", "0"]) as document:
        yield {
            name: _crawl(document, name, folder / name, index)
            for index, name in enumerate(("alex", "blake"))
        }


def _crawl(document: dict[str, Any], username: str, folder: Path, index: int) -> list[Served]:
    folder.mkdir()
    asp = next(c for c in document["clients"] if c["client_id"] == "demo-energy-insights")
    client = AspClient.from_issuer(
        document["issuer"],
        client_id=asp["client_id"],
        client_secret=asp["client_secret"],
        redirect_uri=asp["redirect_uris"][0],
        scope=SCOPE,
        token_store=FileTokenStore(folder / "tokens.json"),
    )
    customer = next(c for c in document["customers"] if c["username"] == username)
    started = client.authorization_url()
    grant = client.fetch_token(
        CustomerBrowser(document["base_url"], customer).approve(started.url), started
    )
    found: list[Served] = []
    with client.connect(grant.key) as connection:
        subscription = connection.subscription_url()
        batch = subscription.replace("/Subscription/", "/Batch/Subscription/")
        queue = [batch, f"{subscription}/UsagePoint"]
        seen = set(queue)
        while queue:
            url = queue.pop(0)
            body = connection.request(
                "GET", url, headers={"Accept": "application/atom+xml"}
            ).content
            path = folder / f"{len(found):03d}.xml"
            path.write_bytes(body)
            tree = etree.fromstring(body)
            found.append(Served(url, path, tree))
            for link in _links_to_follow(tree):
                if link not in seen and urlsplit(link).netloc == urlsplit(url).netloc:
                    seen.add(link)
                    queue.append(link)
                    if link.endswith("/UsageSummary"):
                        queue.append(f"{link}?SST=BillComparison")
    assert len(found) > 10, [s.url for s in found]
    return found


def _links_to_follow(tree: etree._Element) -> list[str]:
    """Related links of every entry; self links of a few entries of each kind."""
    entries = [tree] if etree.QName(tree).localname == "entry" else tree.findall("atom:entry", NS)
    links: list[str] = []
    sampled: dict[str, int] = {}
    for entry in entries:
        kind = "".join(etree.QName(c).localname for c in entry.findall("atom:content/*", NS))
        links += entry.xpath("atom:link[@rel='related']/@href", namespaces=NS)
        sampled[kind] = sampled.get(kind, 0) + 1
        if sampled[kind] <= SAMPLED_ENTRIES:
            links += entry.xpath("atom:link[@rel='self']/@href", namespaces=NS)
    return links


def _count(tree: etree._Element) -> Counted:
    entries = [tree] if etree.QName(tree).localname == "entry" else tree.findall("atom:entry", NS)
    values = tree.xpath(
        ".//espi:IntervalBlock/espi:IntervalReading/espi:value/text()", namespaces=NS
    )
    texts = tree.xpath(".//atom:content//text()", namespaces=NS)
    return Counted(
        entries=len(entries),
        usage_points=len(tree.xpath("atom:entry/atom:content/espi:UsagePoint", namespaces=NS)),
        readings=len(tree.xpath(".//espi:IntervalBlock/espi:IntervalReading", namespaces=NS)),
        value_sum=sum(int(v) for v in values),
        rins=sorted(m for t in texts for m in RIN.findall(t)),
    )


def _kinds(served: dict[str, list[Served]]) -> set[str]:
    return {
        etree.QName(c).localname
        for documents in served.values()
        for s in documents
        for c in s.tree.xpath(".//atom:content/*", namespaces=NS)
    }


def test_the_crawl_covers_every_kind_of_resource(served: dict[str, list[Served]]) -> None:
    """The documents compared below include every kind the demo serves for these grants."""
    assert {
        "UsagePoint",
        "MeterReading",
        "ReadingType",
        "IntervalBlock",
        "UsageSummary",
        "LocalTimeParameters",
        "RateInformation",
        "BillComparison",
    } <= _kinds(served)
    # alex's UsageSummary carries a bundled RIN, blake's the unbundled pair
    assert any(s.tree.xpath(".//*[local-name()='bundledRin']") for s in served["alex"])
    assert any(s.tree.xpath(".//*[local-name()='generationRin']") for s in served["blake"])


def test_espi_sst_parse_agrees_with_the_xpath_count(served: dict[str, list[Served]]) -> None:
    """The independent count and the library's own reading agree (sanity of the yardstick)."""
    for documents in served.values():
        for s in documents:
            counted = _count(s.tree)
            readings = list(espi_sst.parse(s.path.read_bytes()).interval_readings())
            assert len(readings) == counted.readings, s.url
            assert sum(r.value or 0 for r in readings) == counted.value_sum, s.url


def test_npm_green_button_parser_reads_every_document(
    served: dict[str, list[Served]], npm_parser: Path
) -> None:
    assert NODE is not None
    failures = []
    for documents in served.values():
        for s in documents:
            done = subprocess.run(
                [NODE, str(npm_parser), str(s.path)], capture_output=True, text=True, timeout=120
            )
            if done.returncode != 0:
                failures.append(f"{s.url}: {done.stdout.strip() or done.stderr.strip()}")
                continue
            read = json.loads(done.stdout)
            counted = _count(s.tree)
            assert read["entries"] == counted.entries, s.url
            assert read["readings"] == counted.readings, s.url
            assert read["valueSum"] == counted.value_sum, s.url
            assert sorted(read["rins"]) == counted.rins, s.url
    assert not failures, "\n".join(failures)


def test_greenbutton_objects_reads_every_feed(served: dict[str, list[Served]]) -> None:
    whole_trees = 0
    for documents in served.values():
        for s in documents:
            counted = _count(s.tree)
            usage_points = gbo_parse.parse_feed(str(s.path))
            readings = [
                ir for up in usage_points for mr in up.meterReadings for ir in mr.intervalReadings
            ]
            # It builds UsagePoints from a feed's entries only; a single entry gives none.
            expected_points = counted.usage_points if etree.QName(s.tree).localname == "feed" else 0
            assert len(usage_points) == expected_points, s.url
            expected_readings = counted.readings if expected_points else 0
            assert len(readings) == expected_readings, s.url
            assert sum(ir._value for ir in readings) == (
                counted.value_sum if expected_points else 0
            )
            whole_trees += bool(expected_readings)
    assert whole_trees >= 2  # each customer's Batch/Subscription feed, readings and all
