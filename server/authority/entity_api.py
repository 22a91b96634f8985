"""What the entities send back (issue 20's contract): ``POST /registry/reports`` (per ASP of a
publication, what the entity did and its client id) and ``POST /complaints`` (a customer's
complaint about an ASP, forwarded by the entity's portal, concept design 11.3).  Each entity
authenticates with its own bearer token (RFC 6750 section 2.1), configured in
``AUTHORITY_ENTITY_TOKENS``; the token decides the entity, and a body naming another is refused.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from ..errors import Refused
from ..security import now
from .models import Complaint, EntityReport
from .web import session_of

entity_api = Blueprint("authority_entity_api", __name__)

REPORT_ACTIONS = ("created", "updated", "suspended", "withdrawn", "unchanged", "failed")


def _entity() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(
            401, "invalid_token", "send the entity's bearer token (Authorization: Bearer ...)"
        )
    for entity, expected in current_app.config["AUTHORITY_ENTITY_TOKENS"].items():
        if hmac.compare_digest(token.strip().encode(), expected.encode()):
            return str(entity)
    raise Refused(
        401, "invalid_token", "this bearer token belongs to no entity the authority knows"
    )


def _body(entity: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "invalid_request", "send a JSON object (Content-Type: application/json)")
    if body.get("entity") != entity:
        raise Refused(
            403, "wrong_entity", f"entity {body.get('entity')!r}: this token is {entity}'s"
        )
    return body


def _text(body: dict[str, Any], name: str, where: str, *, optional: bool = False) -> str | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, "invalid_request", f"{where}{name}: give a non-empty string")
    return value


@entity_api.post("/registry/reports")
def receive_report() -> Any:
    entity = _entity()
    body = _body(entity)
    sequence = body.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise Refused(400, "invalid_request", "sequence: the publication's sequence number")
    results = body.get("results")
    if not isinstance(results, list):
        raise Refused(400, "invalid_request", "results: give a list, one entry per ASP")
    session = session_of()
    moment = now()
    for index, result in enumerate(results):
        where = f"results[{index}]."
        if not isinstance(result, dict):
            raise Refused(400, "invalid_request", f"results[{index}]: give an object")
        action = result.get("action")
        if action not in REPORT_ACTIONS:
            raise Refused(
                400, "invalid_request", f"{where}action: one of {', '.join(REPORT_ACTIONS)}"
            )
        session.add(
            EntityReport(
                entity=entity,
                sequence=sequence,
                software_id=_text(result, "software_id", where),
                action=action,
                client_id=_text(result, "client_id", where, optional=True),
                error=_text(result, "error", where, optional=True),
                received_at=moment,
            )
        )
    session.commit()
    return jsonify({"entity": entity, "sequence": sequence, "received": len(results)}), 202


@entity_api.post("/complaints")
def receive_complaint() -> Any:
    entity = _entity()
    body = _body(entity)
    reference = _text(body, "reference", "")
    filed_at = _text(body, "filed_at", "")
    assert reference is not None and filed_at is not None
    try:
        datetime.fromisoformat(filed_at.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, "invalid_request", "filed_at: an RFC 3339 date-time") from None
    session = session_of()
    known = session.scalar(
        select(Complaint).where(Complaint.entity == entity, Complaint.reference == reference)
    )
    if known is None:  # the same complaint sent twice is filed once
        known = Complaint(
            entity=entity,
            reference=reference[:100],
            software_id=str(_text(body, "software_id", ""))[:100],
            category=str(_text(body, "category", ""))[:100],
            text=str(_text(body, "text", "")),
            filed_at=filed_at[:40],
            received_at=now(),
        )
        session.add(known)
        session.commit()
    return jsonify({"entity": entity, "reference": reference, "id": known.id}), 202
