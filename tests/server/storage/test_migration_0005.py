"""Migration 0005 gives every existing application a class (concept design 6.4.2): rate-change
when its registered scope names sst:rate_change, else data-only -- a migration tells no
customer anything, so it must not take away what existing grants allow.  SQLite and
PostgreSQL."""

from __future__ import annotations

from alembic import command
from espi_sst_server.storage import alembic_config, upgrade
from sqlalchemy import create_engine, text

INSERT = (
    "INSERT INTO application (uuid, client_id, client_name, redirect_uris, notify_uri, scope, "
    "grant_types, token_endpoint_auth_method, qualification, software_id, software_version, "
    "contacts, created_at) VALUES (:uuid, :client_id, 'n', '[]', '', :scope, '[]', 'none', "
    "'qualified', 's', '1', '[]', 1)"
)


def test_existing_applications_get_the_class_their_scope_implies(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0004")
        with engine.begin() as connection:
            for index, scope in enumerate(
                ("usage sst:rin sst:rate_change", "usage sst:rin sst:bill_comparison", "")
            ):
                connection.execute(
                    text(INSERT),
                    {"uuid": f"u-{index}", "client_id": f"c-{index}", "scope": scope},
                )
        upgrade(engine)
        with engine.connect() as connection:
            classes = [
                row[0]
                for row in connection.execute(
                    text("SELECT asp_class FROM application ORDER BY client_id")
                )
            ]
        assert classes == ["rate-change", "data-only", "data-only"]
        command.downgrade(alembic_config(engine), "0004")  # and back: the column goes
        with engine.connect() as connection:
            columns = connection.execute(text("SELECT * FROM application")).keys()
        assert "asp_class" not in columns
    finally:
        engine.dispose()
