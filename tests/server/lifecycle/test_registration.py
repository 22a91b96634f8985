"""Registering an ASP gives a working OAuth client; bad registrations say why."""

from __future__ import annotations

import pytest
from espi_sst_server import create_app
from espi_sst_server.lifecycle.registration import RegistrationError, register_application
from espi_sst_server.security import same_secret
from espi_sst_server.storage import db
from espi_sst_server.storage.models import Application
from sqlalchemy import select

from espi_sst.scope import ScopeError


def test_registration_stores_only_the_secret_hash(database_url: str) -> None:
    app = create_app({"DATABASE_URL": database_url})
    with app.app_context():
        done = register_application(
            db.session,
            name="Thermostat Co",
            redirect_uris=["https://asp.example/cb"],
            notify_uri="https://asp.example/n",
        )
        row = db.session.scalar(select(Application).where(Application.client_id == done.client_id))
        assert done.client_secret and row is not None
        assert done.client_secret not in (row.client_secret_hash or "")
        assert same_secret(done.client_secret, row.client_secret_hash)
        public = register_application(
            db.session,
            name="App",
            redirect_uris=["http://127.0.0.1:9/cb"],
            notify_uri="https://x/n",
            public=True,
        )
        assert public.client_secret is None
    app.extensions["espi_sst_db"].engine.dispose()


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"redirect_uris": []}, RegistrationError, "at least one redirect URI"),
        ({"redirect_uris": ["http://asp.example/cb"]}, RegistrationError, "must use https"),
        ({"redirect_uris": ["https://asp.example/cb#x"]}, RegistrationError, "fragment"),
        ({"name": " "}, RegistrationError, "name"),
        ({"scope": "usage bogus"}, ScopeError, "unknown scope 'bogus'"),
    ],
)
def test_bad_registrations_are_refused_with_the_reason(
    tmp_path: object, changes: dict[str, object], error: type[Exception], message: str
) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/r.db"})
    arguments: dict[str, object] = {
        "name": "ASP",
        "redirect_uris": ["https://asp.example/cb"],
        "notify_uri": "https://asp.example/n",
    }
    arguments.update(changes)
    with app.app_context(), pytest.raises(error, match=message):
        register_application(db.session, **arguments)  # type: ignore[arg-type]
