"""End-to-end fixtures (defined in live_servers.py)."""

from __future__ import annotations

from live_servers import browser, live_utility  # noqa: F401  (the fixtures)
