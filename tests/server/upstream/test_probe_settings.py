"""Bolt-on token settings are checked when the app starts, not at the first request: a
revocation bound above the documented maximum, or a mode name with a typo, would silently
weaken what docs/deployment.md promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from espi_sst_server import create_app
from espi_sst_server.oauth.tokens import token_source
from espi_sst_server.upstream.probe import MAX_CACHE_SECONDS
from espi_sst_server.upstream.tokens import ProbedTokens


def _app(tmp_path: Path, **settings: object) -> object:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/b.db",
            "SECRET_KEY": "t",
            "UPSTREAM_RESOURCE_URL": "http://127.0.0.1:9/espi/1_1/resource",
            **settings,
        }
    )


def test_probe_mode_installs_the_probing_token_source(tmp_path: Path) -> None:
    app = _app(tmp_path, TOKEN_VALIDATION="probe")
    with app.app_context():  # type: ignore[attr-defined]
        assert isinstance(token_source(), ProbedTokens)


@pytest.mark.parametrize("seconds", [MAX_CACHE_SECONDS + 1, -1])
@pytest.mark.parametrize(
    ("mode", "setting"),
    [("probe", "PROBE_CACHE_SECONDS"), ("introspection", "INTROSPECTION_CACHE_SECONDS")],
)
def test_a_revocation_bound_out_of_range_stops_the_start(
    tmp_path: Path, mode: str, setting: str, seconds: int
) -> None:
    with pytest.raises(ValueError, match=f"{setting} .* between 0 and 60"):
        _app(tmp_path, TOKEN_VALIDATION=mode, **{setting: seconds})


def test_a_mistyped_mode_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TOKEN_VALIDATION is 'probes'"):
        _app(tmp_path, TOKEN_VALIDATION="probes")


@pytest.mark.parametrize("seconds", [0, -5])
def test_an_upstream_deadline_that_is_not_positive_stops_the_start(
    tmp_path: Path, seconds: int
) -> None:
    with pytest.raises(ValueError, match="UPSTREAM_DEADLINE_SECONDS is .* more than 0"):
        _app(tmp_path, TOKEN_VALIDATION="probe", UPSTREAM_DEADLINE_SECONDS=seconds)
