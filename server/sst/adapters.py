"""Loading a utility's adapter from configuration: ``"package.module:attribute"``.

Every SST adapter setting (``RATE_CATALOG``, ``BILL_COMPARISON_SOURCE``, ``BILLING_BACKEND``)
takes ``None`` (the sample implementation), a callable (tests, embedding apps) or a string
naming one; a wrong name fails at the first use with an error saying which setting is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..config import load_named
from ..errors import ConfigurationError


class AdapterConfigError(ConfigurationError):
    """A configured adapter that cannot be loaded."""

    code = "adapter_unloadable"


def load_factory(
    config: Mapping[str, Any], key: str, default: Callable[..., Any]
) -> Callable[..., Any]:
    """The factory ``config[key]`` names (``config.load_named``), or ``default`` when unset."""
    setting = config.get(key)
    if setting is None:
        return default
    found = load_named(setting, key, error=AdapterConfigError)
    if not callable(found):
        raise AdapterConfigError(f"{key} {setting!r} is not a class or factory")
    return found
