"""The server's errors: one tree, and one place that turns an error into an HTTP answer.

Why: the server had grown 22 exception classes on five unrelated bases (``Exception``,
``ValueError``, ``RuntimeError``, ``OSError`` and two of its own), and four functions that
each built an error answer their own way (the resource API's, the edge screen's, the rate
limits' 429 and bolt-on mode's upstream failures), while every rate-change view caught its
workflow's error, rolled the session back and rebuilt the answer.  Now every error the
server raises descends from :class:`EspiServerError` and carries, the way Authlib's
``OAuth2Error`` does (RFC 6749 section 5.2):

* ``code`` -- a stable machine code (on the wire the JSON member ``error``; the library's
  ``EspiError`` calls it ``code`` too);
* ``description`` -- what is wrong and how to fix it (``str(error)``); for an answer, ASCII
  without quotes, since it may go into a ``WWW-Authenticate`` header (RFC 6750 section 3);
* ``status`` -- the HTTP status of the answer, or None: an error that is not an answer to
  the client but a fault on this side (a utility's file, a setting, a mail server), which
  the client never sees described (500, logged with its traceback, as before);
* extras: ``retry_after`` (the ``Retry-After`` header, RFC 9110 section 10.2.3),
  ``challenge`` (``WWW-Authenticate``; 401 and 403 get RFC 6750's ``Bearer error=...`` by
  default) and ``fields`` (more JSON members: ``parameter``, ``attempts_left``,
  ``request_status``).

The tree (the classes beside the code that raises them subclass these)::

    EspiServerError                        .code .description .status .retry_after .fields
    ├── Refused                            4xx: the client must change its request
    │   │     resource API (resource/errors.py), rate changes (sst/), edge screen
    │   │     (security/edge.py), bearer tokens (oauth/tokens.py, oauth/guard.py)
    │   ├── TooManyRequests                429 with Retry-After (limits/)
    │   └── ShadowError                    401 invalid_token: bolt-on grant not mirrored (upstream/)
    ├── Unavailable                        502/503/504 with Retry-After: a system behind us
    │         (bolt-on mode's upstream: upstream/views.py; the database: errors/wire.py)
    ├── InvalidInput (ValueError)          a file, document or value given to the server
    │   ├── TableError                     .source .line .column (sst/_tables.py)
    │   │   ├── RateTableError             rate_table_invalid (sst/_rate_table.py)
    │   │   ├── CcaFileError               cca_file_invalid (sst/cca_cache.py)
    │   │   └── PrecomputedTableError      precomputed_comparisons_invalid (sst/precomputed.py)
    │   ├── DocumentError                  .index .field: a strict JSON document
    │   │   ├── RegistryError              asp_registry_invalid (lifecycle/registry.py)
    │   │   └── GatewayRegistryError       gateway_registry_invalid (gateway/registry.py)
    │   ├── TariffError                    invalid_tariff (sst/_tariff.py)
    │   ├── LifecycleError                 lifecycle_error (lifecycle/access.py)
    │   ├── RegistrationError              invalid_registration (lifecycle/registration.py)
    │   ├── DestinationRefused             destination_refused (outbox/outbound.py)
    │   ├── SealError                      sealed_body_unreadable (outbox/_seal.py)
    │   └── RateApiAnswerError             rate_api_answer_invalid (sst/rate_api.py)
    ├── ConfigurationError (RuntimeError)  a setting that cannot work
    │   ├── AdapterConfigError             adapter_unloadable (sst/adapters.py)
    │   └── AlreadySeededError             already_seeded (demo/seed.py)
    └── DeliveryError                      a message was not handed over
        ├── NotifierError (RuntimeError)   .permanent (outbox/mail.py)
        └── DestinationUnresolved (OSError) (outbox/outbound.py)

OAuth protocol errors at the OAuth endpoints stay Authlib's ``OAuth2Error`` (RFC 6749 shapes,
written by Authlib and ``oauth/responses.py``); the library's ``EspiError`` is mapped to the
wire beside this tree's, in :mod:`.wire`.

**One answer, one rule**: :mod:`.wire` turns every error into its HTTP answer, in one
place.  This module imports no web framework, so the domain (``sst/``, ``lifecycle/``,
``outbox/``) and the gateway generator raise these errors without importing the HTTP layer.
"""

