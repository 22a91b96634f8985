"""Billing backends for the restart tests (loaded by the worker as "crashing_backend:...").

``crash_once``: the sample backend, but the first submission kills the process (exit code
70) right after the backend scheduled the change and before anything committed -- the
worst moment for a restart.  A marker file (``ESPI_TEST_CRASH_MARKER``) makes it crash
only once, across processes.  ``always_down``: a billing system that is unreachable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from espi_sst_server.sst.billing import Decision, SampleBillingBackend
from espi_sst_server.storage.models import RateChangeRequestRecord


class _CrashOnce(SampleBillingBackend):
    def submit(self, request: RateChangeRequestRecord, *, now: int) -> Decision:
        decision = super().submit(request, now=now)
        marker = Path(os.environ["ESPI_TEST_CRASH_MARKER"])
        if not marker.exists():
            self.session.flush()  # the schedule row is written, not committed
            marker.write_text("crashed")
            os._exit(70)
        return decision


class _Down(SampleBillingBackend):
    def submit(self, request: RateChangeRequestRecord, *, now: int) -> Decision:
        raise ConnectionError("billing system unreachable (test)")


def crash_once(session: Any, config: Any, catalog: Any) -> SampleBillingBackend:
    return _CrashOnce(session, config, catalog)


def always_down(session: Any, config: Any, catalog: Any) -> SampleBillingBackend:
    return _Down(session, config, catalog)
