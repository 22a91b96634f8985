"""The static checks are listed in one place, ``./dev check``; CI and the pre-commit hooks
call it rather than the tools, so the three cannot drift apart (issue 19, "habits").

The checks themselves (ruff, mypy, import-linter) are not run here: CI runs ``./dev check``
before ``./dev test``, and running them again inside the suite would only double the time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def dev_check_steps() -> list[str]:
    """The steps of ``./dev check`` (its ``CHECKS=(...)`` line)."""
    match = re.search(r"^CHECKS=\(([^)]*)\)$", (ROOT / "dev").read_text(), re.MULTILINE)
    assert match is not None, "./dev lists its check steps in CHECKS=(...)"
    return match.group(1).split()


def test_every_check_step_is_a_local_pre_commit_hook() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    # Local hooks only: nothing is downloaded at commit time.
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {hook["language"] for hook in hooks} == {"system"}
    assert [hook["entry"] for hook in hooks] == [
        f"./dev check {step}" for step in dev_check_steps()
    ]


def test_pre_commit_accepts_the_config() -> None:
    result = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_checks_before_the_tests() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("./dev ")
    ]
    assert commands == ["./dev check", "./dev test"]


def test_an_unknown_step_is_refused_with_the_list_of_steps() -> None:
    result = subprocess.run(
        [str(ROOT / "dev"), "check", "spelling"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    assert "unknown step 'spelling'" in result.stderr
    assert " ".join(dev_check_steps()) in result.stderr
