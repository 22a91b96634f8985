"""PgBouncer in transaction pooling mode in front of the test PostgreSQL cluster.

Debian's ``pgbouncer`` (1.18 here; ``.ci/run`` installs it), started per use with its own
configuration in a temporary folder: loopback, a free port, ``auth_type = trust`` (the
test cluster trusts loopback too), ``pool_mode = transaction``, bounded pools.  As root it
switches to the ``postgres`` user (``user =``), since PgBouncer refuses to run as root.

``ESPI_TEST_PGBOUNCER=1`` makes the server tests' ``database_url`` fixture hand out URLs
through one such PgBouncer (tests/server/conftest.py), with ``DATABASE_POOLER`` set for
them: ``ESPI_TEST_PGBOUNCER=1 ./dev test tests/server/oauth`` runs the OAuth tests through
it.  Databases are still created and dropped directly (PgBouncer does not pass
``CREATE DATABASE`` any differently, but ``DROP DATABASE ... WITH (FORCE)`` must not find
PgBouncer's own server connections idle in it): a database handed out through PgBouncer is
dropped after ``RECONNECT`` closes PgBouncer's connections to it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(PGBOUNCER).exists()


@dataclass
class PgBouncer:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    def url(self, database_url: str) -> str:
        """``database_url`` (a database of the test cluster) through this PgBouncer."""
        parts = urlsplit(database_url)
        user = parts.username or "postgres"
        return f"{parts.scheme}://{user}@127.0.0.1:{self.port}{parts.path}"

    def admin(self, command: str) -> None:
        """A command on PgBouncer's admin console (``RECONNECT``, ``SHOW POOLS``)."""
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/pgbouncer",
            autocommit=True,
            prepare_threshold=None,
        ) as console:
            console.execute(command)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def pgbouncer(postgresql_url: str, *, pool_size: int = 20) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of ``postgresql_url``'s server, while inside.

    Its files live in a folder of their own directly under the temporary directory: as root,
    PgBouncer runs as ``postgres``, which cannot enter pytest's (mode 700) folders.
    """
    server = urlsplit(postgresql_url)
    folder = Path(tempfile.mkdtemp(prefix="espi-pgbouncer-"))
    port = _free_port()
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    run_as = "user = postgres\n" if os.geteuid() == 0 else ""
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.hostname} port={server.port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {folder}/userlist.txt\n"
        "admin_users = postgres\n"
        "pool_mode = transaction\n"
        "max_client_conn = 500\n"
        f"default_pool_size = {pool_size}\n"
        "max_db_connections = 60\n"
        "server_reset_query =\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {folder}/pgbouncer.log\n"
        f"pidfile = {folder}/pgbouncer.pid\n"
        f"{run_as}"
    )
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        for name in ("pgbouncer.ini", "userlist.txt"):
            shutil.chown(folder / name, "postgres")
    process = subprocess.Popen(
        [PGBOUNCER, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    started = PgBouncer(port, folder, process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"pgbouncer did not start: {started.log()[-2000:]}"
                    ) from None
                time.sleep(0.05)
        yield started
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(folder, ignore_errors=True)
