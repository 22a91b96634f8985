"""Shared fixtures: where the vendored test data lives (see corpus_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_data import CORPUS, EXAMPLES


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
