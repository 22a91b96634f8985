"""espi-sst: Green Button (ESPI, NAESB REQ.21) data for California's Single Statewide Tool.

The public API, in one place::

    doc = espi_sst.parse("download.xml")          # whole document, link graph resolved
    for r in espi_sst.iter_interval_readings(f):  # any size, bounded memory
        print(r.start_local, r.scaled_value, r.unit)
    xml = espi_sst.serialize(doc)                 # schema-valid XML
    issues = espi_sst.validate(xml)               # a report, separate from reading
    frame = espi_sst.to_dataframe("download.xml") # pandas, kWh, dollars, local time, direction
"""

from __future__ import annotations

from .document import Document
from .errors import (
    EspiError,
    EspiWarning,
    ParseError,
    RinError,
    SerializeError,
    UnknownCodeWarning,
    UnsafeXmlError,
    ValidationError,
)
from .frames import summaries_dataframe, to_dataframe
from .readings import Reading, ReadingContext
from .rin import Rin, RinRole
from .validation import ValidationIssue, validate
from .xml._safety import ReadLimits
from .xml.reader import parse
from .xml.streaming import (
    IntervalColumns,
    ReadingStream,
    iter_interval_blocks,
    iter_interval_readings,
)
from .xml.writer import serialize

__version__ = "0.1.0"

__all__ = [
    "Document",
    "EspiError",
    "EspiWarning",
    "ParseError",
    "ReadLimits",
    "Reading",
    "ReadingContext",
    "Rin",
    "RinError",
    "RinRole",
    "SerializeError",
    "UnknownCodeWarning",
    "UnsafeXmlError",
    "ValidationError",
    "__version__",
    "IntervalColumns",
    "ReadingStream",
    "iter_interval_blocks",
    "iter_interval_readings",
    "parse",
    "serialize",
    "summaries_dataframe",
    "to_dataframe",
    "validate",
    "ValidationIssue",
]
