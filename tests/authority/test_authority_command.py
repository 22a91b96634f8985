"""``espi-sst authority migrate|create-staff`` as an operator runs them: a real process, a
real database file; a password too short ends with the reason, not a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyotp
from espi_sst_server.authority.accounts import sign_in
from espi_sst_server.authority.database import make_engine, session_factory
from sqlalchemy import inspect


def _espi_sst(database: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    program = shutil.which("espi-sst", path=str(Path(sys.executable).parent))
    assert program
    env = {**os.environ, "ESPI_AUTHORITY_DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run(
        [program, "authority", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_then_create_staff_who_can_sign_in(tmp_path: Path) -> None:
    database = tmp_path / "authority.db"
    migrated = _espi_sst(database, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    engine = make_engine(f"sqlite:///{database}")
    tables = set(inspect(engine).get_table_names())
    assert {"authority_alembic_version", "authority_registrations", "authority_decisions"} <= tables
    assert "alembic_version" not in tables  # its own version table, apart from the server's

    short = _espi_sst(
        database, "create-staff", "ops@authority.example", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 2
    assert (
        "password: use at least 12 characters" in short.stderr and "Traceback" not in short.stderr
    )

    created = _espi_sst(
        database,
        "create-staff",
        "ops@authority.example",
        "--password-stdin",
        stdin="a long staff password\n",
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.split("TOTP secret (enrol it now, it is not shown again): ")[1].split()[
        0
    ]
    with session_factory(engine)() as session:
        user = sign_in(
            session, "ops@authority.example", "a long staff password", pyotp.TOTP(secret).now()
        )
        assert user.organisation_id is None  # the authority's own staff
    engine.dispose()
