"""``tariffs.csv``: the rates the utility offers (``tariff``), by tariff code, with RINs.

Columns: ``code`` (the natural key: what a usage point's ``tariff_code`` names), ``name``,
``rin`` (its MIDAS Rate Identification Number), ``role`` (``bundled``, ``delivery``,
``generation``: must agree with the RIN, as the rate-table adapter checks), ``lse``;
optional ``iou_mirror_of`` (a generation rate's mirrored IOU RIN) and ``definition``: the
``espi-sst-tariff/1`` pricing definition the sample comparison prices with (docs/
utility-integration.md), inline JSON or a JSON file's path relative to the CSV; checked
with ``pricing.check_definition``.  Empty leaves a stored definition as it is."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from espi_sst import Rin
from espi_sst.errors import RinError

from ...sst.pricing import TariffError, check_definition
from ...storage.models import Tariff
from . import values
from .csv_rows import Row
from .kinds import LoadContext, NothingStaged, Outcome, upserted
from .problems import RowError

ROLES = ("bundled", "delivery", "generation")


def _rin(row: Row, column: str) -> str:
    text = values.required_text(row, column, limit=40)
    try:
        return str(Rin.parse(text))
    except RinError as exc:
        raise RowError(column, str(exc)) from None


class Tariffs(NothingStaged):
    name = "tariffs"
    required = ("code", "name", "rin", "role", "lse")
    optional = ("iou_mirror_of", "definition")
    key_column = "code"

    def key(self, row: Row) -> Hashable:
        return values.required_text(row, "code", limit=64)

    def apply(self, session: Session, row: Row, context: LoadContext) -> Outcome:
        code = values.required_text(row, "code", limit=64)
        rin = _rin(row, "rin")
        role = row["role"]
        if role not in ROLES:
            raise RowError("role", f"{role!r} is not one of {', '.join(ROLES)}")
        rin_role = Rin.parse(rin).role.value
        if rin_role != role:
            raise RowError("role", f"{role} disagrees with the RIN {rin}, a {rin_role} RIN")
        mirror = _rin(row, "iou_mirror_of") if row["iou_mirror_of"] else None
        if mirror is not None and role != "generation":
            raise RowError("iou_mirror_of", "only a generation rate mirrors an IOU rate")
        fields: dict[str, Any] = {
            "name": values.required_text(row, "name", limit=256),
            "rin": rin,
            "role": role,
            "lse": values.required_text(row, "lse", limit=64),
            "iou_mirror_of": mirror,
        }
        definition = self._definition(row, context)
        if definition is not None:
            fields["definition"] = definition
        found = session.scalar(select(Tariff).where(Tariff.code == code))
        if found is None:
            fields.update(code=code, definition=definition)
        return upserted(session, found, Tariff, fields)

    def _definition(self, row: Row, context: LoadContext) -> dict[str, Any] | None:
        given = row["definition"]
        if not given:
            return None
        if given.startswith("{"):
            text = given
        else:
            path = context.source.parent / given
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise RowError(
                    "definition",
                    f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}; give a JSON "
                    "file's path relative to the CSV, or the JSON itself",
                ) from None
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RowError("definition", f"not JSON: {exc}") from None
        if not isinstance(definition, dict):
            raise RowError("definition", "a definition is a JSON object ({...})")
        try:
            check_definition(definition)
        except TariffError as exc:
            raise RowError(
                "definition", f"not a usable espi-sst-tariff/1 definition: {exc}"
            ) from None
        return definition
