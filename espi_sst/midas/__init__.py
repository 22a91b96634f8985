"""Prices by RIN from the California Energy Commission's MIDAS server (Title 20 CCR 1623(c)).

MIDAS (Market Informed Demand Automation Server, ``https://midasapi.energy.ca.gov``) publishes
every California rate by its Rate Identification Number (:class:`~espi_sst.Rin`); an ASP that
learned a customer's RIN through the SST asks MIDAS for the prices its devices follow.  Reads
need no login (MIDAS API v2.0, live since 2026-06-22)::

    with MidasClient() as midas:
        schedule = midas.prices("USCA-PGPG-0505-0000")
        price = schedule.current()

Three parts: :mod:`.parsing` reads MIDAS's JSON (v1 and v2, pure functions, no I/O: use
them on recordings too), :mod:`.client` asks MIDAS over HTTP (``requests``, the ``client``
extra, imported only when a :class:`MidasClient` is made), :mod:`.errors` is what both
raise.  Everything is importable from ``espi_sst.midas`` itself.
"""

from __future__ import annotations

from .client import DEFAULT_BASE_URL, MidasClient
from .errors import (
    MidasError,
    MidasRateLimited,
    MidasResponseError,
    MidasUnavailable,
    RinNotFound,
)
from .parsing import (
    HOLIDAY,
    PriceInterval,
    RateSchedule,
    RinListing,
    history_chunks,
    parse_rate_schedule,
    parse_rin_list,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "HOLIDAY",
    "MidasClient",
    "MidasError",
    "MidasRateLimited",
    "MidasResponseError",
    "MidasUnavailable",
    "PriceInterval",
    "RateSchedule",
    "RinListing",
    "RinNotFound",
    "history_chunks",
    "parse_rate_schedule",
    "parse_rin_list",
]
