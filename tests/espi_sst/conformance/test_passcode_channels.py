"""Which customers the kit may ask a rate change of: only those whose passcode it can read
(issue 13's second channel: a customer listed with a phone gets codes by text message)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from espi_sst.conformance.config import CustomerConfig, PasscodeConfig
from espi_sst.conformance.scenarios.sst import _passcode_readable

BY_MAIL = CustomerConfig("alex", "pw", email="alex@example.com")
BY_TEXT = CustomerConfig("dana", "pw", phone="+14085550175")
NOWHERE = CustomerConfig("sam", "pw")


def ctx(**passcodes: object) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(passcodes=PasscodeConfig(**passcodes)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("passcodes", "readable"),
    [
        ({"mode": "inbox", "inbox_url": "http://u/i/{email}"}, {"alex"}),
        (
            {
                "mode": "inbox",
                "inbox_url": "http://u/i/{email}",
                "sms_inbox_url": "http://u/s/{phone}",
            },
            {"alex", "dana"},
        ),
        ({"mode": "imap", "imap_host": "h"}, {"alex", "sam"}),  # IMAP: mail only
        ({"mode": "prompt"}, {"alex", "dana", "sam"}),  # a person reads any channel
    ],
)
def test_rate_changes_go_only_to_customers_whose_codes_the_kit_can_read(
    passcodes: dict[str, object], readable: set[str]
) -> None:
    context = ctx(**passcodes)
    assert {
        c.username for c in (BY_MAIL, BY_TEXT, NOWHERE) if _passcode_readable(context, c)
    } == readable  # type: ignore[arg-type]
