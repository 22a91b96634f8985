"""Every exception and warning espi-sst raises, in one small tree.

::

    EspiError                       root of everything the library raises
    ├── ParseError (ValueError)     input is not an ESPI document we can read
    │   └── UnsafeXmlError          DTD, entity, oversized input: refused before reading
    ├── SerializeError (ValueError) the model holds something the schema cannot carry
    ├── ValidationError (ValueError) raised by ``validate(..., raise_on_error=True)``
    ├── RinError (ValueError)       a Rate Identification Number that is not well formed
    ├── ScopeError (ValueError)     an OAuth scope that is not a GBC / SST scope (espi_sst.scope)
    ├── InvalidDstRule (ValueError) a DstRuleType that decodes to no rule (espi_sst.localtime)
    ├── ConformanceConfigError      a CONFIG the conformance kit cannot use (espi_sst.conformance)
    ├── ClientError                 espi_sst.client (its own small tree: client/errors.py)
    └── MidasError                  espi_sst.midas (its own small tree: midas/errors.py)

    EspiWarning (UserWarning)       a tolerated deviation, recorded on the document
    └── UnknownCodeWarning          a code missing from an ESPI code table

Each error has a stable ``code`` (for programs), and a message that says what went wrong,
where (file, line, element) and how to fix it (for people).  Input errors subclass
``ValueError`` so callers that already catch bad values keep working (as requests does).
The core's errors are defined here (and re-exported by the module that raises them); the
HTTP client layer's two sub-trees live with it, as the core never imports that layer.
docs/errors.md draws the whole tree; tests/espi_sst/test_errors.py checks it against the
classes.
"""

from __future__ import annotations

__all__ = [
    "EspiError",
    "EspiWarning",
    "InvalidDstRule",
    "ParseError",
    "RinError",
    "ScopeError",
    "SerializeError",
    "UnknownCodeWarning",
    "UnsafeXmlError",
    "ValidationError",
]


class EspiError(Exception):
    """Root of every error raised by espi-sst."""

    code = "espi_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ParseError(EspiError, ValueError):
    """The input could not be read as ESPI XML.

    Attributes:
        source: the file name (or ``<bytes>``) that was being read.
        line: the 1-based line of the offending markup, when known.
    """

    code = "parse_error"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        code: str | None = None,
    ) -> None:
        where = source or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}", code=code)
        self.source = source
        self.line = line
        self.reason = message


class UnsafeXmlError(ParseError):
    """Input refused before reading: a DTD or entity declaration, or an oversized document."""

    code = "unsafe_xml"


class SerializeError(EspiError, ValueError):
    """The writer was asked to emit XML the official schema would refuse.

    Attributes:
        problems: every problem found, one line each (the message shows the first 100).
    """

    code = "serialize_error"
    problems: list[str] = []


class ValidationError(EspiError, ValueError):
    """Schema validation found problems (only raised when asked to)."""

    code = "validation_error"


class RinError(EspiError, ValueError):
    """A Rate Identification Number that does not follow the CEC MIDAS format."""

    code = "invalid_rin"


class ScopeError(EspiError, ValueError):
    """A scope string that is not a valid GBC / SST scope (:class:`espi_sst.scope.Scope`)."""

    code = "invalid_scope"


class InvalidDstRule(EspiError, ValueError):
    """A DstRuleType value that does not decode to a date rule (ESPI ``DstRuleType``).

    The reader never raises it: it warns (``invalid_dst_rule``) and uses standard time;
    :meth:`espi_sst.localtime.DstRule.decode` does."""

    code = "invalid_dst_rule"


class EspiWarning(UserWarning):
    """A real-world deviation from ESPI that the reader tolerated on purpose.

    Attributes:
        code: stable name of the deviation (``milliseconds_timestamp`` ...).
        line: line of the element concerned, when known.
        element: the element's local name, when known.
    """

    def __init__(
        self, code: str, message: str, *, line: int | None = None, element: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.element = element

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message} [{self.code}]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EspiWarning) and (self.code, self.message, self.line) == (
            other.code,
            other.message,
            other.line,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.line))


class UnknownCodeWarning(EspiWarning):
    """A numeric code not in its ESPI code table; the value is kept as a plain int."""
