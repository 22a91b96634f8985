"""gunicorn settings hooks for espi-sst: ``gunicorn -c python:espi_sst_server.gunicorn_conf``.

What it does: Prometheus multiprocess mode (``server/observability/metrics.py``).  With
``PROMETHEUS_MULTIPROC_DIR`` set in the environment -- before gunicorn starts, since
``prometheus_client`` reads it when first imported -- every worker writes its counters to
memory-mapped files there and a scrape of any worker sums them.  Two hooks keep that right:

* ``on_starting`` (in the master, before any worker): the directory must exist, and the files
  of processes from an earlier run are removed (their counts would be added to this run's;
  the ``prometheus_client`` documentation asks for an empty directory at each start);
* ``child_exit`` (in the master, for each worker that exits -- a ``--max-requests`` recycle,
  a crash, a ``HUP``): ``mark_process_dead``, so the dead worker's live gauges leave the
  scrape while its counters keep counting.

Without ``PROMETHEUS_MULTIPROC_DIR`` the hooks do nothing and each worker's ``/metrics``
shows only its own requests: the master logs a warning when there are several workers.
Other settings (bind, workers, timeouts) stay on the command line or in a settings file of
your own that imports these hooks (docs/operations.md, "Metrics").  Do not combine with
``--preload``: the master would then hold metric files of its own that ``on_starting``
cannot tell from a dead run's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _directory() -> str | None:
    return os.environ.get(_VARIABLE) or os.environ.get("prometheus_multiproc_dir")


def on_starting(server: Any) -> None:
    """Check and empty the multiprocess directory before the first worker starts."""
    folder = _directory()
    if not folder:
        if int(getattr(server.cfg, "workers", 1)) > 1:
            server.log.warning(
                "%s is not set: with several workers each /metrics scrape sees one worker's "
                "counts only (docs/operations.md, Metrics)",
                _VARIABLE,
            )
        return
    path = Path(folder)
    if not path.is_dir():
        server.log.error(
            "%s=%s is not a directory: create it (writable by the server's user; e.g. "
            "systemd's RuntimeDirectory=) or unset the variable",
            _VARIABLE,
            folder,
        )
        raise SystemExit(1)
    own = f"_{os.getpid()}.db"
    for stale in path.glob("*.db"):
        if not stale.name.endswith(own):
            stale.unlink(missing_ok=True)
    server.log.info("Prometheus multiprocess metrics in %s", folder)


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its live gauges leave the scrape (``prometheus_client``'s hook)."""
    if not _directory():
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
