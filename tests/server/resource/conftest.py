"""The resource API tests' fixtures (defined in resource_world.py)."""

from __future__ import annotations

from resource_world import app, client, world  # noqa: F401  (the fixtures)
