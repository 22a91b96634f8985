"""Loading a utility's adapter from configuration: ``"package.module:attribute"``.

Every SST adapter setting (``RATE_CATALOG``, ``BILL_COMPARISON_SOURCE``, ``BILLING_BACKEND``)
takes ``None`` (the sample implementation), a callable (tests, embedding apps) or a string
naming one; a wrong name fails at the first use with an error saying which setting is wrong.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError


class AdapterConfigError(ConfigurationError):
    """A configured adapter that cannot be loaded."""

    code = "adapter_unloadable"


def load_factory(setting: object, default: Callable[..., Any]) -> Callable[..., Any]:
    if setting is None:
        return default
    if callable(setting):
        return setting
    if isinstance(setting, str) and ":" in setting:
        module_name, _, attribute = setting.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise AdapterConfigError(f"cannot load adapter {setting!r}: {exc}") from exc
        if not callable(found):
            raise AdapterConfigError(f"adapter {setting!r} is not a class or factory")
        return found  # type: ignore[no-any-return]
    raise AdapterConfigError(
        f"adapter setting {setting!r} must be 'package.module:attribute', a callable or None"
    )
