"""The signed list's payload check: the authority never signs what an entity would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from espi_sst_server.authority.signed_list import (
    check_registry_payload,
    new_signing_key,
    public_jwks,
    sign_registry,
)
from espi_sst_server.lifecycle.registry_list import RegistryListError

GOOD: dict[str, Any] = {
    "format": "espi-sst-asp-registry/2",
    "issuer": "https://authority.example",
    "sequence": 3,
    "published": "2026-01-01T00:00:00Z",
    "expires": "2026-01-02T00:00:00Z",
    "terms_version": "2026-01",
    "asps": [
        {
            "software_id": "a",
            "name": "A Co",
            "legal_entity": "A Co LLC",
            "status": "qualified",
            "reason": None,
            "asp_class": "data-only",
            "terms_version": "2026-01",
            "contacts": [{"role": "legal", "email": "l@a.example"}],
            "redirect_uris": ["https://a.example/cb"],
            "notify_uri": None,
            "client_ids": {"PGE": None},
        }
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    payload = {**GOOD, "asps": [dict(GOOD["asps"][0])]}
    target: dict[str, Any] = payload["asps"][0] if path.startswith("asps.") else payload
    target[path.removeprefix("asps.")] = value
    return payload


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        ("format", "espi-sst-asp-registry/1", "format"),
        ("sequence", "3", "sequence"),
        ("sequence", True, "sequence"),
        ("published", "2026-01-01T00:00:00", "published"),
        ("expires", "2025-12-31T00:00:00Z", "expires"),
        ("asps.status", "paused", "asps[0].status"),
        ("asps.asp_class", "gold", "asps[0].asp_class"),
        ("asps.redirect_uris", [], "asps[0].redirect_uris"),
        ("asps.contacts", [{"role": "x"}], "asps[0].contacts"),
        ("asps.client_ids", {"PGE": 7}, "asps[0].client_ids"),
        ("asps.extra", 1, "unknown field"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_field(path: str, value: Any, says: str) -> None:
    with pytest.raises(RegistryListError) as refused:
        sign_registry(_with(path, value), new_signing_key())
    assert says in str(refused.value)


def test_a_good_payload_signs_and_the_key_set_has_no_private_part() -> None:
    key = new_signing_key()
    compact = sign_registry(GOOD, key)
    assert compact.count(".") == 2
    assert check_registry_payload(GOOD).sequence == 3
    [jwk] = public_jwks([key])["keys"]
    assert jwk["kid"] == key.kid and jwk["alg"] == "ES256" and "d" not in jwk
    twice = {**GOOD, "asps": GOOD["asps"] * 2}
    with pytest.raises(RegistryListError, match="listed twice"):
        check_registry_payload(twice)
