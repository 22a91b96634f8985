"""A sample ASP (third-party application): a small Flask app on :mod:`espi_sst.client`.

A customer connects their utility account (OAuth with PKCE through the utility's consent
page), then sees their rate identification numbers with today's MIDAS price, the rates they
may choose and a chart of the utility's bill comparison, and can ask for a rate change,
confirmed with the passcode the utility sends them.  ``espi-sst demo`` runs it against the
demo utility; README.md explains the code and how to run it on its own.
"""

from __future__ import annotations

from .app import DEFAULT_SCOPE, create_asp_app

__all__ = ["DEFAULT_SCOPE", "create_asp_app"]
