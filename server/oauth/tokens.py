"""Where a bearer token's grant comes from: one strategy per app, chosen once at start.

A resource request (RFC 6750) carries a bearer token; a :class:`TokenSource` says what it
allows, as a :class:`Grant`, or refuses it (401 ``invalid_token``).  Two sources exist:

* :class:`LocalTokens` -- this server issued the token: it is found by its hash, with its
  grant and its ASP's standing in one query;
* ``upstream.tokens.IntrospectedTokens`` -- bolt-on mode: the existing custodian's
  authorization server answers by RFC 7662 introspection, and the grant is mirrored here.

Both apply the one rule of a usable grant (``lifecycle/usable.py``).  ``create_app`` picks
the source from ``TOKEN_VALIDATION`` and keeps it in ``app.extensions``; the guard
(``guard.py``) then does the rest the same way whatever the source: per-ASP limits, the
token's kind, its scope.  Before, the bearer check was written twice, once per mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn, Protocol

from flask import Flask, current_app
from sqlalchemy import bindparam, select

from espi_sst.scope import Scope

from ..errors import Refused
from ..lifecycle.usable import token_refusal
from ..security import hash_secret, now
from ..storage import db
from ..storage.models import Application, Authorization, Token

EXTENSION = "espi_sst_token_source"
MODES = ("local", "introspection", "probe")
"""``TOKEN_VALIDATION``'s values: this server's own tokens; the custodian's RFC 7662
introspection; or, for a custodian without introspection, a GET of the addressed resource
at the custodian with the ASP's own token (bolt-on mode, docs/deployment.md)."""


@dataclass(frozen=True)
class Target:
    """What the request addresses, from its path: the Subscription and the UsagePoint ids.

    Local tokens do not need it (the grant says everything).  A bolt-on in front of a
    custodian that answers introspection with the standard members only, or not at all,
    learns which subscription and usage point a token may reach from the custodian's own
    answer for exactly these ids (``upstream/probe.py``).
    """

    subscription_id: str | None = None
    usage_point_id: str | None = None


@dataclass(frozen=True)
class Grant:
    """What the presented token allows."""

    token: Token
    client_id: str
    authorization: Authorization | None  # None: an ASP-level (client_credentials) token
    scope: Scope

    @property
    def usage_point_ids(self) -> frozenset[int]:
        if self.authorization is None:
            return frozenset()
        return frozenset(up.id for up in self.authorization.usage_points)


def refuse(status: int, error: str, description: str) -> NoReturn:
    """Refuse with an RFC 6750 error (section 3.1): the JSON body and, for the 401 and 403
    it is used for, the ``WWW-Authenticate`` challenge (``server/errors/wire.py`` writes both)."""
    raise Refused(status, error, description)


class TokenSource(Protocol):
    """Turns a bearer token into its grant, or refuses it (:func:`refuse`, 401)."""

    def grant(self, bearer: str, target: Target) -> Grant: ...


_TOKEN_BY_HASH = (
    select(Token, Authorization, Application.qualification)
    .join(Application, Application.client_id == Token.client_id)
    .outerjoin(Authorization, Authorization.id == Token.authorization_id)
    .where(Token.access_token_hash == bindparam("digest"))
    # Always the database's values, never a copy already in the session's identity map: a
    # session that outlived its request (a streamed body not yet closed) must not answer
    # "usable" from a grant as it was before it ended.
    .execution_options(populate_existing=True)
)
"""Built once, with the authorization and the ASP's qualification in the same round trip
(every request runs it: one query, bench/server measures it).  The authorization is a
second entity of the row rather than a ``joinedload`` (the eager loader's set-up cost more
than the query, issue 17); ``token.authorization`` then comes from the session's identity
map, without SQL."""


@lru_cache(maxsize=256)
def parsed_scope(text: str) -> Scope:
    """``Scope.parse(text)``, remembered: a token's scope string is one of the few its ASPs
    were granted, and every request parsed it again (issue 17).  ``Scope`` is immutable
    and the answer depends on the string alone, so nothing can be stale; the bound keeps
    the memory small whatever the strings."""
    return Scope.parse(text)


class LocalTokens:
    """Tokens this server issued (``TOKEN_VALIDATION`` = ``local``)."""

    def grant(self, bearer: str, target: Target) -> Grant:
        found = db.session.execute(_TOKEN_BY_HASH, {"digest": hash_secret(bearer)}).first()
        if found is None:
            refuse(401, "invalid_token", "the access token is unknown, expired or revoked")
        token, authorization, qualification = found
        refusal = token_refusal(token, qualification, now())
        if refusal is not None:
            refuse(401, "invalid_token", refusal.description)
        return Grant(
            token=token,
            client_id=token.client_id,
            authorization=authorization,
            scope=parsed_scope(token.scope),
        )


def token_source() -> TokenSource:
    """The current app's source (set by :func:`install`)."""
    source: TokenSource = current_app.extensions[EXTENSION]
    return source


def install(app: Flask, source: TokenSource) -> None:
    app.extensions[EXTENSION] = source


def validation_mode(app: Flask) -> str:
    """``TOKEN_VALIDATION``, checked: a typo must not fall back to another mode silently."""
    mode = str(app.config.get("TOKEN_VALIDATION") or "local")
    if mode not in MODES:
        raise ValueError(
            f"TOKEN_VALIDATION is {mode!r}; set it to one of {', '.join(MODES)} "
            "(docs/deployment.md, bolt-on mode)"
        )
    return mode


__all__ = [
    "Grant",
    "LocalTokens",
    "Target",
    "TokenSource",
    "install",
    "parsed_scope",
    "refuse",
    "token_source",
    "validation_mode",
]
