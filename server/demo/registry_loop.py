"""Each statewide-demo entity's scheduled ``registry sync`` (issue 20), run as a thread.

A real entity runs ``espi-sst registry sync --json`` from cron or a systemd timer and keeps
the output's new client secrets in its secret store (docs/central-authority.md).  The demo
does the same in process, every ``--registry-interval`` seconds per entity, with the same
``sync_once``; its "secret store" is ``registry-secrets.json`` in the demo's folder (mode
0600): ``{entity: {software_id: {"client_id", "client_secret", "sequence"}}}``, where a
demo user (or a test) finds the credentials the new ASP would be handed at each entity.

Each sync that does something prints one line (``PGE: registry list 2 applied: ...``); a
refused list prints why (it is also an audit row ``registry_refused`` at that entity).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from flask import Flask

from ..errors import ConfigurationError
from ..lifecycle.registry_list import RegistryListError
from ..lifecycle.registry_sync import RegistryFetchError, SyncOutcome, sync_once
from ..security import now
from ..storage import db


class SecretStore:
    """``registry-secrets.json``: the new clients' secrets, one writer at a time, written
    whole (``.partial`` then renamed) so a reader never sees half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, dict[str, object]]] = {}
        self._write()

    def keep(self, entity: str, outcome: SyncOutcome) -> None:
        created = [r for r in outcome.results if r.client_secret]
        if not created:
            return
        with self._lock:
            for result in created:
                self._entries.setdefault(entity, {})[result.software_id] = {
                    "client_id": result.client_id,
                    "client_secret": result.client_secret,
                    "sequence": outcome.sequence,
                }
            self._write()

    def _write(self) -> None:
        partial = self.path.with_suffix(".json.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(self._entries, out, indent=2)
            out.write("\n")
        partial.replace(self.path)


def sync_line(entity: str, outcome: SyncOutcome) -> str | None:
    """What one sync did, in one line (None: nothing to say -- not modified, none published)."""
    if outcome.status != "applied":
        return None
    done = ", ".join(
        f"{r.software_id} {r.action}"
        + (f" ({r.client_id})" if r.client_id else "")
        + (f": {r.error}" if r.error else "")
        for r in outcome.results
    )
    line = f"{entity}: registry list {outcome.sequence} applied: {done or 'no ASPs'}"
    if outcome.reported is False:
        line += f"; report not taken: {outcome.report_error}"
    return line


def run_registry_sync(
    app: Flask,
    entity: str,
    stop: threading.Event,
    *,
    interval: float,
    store: SecretStore,
    out: TextIO = sys.stdout,
) -> None:
    """Sync ``entity`` every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        line = None
        with app.app_context():
            try:
                outcome = sync_once(app, db.session, now=now(), actor="demo-registry-sync")
            except RegistryListError as exc:
                db.session.rollback()
                line = f"{entity}: registry list refused, nothing applied: {exc}"
            except (RegistryFetchError, ConfigurationError) as exc:
                db.session.rollback()
                line = f"{entity}: registry sync failed (tried again in {interval:g} s): {exc}"
            else:
                store.keep(entity, outcome)
                line = sync_line(entity, outcome)
        if line:
            out.write(line + "\n")
            out.flush()
        stop.wait(interval)
