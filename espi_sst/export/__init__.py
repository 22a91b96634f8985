"""Exports for analysts: interval readings and usage summaries as CSV or Parquet (issue 18).

The rows are :class:`espi_sst.tidy.TidyReading` (one per interval reading) and
:class:`espi_sst.export.summaries.SummaryRow` (one per UsageSummary): natural units,
dollars, local times with their offset, words instead of codes.  Each writer takes rows
and the names of the columns to write, so the CSV and the Parquet file of one selection
hold the same table.  Nothing here imports pyarrow until a Parquet file is written.

Modules: ``columns`` (choosing columns by name), ``atomic`` (the ``.partial`` file renamed
into place), ``csv`` (the CSV writer), ``parquet`` (the Parquet writer, pyarrow extra),
``summaries`` (UsageSummary rows).
"""

from __future__ import annotations

from .atomic import atomic_output
from .columns import select_columns
from .csv import csv_cell, write_csv
from .summaries import SUMMARY_COLUMNS, SUMMARY_DEFAULT_COLUMNS, SummaryRow, summary_rows

__all__ = [
    "SUMMARY_COLUMNS",
    "SUMMARY_DEFAULT_COLUMNS",
    "SummaryRow",
    "atomic_output",
    "csv_cell",
    "select_columns",
    "summary_rows",
    "write_csv",
]
