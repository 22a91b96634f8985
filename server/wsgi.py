"""Production entry point: ``gunicorn -w 2 -b 127.0.0.1:8000 espi_sst_server.wsgi:app``.

Configuration comes from ``ESPI_*`` environment variables (docs/server.md); the schema is
migrated at start (``ESPI_AUTO_MIGRATE``).
"""

from __future__ import annotations

from . import create_app

app = create_app()
