"""Choosing export columns by name: order kept, typos refused with the valid names."""

from __future__ import annotations

import pytest

from espi_sst.errors import EspiError
from espi_sst.export import select_columns

AVAILABLE = ("start", "end", "value", "usage_point_url")
DEFAULT = ("start", "value")


def test_none_is_the_default_and_names_keep_their_order() -> None:
    assert select_columns(None, AVAILABLE, DEFAULT) == DEFAULT
    assert select_columns(" value , start ", AVAILABLE, DEFAULT) == ("value", "start")


def test_unknown_names_are_listed_with_the_valid_ones() -> None:
    with pytest.raises(EspiError) as caught:
        select_columns("start,kwh,url", AVAILABLE, DEFAULT)
    assert str(caught.value) == (
        "unknown columns kwh, url for --columns; choose from: start, end, value, usage_point_url"
    )


def test_repeats_and_empty_lists_are_refused() -> None:
    with pytest.raises(EspiError, match="column start named twice"):
        select_columns("start,end,start", AVAILABLE, DEFAULT)
    with pytest.raises(EspiError, match="names no column"):
        select_columns(" , ", AVAILABLE, DEFAULT)
