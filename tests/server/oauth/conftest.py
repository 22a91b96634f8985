"""The authorization server tests' fixtures (defined in oauth_world.py)."""

from __future__ import annotations

from oauth_world import world  # noqa: F401  (the fixture)
