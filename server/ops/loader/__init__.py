"""``espi-sst load``: the standalone custodian's data, from the utility's exports (issue 16).

A standalone server (not bolted on to an existing Green Button Connect) holds the customers,
accounts, usage points, service agreements, tariffs and interval data it serves.  This
package loads them from CSV files (one module per kind: :mod:`.customers`, :mod:`.accounts`,
:mod:`.usage_points`, :mod:`.service_agreements`, :mod:`.tariffs`) and interval data from
ESPI XML (:mod:`.interval_espi`, any file the library reads) or CSV
(:mod:`.interval_csv`).

The rules every kind follows (docs/operations.md, "Loading data (standalone mode)"):

* every row is checked; a problem is a :class:`~.problems.RowProblem` naming the file, the
  line and the column, what is wrong and how to fix it;
* rows are applied in batches (default: the whole file), one transaction each; a batch with
  a bad row is rolled back whole and the load stops (``runner.py``);
* each row is found by its natural key (a customer's user name, an account number, a usage
  point's uuid, a service agreement number, a tariff code, a reading's usage point and
  start) and inserted, updated or left unchanged, so re-running a file changes nothing and
  a run interrupted after some batches completes on the next run without duplicates.
"""

from .problems import LoadFailed, RowProblem
from .runner import KINDS, LoadOptions, LoadSummary, load_files

__all__ = ["KINDS", "LoadFailed", "LoadOptions", "LoadSummary", "RowProblem", "load_files"]
