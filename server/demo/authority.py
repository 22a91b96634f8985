"""The central authority in ``espi-sst demo --statewide`` (issue 20; docs/central-authority.md).

The statewide demo runs the authority beside its entities, as the concept design draws it
(6.4.1, 6.4.4, 11.3): an ASP signs up and registers once at ``authority_url``, the
authority's staff approve it, and every entity's scheduled ``registry sync``
(demo/registry_loop.py) creates its client there.  Here:

* the authority's own SQLite database (``authority.db``) in the demo's folder, its mail
  (the sign-up verification link) in the demo's mail sink;
* one member of staff, ``staff@authority.demo``, whose password and TOTP secret demo.json
  lists (a demo has no secrets worth keeping; a real authority creates staff with
  ``espi-sst authority create-staff``);
* an entity token per entity (reports and complaints), and the authority's key set pinned
  in ``authority-jwks.json`` -- each entity verifies the list with that file, as an operator
  pins it (``REGISTRY_JWKS_FILE``);
* loopback URIs accepted (``AUTHORITY_ALLOW_LOOPBACK``): the demo's ASPs listen on
  127.0.0.1;
* the abuse limits (authority/limits.py) as a real authority has them, but for the list, its
  key set and the entity API: every entity of the demo polls from the same loopback address,
  every few seconds rather than every few minutes (``--registry-interval``), so those limits
  are ``DEMO_POLLING_LIMIT``.  Sign-up, sign-in and the e-mail link keep their defaults.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from ..authority import create_authority_app
from ..authority.accounts import new_user, provisioning_uri
from ..authority.keys import all_keys
from ..authority.signed_list import public_jwks
from .mail_sink import MailSink

STAFF_EMAIL = "staff@authority.demo"
STAFF_PASSWORD = "authority demo staff"
"""The demo authority's one member of staff (demo.json lists them with the TOTP secret)."""
DEMO_POLLING_LIMIT = "6000 per minute"
"""The demo's list, key-set and entity-API limit: its four entities share one address and
sync as often as every second (the end-to-end test), each with a fetch, a report and
complaints -- far under this, which still cuts off a runaway loop."""


@dataclass(frozen=True)
class DemoAuthority:
    """The running demo authority and what the entities need to trust and reach it."""

    url: str
    app: Flask
    jwks_file: Path
    tokens: dict[str, str]
    staff_totp_secret: str
    staff_totp_uri: str

    def entity_settings(self, entity: str, registry_url: str | None = None) -> dict[str, Any]:
        """An entity's ``REGISTRY_*`` settings (docs/server.md): the list at ``registry_url``
        (default: the authority's own ``/registry``; the list is signed, so a mirror or a
        proxy may serve it), verified with the pinned key set."""
        return {
            "REGISTRY_URL": registry_url or f"{self.url}/registry",
            "REGISTRY_ISSUER": self.url,
            "REGISTRY_JWKS_FILE": str(self.jwks_file),
            "REGISTRY_ENTITY_ID": entity,
            "REGISTRY_REPORT_TOKEN": self.tokens[entity],
        }

    def as_json(self) -> dict[str, Any]:
        """demo.json's ``authority``: where to sign up, and the staff's sign-in."""
        return {
            "url": self.url,
            "sign_up_url": f"{self.url}/sign-up",
            "sign_in_url": f"{self.url}/sign-in",
            "registry_url": f"{self.url}/registry",
            "jwks_url": f"{self.url}/.well-known/jwks.json",
            "jwks_file": str(self.jwks_file),
            "staff": {
                "email": STAFF_EMAIL,
                "password": STAFF_PASSWORD,
                "totp_secret": self.staff_totp_secret,
                "totp_uri": self.staff_totp_uri,
            },
        }


def make_demo_authority(
    data_dir: Path, *, url: str, entities: list[str], sink: MailSink
) -> DemoAuthority:
    """The authority's app for ``url`` (not yet serving), its database new in ``data_dir``,
    its staff member created, its key set pinned in ``authority-jwks.json``."""
    database = data_dir / "authority.db"
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    tokens = {code: secrets.token_urlsafe(24) for code in entities}
    app = create_authority_app(
        {
            "AUTHORITY_DATABASE_URL": f"sqlite:///{database}",
            "AUTHORITY_ISSUER": url,
            "SECRET_KEY": secrets.token_hex(32),
            "AUTHORITY_ENTITY_TOKENS": tokens,
            "AUTHORITY_SMTP_HOST": "127.0.0.1",
            "AUTHORITY_SMTP_PORT": sink.port,
            "AUTHORITY_MAIL_FROM": "SST central authority (demo) <authority@authority.demo>",
            "AUTHORITY_ALLOW_LOOPBACK": True,
            "AUTHORITY_LIST_RATE_LIMIT": DEMO_POLLING_LIMIT,
            "AUTHORITY_ENTITY_RATE_LIMIT": DEMO_POLLING_LIMIT,
        }
    )
    sessions = app.extensions["authority_sessions"]
    with sessions() as session:
        staff, totp_secret = new_user(session, STAFF_EMAIL, STAFF_PASSWORD, None)
        staff.email_verified_at = staff.created_at  # the demo vouches for its own staff
        session.commit()
        totp_uri = provisioning_uri(staff)
        jwks = public_jwks(all_keys(session))
    jwks_file = data_dir / "authority-jwks.json"
    partial = jwks_file.with_suffix(".json.partial")
    partial.write_text(json.dumps(jwks, indent=2) + "\n")
    partial.replace(jwks_file)
    return DemoAuthority(url, app, jwks_file, tokens, totp_secret, totp_uri)
