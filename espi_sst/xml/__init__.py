"""The XML codec: the only part of espi-sst that imports lxml.

* :mod:`.reader` -- lenient whole-document reading (``espi_sst.parse``);
* :mod:`.streaming` -- bounded-memory interval readings (``iter_interval_readings``);
* :mod:`.writer` -- schema-valid output (``espi_sst.serialize``);
* :mod:`._safety` -- no DTD, no entities, no network, bounded size.
"""

from ._decode import make_extension

__all__ = ["make_extension"]
