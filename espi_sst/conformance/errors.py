"""The conformance kit's errors: a configuration it cannot run, and a scenario's outcome.

``ConformanceConfigError`` (an :class:`~espi_sst.errors.EspiError`, so the CLI prints it as
one line) says which key of which file is wrong and how to fix it.  ``ScenarioFailed`` and
``ScenarioSkipped`` end a scenario early with its verdict; they never leave the runner.
"""

from __future__ import annotations

from ..errors import EspiError

__all__ = ["ConformanceConfigError", "ScenarioFailed", "ScenarioSkipped"]


class ConformanceConfigError(EspiError):
    """The kit's CONFIG file cannot be used (what, where, how to fix)."""

    code = "conformance_config"


class ScenarioFailed(Exception):
    """The server under test did something the scenario's reference forbids."""


class ScenarioSkipped(Exception):
    """The scenario cannot run here (a feature the server does not claim, a missing hook)."""
