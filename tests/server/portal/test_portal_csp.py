"""The portal's Content-Security-Policy admits its own inline styles and nothing else inline.

Browsers apply an inline <style> under CSP only if its exact text hashes to a listed
``'sha256-...'``; a template edit that changes the block without the hash following would
leave every portal page unstyled.  The hash is computed from the page as served.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from espi_sst_server import create_app


def test_served_style_block_is_allowed_by_the_csp(tmp_path: Path) -> None:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "TESTING": True, "SECRET_KEY": "t"}
    )
    response = app.test_client().get("/portal/login")
    assert response.status_code == 200
    blocks = re.findall(r"<style>(.*?)</style>", response.get_data(as_text=True), re.DOTALL)
    assert len(blocks) == 1
    digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"style-src 'self' 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    app.extensions["espi_sst_db"].engine.dispose()
