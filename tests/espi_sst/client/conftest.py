"""The fake custodian of every client test, started on 127.0.0.1 and stopped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_custodian import FakeCustodian


@pytest.fixture
def custodian() -> Iterator[FakeCustodian]:
    with FakeCustodian() as fake:
        yield fake
