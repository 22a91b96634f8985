"""Seed the demo utility once into the migrated, empty database ``ESPI_DATABASE_URL``.

``python seed.py N``: the demo's four customers, three clients and its signing key, plus N
copies of the bundled E-1 customer (casey) named ``casey-1`` ... ``casey-N``: each has an
electric usage point eligible for a rate change to E-TOU-C, so N simulated customers can
each ask for one.  Prints ``demo.json`` (with the copies) as its last line.  Run by
topology.py in a process of its own (the seed replaces the demo's customer list).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import time


def main(extra: int) -> int:
    from espi_sst_server import create_app
    from espi_sst_server.demo import customers as demo_customers
    from espi_sst_server.oauth.keys import active_key
    from espi_sst_server.storage import db

    # The module, not the package's ``seed`` function of the same name.
    demo_seed = importlib.import_module("espi_sst_server.demo.seed")

    casey = next(c for c in demo_customers.CUSTOMERS if c.username == "casey")
    copies = tuple(
        dataclasses.replace(
            casey,
            username=f"casey-{n}",
            display_name=f"Casey Copy {n}",
            email=f"casey-{n}@example.com",
            gas=False,  # the electric usage point is the one that changes rate
        )
        for n in range(1, extra + 1)
    )
    demo_seed.CUSTOMERS = demo_customers.CUSTOMERS + copies  # type: ignore[misc]
    issuer = os.environ["ESPI_ISSUER"]
    app = create_app({"AUTO_MIGRATE": False})
    with app.app_context():
        with db.transaction() as session:
            data = demo_seed.seed(session, now=int(time.time()))
        active_key(db.session)  # one signing key now, not raced for by four web workers
        db.session.commit()
        engine = db.engine
    assert engine is not None
    engine.dispose()
    print(json.dumps(data.as_json(base_url=issuer, issuer=issuer)))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
