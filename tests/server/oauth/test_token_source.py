"""The token source is chosen once, when the app is made (server/oauth/tokens.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from espi_sst_server import create_app
from espi_sst_server.oauth.tokens import EXTENSION, LocalTokens
from espi_sst_server.upstream.tokens import IntrospectedTokens


def _app(tmp_path: Path, **config: object) -> object:
    return create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/t.db", "SECRET_KEY": "t", "TESTING": True, **config}
    )


def test_local_tokens_by_default_and_introspection_in_bolt_on_mode(tmp_path: Path) -> None:
    assert isinstance(_app(tmp_path).extensions[EXTENSION], LocalTokens)  # type: ignore[attr-defined]
    bolt_on = _app(
        tmp_path,
        TOKEN_VALIDATION="introspection",
        UPSTREAM_RESOURCE_URL="https://gbc.utility.example/espi/1_1/resource",
        INTROSPECTION_URL="https://gbc.utility.example/oauth/introspect",
    )
    assert isinstance(bolt_on.extensions[EXTENSION], IntrospectedTokens)  # type: ignore[attr-defined]


def test_a_misspelt_validation_mode_stops_the_start_with_what_to_set(tmp_path: Path) -> None:
    """A typo used to mean "local" silently: a bolt-on would then refuse every ASP token."""
    with pytest.raises(ValueError, match="TOKEN_VALIDATION is 'introspect'.*local, introspection"):
        _app(tmp_path, TOKEN_VALIDATION="introspect")
