"""Differential test of the two validation engines (issue 17).

``espi_sst.validate`` decides with libxml2 streaming (espi_sst/xml/libxml2_validation.py);
``xmlschema_issues`` is the xmlschema engine it replaced.  On every real utility file of the
corpus, every SST example, the benchmark generator's file and deliberately broken
documents, both must give the same verdict (valid or not), and an invalid document must
get at least one issue with a line from each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import espi_sst
from espi_sst.validation import deduplicated, xmlschema_issues
from tests.corpus_data import CORPUS, corpus_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "sst").glob("*.xml"))
ROWS = [r for r in corpus_manifest() if not r["validates_espi40"].startswith("no (not well")]


def same_verdict(source: Path | bytes, profile: str = "sst") -> list[espi_sst.ValidationIssue]:
    fast = espi_sst.validate(source, profile=profile, sst_rules=False)
    slow = xmlschema_issues(source, profile=profile)
    assert (fast == []) == (slow == []), (fast[:2], slow[:2])
    return fast


@pytest.mark.parametrize("row", ROWS, ids=[r["file"][:60] for r in ROWS])
def test_every_corpus_file_gets_the_same_verdict_from_both_engines(row: dict[str, str]) -> None:
    issues = same_verdict(CORPUS / row["file"])
    assert (issues == []) == (row["validates_espi40"] == "yes")
    assert all(i.line is not None and i.line >= 1 for i in issues)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_sst_example_gets_the_same_verdict_on_each_profile(path: Path) -> None:
    for profile in ("official", "sst", "appendix-b"):
        same_verdict(path, profile)


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-day feed from the benchmark's generator (same shape as its 1- and 5-year files)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "bench"))
    folder = tmp_path_factory.mktemp("bench")
    generate.generate(folder / "feed.xml", folder / "feed.json", days=40)
    return folder / "feed.xml"


def breakages(xml: bytes) -> dict[str, bytes]:
    return {
        "bad value": xml.replace(b"<espi:value>", b"<espi:value>x", 1),
        "unknown element": xml.replace(b"<espi:value>", b"<espi:valu>", 1).replace(
            b"</espi:value>", b"</espi:valu>", 1
        ),
        "missing feed id": xml.replace(b"<id>", b"<idx>", 1).replace(b"</id>", b"</idx>", 1),
        "bad attribute": xml.replace(b'rel="self"', b'rel="self" bogus="1"', 1),
    }


def test_the_benchmark_feed_is_valid_for_both_engines(bench_file: Path) -> None:
    assert same_verdict(bench_file) == []


@pytest.mark.parametrize(
    "kind", ["bad value", "unknown element", "missing feed id", "bad attribute"]
)
def test_a_broken_feed_is_invalid_for_both_engines_at_the_same_line(
    bench_file: Path, kind: str
) -> None:
    broken = breakages(bench_file.read_bytes())[kind]
    assert broken != bench_file.read_bytes()
    fast = same_verdict(broken)
    slow = xmlschema_issues(broken)
    original = bench_file.read_bytes().splitlines()
    changed = next(i + 1 for i, line in enumerate(broken.splitlines()) if line != original[i])
    # xmlschema names an unexpected child's parent, libxml2 the child itself
    assert fast and fast[0].line in (slow[0].line, changed)


def test_every_broken_reading_is_reported_with_its_own_line(bench_file: Path) -> None:
    """73 broken values: 73 issues, each at its reading's line, in document order."""
    xml = bench_file.read_bytes().replace(b"<espi:value>", b"<espi:value>x", 73)
    fast = espi_sst.validate(xml)
    expected = [i + 1 for i, line in enumerate(xml.splitlines()) if b"<espi:value>x" in line]
    assert [i.line for i in fast] == expected and len(expected) == 73
    (group,) = deduplicated(fast)
    assert group.count == 73 and group.first_lines == tuple(expected[:3])
    assert group.message.startswith("Element 'espi:value': '...' is not a valid value")


def test_a_stream_is_validated_once_read_and_located_from_its_spool(bench_file: Path) -> None:
    broken = breakages(bench_file.read_bytes())["bad value"]
    import io

    assert espi_sst.validate(io.BytesIO(broken)) == espi_sst.validate(broken) != []
    with bench_file.open("rb") as handle:
        assert espi_sst.validate(handle) == []


def test_a_feed_cut_short_is_a_parse_error_not_valid(bench_file: Path) -> None:
    data = bench_file.read_bytes()
    cut = data[: data.rindex(b"</entry>") + len(b"</entry>")]
    with pytest.raises(espi_sst.ParseError) as refused:
        espi_sst.validate(cut)
    assert refused.value.code == "malformed_xml"
