"""Rate Identification Numbers (:mod:`espi_sst.rin`), the key an ASP takes to MIDAS.

Protects what a load-management device depends on: a RIN read from a utility's file is
split into the parts the CEC defines (country, state, distribution company, energy
company, rate, location), its role (bundled / delivery / generation) follows from the
``XX`` placeholders, it is written back exactly as read, and anything that MIDAS would not
know is refused with a message that names the part to fix.  The Python pattern and the
one in ``espi-sst.xsd`` must agree, or ``parse()`` and ``validate()`` would disagree about
the same file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import espi_sst
from espi_sst import Rin, RinError, RinRole
from espi_sst.rin import RIN_PATTERN
from espi_sst.validation import schema_dir, schema_set

SAFE_PATTERN = r"^[A-Z]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{1,10}$"
"""The pattern of docs/facts.md (RIN section), written out here on purpose."""

XS = "{http://www.w3.org/2001/XMLSchema}"
SST = "urn:espi-sst:sst:1"
HYPOTHESIS = settings(max_examples=300, database=None, deadline=None)


# ---- the facts' examples -----------------------------------------------------------------
FACTS_EXAMPLES = [
    # text, country, state, distribution, energy, rate, location, role
    ("USCA-PGPG-0505-0000", "US", "CA", "PG", "PG", "0505", "0000", RinRole.BUNDLED),
    ("USCA-PGXX-0100-0000", "US", "CA", "PG", "XX", "0100", "0000", RinRole.DELIVERY),
    ("USCA-XXPE-0440-0000", "US", "CA", "XX", "PE", "0440", "0000", RinRole.GENERATION),
    ("USCA-XXMB-0026-SCE", "US", "CA", "XX", "MB", "0026", "SCE", RinRole.GENERATION),
    ("USCA-PGPG-3800-012041131", "US", "CA", "PG", "PG", "3800", "012041131", RinRole.BUNDLED),
]


@pytest.mark.parametrize(
    "text, country, state, distribution, energy, rate, location, role",
    FACTS_EXAMPLES,
    ids=[row[0] for row in FACTS_EXAMPLES],
)
def test_facts_examples_parse_into_their_parts(
    text: str,
    country: str,
    state: str,
    distribution: str,
    energy: str,
    rate: str,
    location: str,
    role: RinRole,
) -> None:
    """Each published RIN splits into the CEC's six parts and the right role, so an ASP can
    tell a bundled rate from a utility's delivery rate or a CCA's generation rate."""
    rin = Rin.parse(text)
    assert (rin.country, rin.state) == (country, state)
    assert (rin.distribution_company, rin.energy_company) == (distribution, energy)
    assert (rin.rate, rin.location) == (rate, location)
    assert rin.role is role
    assert str(rin) == text
    assert Rin.parse(str(rin)) == rin
    assert Rin.is_valid(text)


def test_location_code_0000_means_no_location() -> None:
    """``0000`` is the "no location" code; the 3- and 9-character codes of the facts name one."""
    assert not Rin.parse("USCA-PGPG-0505-0000").has_location
    assert Rin.parse("USCA-XXMB-0026-SCE").has_location
    assert Rin.parse("USCA-PGPG-3800-012041131").has_location


def test_role_prints_as_the_schema_word() -> None:
    """The role is written into XML and JSON (``inspect --json``) as bundled/delivery/generation."""
    assert [str(Rin.parse(row[0]).role) for row in FACTS_EXAMPLES[:3]] == [
        "bundled",
        "delivery",
        "generation",
    ]


def test_rins_are_values() -> None:
    """Equal text gives equal, hashable RINs (they key dictionaries of MIDAS prices)."""
    a, b = Rin.parse("USCA-PGPG-0505-0000"), Rin.parse("USCA-PGPG-0505-0000")
    assert a == b and hash(a) == hash(b)
    assert {a: "E-ELEC"}[b] == "E-ELEC"
    assert a != Rin.parse("USCA-PGPG-0501-0000")


# ---- refused input --------------------------------------------------------------------------
INVALID = [
    # text, words the message must contain (naming what is wrong)
    ("usca-pgpg-0505-0000", ["upper-case", "USCA-PGPG-0505-0000"]),
    ("USCA-PgPG-0505-0000", ["upper-case"]),
    ("USC-PGPG-0505-0000", ["country+state", "'USC'"]),
    ("US1A-PGPG-0505-0000", ["country+state", "'US1A'"]),
    ("USCA-PGPGE-0505-0000", ["distribution+energy company", "'PGPGE'"]),
    ("USCA-PGP-0505-0000", ["distribution+energy company", "'PGP'"]),
    ("USCA-PGPG-505-0000", ["rate", "'505'"]),
    ("USCA-PGPG-05050-0000", ["rate", "'05050'"]),
    ("USCA-PGPG-0505-01234567890", ["location", "'01234567890'", "1-10"]),
    ("USCA-PGPG-0505-", ["location", "''"]),
    ("USCA-XXXX-0505-0000", ["XX"]),
    ("USCA_PGPG_0505_0000", ["four parts", "'-'", "found 1"]),
    ("USCA-PGPG-0505", ["four parts", "found 3"]),
    ("USCA-PG-PG-0505-0000", ["four parts", "found 5"]),
    ("USCA PGPG 0505 0000", ["four parts"]),
    ("", ["four parts"]),
]


@pytest.mark.parametrize("text, words", INVALID, ids=[repr(t) for t, _ in INVALID])
def test_malformed_rins_are_refused_naming_the_wrong_part(text: str, words: list[str]) -> None:
    """A RIN MIDAS would not know is refused, and the message says which part to fix
    (so a utility can correct its export without reading the CEC regulation)."""
    with pytest.raises(RinError) as info:
        Rin.parse(text)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert info.value.code == "invalid_rin"
    assert not Rin.is_valid(text)


@pytest.mark.parametrize("value", [None, 505, b"USCA-PGPG-0505-0000", ["USCA-PGPG-0505-0000"]])
def test_non_text_is_refused_with_its_type(value: object) -> None:
    """Only text can be a RIN; the message names the type that was given instead."""
    with pytest.raises(RinError) as info:
        Rin.parse(value)  # type: ignore[arg-type]
    assert type(value).__name__ in str(info.value)


def test_rin_error_is_a_value_error_and_an_espi_error() -> None:
    """Callers that already catch ValueError (or the library's root error) catch bad RINs."""
    with pytest.raises(ValueError):
        Rin.parse("USCA-PGPG")
    with pytest.raises(espi_sst.EspiError):
        Rin.parse("USCA-PGPG")
    assert issubclass(RinError, ValueError)


def test_surrounding_whitespace_of_xml_text_is_tolerated() -> None:
    """Element text often carries indentation; the RIN inside is still read, canonically."""
    assert str(Rin.parse("  USCA-PGPG-0505-0000\n")) == "USCA-PGPG-0505-0000"


# ---- property-based: the safe pattern is exactly what parses --------------------------------
def rin_like() -> st.SearchStrategy[str]:
    """Strings of the safe pattern, with XX placeholders drawn often enough to matter."""
    company = st.one_of(st.just("XX"), st.from_regex(r"[A-Z0-9]{2}", fullmatch=True))
    return st.builds(
        lambda cs, d, e, r, loc: f"{cs}-{d}{e}-{r}-{loc}",
        st.from_regex(r"[A-Z]{4}", fullmatch=True),
        company,
        company,
        st.from_regex(r"[A-Z0-9]{4}", fullmatch=True),
        st.from_regex(r"[A-Z0-9]{1,10}", fullmatch=True),
    )


def is_double_xx(text: str) -> bool:
    return text[5:7] == "XX" and text[7:9] == "XX"


@HYPOTHESIS
@given(st.from_regex(SAFE_PATTERN, fullmatch=True).filter(lambda t: not is_double_xx(t)))
def test_every_string_of_the_safe_pattern_parses_and_prints_back(text: str) -> None:
    """Whatever a utility writes within the published pattern is accepted and kept exactly."""
    rin = Rin.parse(text)
    assert str(rin) == text
    assert f"{rin.country}{rin.state}" == text[:4]


@HYPOTHESIS
@given(rin_like())
def test_role_follows_the_xx_placeholders(text: str) -> None:
    """XX/XX is refused; XX as energy company is delivery, as distribution company generation."""
    if is_double_xx(text):
        with pytest.raises(RinError):
            Rin.parse(text)
        return
    role = Rin.parse(text).role
    if text[7:9] == "XX":
        assert role is RinRole.DELIVERY
    elif text[5:7] == "XX":
        assert role is RinRole.GENERATION
    else:
        assert role is RinRole.BUNDLED


@HYPOTHESIS
@given(
    st.one_of(
        rin_like(),
        st.text(alphabet="ACPGSUX0159-a_ ", max_size=26),
        rin_like().map(lambda t: t.lower()),
        rin_like().map(lambda t: t + "0"),
        rin_like().map(lambda t: t[:-1]),
    ).filter(lambda t: t == t.strip())
)
def test_parse_accepts_exactly_the_safe_pattern(text: str) -> None:
    """No string outside the safe pattern slips through, and none inside it is refused
    (except the meaningless XX/XX)."""
    expected = re.fullmatch(SAFE_PATTERN[1:-1], text) is not None and not is_double_xx(text)
    assert Rin.is_valid(text) is expected


# ---- the Python pattern and the schema's ----------------------------------------------------
def xsd_patterns() -> dict[str, str]:
    """simpleType name -> its xs:pattern, read from the shipped espi-sst.xsd."""
    tree = etree.parse(str(schema_dir() / "espi-sst.xsd"))
    return {
        simple.get("name"): simple.find(f"{XS}restriction/{XS}pattern").get("value")
        for simple in tree.iter(f"{XS}simpleType")
        if simple.find(f"{XS}restriction/{XS}pattern") is not None
    }


def test_rin_pattern_is_the_schemas_pattern() -> None:
    """RIN_PATTERN is the RinType pattern of espi-sst.xsd and the facts' safe pattern, and
    the Appendix B schema's bundledRin takes exactly the bundled RINs of espi-sst.xsd."""
    assert xsd_patterns()["RinType"] == RIN_PATTERN
    assert f"^{RIN_PATTERN}$" == SAFE_PATTERN
    appendix_b = etree.parse(str(Path(schema_dir()) / "espi-sst-appendix-b.xsd"))
    patterns = [p.get("value") for p in appendix_b.iter(f"{XS}pattern")]
    assert patterns == [xsd_patterns()["BundledRinType"]]


@HYPOTHESIS
@given(
    st.one_of(rin_like(), rin_like().map(lambda t: t.lower()), rin_like().map(lambda t: t + "0"))
)
def test_schema_types_agree_with_parse_and_role(text: str) -> None:
    """The XSD (as the validator reads it) accepts a RIN exactly when Rin.parse does, and its
    bundled / delivery / generation types accept exactly the RINs of that role."""
    types = schema_set("sst").maps.types
    assert types[f"{{{SST}}}RinType"].is_valid(text) is (
        re.fullmatch(RIN_PATTERN, text) is not None
    )
    role = Rin.parse(text).role if Rin.is_valid(text) else None
    for name, wanted in (
        ("BundledRinType", RinRole.BUNDLED),
        ("DeliveryRinType", RinRole.DELIVERY),
        ("GenerationRinType", RinRole.GENERATION),
    ):
        assert types[f"{{{SST}}}{name}"].is_valid(text) is (role is wanted), name
