"""Collects the deviations a read tolerated, one warning per kind with a count.

A 5-year file with fractional timestamps would otherwise carry 175,000 identical warnings;
we keep the first occurrence (with its line) and say how many more there were.
"""

from __future__ import annotations

from ..errors import EspiWarning, ParseError, UnknownCodeWarning


class DeviationReport:
    """Records tolerated deviations; in strict mode the first one is a ParseError."""

    def __init__(self, source: str, strict: bool = False) -> None:
        self.source = source
        self.strict = strict
        self._first: dict[tuple[str, str], EspiWarning] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def add(
        self,
        code: str,
        message: str,
        *,
        line: int | None = None,
        element: str | None = None,
        unknown_code: bool = False,
    ) -> None:
        if self.strict:
            raise ParseError(
                f"{message} (strict mode refuses tolerated deviations)",
                source=self.source,
                line=line,
                code=code,
            )
        key = (code, element or "")
        if key in self._first:
            self._counts[key] += 1
            return
        cls = UnknownCodeWarning if unknown_code else EspiWarning
        self._first[key] = cls(code, message, line=line, element=element)
        self._counts[key] = 1

    def warnings(self) -> list[EspiWarning]:
        out = []
        for key, first in self._first.items():
            more = self._counts[key] - 1
            if more:
                message = f"{first.message} (and {more:,} more like it)"
                out.append(type(first)(first.code, message, line=first.line, element=first.element))
            else:
                out.append(first)
        return out
