"""The layers hold (house style 1; docs/architecture.md): import-linter's contracts in
pyproject.toml, run as ``lint-imports`` -- the library never imports the server, only the
XML codec imports lxml, the SST domain imports no HTTP layer, storage nothing above it, ...
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REQUEST_STATE = {"g", "request", "session", "current_app"}
"""What Flask keeps per request or app context: a domain function is passed what it needs."""


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_sst_domain_reads_no_request_state() -> None:
    """import-linter sees modules, not names: ``from flask import g`` is checked here."""
    found = []
    for path in sorted((ROOT / "server" / "sst").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                names = {alias.name for alias in node.names} & REQUEST_STATE
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in sorted(names)]
    assert found == []
