"""The library stays typed and lint-clean (house style section 8), checked by CI.

mypy --strict on espi_sst/ (the published package carries py.typed, so its users' type
checkers trust our annotations), ruff lint and format on the library and tools.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_strict_passes_on_the_library() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint_passes() -> None:
    result = _run(str(BIN / "ruff"), "check", "espi_sst", "tools")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied() -> None:
    result = _run(str(BIN / "ruff"), "format", "--check", "espi_sst", "tools")
    assert result.returncode == 0, result.stdout + result.stderr
