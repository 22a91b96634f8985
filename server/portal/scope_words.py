"""What a grant lets an ASP see and do, in a customer's words: one module for every page that
shows a scope -- the consent page (Mode 2), the portal's pre-authorization (Mode 1), the
authorizations page and the bolt-on add-on consent (issue 13: they showed the raw scope
string, or different words for the same thing).

The customer never reads a scope token.  A scope (``espi_sst.scope.Scope``) is said as:

* its data categories, each with the label and explanation of ``Category`` (PG&E Share My
  Data's checkboxes plus the SST's three, concept design 11.2 Figure 23) -- the library's
  words, also used in the confirmation e-mail (``lifecycle/_mail.py``);
* the ESPI scope parameters of the ``FB=`` token (Green Button Connect; NAESB REQ.21
  ESPI): ``IntervalDuration`` (seconds per reading, ``_``-joined when several),
  ``BlockDuration`` (how often new data is delivered) and ``HistoryLength``.  This project's
  scopes give ``HistoryLength`` in months (``HistoryLength=13``: 13 billing cycles, as PG&E's
  scope strings do); a value of a day or more in seconds (the ESPI XSD's example
  ``HistoryLength=34128000``) is read as seconds;
* one-time or ongoing access: an ASP registered for the ``refresh_token`` grant gets a
  refresh token (RFC 6749 1.5) and can come back until the grant ends; one without it can
  fetch once, while its access token lasts (``ACCESS_TOKEN_SECONDS``).

The codes stay the API's; this module only says them.
"""

from __future__ import annotations

from dataclasses import dataclass

from espi_sst.scope import Category, Scope, ScopeError

__all__ = [
    "AspWords",
    "CategoryWords",
    "ScopeWords",
    "access_words",
    "asp_words",
    "describe_scope",
]


@dataclass(frozen=True)
class CategoryWords:
    """One data category: the checkbox's label and what it contains."""

    value: str
    label: str
    explanation: str


@dataclass(frozen=True)
class ScopeWords:
    """A scope said in plain words (empty fields: the scope does not say it)."""

    categories: tuple[CategoryWords, ...]
    readings: str | None
    history: str | None
    updates: str | None
    sign_in: bool

    @property
    def summary(self) -> str:
        """The categories' labels in one line ("Basic information, Usage information")."""
        return ", ".join(c.label for c in self.categories) or "No data"

    @property
    def details(self) -> tuple[str, ...]:
        """The ESPI parameters as sentences, in a fixed order."""
        return tuple(line for line in (self.history, self.readings, self.updates) if line)


_INTERVALS = {60: "1-minute", 300: "5-minute", 900: "15-minute", 1800: "30-minute", 3600: "hourly"}
_BLOCKS = {
    "daily": "New data is delivered once a day.",
    "weekly": "New data is delivered once a week.",
    "monthly": "New data is delivered once a month.",
    "billingperiod": "New data is delivered once per billing period.",
}
_DAY = 86400


def describe_scope(scope: Scope | str) -> ScopeWords:
    """``scope`` (parsed or as granted) in the pages' words; an unreadable stored scope
    gives its categories as none rather than a traceback on the customer's page."""
    if isinstance(scope, str):
        try:
            scope = Scope.parse(scope)
        except ScopeError:
            scope = Scope()
    parameters = {key.lower(): value for key, value in scope.parameters}
    return ScopeWords(
        categories=tuple(
            CategoryWords(c.value, c.label, c.explanation)
            for c in Category
            if c in scope.categories
        ),
        readings=_readings(parameters.get("intervalduration")),
        history=_history(parameters.get("historylength")),
        updates=_BLOCKS.get((parameters.get("blockduration") or "").lower()),
        sign_in=scope.openid,
    )


def _readings(value: str | None) -> str | None:
    if not value:
        return None
    names = []
    for part in value.split("_"):
        if not part.isdigit():
            continue
        seconds = int(part)
        names.append(_INTERVALS.get(seconds) or f"{seconds}-second")
    if not names:
        return None
    joined = " and ".join(names)
    return f"Usage in {joined} readings."


def _history(value: str | None) -> str | None:
    if not value or not value.isdigit():
        return None
    number = int(value)
    if number >= _DAY:  # seconds (the ESPI XSD's examples)
        days = number // _DAY
        if days >= 60:
            return f"History of up to {round(days / 30.4)} months before today."
        return f"History of up to {days} day{'s' if days != 1 else ''} before today."
    return f"History of up to {number} month{'s' if number != 1 else ''} before today."


@dataclass(frozen=True)
class AspWords:
    """Who asks: qualification and class in plain words (concept design 6.4.2, 6.4.4)."""

    qualification: str
    asp_class: str


_QUALIFICATION = {
    "qualified": "Qualified for the Single Statewide Tool (on the statewide list of approved companies).",
    "pending": "Not yet qualified for the Single Statewide Tool.",
    "suspended": "Suspended from the Single Statewide Tool.",
    "dequalified": "No longer qualified for the Single Statewide Tool.",
    "blocked": "Blocked by {utility}.",
}
_CLASS = {
    "data-only": "Data-only company: it may read your information but never change your rate.",
    "rate-change": (
        "Rate-change company: besides reading your information, it may ask to change your "
        "rate; each change needs a code we send you."
    ),
}


def asp_words(qualification: str, asp_class: str, utility: str) -> AspWords:
    """How the consent page introduces an ASP (its row's codes, in words)."""
    return AspWords(
        qualification=_QUALIFICATION.get(qualification, "Qualification unknown.").format(
            utility=utility
        ),
        asp_class=_CLASS.get(asp_class, _CLASS["data-only"]),
    )


def access_words(grant_types: list[str] | tuple[str, ...], access_seconds: int) -> str:
    """One-time or ongoing access (RFC 6749 1.5: a refresh token lets the ASP come back)."""
    if "refresh_token" in grant_types:
        return (
            "Ongoing access: it can keep fetching new data until the end you choose below "
            "or until you revoke it."
        )
    minutes = max(1, access_seconds // 60)
    return f"One-time access: it can fetch your data once, within {minutes} minutes."
