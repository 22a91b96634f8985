"""The words every customer page uses for a scope (server/portal/scope_words.py, issue 13)."""

from __future__ import annotations

import pytest
from espi_sst_server.portal.scope_words import access_words, asp_words, describe_scope

from espi_sst.scope import Category


def test_a_green_button_scope_in_words() -> None:
    words = describe_scope(
        "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;"
        "HistoryLength=13 usage basic sst:rin openid"
    )
    # categories in the consent page's order, whatever the scope's order
    assert [c.label for c in words.categories] == [
        Category.BASIC.label,
        Category.USAGE.label,
        Category.SST_RIN.label,
    ]
    assert (
        words.summary == "Basic information, Usage information, Release rate identification (RIN)"
    )
    assert words.details == (
        "History of up to 13 months before today.",
        "Usage in 15-minute and hourly readings.",
        "New data is delivered once a day.",
    )
    assert words.sign_in


@pytest.mark.parametrize(
    ("history", "said"),
    [
        ("1", "History of up to 1 month before today."),
        ("34128000", "History of up to 13 months before today."),  # the ESPI XSD's seconds
        ("604800", "History of up to 7 days before today."),
    ],
)
def test_history_length_in_months_or_seconds(history: str, said: str) -> None:
    assert describe_scope(f"FB=4;HistoryLength={history}").history == said


def test_what_a_scope_does_not_say_is_left_out_and_a_bad_scope_is_not_a_traceback() -> None:
    assert describe_scope("billing").details == ()
    assert describe_scope("FB=4;IntervalDuration=soon;BlockDuration=hourly").details == ()
    broken = describe_scope("not-a-scope-token")
    assert broken.categories == () and broken.summary == "No data"


def test_the_asp_and_its_access_in_words() -> None:
    data_only = asp_words("qualified", "data-only", "Demo Utility")
    assert data_only.qualification.startswith("Qualified for the Single Statewide Tool")
    assert "never change your rate" in data_only.asp_class
    assert asp_words("blocked", "rate-change", "Demo Utility").qualification == (
        "Blocked by Demo Utility."
    )
    assert access_words(["authorization_code", "refresh_token"], 900).startswith("Ongoing")
    assert access_words(["authorization_code"], 900) == (
        "One-time access: it can fetch your data once, within 15 minutes."
    )
