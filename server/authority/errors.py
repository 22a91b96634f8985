"""The authority's errors, in the server's one tree (server/errors)."""

from __future__ import annotations

from ..errors import EspiServerError, InvalidInput, Refused


class SubmissionError(InvalidInput):
    """A registration field the authority cannot accept: ``field`` names it."""

    code = "invalid_registration"

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field


class AccountError(Refused):
    """Sign-up or sign-in refused (the message says what to do)."""

    def __init__(self, description: str, *, status: int = 400, code: str = "account") -> None:
        super().__init__(status, code, description)


def in_words(seconds: int) -> str:
    """``seconds`` as a person reads a wait: "in 40 seconds", "in 12 minutes", "in 5 hours"."""
    if seconds < 90:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 3600:
        return f"in {-(-seconds // 60)} minutes"
    return f"in {-(-seconds // 3600)} hours"


class RateLimited(Refused):
    """429 (RFC 6585 section 4) with ``Retry-After``: one of the authority's abuse limits
    (server/authority/limits.py).  ``what`` says what was counted, for the page's plain words."""

    def __init__(self, seconds: int, what: str) -> None:
        when = in_words(seconds)
        super().__init__(
            429,
            "rate_limited",
            f"{what}; retry after {seconds} seconds",
            retry_after=seconds,
            for_people=f"{what[:1].upper()}{what[1:]}. Please try again {when}.",
        )


class KeyRotationRefused(EspiServerError):
    """A step of the signing key's rotation refused (key_rotation.py): the message says why
    and what to do instead."""

    code = "key_rotation_refused"
