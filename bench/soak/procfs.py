"""Which of our processes is which, read from Linux's /proc (no third-party package).

The soak kills with SIGKILL only processes it started (or their children: a gunicorn
master's workers), found by process id -- never by name.
"""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (a gunicorn master's web workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def _socket_inodes(local_port: int) -> set[str]:
    """Inodes of the loopback TCP sockets whose local port is ``local_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(fields[9])
    return inodes


def owner_of_port(local_port: int, candidates: list[int]) -> int | None:
    """Which of ``candidates`` holds the TCP socket bound to ``local_port`` (its sender)."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(local_port)}
    if not wanted:
        return None
    for pid in candidates:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None
