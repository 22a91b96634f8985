"""Production entry point: ``gunicorn -w 2 -b 127.0.0.1:8000 espi_sst_server.wsgi:app``.

Configuration comes from ``ESPI_*`` environment variables (docs/server.md); the schema is
migrated at start (``ESPI_AUTO_MIGRATE``).  Logs: ``ESPI_LOG_FORMAT`` (json by default) and
``ESPI_LOG_LEVEL`` (server/observability/logs.py).  The configuration is checked as
``espi-sst check-config`` checks it (server/ops/check_config.py): warnings are logged; an
error for production stops the start -- the worker fails to boot and gunicorn's master
halts (exit status 3, "Worker failed to boot"; with ``--preload`` the master itself fails).
"""

from __future__ import annotations

from . import create_app
from .observability.logs import configure_logging
from .ops.check_config import refuse_unsafe_start

configure_logging()
app = create_app()
refuse_unsafe_start(app, server="gunicorn")
