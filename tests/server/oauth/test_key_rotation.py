"""OpenID Connect signing key rotation (server/oauth/keys.py, ``espi-sst rotate-signing-key``):
new id_tokens carry the new ``kid``, old ones still verify, retiring drops only keys out of
use long enough, and a running app follows a rotation made by another process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from espi_sst_server import create_app
from espi_sst_server.oauth.keys import retire, rotate, signing_key
from espi_sst_server.security import now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import AuditEvent, SigningKey
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_world import (
    REDIRECT,
    World,
    authorize_params,
    basic,
    consent,
    login,
    pkce,
    redirect_params,
)
from sqlalchemy import select, update

DAY = 86400


def _id_token(world: World) -> str:
    """A real code flow with PKCE, as an ASP runs it; the id_token it gets."""
    client = world.app.test_client()
    login(client, world.customer_username, world.customer_password)
    verifier, challenge = pkce()
    params = authorize_params(world.confidential_id, challenge)
    got = redirect_params(consent(client, params, usage_points=world.usage_points))
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": got["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(world.confidential_id, world.confidential_secret),
    )
    assert response.status_code == 200, response.json
    token: str = response.json["id_token"]
    return token


def _published(app: Flask) -> KeySet:
    return KeySet.import_key_set(app.test_client().get("/oauth/jwks.json").json)


def _kid(id_token: str, keys: KeySet) -> str:
    """The token's ``kid``, after checking its signature against the published keys."""
    kid: str = jwt.decode(id_token, keys).header["kid"]
    return kid


def _kids(app: Flask) -> list[str]:
    return [key.kid for key in _published(app)]


def _rotate(app: Flask, moment: int | None = None) -> str:
    with app.app_context(), db.transaction() as session:
        return rotate(session, now=now() if moment is None else moment).kid


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``espi-sst`` in its own process, as an operator runs it beside the running app."""
    env = dict(os.environ, ESPI_DATABASE_URL=database_url, ESPI_SECRET_KEY="ops")
    return subprocess.run(
        [str(Path(sys.executable).with_name("espi-sst")), "rotate-signing-key", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_after_rotation_new_id_tokens_carry_the_new_kid_and_old_ones_still_verify(
    world: World,
) -> None:
    before = _id_token(world)
    old_kid = _kid(before, _published(world.app))
    new_kid = _rotate(world.app)
    assert new_kid != old_kid
    assert _kids(world.app) == [old_kid, new_kid]  # both published
    after = _id_token(world)
    keys = _published(world.app)  # what a relying party fetches after the rotation
    assert _kid(after, keys) == new_kid
    assert _kid(before, keys) == old_kid  # signed before the rotation, still verifies
    discovery = world.app.test_client().get("/.well-known/openid-configuration").json
    assert discovery["jwks_uri"].endswith("/oauth/jwks.json")


def test_retire_drops_only_keys_out_of_use_long_enough_and_never_the_active_one(
    world: World,
) -> None:
    start = 1_000_000
    first = _rotate(world.app, start)  # created long ago ...
    second = _rotate(world.app, start + 10 * DAY)  # first out of use since day 10
    third = _rotate(world.app, start + 30 * DAY)  # second out of use since day 30
    with world.app.app_context(), db.transaction() as session:
        assert retire(session, older_than_seconds=5 * DAY, now=start + 31 * DAY) == 1
    # second was created 21 days before, but only stopped signing a day ago: it stays
    assert first not in _kids(world.app)
    assert _kids(world.app) == [second, third]
    with world.app.app_context(), db.transaction() as session:
        assert retire(session, older_than_seconds=0, now=start + 365 * DAY) == 1
        assert retire(session, older_than_seconds=0, now=start + 365 * DAY) == 0
        with pytest.raises(ValueError, match="negative"):
            retire(session, older_than_seconds=-1, now=start)
    assert _kids(world.app) == [third]  # the active key is never retired
    assert _kid(_id_token(world), _published(world.app)) == third
    with world.app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("signing_key%"))
        ).all()
    assert actions.count("signing_key_rotated") == 3
    assert actions.count("signing_keys_retired") == 2


def test_a_key_still_marked_active_is_never_retired(world: World) -> None:
    """Two rotations racing can leave two rows marked active: the newest signs, both stay."""
    first = _rotate(world.app, 1_000)
    _rotate(world.app, 2_000)
    third = _rotate(world.app, 3_000)
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(SigningKey).where(SigningKey.kid == first).values(active=True))
        assert signing_key(session)[0] == third
        assert retire(session, older_than_seconds=0, now=10**10) == 1  # second only
    assert _kids(world.app) == [first, third]


def test_one_transaction_signs_with_one_key_even_if_a_rotation_commits_meanwhile(
    world: World, database_url: str
) -> None:
    """Authlib asks for the kid header and the private key separately: they must agree."""
    other = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test"})
    try:
        with world.app.app_context():
            session = db.session
            signing_key(session)  # the first key, made and committed on first use
            kid, key = signing_key(session)
            rotated = _rotate(other)  # another process commits a rotation in between
            assert signing_key(session) == (kid, key)
            session.commit()  # the next transaction (the next request) sees it
            assert signing_key(session)[0] == rotated != kid
    finally:
        other.extensions["espi_sst_db"].engine.dispose()


def test_the_running_app_follows_a_rotation_made_by_the_cli_in_another_process(
    world: World, database_url: str
) -> None:
    before = _id_token(world)  # the running app has imported and used the first key
    old_kid = _kid(before, _published(world.app))
    done = _cli(database_url)
    assert done.returncode == 0, done.stderr
    new_kid = done.stdout.split()[3].rstrip(":")
    assert done.stdout.startswith(f"new signing key {new_kid}:") and new_kid != old_kid
    keys = _published(world.app)
    assert _kid(_id_token(world), keys) == new_kid  # no restart needed
    assert _kid(before, keys) == old_kid

    # Retiring through the command: the first key has been out of use for two days.
    with world.app.app_context(), db.transaction() as session:
        session.execute(
            update(SigningKey).where(SigningKey.kid == new_kid).values(created_at=now() - 2 * DAY)
        )
    done = _cli(database_url, "--retire-older-than-days", "1")
    assert done.returncode == 0, done.stderr
    assert "retired 1 key(s) out of use for more than 1 days" in done.stdout
    newest = done.stdout.split()[3].rstrip(":")
    assert _kids(world.app) == [new_kid, newest]
    assert _kid(_id_token(world), _published(world.app)) == newest


def test_the_cli_refuses_a_grace_that_live_id_tokens_would_outlast(
    world: World, database_url: str
) -> None:
    with world.app.app_context():
        signing_key(db.session)
        kids = list(db.session.scalars(select(SigningKey.kid)))
    done = _cli(database_url, "--retire-older-than-days", "0")
    assert done.returncode == 2
    assert "must exceed ID_TOKEN_SECONDS" in done.stderr and "Traceback" not in done.stderr
    assert _kids(world.app) == kids  # nothing rotated, nothing retired
