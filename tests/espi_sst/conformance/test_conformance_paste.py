"""The paste agent: a person at a Plug Fest does the customer's part in their own browser."""

from __future__ import annotations

import io

import pytest

from espi_sst.conformance.agent import PasteAgent
from espi_sst.conformance.config import CustomerConfig

CUSTOMER = CustomerConfig(username="plugfest", password="pw")
CALLBACK = "https://asp.example/cb"


def test_the_pasted_callback_is_the_outcome(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{CALLBACK}?code=abc&state=s1\n"))
    outcome = PasteAgent().walk("https://utility.example/authorize?x=1", CUSTOMER, "deny", CALLBACK)
    assert outcome.callback == f"{CALLBACK}?code=abc&state=s1"
    asked = capsys.readouterr().err
    assert "https://utility.example/authorize?x=1" in asked
    assert "sign in as plugfest and DENY" in asked


@pytest.mark.parametrize("typed", ["\n", "https://elsewhere.example/cb?code=abc\n"])
def test_an_empty_line_or_another_address_is_a_page_not_a_callback(
    monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    outcome = PasteAgent().walk("https://utility.example/authorize", CUSTOMER, "approve", CALLBACK)
    assert outcome.callback is None
