"""Shared fixtures: where the vendored test data lives (tests must not need ../shared)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
EXAMPLES = DATA / "examples"


def corpus_manifest() -> list[dict[str, str]]:
    """Rows of tests/data/corpus/MANIFEST.tsv (one per real-world file)."""
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
