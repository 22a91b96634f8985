"""Where the vendored test data lives (tests must not need ../shared).

A module of its own, not conftest.py: several conftest modules exist, and ``from conftest
import`` would pick whichever was imported first.
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
EXAMPLES = DATA / "examples"


def corpus_manifest() -> list[dict[str, str]]:
    """Rows of tests/data/corpus/MANIFEST.tsv (one per real-world file)."""
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))
