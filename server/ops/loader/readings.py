"""Staging a batch's interval readings and writing only what differs from storage.

Readings are written through ``storage/interval_data.write_readings`` (the one way to write
interval data: packed per local day of the usage point's LocalTimeParameters), which
replaces a stored reading by its start.  Before writing, the batch's span is read back:
a reading stored identically is ``unchanged`` and not written again, so a re-run writes
nothing at all, and a run resumed after an interruption only writes the batches it had not
committed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import tzinfo

from sqlalchemy.orm import Session

from ...storage.interval_data import Reading, readings_between, write_readings
from .kinds import Outcome


class StagedReadings:
    """A batch's readings by meter reading (its id), with the zone its days are cut in."""

    def __init__(self) -> None:
        self._by_meter_reading: dict[int, tuple[tzinfo, dict[int, Reading]]] = {}

    def add(self, meter_reading_id: int, zone: tzinfo, reading: Reading) -> Reading | None:
        """Stage a reading; the one already staged at its start, if any."""
        _zone, readings = self._by_meter_reading.setdefault(meter_reading_id, (zone, {}))
        before = readings.get(reading[0])
        readings[reading[0]] = reading
        return before

    def write(self, session: Session) -> Mapping[Outcome, int]:
        counts: Counter[Outcome] = Counter()
        for meter_reading_id, (zone, staged) in self._by_meter_reading.items():
            starts = sorted(staged)
            stored = {
                r[0]: tuple(r)
                for r in readings_between(session, meter_reading_id, starts[0], starts[-1] + 1)
            }
            changed = []
            for start in starts:
                reading = staged[start]
                known = stored.get(start)
                if known == tuple(reading):
                    counts["unchanged"] += 1
                    continue
                counts["inserted" if known is None else "updated"] += 1
                changed.append(reading)
            if changed:
                write_readings(session, meter_reading_id, changed, zone=zone)
        self._by_meter_reading.clear()
        return counts
