"""A file appears under its real name only when complete (the .partial then rename)."""

from __future__ import annotations

from pathlib import Path

import pytest

from espi_sst.export import atomic_output


def test_success_renames_the_partial_over_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with atomic_output(target) as partial:
        assert partial == tmp_path / "out.csv.partial"
        partial.write_text("new\n")
        assert target.read_text() == "old\n", "the old file stays whole while writing"
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_an_error_removes_the_partial_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_output(target) as partial:
        partial.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
