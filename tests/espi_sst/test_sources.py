"""Compressed and many inputs for library users (issue 18): ``.xml.gz`` and ``.zip`` read by
their magic bytes, as streams, bomb-limited; globs; and the one-line refusals of what is
not Green Button XML (HTML page, RSS, empty file, misspelt namespace).  Every odd input is
built here from a real corpus file (tests/data/corpus, MANIFEST.tsv)."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

import espi_sst
from espi_sst.errors import ParseError, UnsafeXmlError
from espi_sst.sources import ArchiveMember, expand_inputs, expand_patterns, readings_of_all
from espi_sst.xml._safety import ReadLimits

ONE_DAY = "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml"  # 96 readings
SUMMARIES = "pge-cmd_UsageSummaries.xml"  # UsageSummary only, no IntervalBlock
SOLAR_FREE_BIG = "pge-cmd_IntervalBlock.xml"  # 2,556 readings, 1 MB


@pytest.fixture
def one_day(corpus_dir: Path) -> Path:
    return corpus_dir / ONE_DAY


def readings(source: object) -> list[tuple[int | None, int | None]]:
    return [(r.start, r.value) for r in espi_sst.iter_interval_readings(source)]  # type: ignore[arg-type]


def test_gzip_reads_like_the_plain_file_whatever_its_name(one_day: Path, tmp_path: Path) -> None:
    expected = readings(one_day)
    assert len(expected) == 96
    packed = gzip.compress(one_day.read_bytes())
    for name in ("usage.xml.gz", "usage.xml", "usage.download"):  # magic bytes, not suffix
        path = tmp_path / name
        path.write_bytes(packed)
        assert readings(path) == expected
        document = espi_sst.parse(path)
        assert len(list(document.interval_readings())) == 96
    assert readings(packed) == expected  # bytes
    assert readings(io.BufferedReader(io.BytesIO(packed))) == expected  # a caller's stream
    assert espi_sst.validate(tmp_path / "usage.xml.gz") == []


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_with_one_xml_among_other_files_reads_transparently(
    one_day: Path, tmp_path: Path
) -> None:
    archive = _zip(
        tmp_path / "download.zip",
        {
            "Bill.pdf": b"%PDF-1.4 not xml",
            "data/2023/usage.xml": one_day.read_bytes(),
            "__MACOSX/data/._usage.xml": b"\x00\x05\x16\x07",
        },
    )
    assert readings(archive) == readings(one_day)
    document = espi_sst.parse(archive)
    assert document.source == f"{archive}/data/2023/usage.xml"
    inputs = expand_inputs([str(archive)])
    assert inputs.sources == (ArchiveMember(str(archive), "data/2023/usage.xml"),)
    assert inputs.notes == (f"{archive}: skipped Bill.pdf (not XML)",)


def test_zip_with_several_xml_streams_them_all_and_parse_asks_for_one(
    corpus_dir: Path, one_day: Path, tmp_path: Path
) -> None:
    big = corpus_dir / SOLAR_FREE_BIG
    archive = _zip(
        tmp_path / "two.zip",
        {"a/one-day.xml": one_day.read_bytes(), "b/big.xml": big.read_bytes()},
    )
    assert readings(archive) == readings(one_day) + readings(big)
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(archive)
    assert caught.value.code == "several_xml_in_archive"
    assert "a/one-day.xml, b/big.xml" in str(caught.value)
    member = expand_inputs([str(archive)]).sources[1]
    assert len(list(espi_sst.parse(member).interval_readings())) == 2556


def test_gzip_bomb_is_refused_by_ratio_and_by_size(tmp_path: Path) -> None:
    """About 20 KB inflating to 20 MB of elements: refused long before, by the ratio limit
    (the streaming reader has no size limit) and, with the ratio limit off, by max_bytes."""
    bomb = tmp_path / "bomb.xml.gz"
    body = b'<feed xmlns="http://www.w3.org/2005/Atom">' + b"<a/>" * (5 << 20) + b"</feed>"
    bomb.write_bytes(gzip.compress(body, 9))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(UnsafeXmlError) as caught:
        readings(bomb)
    assert caught.value.code == "decompression_bomb"
    with pytest.raises(UnsafeXmlError) as caught:
        espi_sst.parse(bomb, limits=ReadLimits(max_bytes=4 << 20, max_ratio=None))
    assert caught.value.code == "input_too_large"


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "bomb.zip",
        {"usage.xml": b'<feed xmlns="http://www.w3.org/2005/Atom">' + b"<a/>" * (5 << 20)},
    )
    with pytest.raises(UnsafeXmlError) as caught:
        readings(archive)
    assert caught.value.code == "decompression_bomb"


def test_real_files_inflate_within_the_ratio_limit(corpus_dir: Path, tmp_path: Path) -> None:
    """The most compressible corpus files (about 55 times) read under the default limit."""
    for name in (SOLAR_FREE_BIG, "enbridge-gas-2024_EGD_Gas_EnergyUsage_20221225_20241225.xml"):
        path = tmp_path / f"{name}.gz"
        path.write_bytes(gzip.compress((corpus_dir / name).read_bytes(), 9))
        assert readings(path) == readings(corpus_dir / name)


@pytest.mark.parametrize("cut", [20, 1500])
def test_truncated_gzip_is_not_recognised(one_day: Path, tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(gzip.compress(one_day.read_bytes())[:cut])
    for read in (readings, espi_sst.parse, espi_sst.validate):
        with pytest.raises(ParseError) as caught:
            read(path)
        assert caught.value.code == "bad_archive", read
        assert "not recognised: the gzip file is truncated or damaged" in str(caught.value)


def test_corrupt_or_truncated_zip_and_zip_without_xml(one_day: Path, tmp_path: Path) -> None:
    good = _zip(tmp_path / "good.zip", {"usage.xml": one_day.read_bytes()}).read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(good[:40] + b"\x00" * 200 + good[240:])  # the deflate stream broken
    for path in (truncated, corrupt):
        with pytest.raises(ParseError) as caught:
            readings(path)
        assert caught.value.code in ("bad_archive", "no_xml_in_archive"), path
        assert "not recognised" in str(caught.value)
    no_xml = _zip(tmp_path / "bill.zip", {"Bill.pdf": b"%PDF-1.4", "notes/readme.txt": b"hi"})
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(no_xml)
    assert caught.value.code == "no_xml_in_archive"
    assert "Bill.pdf (not XML)" in str(caught.value)


SAVED_PAGE = b"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
 "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Green Button - Download My Data</title>
</head><body><a href="/download">Export usage</a></body></html>
"""


