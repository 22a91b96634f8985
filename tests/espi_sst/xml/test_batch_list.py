"""Reading an ESPI BatchList (espi_sst/xml/batch_list.py): a custodian's notification.

The ASP's notify endpoint (client/receiver.py, tests/espi_sst/client/test_receiver.py)
hands the body here; it must give the resource URLs to GET, in order, and refuse anything
else with a ParseError -- with the reader's safety rules (xml/test_safety.py).
"""

from __future__ import annotations

import pytest

from espi_sst import ParseError
from espi_sst.xml.batch_list import MAX_BATCH_LIST_BYTES, read_batch_list

ESPI = "http://naesb.org/espi"


def batch_list(*urls: str) -> bytes:
    resources = "".join(f"<resources>{url}</resources>" for url in urls)
    return f'<BatchList xmlns="{ESPI}">{resources}</BatchList>'.encode()


def test_the_resource_urls_come_in_order_without_blanks() -> None:
    body = batch_list(
        "https://gbc.example/espi/1_1/resource/Batch/Subscription/7",
        "  ",
        " https://gbc.example/espi/1_1/resource/Batch/Subscription/8 ",
    )
    assert read_batch_list(body) == [
        "https://gbc.example/espi/1_1/resource/Batch/Subscription/7",
        "https://gbc.example/espi/1_1/resource/Batch/Subscription/8",
    ]
    assert read_batch_list(batch_list()) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "expected espi:BatchList"),
        (b"<BatchList><resources>x</resources></BatchList>", "expected espi:BatchList"),
        (b"<BatchList", "not well-formed"),
        (b" " * (MAX_BATCH_LIST_BYTES + 1), "byte limit"),
    ],
    ids=["atom-feed", "no-namespace", "malformed", "oversized"],
)
def test_anything_else_is_a_parse_error_saying_why(body: bytes, words: str) -> None:
    with pytest.raises(ParseError) as refused:
        read_batch_list(body, source="notification")
    assert words in str(refused.value) and refused.value.source == "notification"
