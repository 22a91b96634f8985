"""Strict JSON documents from outside the server: the registries an operator loads.

Every value of these documents decides something: whether an ASP may serve customers (the
central authority's ASP registry, concept design 6.4.4, ``lifecycle/registry.py``), where
the statewide gateway sends an entity's traffic (its registry, 2.2.2 and 6.2,
``gateway/registry.py``).  So a typo must stop the load with a message naming the entry and
the field, never pass unnoticed: a key given twice (``json`` keeps the last one silently),
an unknown field or a missing one is an error.  The two readers used to carry a copy each
of this reading and checking; they keep only what is theirs (formats, values).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DocumentError


def read_json_file(path: str | os.PathLike[str], error: type[DocumentError]) -> tuple[Any, str]:
    """The file's JSON value and the SHA-256 of its bytes (UTF-8; a key twice refused).

    Raises:
        error: unreadable (code ``unreadable``), not UTF-8, not JSON, or a duplicate key.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise error(
            f"{source}: cannot read the registry file: {exc.strerror}", code="unreadable"
        ) from None
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise error(f"{source}: the registry is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{source}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except ValueError as exc:  # a duplicate key
        raise error(f"{source}: {exc}") from None
    return data, hashlib.sha256(raw).hexdigest()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r}: it appears twice in one object")
        found[key] = value
    return found


class Checker:
    """Failures that say where: ``SOURCE: ITEMS[INDEX].FIELD: message``.

    Args:
        source: the file (or ``<document>``).
        items: the name of the document's list of entries (``asps``, ``entities``).
        error: the reader's :class:`~espi_sst_server.errors.DocumentError`.
    """

    def __init__(self, source: str, items: str, error: type[DocumentError]) -> None:
        self.source = source
        self.items = items
        self.error = error

    def fail(
        self, message: str, index: int | None = None, name: str | None = None
    ) -> DocumentError:
        where = "" if index is None else f"{self.items}[{index}]"
        if name is not None:
            where = f"{where}.{name}" if where else name
        return self.error(
            f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}",
            index=index,
            field=name,
        )

    def fields(
        self,
        value: Any,
        required: Sequence[str],
        optional: Sequence[str] = (),
        *,
        index: int | None = None,
    ) -> Mapping[str, Any]:
        """``value`` as an object with every required field and no unknown one.

        ``index`` None: the document itself; else the entry of the list at that index.
        """
        if not isinstance(value, Mapping):
            if index is None:
                raise self.fail(f"the registry must be a JSON object with {', '.join(required)}")
            raise self.fail(f"must be an object with {', '.join(required)}", index)
        if missing := sorted(set(required) - value.keys()):
            raise self.fail("missing (required)", index, missing[0])
        known = (*required, *optional)
        if unknown := sorted(value.keys() - set(known)):
            listed = ", ".join(known)
            hint = f"this reader knows {listed}" if index is None else listed
            raise self.fail(f"unknown field ({hint})", index, unknown[0])
        return value


__all__ = ["Checker", "read_json_file"]
