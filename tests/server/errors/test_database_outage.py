"""A database that stops answering gets 503 with Retry-After, not 500; and the next request
after it is back is served (issue 15: found by bench/soak's PostgreSQL restart).

Over real HTTP (tests/server/parallel.py's server) on each database: PostgreSQL refuses
connections to the test's database and cuts the open ones (``ALLOW_CONNECTIONS false`` and
``pg_terminate_backend``: what a stop looks like to the pool), SQLite loses its folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import requests
from espi_sst_server import create_app
from parallel import serve

RESOURCE = "/espi/1_1/resource/ApplicationInformation"


def _postgresql_admin(database_url: str) -> tuple[str, str]:
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
    return admin + "/postgres", name


def _cut(database_url: str, *, allow: bool) -> None:
    import psycopg

    admin, name = _postgresql_admin(database_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s", (name,))  # fmt: skip


def test_a_database_outage_is_503_with_retry_after_and_passes(
    tmp_path: Path, database_url: str
) -> None:
    sqlite = database_url.startswith("sqlite")
    if sqlite:
        folder = tmp_path / "data"
        folder.mkdir()
        database_url = f"sqlite:///{folder}/espi.db"
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "t", "TESTING": True})
    bearer = {"Authorization": "Bearer not-a-token", "Accept": "application/atom+xml"}
    try:
        with serve(app) as base:
            before = requests.get(base + RESOURCE, headers=bearer, timeout=30)
            assert before.status_code == 401, before.text  # the token was looked up
            if sqlite:
                saved = tmp_path / "saved"
                shutil.copytree(folder, saved)
                shutil.rmtree(folder)
                app.extensions["espi_sst_db"].engine.dispose()
            else:
                _cut(database_url, allow=False)
            during = requests.get(base + RESOURCE, headers=bearer, timeout=30)
            assert during.status_code == 503, during.text
            assert during.headers["Retry-After"] == "5"
            assert during.headers["Cache-Control"] == "no-store"
            assert during.json()["error"] == "database_unavailable"
            assert "retry after 5 seconds" in during.json()["error_description"]
            if sqlite:
                shutil.copytree(saved, folder)
            else:
                _cut(database_url, allow=True)
            after = requests.get(base + RESOURCE, headers=bearer, timeout=30)
            assert after.status_code == 401, after.text  # served again, no restart needed
    finally:
        if not sqlite:
            _cut(database_url, allow=True)
        app.extensions["espi_sst_db"].engine.dispose()
