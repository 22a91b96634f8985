"""``validate`` in plain words, at an element path, deduplicated, with ``--profile`` on the
command line (issue 18).  On the real corpus files MANIFEST.tsv marks invalid, on real
files with one thing broken, and on the concept design's literal Appendix B example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from espi_sst.validation import deduplicated, validate
from espi_sst.xml._plain_issues import plain_words
from tests.corpus_data import corpus_manifest

CLI = str(Path(sys.executable).with_name("espi-sst"))
APPENDIX_B = (
    Path(__file__).resolve().parents[2]
    / "examples"
    / "sst"
    / "concept-design-appendix-b-usagesummary.xml"
)
ONE_DAY = "ameren-bidgely-2023_res_electric_15min_12-04_one-day.xml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def test_a_missing_required_element_is_said_at_its_parent(corpus_dir: Path) -> None:
    day = (corpus_dir / ONE_DAY).read_bytes()
    broken = day.replace(b"<espi:tzOffset>-21600</espi:tzOffset>", b"", 1)
    assert broken != day
    (issue,) = validate(broken)
    assert issue.describe() == (
        "line 12, /feed/entry/content/LocalTimeParameters: tzOffset is required here but missing"
    )


def test_a_value_of_the_wrong_type_names_the_type_and_its_form(corpus_dir: Path) -> None:
    issues = validate(corpus_dir / "pge-cmd_Authorization.xml")
    assert [i.describe() for i in issues] == [
        "line 10, /entry/content/Authorization/authorizedPeriod/duration: value "
        "'251963658000000' is not a valid UInt32 (a whole number from 0 to 4,294,967,295)",
        "line 14, /entry/content/Authorization/publishedPeriod/duration: value "
        "'252026730000000' is not a valid UInt32 (a whole number from 0 to 4,294,967,295)",
    ]


def test_an_unexpected_element_is_said_at_its_parent_with_what_is_expected(
    corpus_dir: Path,
) -> None:
    (issue,) = validate(corpus_dir / "sce-cmd_bulk_UsageSummary_and_IntervalBlock.xml")[:1]
    assert issue.path == "/feed/entry/content/UsagePoint"
    assert issue.plain is not None
    assert issue.plain.startswith(
        "ServiceDeliveryPoint is not expected here (misplaced, misspelt or unknown); expected "
        "at this point: status, serviceDeliveryPoint, "
    )
    assert issue.plain.endswith("isVirtual or minimalUsageExpected")


def test_a_value_outside_an_enumeration_lists_the_allowed_ones(corpus_dir: Path) -> None:
    app = (corpus_dir / "pge-cmd_ApplicationInformation.xml").read_bytes()
    (issue,) = validate(app.replace(b">refresh_token<", b">password<"))
    assert issue.describe() == (
        "line 36, /entry/content/ApplicationInformation/grant_types: value 'password' is not "
        "allowed; the allowed values are authorization_code, client_credentials or refresh_token"
    )


def test_a_value_too_long_says_its_length_and_the_bound(corpus_dir: Path) -> None:
    day = (corpus_dir / ONE_DAY).read_bytes()
    broken = day.replace(
        b"<espi:ServiceCategory>",
        b"<espi:roleFlags>0102030405</espi:roleFlags><espi:ServiceCategory>",
        1,
    )
    (issue,) = validate(broken)
    assert issue.path == "/feed/entry/content/UsagePoint/roleFlags"
    assert issue.plain == (
        "the value's length is 5; it must be at most 2 (characters, or bytes for a hexadecimal value)"
    )


@pytest.mark.parametrize(
    ("message", "where", "plain"),
    [
        (
            "Element 'espi:mRID': [facet 'pattern'] The value 'abc' is not accepted by the "
            "pattern '[a-f0-9]{8}-[a-f0-9]{4}'.",
            "self",
            "value 'abc' does not have the required form (pattern [a-f0-9]{8}-[a-f0-9]{4})",
        ),
        (
            "Element 'atom:link': The attribute 'href' is required but missing.",
            "self",
            "the attribute href is required but missing",
        ),
        (
            "Element 'espi:UsagePoint': Missing child element(s). Expected is one of "
            "( espi:roleFlags, espi:ServiceCategory ).",
            "self",
            "one of roleFlags or ServiceCategory is required here but missing",
        ),
        (
            "Element 'atom:published': This element is not expected.",
            "parent",
            "published is not expected here (nothing more is allowed at this point)",
        ),
    ],
    ids=["pattern", "attribute-missing", "one-of-missing", "extra-at-end"],
)
def test_libxml2_wordings_in_plain_words(message: str, where: str, plain: str) -> None:
    """libxml2's wording (as lxml logs it, namespaces as prefixes) for the shapes no corpus
    file happens to show."""
    assert plain_words(message) == (where, plain)


INVALID = [row["file"] for row in corpus_manifest() if row["validates_espi40"] == "no"]


@pytest.mark.parametrize("name", INVALID)
def test_every_issue_of_the_invalid_corpus_files_has_a_path_and_plain_words(
    corpus_dir: Path, name: str
) -> None:
    issues = validate(corpus_dir / name)
    assert issues, name
    for issue in issues:
        assert issue.path is not None and issue.path.startswith("/"), issue
        assert issue.plain and not issue.plain.startswith("Element '"), issue
        assert issue.line is not None, issue


def test_repeated_issues_are_grouped_per_path(corpus_dir: Path) -> None:
    """Eversource's 72 fractional timestamps: two groups (the block's interval start and
    each reading's), the value elided."""
    groups = deduplicated(validate(corpus_dir / "eversource-gas-2024-07-16.xml"))
    by_path = {g.path: g for g in groups}
    interval = by_path["/feed/entry/content/IntervalBlock/interval/start"]
    reading = by_path["/feed/entry/content/IntervalBlock/IntervalReading/timePeriod/start"]
    assert interval.count + reading.count == 72
    assert reading.plain == "value '...' is not a valid TimeType (a whole number of seconds)"


