"""The token stores (espi_sst/client/tokens.py): the file store is private to its owner and
survives a restart, a corrupt file is a clear error, the memory store hands out copies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from espi_sst.client import (
    FileTokenStore,
    MemoryTokenStore,
)


# ---- token stores ------------------------------------------------------------------------
def test_the_file_token_store_is_private_and_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "asp" / "tokens.json"
    store = FileTokenStore(path)
    store.save("42", {"access_token": "a", "refresh_token": "r"})
    store.save("43", {"access_token": "b"})
    assert path.stat().st_mode & 0o777 == 0o600
    reopened = FileTokenStore(path)
    assert reopened.load("42") == {"access_token": "a", "refresh_token": "r"}
    reopened.delete("42")
    assert FileTokenStore(path).load("42") is None
    assert FileTokenStore(path).load("43") == {"access_token": "b"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]  # no temporaries left


@pytest.mark.parametrize("content", ['{"42": {"access_tok', "[1, 2]"], ids=["torn", "not-object"])
def test_a_corrupt_token_file_is_a_clear_value_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="tokens.json"):
        FileTokenStore(path).load("42")


def test_the_memory_token_store_hands_out_copies() -> None:
    store = MemoryTokenStore()
    token = {"access_token": "a"}
    store.save("42", token)
    token["access_token"] = "changed by the caller"
    loaded = store.load("42")
    assert loaded == {"access_token": "a"}
    loaded["access_token"] = "changed again"
    assert store.load("42") == {"access_token": "a"}
    store.delete("42")
    assert store.load("42") is None
