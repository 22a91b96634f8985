"""Debian's Dovecot serving a Maildir over IMAP on loopback, for the tests that read mail the
way a utility's test customer would (the conformance kit's IMAP passcode source).

Its own configuration in a temporary folder (no system service touched), plain IMAP on
127.0.0.1 with one user, and the Maildir read where it is: Dovecot's index and control files
go to the temporary folder, so the mail sink's folder only needs to be readable.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from demo_process import free_port

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str


def require_dovecot() -> str:
    if DOVECOT is None:
        if os.environ.get("ESPI_REQUIRE_DOVECOT"):
            pytest.fail("ESPI_REQUIRE_DOVECOT is set but Dovecot is not installed")
        pytest.skip("Debian's dovecot-imapd is not installed (.ci/run installs it)")
    return DOVECOT


@contextmanager
def imap_server(folder: Path, maildir: Path) -> Iterator[ImapServer]:
    """Dovecot serving ``maildir`` as user ``kit`` until the block ends."""
    dovecot = require_dovecot()
    for sub in ("run", "state", "index", "home"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # Dovecot refuses mail access as root: its own system user reads
        account = pwd.getpwnam("dovecot")
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        extra = ""
    else:  # an ordinary user runs every Dovecot process as itself
        account = pwd.getpwuid(os.geteuid())
        extra = (
            f"default_internal_user = {account.pw_name}\ndefault_login_user = {account.pw_name}\n"
        )
    port = free_port()
    (folder / "passwd").write_text("kit:{PLAIN}kit-imap-pw\n")
    config = folder / "dovecot.conf"
    config.write_text(
        f"""base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
{extra}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={account.pw_uid} gid={account.pw_gid} home={folder}/home
}}
mail_location = maildir:{maildir}:INDEX={folder}/index:CONTROL={folder}/index
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    )
    subprocess.run([dovecot, "-c", str(config)], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            log = (folder / "dovecot.log").read_text() if (folder / "dovecot.log").exists() else ""
            if "starting up" in log:
                break
            time.sleep(0.2)
        yield ImapServer("127.0.0.1", port, "kit", "kit-imap-pw")
    finally:
        subprocess.run([dovecot, "-c", str(config), "stop"], check=False, timeout=30)