def test_cli_prints_file_line_path_and_plain_words_once_per_kind(corpus_dir: Path) -> None:
    path = corpus_dir / "utilityapi-export_intervals_APUC000000_electric.xml"
    result = run("validate", str(path))
    assert result.returncode == 1
    assert (
        f"{path}:64: x300 /feed/entry/content/IntervalBlock/IntervalReading/timePeriod: "
        "timezone is not expected here (nothing more is allowed at this point) "
        "(first at lines 64, 72, 80)\n"
    ) in result.stdout
    assert "Element '" not in result.stdout
    assert len(result.stdout.splitlines()) == 4  # 305 issues, 4 kinds


def test_cli_profile_appendix_b_accepts_the_literal_appendix_b_form() -> None:
    default = run("validate", str(APPENDIX_B))
    assert default.returncode == 1
    assert "/entry/content/UsageSummary: bundledRin is not expected here" in default.stdout
    literal = run("validate", "--profile", "appendix-b", str(APPENDIX_B))
    assert (literal.returncode, literal.stdout) == (0, f"{APPENDIX_B}: valid\n")
    official = run("validate", "--profile", "official", str(APPENDIX_B))
    assert official.returncode == 1
    unknown = run("validate", "--profile", "sst2", str(APPENDIX_B))
    assert unknown.returncode == 2 and "invalid choice: 'sst2'" in unknown.stderr


def test_cli_validates_a_zip_of_corpus_files_member_by_member(
    corpus_dir: Path, tmp_path: Path
) -> None:
    import zipfile

    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(corpus_dir / ONE_DAY, ONE_DAY)
        handle.write(corpus_dir / "pge-cmd_Authorization.xml", "auth/pge-cmd_Authorization.xml")
    result = run("validate", str(archive))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{archive}/{ONE_DAY}: valid"
    assert lines[1].startswith(f"{archive}/auth/pge-cmd_Authorization.xml:10: /entry/content/")
