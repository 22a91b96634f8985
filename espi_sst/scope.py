"""OAuth scope strings of Green Button Connect and the SST, as a small value type.

GBC sends one ESPI scope token (``FB=4_5_15;IntervalDuration=3600;BlockDuration=monthly;
HistoryLength=13``, ESPI function blocks and their parameters); the utilities' portals
add data categories (PG&E Share My Data: Basic, Billing, Account, Usage, Program
enrollment) and the SST adds three more (concept design section 11.2, Figure 23: Release
RIN data, Release bill comparison, Enable rate change).  An access request carries them as
space-separated OAuth scope tokens::

    FB=4_5_15;IntervalDuration=900;BlockDuration=daily;HistoryLength=13 usage billing sst:rin openid

Shared by the client (to ask) and the server (to grant and check), so it is pure Python.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .errors import ScopeError

__all__ = ["Category", "Scope", "ScopeError"]


class Category(str, enum.Enum):
    """What a customer can share, each a checkbox on the consent page."""

    BASIC = "basic"
    BILLING = "billing"
    ACCOUNT = "account"
    USAGE = "usage"
    PROGRAM_ENROLLMENT = "program_enrollment"
    SST_RIN = "sst:rin"
    SST_BILL_COMPARISON = "sst:bill_comparison"
    SST_RATE_CHANGE = "sst:rate_change"

    @property
    def label(self) -> str:
        return _LABELS[self][0]

    @property
    def explanation(self) -> str:
        return _LABELS[self][1]


_LABELS = {
    Category.BASIC: ("Basic information", "Your name and service address."),
    Category.BILLING: (
        "Billing information",
        "Billing records and history, billing and meter read dates, rate schedule, voltage class.",
    ),
    Category.ACCOUNT: (
        "Account information",
        "Account and service agreement numbers, service start dates.",
    ),
    Category.USAGE: (
        "Usage information",
        "Electric and gas usage for bill calculation, interval and time-of-use usage.",
    ),
    Category.PROGRAM_ENROLLMENT: (
        "Program enrollment",
        "Demand response programs you are enrolled in and their status.",
    ),
    Category.SST_RIN: (
        "Release rate identification (RIN)",
        "The Rate Identification Numbers of your rates, so devices can fetch prices from MIDAS.",
    ),
    Category.SST_BILL_COMPARISON: (
        "Release bill comparison",
        "Estimated annual bills under your rate and every rate you may switch to.",
    ),
    Category.SST_RATE_CHANGE: (
        "Enable rate change",
        "Ask to change your rate; you confirm each change with a code we send you.",
    ),
}

OPENID = "openid"
FUNCTION_BLOCK_PREFIX = "FB="


@dataclass(frozen=True)
class Scope:
    """A parsed scope: ESPI function blocks and parameters, categories, OpenID."""

    function_blocks: frozenset[int] = frozenset()
    parameters: tuple[tuple[str, str], ...] = ()
    categories: frozenset[Category] = frozenset()
    openid: bool = False
    extra: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Scope:
        blocks: set[int] = set()
        parameters: list[tuple[str, str]] = []
        categories: set[Category] = set()
        openid = False
        for token in text.split():
            if token == OPENID:
                openid = True
            elif token.startswith(FUNCTION_BLOCK_PREFIX):
                found, params = _parse_espi(token)
                blocks |= found
                parameters.extend(params)
            else:
                try:
                    categories.add(Category(token))
                except ValueError:
                    known = ", ".join(c.value for c in Category)
                    raise ScopeError(
                        f"unknown scope {token!r}; use an ESPI FB=... token, openid, or one of {known}"
                    ) from None
        return cls(frozenset(blocks), tuple(parameters), frozenset(categories), openid)

    def __str__(self) -> str:
        tokens = []
        if self.function_blocks:
            espi = FUNCTION_BLOCK_PREFIX + "_".join(str(b) for b in sorted(self.function_blocks))
            espi += "".join(f";{k}={v}" for k, v in self.parameters)
            tokens.append(espi)
        tokens.extend(
            c.value for c in sorted(self.categories, key=lambda c: list(Category).index(c))
        )
        if self.openid:
            tokens.append(OPENID)
        return " ".join(tokens)

    def allows(self, category: Category) -> bool:
        return category in self.categories

    def within(self, other: Scope) -> bool:
        """True when everything this scope asks for is granted by ``other``."""
        return (
            self.function_blocks <= other.function_blocks
            and self.categories <= other.categories
            and (not self.openid or other.openid)
        )

    def narrowed_to(self, categories: frozenset[Category]) -> Scope:
        """The same scope keeping only the categories the customer ticked."""
        return Scope(
            self.function_blocks, self.parameters, self.categories & categories, self.openid
        )


def _parse_espi(token: str) -> tuple[set[int], list[tuple[str, str]]]:
    parts = token.split(";")
    blocks_text = parts[0][len(FUNCTION_BLOCK_PREFIX) :]
    try:
        blocks = {int(b) for b in blocks_text.split("_") if b}
    except ValueError:
        raise ScopeError(
            f"ESPI scope {token!r}: function blocks must be numbers joined by _ (FB=4_5_15)"
        ) from None
    if not blocks:
        raise ScopeError(f"ESPI scope {token!r} names no function block")
    parameters = []
    for part in parts[1:]:
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ScopeError(f"ESPI scope {token!r}: {part!r} is not Name=Value")
        parameters.append((key, value))
    return blocks, parameters
