"""A usage point's local time zone, from its stored LocalTimeParameters (ESPI 4.0, FB 1).

Local midnights cut IntervalBlocks into days (``resource/blocks.py``), start billing cycles
on the read day (``sst/comparison.py``) and date the rate tables' effective dates
(``sst/table_catalog.py``, ``sst/cca_cache.py``): the resource API and the SST domain ask
the same question of the same row, so the answer lives beside the row, below both.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from functools import lru_cache

from espi_sst.localtime import DstRule, EspiTimeZone, InvalidDstRule

from .models import LocalTimeParameters


@lru_cache(maxsize=64)
def _zone(tz_offset: int, dst_offset: int, start_rule: str, end_rule: str) -> tzinfo:
    try:
        start = DstRule.decode(start_rule)
        end = DstRule.decode(end_rule)
    except InvalidDstRule:
        start = end = None  # standard time only, as espi_sst.Document does
    return EspiTimeZone(tz_offset, dst_offset, start, end)


def zone_of(ltp: LocalTimeParameters | None) -> tzinfo:
    """The usage point's local time zone (UTC when it has no LocalTimeParameters)."""
    if ltp is None:
        return UTC
    return _zone(ltp.tz_offset, ltp.dst_offset, ltp.dst_start_rule, ltp.dst_end_rule)


def zone_of_parameters(tz_offset: int, dst_offset: int, start_rule: str, end_rule: str) -> tzinfo:
    """The zone of a LocalTimeParameters row's columns (migrations read rows, not objects)."""
    return _zone(tz_offset, dst_offset, start_rule, end_rule)


__all__ = ["zone_of", "zone_of_parameters"]
