"""A Plug Fest conformance kit for any Green Button Connect / SST server (concept design 6.1.4).

``espi-sst conformance CONFIG`` (:mod:`.command`) reads CONFIG (:mod:`.config`), plays the ASP
and, through a customer agent (:mod:`.agent`), the customer, and runs the scenarios of
:mod:`.scenarios` -- discovery, OAuth per RFC 9700, ESPI resources, the GBA certification
rules, the SST scenarios of concept design section 8 -- each with references, a verdict and
its evidence (:mod:`.model`), reported on the terminal, as JUnit XML and as one HTML file
(:mod:`.reports`).  docs/conformance.md lists every scenario.
"""

from typing import TYPE_CHECKING, Any

from .config import KitConfig, load_config
from .errors import ConformanceConfigError
from .model import Result, Scenario, Verdict

if TYPE_CHECKING:
    from .runner import Report, all_scenarios, run_conformance


def __getattr__(name: str) -> Any:
    """The runner on first use: ``espi-sst --help`` lists the verb without importing the
    HTTP stack (requests, Authlib) the runner needs."""
    if name in ("Report", "all_scenarios", "run_conformance"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConformanceConfigError",
    "KitConfig",
    "Report",
    "Result",
    "Scenario",
    "Verdict",
    "load_config",
    "run_conformance",
    "all_scenarios",
]
