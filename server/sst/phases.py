"""Which SST functions this utility offers: the phase it is in (concept design 6.1, NFR19).

The concept design releases the SST in phases, each utility on its own timeline (6.1,
6.1.1): Phase 1 delivers customer-specific RINs (CEC 1+2 of Table 5), Phase 2 adds bill
comparison (CEC 3), Phase 3 adds customer-directed rate changes (CEC 4).  One setting says
where this utility stands::

    SST_PHASE = 1   # RINs only                              (sst:rin)
    SST_PHASE = 2   # RINs and bill comparison               (+ sst:bill_comparison)
    SST_PHASE = 3   # RINs, bill comparison and rate change  (+ sst:rate_change; default)

Everything follows :func:`offered`: discovery's ``scopes_supported``, the consent page's
checkboxes (a category switched off is narrowed out of the request, RFC 6749 3.3), the
token scope and the API (a switched-off function's endpoints answer 404 with a JSON body
saying it is not offered yet, :func:`not_offered`).  Registration keeps what the ASP's class
allows and names the functions that lie dormant (:func:`dormant`): moving to the next phase
then needs no re-registration of every ASP, and nothing dormant is ever consented to or
put in a token, because consent and tokens are narrowed at use.
``SST_ENABLED`` false (a plain Green Button custodian) serves none of the SST resources, but
its consent and tokens still carry the SST categories of the phase: a bolt-on in front of it
serves them (docs/deployment.md), and the bolt-on's own ``SST_PHASE`` gates its API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from espi_sst.scope import Category, Scope

from ..errors import ConfigurationError, Refused

SST_FUNCTIONS: tuple[Category, ...] = (
    Category.SST_RIN,
    Category.SST_BILL_COMPARISON,
    Category.SST_RATE_CHANGE,
)
"""The SST categories in the order the phases switch them on (phase N: the first N)."""

PHASES = (1, 2, 3)
DEFAULT_PHASE = 3

FUNCTION_NAMES = {
    Category.SST_RIN: "customer-specific rate identification numbers (RINs)",
    Category.SST_BILL_COMPARISON: "bill comparison",
    Category.SST_RATE_CHANGE: "customer-directed rate change",
}


def phase(config: Mapping[str, Any]) -> int:
    """The configured phase; :class:`ConfigurationError` when it is not 1, 2 or 3.

    ``create_app`` calls it once, so a typo stops the start with this message rather than
    the first request."""
    value = config.get("SST_PHASE", DEFAULT_PHASE)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or value not in PHASES:
        raise ConfigurationError(
            f"SST_PHASE is {value!r}: set it to 1 (RINs only), 2 (RINs and bill comparison) "
            "or 3 (RINs, bill comparison and rate change; the default) -- concept design 6.1",
            code="invalid_sst_phase",
        )
    return int(value)


def offered(config: Mapping[str, Any]) -> frozenset[Category]:
    """The SST categories this utility offers now: consented, put in tokens, served (the API
    of a plain custodian, ``SST_ENABLED`` false, serves none whatever this says)."""
    return frozenset(SST_FUNCTIONS[: phase(config)])


def switched_off(config: Mapping[str, Any]) -> frozenset[Category]:
    """The SST categories this utility does not offer (yet)."""
    return frozenset(SST_FUNCTIONS) - offered(config)


def narrowed(scope: Scope, config: Mapping[str, Any]) -> Scope:
    """``scope`` without the SST categories switched off (RFC 6749 3.3: the server may
    grant less than asked, and the token response's ``scope`` says what)."""
    off = switched_off(config)
    if not scope.categories & off:
        return scope
    return scope.narrowed_to(frozenset(scope.categories - off))


def not_offered(category: Category, config: Mapping[str, Any]) -> Refused:
    """The API's answer for a switched-off function: 404 with a JSON body that says so."""
    needed = SST_FUNCTIONS.index(category) + 1
    where = f"this utility is in SST phase {phase(config)}"
    return Refused(
        404,
        "function_not_offered",
        f"{FUNCTION_NAMES[category]} ({category.value}) is not offered by this utility yet: "
        f"it comes with SST phase {needed}, and {where} (concept design 6.1)",
        scope=category.value,
    )


def dormant(scope: Scope, config: Mapping[str, Any]) -> tuple[str, ...]:
    """The switched-off SST categories ``scope`` names (sorted): what a registration holds
    but no consent, token or API call will give until the phase that offers them."""
    return tuple(sorted(c.value for c in scope.categories & switched_off(config)))


__all__ = [
    "DEFAULT_PHASE",
    "PHASES",
    "SST_FUNCTIONS",
    "narrowed",
    "not_offered",
    "offered",
    "phase",
    "dormant",
    "switched_off",
]
