"""A billing system outside the worker, shared by every worker process: it records each
submission in a file and decides each request once, by its idempotency key.

Loaded by ``espi-sst worker`` processes as ``BILLING_BACKEND="recording_billing:recording"``
(tests/server/workers on PYTHONPATH).  The file (``ESPI_TEST_BILLING_LOG``) is the billing
system's own record, as a real one would keep it outside the SST's database: one JSON line
per ``submit`` call, appended with a single ``write`` on an ``O_APPEND`` descriptor (lines
under PIPE_BUF are not interleaved between processes).  The key is the request uuid, the
idempotency key of the :class:`BillingBackend` interface (server/sst/billing.py).

``ESPI_TEST_BILLING_HOLD`` (a file path) makes the first submission of the run stop inside
``submit`` -- after the billing system got it, before the worker heard back -- until the
process is killed (at most 120 s): the worst moment for a worker to die, deterministically.
The held call's line says ``"held": true``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from espi_sst_server.sst.billing import Decision
from espi_sst_server.storage.models import RateChangeRequestRecord

DAY = 86400


class RecordingBilling:
    def __init__(self, session: Any, config: Any, catalog: Any = None) -> None:
        self.log = Path(os.environ["ESPI_TEST_BILLING_LOG"])

    def submit(self, request: RateChangeRequestRecord, *, now: int) -> Decision:
        hold = os.environ.get("ESPI_TEST_BILLING_HOLD")
        held = False
        if hold:
            try:
                os.close(os.open(hold, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                held = True
            except FileExistsError:
                pass
        line = {"key": request.uuid, "pid": os.getpid(), "at": time.time(), "held": held}
        descriptor = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, (json.dumps(line) + "\n").encode())
        finally:
            os.close(descriptor)
        if held:
            Path(hold + ".inside").write_text(str(os.getpid()))
            time.sleep(120)  # killed here by the test
        # Idempotent by key: the billing system decides the same for a repeated key.
        return Decision(True, now - now % DAY + 30 * DAY, message="recorded")

    def apply_due(self, *, now: int) -> int:
        return 0


def recording(session: Any, config: Any, catalog: Any) -> RecordingBilling:
    return RecordingBilling(session, config, catalog)


def submissions(log: Path) -> list[dict[str, Any]]:
    """Every submission the billing system received, in order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
