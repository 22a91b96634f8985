"""A PostgreSQL backup restores a working server (issue 16, "Backups"; docs/operations.md).

The procedure docs/operations.md gives, run for real against a scratch PostgreSQL database:
a seeded utility served by gunicorn, an ASP authorized through the real portal pages (PKCE,
OpenID Connect) and fetching its customer's data; ``pg_dump -Fc`` while it serves; a token
refresh after the dump (what a restore loses); the database dropped and created again,
``pg_restore``; a new gunicorn on it.  What must hold afterwards:

* the schema is at the newest migration and the audit log still refuses UPDATE (the
  triggers came back: they are restored after the data);
* the JWKS is byte-identical (the OpenID signing keys live in the database), and a token
  issued before the dump fetches byte-identical resources;
* what happened after the dump is gone: the refresh token and the access token issued by
  the refresh are refused (``invalid_grant``, 401) -- the documented loss: that ASP sends
  its customer through consent again, which works, with an id_token the restored key signs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from scratch_databases import postgresql_database

from espi_sst.client import AspClient, MemoryTokenStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from demo_process import CustomerBrowser, free_port  # noqa: E402

SECRET_KEY = "backup-restore-test"  # the environment file's: the same before and after
SCOPE = "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=13 basic usage openid"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def client_tools(url: str) -> tuple[str, str]:
    """pg_dump and pg_restore of the server's major version or newer (pg_dump refuses an
    older client): the cluster's own bin directory first, as scripts/pg-test-cluster."""
    with psycopg.connect(libpq(url)) as connection:
        row = connection.execute("SHOW server_version_num").fetchone()
    assert row is not None
    major = int(row[0]) // 10000
    for folder in [f"/usr/lib/postgresql/{major}/bin", *os.get_exec_path()]:
        dump, restore = Path(folder, "pg_dump"), Path(folder, "pg_restore")
        if dump.is_file() and restore.is_file():
            version = subprocess.run(
                [str(dump), "--version"], capture_output=True, text=True, check=True
            )
            found = re.search(r"(\d+)\.\d+", version.stdout)
            if found and int(found.group(1)) >= major:
                return str(dump), str(restore)
    message = f"no pg_dump/pg_restore {major} or newer (Debian: postgresql-client-{major})"
    if os.environ.get("ESPI_REQUIRE_POSTGRESQL"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def gunicorn(url: str, port: int, folder: Path, name: str) -> Iterator[str]:
    """The production entry point as deployed (deploy/systemd/espi-sst-web.service), one
    worker, on the given database; yields its base URL once it answers."""
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ESPI_DATABASE_URL": url,
        "ESPI_ISSUER": base,
        "ESPI_SECRET_KEY": SECRET_KEY,
        "ESPI_AUTO_MIGRATE": "false",  # migrated before, as in production
    }
    log_path = folder / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "espi_sst_server.wsgi:app",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                requests.get(f"{base}/oauth/jwks.json", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
    assert "Traceback" not in log_path.read_text()


def seed_utility(url: str, base: str, redirect_uri: str) -> tuple[dict[str, object], str, str]:
    """The demo utility and one ASP, written through the server's own code (and migrated:
    AUTO_MIGRATE defaults to true); returns a customer as demo.json has it, and the ASP's
    client id and secret."""
    from espi_sst_server import create_app
    from espi_sst_server.demo import seed
    from espi_sst_server.lifecycle.registration import register_application
    from espi_sst_server.storage import db

    app = create_app({"DATABASE_URL": url, "ISSUER": base, "SECRET_KEY": SECRET_KEY})
    try:
        with app.app_context():
            with db.transaction() as session:
                demo = seed(session, now=int(time.time()))
            registered = register_application(
                db.session,
                name="Backup test ASP",
                redirect_uris=[redirect_uri],
                notify_uri="https://asp.example/notify",
            )
        assert registered.client_secret is not None
        customer = demo.as_json(base, base)["customers"][0]
        return customer, registered.client_id, registered.client_secret
    finally:
        app.extensions["espi_sst_db"].engine.dispose()


def authorize(base: str, customer: dict[str, object], client_id: str, secret: str) -> dict:  # type: ignore[type-arg]
    """The code flow through the real portal pages; the token response (id_token checked)."""
    store = MemoryTokenStore()
    client = AspClient.from_issuer(
        base,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=f"{base}/asp-callback",
        scope=SCOPE,
        token_store=store,
    )
    started = client.authorization_url()
    callback = CustomerBrowser(base, customer).approve(started.url)
    grant = client.fetch_token(callback, started)  # validates the id_token against the JWKS
    assert grant.id_token_claims is not None
    token = store.load(grant.key)
    assert token is not None
    return token


FEED_CLOCK = re.compile(rb"^(.*?<feed\b.*?)<updated>[^<]*</updated>", re.DOTALL)


def resources(token: dict) -> dict[str, bytes]:  # type: ignore[type-arg]
    """The grant's data, as bytes: the Authorization, the usage points, the whole batch.

    A feed's own ``<updated>`` is the moment it was served (RFC 4287 4.2.15; the entries
    keep theirs): it alone is blanked, every other byte is compared."""
    subscription = token["resourceURI"]
    urls = {
        "authorization": token["authorizationURI"],
        "usage points": subscription.replace("/Batch/Subscription/", "/Subscription/")
        + "/UsagePoint",
        "batch": subscription,
    }
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    fetched = {}
    for name, url in urls.items():
        answer = requests.get(url, headers=headers, timeout=60)
        assert answer.status_code == 200, (name, answer.status_code, answer.text[:300])
        fetched[name] = FEED_CLOCK.sub(rb"\1<updated/>", answer.content, count=1)
    return fetched


def entry_ids(feed: bytes) -> list[bytes]:
    """The resources a feed lists (a new grant is a new subscription: its links differ)."""
    return re.findall(rb"<entry>\s*<id>([^<]+)</id>", feed)


def refresh(base: str, client_id: str, secret: str, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client_id, secret),
        timeout=10,
    )


