"""Read a Green Button (ESPI) file and write its interval readings as CSV.

    python examples/green_button_to_csv.py download.xml readings.csv

Streams the file (bounded memory, any size), scales each value by its ReadingType
(powerOfTenMultiplier, unit) and gives local times from the file's LocalTimeParameters.
``espi-sst convert --to csv`` writes the tidy view (kWh, dollars, end time, direction);
this is the plain one, in a dozen lines you can adapt.
"""

from __future__ import annotations

import csv
import sys

import espi_sst


def main(source: str, target: str) -> int:
    try:
        with open(target, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["usage_point", "start_local", "duration_s", "value", "unit", "quality"]
            )
            rows = 0
            for reading in espi_sst.iter_interval_readings(source):
                start = reading.start_local
                writer.writerow(
                    [
                        reading.context.usage_point or "",
                        start.isoformat() if start else "",
                        reading.duration,
                        reading.scaled_value,
                        reading.unit,
                        "" if reading.quality is None else reading.quality,
                    ]
                )
                rows += 1
    except espi_sst.EspiError as exc:  # what, where and how to fix: the library's message
        print(f"cannot convert {source}: {exc}", file=sys.stderr)
        return 1
    print(f"{rows} readings written to {target}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
