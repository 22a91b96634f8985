"""The observability tests reuse the SST world (seeded demo data, the mail sink) and the
gateway world (nginx in front of real servers): their folders are put on the path here."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
for sibling in ("sst", "oauth", "gateway"):
    folder = str(HERE.parent / sibling)
    if folder not in sys.path:
        sys.path.append(folder)

from sst_world import sst_database, sst_templates  # noqa: E402, F401  (the fixtures)
