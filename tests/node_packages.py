"""Node.js and the npm packages the interoperability tests run (openid-client, the Green
Button parser), found or the test skipped -- or failed when ESPI_REQUIRE_NODE is set (.ci/run
sets it after installing Node.js 20+: a missing runtime must fail there, not hide a test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("node")


def node_major() -> int:
    """Node.js's major version (0 when it is not installed)."""
    if NODE is None:
        return 0
    done = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=False)
    return int(done.stdout.strip().lstrip("v").split(".")[0] or 0)


def require_npm_package(folder: Path, package: str, why: str = "") -> None:
    """Skip (or fail under ESPI_REQUIRE_NODE) unless Node.js 20+ and ``package``, installed
    by ``npm ci --prefix folder`` (./dev does it), are here."""
    missing = None
    if node_major() < 20:
        missing = f"Node.js 20 or newer{why}"
    elif not (folder / "node_modules" / package).is_dir():
        missing = f"{package}: npm ci --prefix {folder.relative_to(Path(__file__).parents[1])}"
    if missing is not None:
        if os.environ.get("ESPI_REQUIRE_NODE"):
            pytest.fail(f"ESPI_REQUIRE_NODE is set but this is missing: {missing}")
        pytest.skip(f"needs {missing}")
