"""The demo utility: a realistic data custodian for the demo and the tests.

``seed(session, now=..., seed=2026)`` fills an empty database with PG&E and Peninsula Clean
Energy tariffs (illustrative prices, MIDAS RINs), four customers (bundled, unbundled CCA,
electric + gas, solar) with 13+ months of 15-minute data and monthly usage summaries, and
three ASP registrations; it returns :class:`DemoData` with the credentials in clear, whose
``as_json`` is the ``demo.json`` the demo hands to its ASP and browser.
"""

from __future__ import annotations

from .data import DemoClient, DemoCustomer, DemoData
from .seed import AlreadySeededError, demo_uuid, seed

__all__ = ["AlreadySeededError", "DemoClient", "DemoCustomer", "DemoData", "demo_uuid", "seed"]
