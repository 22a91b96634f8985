"""The portal tests' fixtures (defined in portal_world.py)."""

from __future__ import annotations

from portal_world import clock, make_portal, portal  # noqa: F401  (the fixtures)
