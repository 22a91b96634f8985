"""The operations tests' fixtures: the authorization server tests' world (a customer, usage
points and ASP clients on a real database), for the metrics of a real OAuth flow."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oauth"))

from oauth_world import world  # noqa: E402, F401  (the fixture)