from __future__ import annotations


class EspiServerError(Exception):
    """The root of everything the server raises (see the module docstring)."""

    code: str = "server_error"
    status: int | None = None

    def __init__(
        self,
        description: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        challenge: str | None = None,
        for_people: str | None = None,
        **fields: str,
    ) -> None:
        super().__init__(description)
        self.description = description
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self._challenge = challenge
        self._for_people = for_people
        self.fields = fields

    @property
    def error(self) -> str:
        """``code`` by the name RFC 6749 and Authlib give it."""
        return self.code

    @property
    def challenge(self) -> str | None:
        """The ``WWW-Authenticate`` value: RFC 6750 section 3 for a 401 or 403 by default."""
        if self._challenge is not None:
            return self._challenge
        if self.status in (401, 403):
            return (
                f'Bearer error="{_quotable(self.code)}", '
                f'error_description="{_quotable(self.description)}"'
            )
        return None

    @property
    def for_people(self) -> str:
        """The description as the error page words it (the JSON's, unless said otherwise)."""
        return self._for_people or self.description


def _quotable(text: str) -> str:
    """Text that can stand in a quoted-string of an HTTP header (RFC 9110 section 5.6.4)."""
    return text.replace("\\", "/").replace('"', "'")


class Refused(EspiServerError):
    """A request the server refuses (4xx): status, stable code, what to change."""

    status = 400

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        retry_after: int | None = None,
        challenge: str | None = None,
        for_people: str | None = None,
        **fields: str,
    ) -> None:
        super().__init__(
            description,
            code=code,
            status=status,
            retry_after=retry_after,
            challenge=challenge,
            for_people=for_people,
            **fields,
        )


class TooManyRequests(Refused):
    """429 (RFC 6585 section 4) with ``Retry-After`` in seconds: every limit's refusal."""

    def __init__(self, seconds: int) -> None:
        super().__init__(
            429,
            "too_many_requests",
            f"too many requests; retry after {seconds} seconds",
            retry_after=seconds,
            for_people=f"Too many sign-in attempts; try again in {seconds} seconds.",
        )


class Unavailable(EspiServerError):
    """A system this server relies on did not answer usefully (502, 503, 504)."""

    status = 503

    def __init__(self, status: int, code: str, description: str, retry_after: int) -> None:
        super().__init__(description, code=code, status=status, retry_after=retry_after)


class InvalidInput(EspiServerError, ValueError):
    """A file, document or value given to the server that it cannot use (never a 4xx:
    when one reaches a request, it is this side's data problem, a 500)."""

    code = "invalid_input"

    def __init__(self, description: str, *, code: str | None = None) -> None:
        super().__init__(description, code=code)


class DocumentError(InvalidInput):
    """A strict JSON document (a registry) that cannot be used; nothing of it was applied.

    Attributes:
        index: the entry of the document's list at fault (None: the document itself).
        field: the field at fault, when there is one.
    """

    def __init__(
        self,
        description: str,
        *,
        index: int | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(description, code=code)
        self.index = index
        self.field = field


class ConfigurationError(EspiServerError, RuntimeError):
    """A setting (or the state it expects) with which the server cannot work."""

    code = "configuration_error"

    def __init__(self, description: str, *, code: str | None = None) -> None:
        super().__init__(description, code=code)


class DeliveryError(EspiServerError):
    """A message (mail, ASP notification) that was not handed over; the outbox retries."""

    code = "not_delivered"

    def __init__(self, description: str, *, code: str | None = None) -> None:
        super().__init__(description, code=code)


__all__ = [
    "ConfigurationError",
    "DeliveryError",
    "DocumentError",
    "EspiServerError",
    "InvalidInput",
    "Refused",
    "TooManyRequests",
    "Unavailable",
]
