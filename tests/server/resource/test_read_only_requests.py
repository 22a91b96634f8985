"""The UsageSummary GET reads in autocommit on PostgreSQL (``Database.read_only_request``,
issue 17): no ``BEGIN``/``ROLLBACK`` round trips, and nothing else changes.

* its statements run with the driver in autocommit (PostgreSQL), the guard's token lookup
  included; on SQLite the request is served the same way;
* a token revoked (or whose grant was revoked) between two GETs is refused 401 at once;
* the pooled connection goes back to transactions: the next request's writes still roll
  back as a whole (the mode does not leak to the next user of the connection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from espi_sst_server.security import hash_secret, now
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Authorization, Token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

if TYPE_CHECKING:
    from resource_world import World

BASE = "/espi/1_1/resource"


def summary_url(world: World) -> str:
    return f"{BASE}/Subscription/{world.sub_a}/UsagePoint/{world.up_a1}/UsageSummary/{world.us_jan}"


def test_statements_run_in_autocommit_on_postgresql(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context():
        engine = db.engine
    assert engine is not None
    modes: list[Any] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        modes.append(getattr(conn.connection.dbapi_connection, "autocommit", None))

    event.listen(engine, "before_cursor_execute", record)
    try:
        answer = client.get(summary_url(world), headers={"Authorization": "Bearer tok-a"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert answer.status_code == 200, answer.data
    assert len(modes) >= 2  # the token, the summary (and its quality)
    if engine.dialect.name == "postgresql":
        assert modes == [True] * len(modes)  # psycopg sends no BEGIN in autocommit


def test_revocation_between_two_gets_is_refused_at_once(
    app: Flask, client: FlaskClient, world: World
) -> None:
    bearer = {"Authorization": "Bearer tok-a"}
    assert client.get(summary_url(world), headers=bearer).status_code == 200
    with app.app_context():
        db.session.execute(
            update(Token)
            .where(Token.access_token_hash == hash_secret("tok-a"))
            .values(revoked_at=now() - 1)
        )
        db.session.commit()
    refused = client.get(summary_url(world), headers=bearer)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"


def test_grant_revocation_between_two_gets_is_refused_at_once(
    app: Flask, client: FlaskClient, world: World
) -> None:
    bearer = {"Authorization": "Bearer tok-a"}
    assert client.get(summary_url(world), headers=bearer).status_code == 200
    with app.app_context():
        token = db.session.scalar(
            select(Token).where(Token.access_token_hash == hash_secret("tok-a"))
        )
        assert token is not None and token.authorization_id is not None
        db.session.execute(
            update(Authorization)
            .where(Authorization.id == token.authorization_id)
            .values(status=0, revoked_at=now() - 1, ended_reason="revoked_by_customer")
        )
        db.session.commit()
    refused = client.get(summary_url(world), headers=bearer)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"


@pytest.mark.parametrize("requests_before", [1, 3])
def test_the_next_request_still_writes_in_a_transaction(
    app: Flask, client: FlaskClient, world: World, requests_before: int
) -> None:
    for _ in range(requests_before):
        answer = client.get(summary_url(world), headers={"Authorization": "Bearer tok-a"})
        assert answer.status_code == 200
    with app.test_request_context():  # a request's session, as a writing view has it
        session = db.session
        session.execute(
            update(Token).where(Token.access_token_hash == hash_secret("tok-a")).values(scope="x")
        )
        session.rollback()
    with app.app_context():
        scope = db.session.scalar(
            select(Token.scope).where(Token.access_token_hash == hash_secret("tok-a"))
        )
    assert scope != "x"  # rolled back: the connection was not left in autocommit
