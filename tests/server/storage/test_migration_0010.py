"""Migration 0010 adds the customer's passcode channel (issue 13; concept design 7.6): every
existing customer keeps e-mail and has no phone number; downgrading removes both columns.
SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from espi_sst_server.storage import alembic_config, upgrade
from sqlalchemy import create_engine, inspect, text

INSERT = (
    "INSERT INTO retail_customer (uuid, username, password_hash, display_name, email, "
    "created_at) VALUES ('u-1', 'pat', 'x', 'Pat', 'pat@example.com', 1)"
)


def test_existing_customers_keep_e_mail_and_the_columns_go_back(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0008")
        with engine.begin() as connection:
            connection.execute(text(INSERT))
        upgrade(engine)
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT passcode_channel, phone FROM retail_customer WHERE username = 'pat'")
            ).one()
            assert tuple(row) == ("email", None)
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0010"
        with engine.begin() as connection:  # a new customer without the column named: e-mail
            connection.execute(
                text(
                    "INSERT INTO retail_customer (uuid, username, password_hash, display_name, "
                    "phone, created_at) VALUES ('u-2', 'sam', 'x', 'Sam', '+14155550123', 1)"
                )
            )
            assert (
                connection.execute(
                    text("SELECT passcode_channel FROM retail_customer WHERE username = 'sam'")
                ).scalar()
                == "email"
            )
        command.downgrade(alembic_config(engine), "0009")
        columns = {c["name"] for c in inspect(engine).get_columns("retail_customer")}
        assert "phone" not in columns and "passcode_channel" not in columns
        assert "email" in columns
    finally:
        engine.dispose()
