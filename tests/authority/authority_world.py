"""What the authority's tests share with their fixtures (conftest.py): the entities' tokens,
the staff password, and the running authority's handle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from espi_sst_server.demo.mail_sink import MailSink

ENTITY_TOKENS = {"PGE": "pge-token-0123456789", "SCE": "sce-token-0123456789"}
STAFF_PASSWORD = "staff password 1234"


@dataclass
class LiveAuthority:
    url: str
    sink: MailSink
    staff_email: str
    staff_totp_secret: str
    sessions: Any