def newest_migration() -> str:
    from alembic.script import ScriptDirectory
    from espi_sst_server.storage import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def test_a_dump_restored_into_a_new_database_serves_the_same_data(tmp_path: Path) -> None:
    with contextlib.closing(postgresql_database()) as databases:
        url = next(databases)
        pg_dump, pg_restore = client_tools(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        customer, client_id, secret = seed_utility(url, base, f"{base}/asp-callback")

        with gunicorn(url, port, tmp_path, "before") as served:
            token = authorize(served, customer, client_id, secret)
            before = resources(token)
            assert resources(token) == before  # stable bytes: a difference below is the restore's
            jwks_before = requests.get(f"{served}/oauth/jwks.json", timeout=10).content

            dump = tmp_path / "espi.dump"
            subprocess.run(  # while it serves, as a nightly backup runs
                [pg_dump, "-Fc", "-f", str(dump), libpq(url)], check=True, timeout=300
            )

            # After the backup: the ASP refreshes (the refresh token rotates).
            later = refresh(served, client_id, secret, token["refresh_token"])
            assert later.status_code == 200, later.text
            after_backup = later.json()
            assert after_backup["refresh_token"] != token["refresh_token"]

        # Disaster: the database is gone; created again, empty, and restored.
        name = url.rsplit("/", 1)[1]
        admin = libpq(url).rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
        subprocess.run(
            [pg_restore, "--exit-on-error", "--no-owner", "-d", libpq(url), str(dump)],
            check=True,
            timeout=300,
        )

        with psycopg.connect(libpq(url)) as connection:
            (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()  # type: ignore[misc]
            assert version == newest_migration()
            with pytest.raises(psycopg.Error, match="append-only|audit"):
                connection.execute("UPDATE audit_event SET actor = 'forged'")

        with gunicorn(url, port, tmp_path, "after") as served:
            assert requests.get(f"{served}/oauth/jwks.json", timeout=10).content == jwks_before
            assert resources(token) == before  # the token from before the backup still works

            # What happened after the backup is gone, and said so in OAuth's terms.
            lost = refresh(served, client_id, secret, after_backup["refresh_token"])
            assert (lost.status_code, lost.json()["error"]) == (400, "invalid_grant")
            unknown = requests.get(
                token["authorizationURI"],
                headers={"Authorization": f"Bearer {after_backup['access_token']}"},
                timeout=10,
            )
            assert unknown.status_code == 401

            # The way back for that ASP: its customer consents again.
            again = authorize(served, customer, client_id, secret)
            listed = entry_ids(before["usage points"])
            assert listed and entry_ids(resources(again)["usage points"]) == listed
