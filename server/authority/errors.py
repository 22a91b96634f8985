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


class KeyRotationRefused(EspiServerError):
    """A step of the signing key's rotation refused (key_rotation.py): the message says why
    and what to do instead."""

    code = "key_rotation_refused"
