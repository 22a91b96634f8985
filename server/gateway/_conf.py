"""Writing nginx.conf text safely: indented blocks, quoted-free values, JSON answers.

Everything the generator writes passes through here, and nothing that nginx would read as
syntax (``;``, braces, quotes, whitespace) or as a variable (``$``) gets in by accident: a
value that would need escaping is refused instead.  Refusing is simpler to trust than
escaping, and a registry or an option never needs such characters.
"""

from __future__ import annotations

import json
import math
import os
import re
from types import TracebackType

_RATE = re.compile(r"([1-9]\d{0,5})r/([sm])", re.ASCII)
_UNSAFE_PATH = re.compile(r"[\s\"'\\;{}$#]")


class Writer:
    """Indented lines, with ``with writer.block("server"):`` sections."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0

    def line(self, text: str = "") -> None:
        self._lines.append(("    " * self._depth + text) if text else "")

    def lines(self, texts: list[str]) -> None:
        for text in texts:
            self.line(text)

    def block(self, head: str) -> _Block:
        return _Block(self, head)

    def json_location(
        self, head: str, status: int, body: dict[str, str], headers: list[str]
    ) -> None:
        """A location answering ``status`` with a JSON body (``return``: no file, no upstream)."""
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
        if any(c in text for c in "'\\$"):  # nginx would read these as quoting or variables
            raise ValueError(f"cannot write {text!r} into nginx.conf")
        with self.block(head):
            self.line("default_type application/json;")
            self.line("add_header Cache-Control no-store always;")
            self.lines(headers)
            self.line(f"return {status} '{text}\\n';")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


class _Block:
    def __init__(self, writer: Writer, head: str) -> None:
        self._writer, self._head = writer, head

    def __enter__(self) -> None:
        self._writer.line(self._head + " {")
        self._writer._depth += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._writer._depth -= 1
        self._writer.line("}")


def retry_after(rate: str, name: str) -> int:
    """Seconds until a refused client may try again: one request's share of ``rate``.

    Raises:
        ValueError: ``rate`` is not nginx's ``10r/s`` / ``600r/m`` notation.
    """
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if not match:
        raise ValueError(f"{name} {rate!r} is not like 10r/s or 600r/m")
    per, unit = int(match.group(1)), match.group(2)
    return max(1, math.ceil((1 if unit == "s" else 60) / per))


def burst(size: int) -> str:
    """A burst is served at once (an API client wants answers, not delays); nginx refuses
    ``burst=0``, which is its default."""
    return f" burst={size} nodelay" if size else ""


def safe_path(value: str | os.PathLike[str]) -> str:
    """A file path as nginx.conf can carry it unquoted.

    Raises:
        ValueError: the path is empty or has whitespace, quotes, ``;``, braces, ``$`` or ``#``.
    """
    text = os.fspath(value)
    if not text or _UNSAFE_PATH.search(text):
        raise ValueError(f"path {text!r} has characters nginx.conf cannot carry safely")
    return text


def comment(text: str) -> str:
    """Text for a ``#`` comment: control characters (a newline would end it) replaced."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)
