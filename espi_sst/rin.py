"""Rate Identification Numbers (RIN), the CEC MIDAS key for a rate (Title 20 CCR 1623(c)).

Format ``CCSS-DDEE-RRRR-L...``: country (2 letters) + state (2), distribution company (2)
+ energy company (2), rate (4, chosen by the LSE, letters or digits), location (1-10,
``0000`` when none).  A bundled rate names both companies (``USCA-PGPG-0505-0000``, PG&E);
an unbundled (CCA) customer holds two RINs: the utility's delivery rate with energy company
``XX`` (``USCA-PGXX-0100-0000``) and the CCA's generation rate with distribution company
``XX`` (``USCA-XXPE-0440-0000``, Peninsula Clean Energy).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .errors import RinError

__all__ = ["Rin", "RinRole", "RIN_PATTERN"]

RIN_PATTERN = r"[A-Z]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{1,10}"
"""The XSD-compatible pattern (also used in xsd/espi-sst.xsd)."""

_RIN = re.compile(
    r"^([A-Z]{2})([A-Z]{2})-([A-Z0-9]{2})([A-Z0-9]{2})-([A-Z0-9]{4})-([A-Z0-9]{1,10})$"
)
_EXAMPLE = "USCA-PGPG-0505-0000"
NO_COMPANY = "XX"


class RinRole(str, enum.Enum):
    """What a RIN prices: everything (bundled), delivery only, or generation only."""

    BUNDLED = "bundled"
    DELIVERY = "delivery"
    GENERATION = "generation"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class Rin:
    """A validated RIN; ``str(rin)`` gives it back in canonical form."""

    country: str
    state: str
    distribution_company: str
    energy_company: str
    rate: str
    location: str

    @classmethod
    def parse(cls, text: str) -> Rin:
        """Parse ``USCA-PGPG-0505-0000``; raise :class:`RinError` saying what is wrong."""
        if not isinstance(text, str):
            raise RinError(f"a RIN is text like {_EXAMPLE}, not {type(text).__name__}")
        value = text.strip()
        match = _RIN.match(value)
        if match is None:
            raise RinError(f"{text!r} is not a RIN: {_explain(value)}")
        rin = cls(*match.groups())
        if rin.distribution_company == NO_COMPANY and rin.energy_company == NO_COMPANY:
            raise RinError(
                f"{text!r} is not a RIN: distribution and energy company cannot both be XX "
                "(XX marks the side a delivery-only or generation-only rate does not cover)"
            )
        return rin

    @classmethod
    def is_valid(cls, text: str) -> bool:
        try:
            cls.parse(text)
        except RinError:
            return False
        return True

    def __str__(self) -> str:
        return (
            f"{self.country}{self.state}-{self.distribution_company}{self.energy_company}-"
            f"{self.rate}-{self.location}"
        )

    @property
    def role(self) -> RinRole:
        if self.energy_company == NO_COMPANY:
            return RinRole.DELIVERY
        if self.distribution_company == NO_COMPANY:
            return RinRole.GENERATION
        return RinRole.BUNDLED

    @property
    def has_location(self) -> bool:
        """False for the ``0000`` "no location" code."""
        return self.location != "0000"


def _explain(value: str) -> str:
    """Name the first part of a bad RIN, so the fix is obvious."""
    if value != value.upper() and _RIN.match(value.upper()):
        return f"RINs are upper-case ({value.upper()})"
    parts = value.split("-")
    if len(parts) != 4:
        return f"expected four parts separated by '-' like {_EXAMPLE}, found {len(parts)}"
    names = (
        ("country+state", r"[A-Z]{4}", "4 letters, e.g. USCA"),
        ("distribution+energy company", r"[A-Z0-9]{4}", "4 letters/digits, e.g. PGPG or PGXX"),
        ("rate", r"[A-Z0-9]{4}", "4 letters/digits, e.g. 0505"),
        ("location", r"[A-Z0-9]{1,10}", "1-10 letters/digits, 0000 when none"),
    )
    for part, (name, pattern, hint) in zip(parts, names, strict=True):
        if not re.fullmatch(pattern, part):
            return f"the {name} part {part!r} must be {hint}"
    return f"expected the form {_EXAMPLE}"
