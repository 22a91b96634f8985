"""The floor of an authorized read on this stack: Flask, SQLAlchemy Core and lxml, nothing else.

``GET /floor/Subscription/{sid}/UsagePoint/{uid}/UsageSummary/{id}`` with the same bearer
token the espi-sst server accepts, on the same database: the token found by its hash with
its grant (one statement), the summary found with the grant check (one statement), and a
small ESPI UsageSummary entry written with lxml.  What it leaves out is what the real
endpoint adds: the ORM, the session cookie, CSRF and limit hooks, the per-ASP counters, the
edge screen, the qualityOfReading aggregate, the RIN elements, the full Atom entry with its
links, the request log line and the metrics.  ``bench/server/floor.py`` serves it beside the
bare "hello" endpoint and the real one, so the gap between 50 % of "hello" and what an
authorized read can cost at all is measured, not argued (bench/ANALYSIS_SERVER.md).
"""

from __future__ import annotations

import hashlib
import os
import time

from flask import Flask, Response, abort, request
from lxml import etree
from sqlalchemy import create_engine, text

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"

engine = create_engine(os.environ["ESPI_DATABASE_URL"], pool_pre_ping=True)
app = Flask(__name__)

_TOKEN = text(
    'SELECT t.authorization_id, a.customer_id FROM token t JOIN "authorization" a '
    "ON a.id = t.authorization_id WHERE t.access_token_hash = :digest "
    "AND t.revoked_at IS NULL AND t.access_expires_at > :now AND a.status = 1"
)
_SUMMARY = text(
    "SELECT s.uuid, s.billing_period_start, s.billing_period_duration, s.bill_last_period, "
    "s.currency, s.consumption_wh, s.status_time_stamp FROM usage_summary s "
    "JOIN usage_point p ON p.id = s.usage_point_id "
    "JOIN authorization_usage_point g ON g.usage_point_id = p.id "
    "WHERE s.uuid = :summary AND p.uuid = :point AND g.authorization_id = :authorization "
    "AND p.customer_id = :customer AND p.closed_at IS NULL"
)


def _sub(parent: etree._Element, namespace: str, name: str, value: object = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{namespace}}}{name}")
    if value is not None:
        child.text = str(value)
    return child


@app.get("/floor/Subscription/<sid>/UsagePoint/<uid>/UsageSummary/<summary_id>")
def floor(sid: str, uid: str, summary_id: str) -> Response:
    bearer = request.headers.get("Authorization", "")
    if not bearer.startswith("Bearer "):
        abort(401)
    digest = hashlib.sha256(bearer[7:].encode()).hexdigest()
    with engine.connect() as connection:
        grant = connection.execute(_TOKEN, {"digest": digest, "now": int(time.time())}).first()
        if grant is None:
            abort(401)
        row = connection.execute(
            _SUMMARY,
            {"summary": summary_id, "point": uid, "authorization": grant[0], "customer": grant[1]},
        ).first()
    if row is None:
        abort(404)
    entry = etree.Element(f"{{{ATOM}}}entry", nsmap={None: ATOM, "espi": ESPI})
    _sub(entry, ATOM, "id", f"urn:uuid:{row[0]}")
    _sub(entry, ATOM, "title", "UsageSummary")
    content = _sub(entry, ATOM, "content")
    summary = _sub(content, ESPI, "UsageSummary")
    period = _sub(summary, ESPI, "billingPeriod")
    _sub(period, ESPI, "duration", row[2])
    _sub(period, ESPI, "start", row[1])
    if row[3] is not None:
        _sub(summary, ESPI, "billLastPeriod", row[3])
    if row[5] is not None:
        consumption = _sub(summary, ESPI, "overallConsumptionLastPeriod")
        _sub(consumption, ESPI, "powerOfTenMultiplier", 0)
        _sub(consumption, ESPI, "uom", 72)
        _sub(consumption, ESPI, "value", row[5])
    _sub(summary, ESPI, "qualityOfReading", 0)
    _sub(summary, ESPI, "statusTimeStamp", row[6])
    body = etree.tostring(entry, xml_declaration=True, encoding="UTF-8")
    return Response(body, content_type="application/atom+xml")


@app.get("/floor/ready")
def ready() -> str:
    return "ok"
