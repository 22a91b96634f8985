"""``service-agreements.csv``: the terms a usage point is served on, by service agreement.

Columns: ``service_agreement`` (the number a ``usage-points.csv`` row gave its usage point;
the natural key); optional -- a column left out of the header leaves its value as stored,
an empty cell clears it: ``lse`` (the load-serving entity: the UDC when bundled, a CCA when
not), ``tariff_code`` (a bundled or delivery tariff of ``tariffs.csv``),
``generation_tariff_code`` (a CCA's generation tariff, unbundled only),
``rate_effective_date``, ``read_day`` (1-28: billing cycles start on it),
``baseline_territory`` (``T``, ``X`` ...), ``features`` (``ev|heat_pump|battery|solar``:
what rates' eligibility asks, docs/utility-integration.md), ``last_voluntary_change``
(starts the SST's 12-month restriction), ``closed_at`` (a closed service agreement is
shared with no one).  Dates are ``YYYY-MM-DD`` (local midnight of the point's time zone) or
RFC 3339."""

from __future__ import annotations

import re
from collections.abc import Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...storage.models import Tariff, UsagePoint
from ...storage.zones import zone_of
from . import values
from .csv_rows import Row
from .kinds import LoadContext, NothingStaged, Outcome, assign
from .problems import RowError

_FEATURE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class ServiceAgreements(NothingStaged):
    name = "service-agreements"
    required = ("service_agreement",)
    optional = (
        "lse",
        "tariff_code",
        "generation_tariff_code",
        "rate_effective_date",
        "read_day",
        "baseline_territory",
        "features",
        "last_voluntary_change",
        "closed_at",
    )
    key_column = "service_agreement"

    def key(self, row: Row) -> Hashable:
        return values.required_text(row, "service_agreement", limit=64)

    def apply(self, session: Session, row: Row, context: LoadContext) -> Outcome:
        agreement = values.required_text(row, "service_agreement", limit=64)
        points = session.scalars(
            select(UsagePoint).where(UsagePoint.service_agreement == agreement)
        ).all()
        if not points:
            raise RowError(
                "service_agreement",
                f"no usage point has service agreement {agreement!r}; load the usage point "
                "first (espi-sst load usage-points), or fix the number",
            )
        if len(points) > 1:
            raise RowError(
                "service_agreement",
                f"{len(points)} usage points have service agreement {agreement!r}; give each "
                "its own in usage-points.csv",
            )
        point = points[0]
        zone = zone_of(point.local_time)
        present = set(row.values)
        fields: dict[str, object] = {}
        if "lse" in present:
            fields["lse"] = values.required_text(row, "lse", limit=64)
        lse = str(fields.get("lse", point.lse))
        if "tariff_code" in present:
            tariff = self._tariff(session, row, "tariff_code", ("bundled", "delivery"))
            if tariff is not None:
                bundled = lse == point.udc
                if bundled != (tariff.role == "bundled"):
                    raise RowError(
                        "tariff_code",
                        f"{tariff.code} is a {tariff.role} rate, but the usage point is "
                        + ("bundled (its LSE is its UDC)" if bundled else f"served by {lse}")
                        + "; give a "
                        + ("bundled" if bundled else "delivery")
                        + " rate",
                    )
            fields["tariff_id"] = tariff.id if tariff else None
        if "generation_tariff_code" in present:
            generation = self._tariff(session, row, "generation_tariff_code", ("generation",))
            if generation is not None and lse == point.udc:
                raise RowError(
                    "generation_tariff_code",
                    "a bundled usage point has no generation rate; set lse to the CCA",
                )
            fields["generation_tariff_id"] = generation.id if generation else None
        if "rate_effective_date" in present:
            fields["rate_effective_date"] = values.moment(
                row, "rate_effective_date", zone, required=False
            )
        if "read_day" in present:
            fields["read_day"] = values.integer(row, "read_day", low=1, high=28, required=False)
        if "baseline_territory" in present:
            fields["baseline_territory"] = values.text(
                row, "baseline_territory", limit=8, required=False
            )
        if "features" in present:
            features = values.word_list(row, "features")
            for feature in features:
                if not _FEATURE.fullmatch(feature):
                    raise RowError(
                        "features",
                        f"{feature!r} is not a feature name (lower case, like ev|heat_pump)",
                    )
            fields["features"] = features
        if "last_voluntary_change" in present:
            fields["last_voluntary_change_at"] = values.moment(
                row, "last_voluntary_change", zone, required=False
            )
        if "closed_at" in present:
            fields["closed_at"] = values.moment(row, "closed_at", zone, required=False)
        return "updated" if assign(point, fields) else "unchanged"

    def _tariff(
        self, session: Session, row: Row, column: str, roles: tuple[str, ...]
    ) -> Tariff | None:
        code = row[column]
        if not code:
            return None
        tariff = session.scalar(select(Tariff).where(Tariff.code == code))
        if tariff is None:
            raise RowError(column, f"no tariff {code!r}; load it first (espi-sst load tariffs)")
        if tariff.role not in roles:
            raise RowError(column, f"{code} is a {tariff.role} rate; expected {' or '.join(roles)}")
        return tariff
