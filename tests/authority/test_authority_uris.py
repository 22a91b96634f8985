"""The rule for the URIs an ASP registers (server/authority/uris.py): https to a public host;
plain http to loopback only where the demo turns AUTHORITY_ALLOW_LOOPBACK on."""

from __future__ import annotations

import pytest
from espi_sst_server.authority.errors import SubmissionError
from espi_sst_server.authority.uris import checked_uri


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://acme.example/cb", "must be an https URL"),
        ("https://user:pw@acme.example/cb", "user information"),
        ("https://acme.example/cb#frag", "fragment"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://192.168.1.10/cb", "private"),
        ("https://[::1]/cb", "loopback"),
        ("https://localhost:8443/cb", "loopback"),
        ("ftp://acme.example/cb", "must be an https URL"),
    ],
)
def test_refused_with_the_field_and_the_reason(uri: str, words: str) -> None:
    with pytest.raises(SubmissionError, match=words) as refused:
        checked_uri("redirect_uris", uri, allow_loopback=False)
    assert refused.value.field == "redirect_uris"
    assert str(refused.value).startswith("redirect_uris: ")


def test_loopback_only_when_allowed() -> None:
    assert checked_uri("notify_uri", " https://93.184.215.14/n ", allow_loopback=False) == (
        "https://93.184.215.14/n"
    )
    assert checked_uri("redirect_uris", "http://127.0.0.1:8000/cb", allow_loopback=True)
    with pytest.raises(SubmissionError, match="https"):
        checked_uri("redirect_uris", "http://93.184.215.14/cb", allow_loopback=True)
