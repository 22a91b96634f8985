"""OAuth scope strings of Green Button Connect and the SST (espi_sst/scope.py).

The client asks with a scope string and the server grants and checks with the same value
type, so both must read it alike: one ESPI function-block token with its parameters
(``FB=4_5_15;IntervalDuration=900;...``), the data categories of the consent page
(concept design 11.2, Figure 23), ``openid``.  Anything else is a :class:`ScopeError`
saying what to write instead.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from espi_sst import EspiError
from espi_sst.scope import Category, Scope, ScopeError

ESPI_TOKEN = "FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13"


def test_a_full_request_is_read_into_its_parts() -> None:
    scope = Scope.parse(f"{ESPI_TOKEN} usage billing sst:rin sst:bill_comparison openid")
    assert scope.function_blocks == {4, 5, 15}
    assert scope.parameters == (
        ("IntervalDuration", "900"),
        ("BlockDuration", "daily"),
        ("HistoryLength", "13"),
    )
    assert scope.categories == {
        Category.USAGE,
        Category.BILLING,
        Category.SST_RIN,
        Category.SST_BILL_COMPARISON,
    }
    assert scope.openid
    assert scope.allows(Category.SST_RIN) and not scope.allows(Category.SST_RATE_CHANGE)


def test_printing_gives_the_canonical_order_and_reads_back_equal() -> None:
    scope = Scope.parse(f"openid sst:rate_change usage {ESPI_TOKEN} basic")
    assert str(scope) == f"{ESPI_TOKEN} basic usage sst:rate_change openid"
    assert Scope.parse(str(scope)) == scope
    assert str(Scope.parse("")) == "" and Scope.parse("   ") == Scope()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("usage bogus", ["unknown scope 'bogus'", "FB=", "openid", "sst:rin"]),
        ("FB=4_x_15", ["function blocks must be numbers", "FB=4_5_15"]),
        ("FB=;IntervalDuration=900", ["names no function block"]),
        ("FB=4_5;IntervalDuration", ["'IntervalDuration' is not Name=Value"]),
        ("FB=4_5;=900", ["'=900' is not Name=Value"]),
    ],
    ids=["unknown-category", "block-not-a-number", "no-block", "no-value", "no-name"],
)
def test_a_malformed_scope_is_refused_saying_what_to_write(text: str, words: list[str]) -> None:
    with pytest.raises(ScopeError) as refused:
        Scope.parse(text)
    assert all(word in str(refused.value) for word in words), str(refused.value)
    assert isinstance(refused.value, EspiError) and isinstance(refused.value, ValueError)
    assert refused.value.code == "invalid_scope"


def test_within_compares_what_is_asked_with_what_is_granted() -> None:
    granted = Scope.parse(f"{ESPI_TOKEN} usage billing sst:rin openid")
    assert Scope.parse("FB=4_5 usage").within(granted)
    assert Scope.parse("usage sst:rin openid").within(granted)
    assert not Scope.parse("FB=4_5_15_16 usage").within(granted)
    assert not Scope.parse("usage sst:rate_change").within(granted)
    assert not Scope.parse("usage openid").within(Scope.parse("usage"))


def test_narrowing_keeps_only_the_categories_the_customer_ticked() -> None:
    asked = Scope.parse(f"{ESPI_TOKEN} usage billing sst:rin openid")
    narrowed = asked.narrowed_to(frozenset({Category.USAGE, Category.SST_RATE_CHANGE}))
    assert narrowed.categories == {Category.USAGE}
    assert (narrowed.function_blocks, narrowed.parameters, narrowed.openid) == (
        asked.function_blocks,
        asked.parameters,
        asked.openid,
    )
    assert narrowed.within(asked)


def test_every_category_has_a_label_and_an_explanation_for_the_consent_page() -> None:
    for category in Category:
        assert category.label and category.explanation.endswith(".")
    assert {c.value for c in Category} >= {"sst:rin", "sst:bill_comparison", "sst:rate_change"}


@given(
    blocks=st.frozensets(st.integers(min_value=1, max_value=99), min_size=1),
    categories=st.frozensets(st.sampled_from(list(Category))),
    openid=st.booleans(),
)
def test_any_scope_prints_and_reads_back_equal(
    blocks: frozenset[int], categories: frozenset[Category], openid: bool
) -> None:
    scope = Scope(blocks, (("HistoryLength", "13"),), categories, openid)
    assert Scope.parse(str(scope)) == scope
