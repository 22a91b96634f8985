"""The SST tests' fixtures (defined in sst_world.py)."""

from __future__ import annotations

from sst_world import sst_database, sst_templates, world  # noqa: F401  (the fixtures)