@pytest.mark.parametrize(
    "page",
    [SAVED_PAGE, b"\xef\xbb\xbf\n  <!doctype html><html><body>Sign in</body></html>"],
    ids=["saved-xhtml-page", "bom-and-blanks"],
)
def test_html_page_is_named_before_the_dtd_refusal(page: bytes) -> None:
    """A saved web page used to be told to "remove the DTD declaration" (issue 18)."""
    with pytest.raises(ParseError) as caught:
        espi_sst.parse(page)
    assert caught.value.code == "not_espi"
    assert "is an HTML page, not Green Button XML" in str(caught.value)
    assert "DTD" not in str(caught.value)


def test_rss_feed_is_refused(one_day: Path) -> None:
    rss = (
        b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Outages</title></channel></rss>'
    )
    with pytest.raises(ParseError) as caught:
        readings(rss)
    assert (caught.value.code, caught.value.line) == ("not_espi", 2)
    assert "is an RSS feed" in str(caught.value)


def test_misspelt_espi_namespace_names_found_and_expected(one_day: Path) -> None:
    """A real file with its ESPI namespace misspelt used to stream no reading at all."""
    misspelt = one_day.read_bytes().replace(b'"http://naesb.org/espi"', b'"http://naesb.org/epsi"')
    assert misspelt != one_day.read_bytes()
    for read in (readings, espi_sst.parse):
        with pytest.raises(ParseError) as caught:
            read(misspelt)
        assert caught.value.code == "not_espi"
        assert "'http://naesb.org/epsi' is not ESPI's; expected 'http://naesb.org/espi'" in str(
            caught.value
        )


def test_customer_namespace_and_the_sst_extension_are_not_misspellings(corpus_dir: Path) -> None:
    document = espi_sst.parse(corpus_dir / "pge-cmd_RetailCustomer-feed.xml")
    assert document.resource_counts()


def test_every_corpus_file_passes_the_sniffing(corpus_dir: Path) -> None:
    """No real file is mistaken for HTML, RSS, empty or a misspelt namespace."""
    from espi_sst.xml._sniff import sniff

    for path in sorted(corpus_dir.glob("*.xml")):
        sniff(path.read_bytes()[:65536], str(path))


def test_expand_patterns_sorts_matches_and_refuses_a_pattern_matching_nothing(
    corpus_dir: Path,
) -> None:
    found = expand_patterns([str(corpus_dir / "pge-cmd_*.xml"), str(corpus_dir / ONE_DAY)])
    names = [Path(p).name for p in found]
    assert names[:-1] == sorted(names[:-1]) and len(names) == 8
    assert names[-1] == ONE_DAY
    again = expand_patterns([str(corpus_dir / ONE_DAY), str(corpus_dir / "*one-day.xml")])
    assert again == [str(corpus_dir / ONE_DAY)]  # no file twice
    with pytest.raises(ParseError) as caught:
        expand_patterns([str(corpus_dir / "*.xml.gz")])
    assert caught.value.code == "no_match"


def test_readings_of_all_refuses_when_no_file_has_readings(corpus_dir: Path) -> None:
    with pytest.raises(ParseError) as caught:
        readings_of_all([corpus_dir / SUMMARIES])
    assert caught.value.code == "no_readings"
    mixed = readings_of_all([corpus_dir / SUMMARIES, corpus_dir / ONE_DAY])
    assert len(list(mixed)) == 96
    assert mixed.notes == [f"{corpus_dir / SUMMARIES}: no interval readings; skipped"]


class _Unseekable:
    """A pipe-like stream: read() only."""

    def __init__(self, data: bytes) -> None:
        self._handle = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)


def test_compressed_streams_that_cannot_seek(one_day: Path, tmp_path: Path) -> None:
    """A gzip from a pipe streams; a zip (its directory is at the end) is spooled first."""
    expected = readings(one_day)
    assert readings(_Unseekable(gzip.compress(one_day.read_bytes()))) == expected
    archive = _zip(tmp_path / "a.zip", {"usage.xml": one_day.read_bytes()})
    assert readings(_Unseekable(archive.read_bytes())) == expected
