"""Opening inputs safely: no DTD, no entities, no network, bounded size.

Why refuse every DTD instead of just not expanding entities: ESPI never uses one, and a DTD
is the vehicle of billion-laughs and external-entity (XXE) attacks.  Refusing it before the
parser sees it is the simplest rule that is obviously safe.  lxml is also configured never
to resolve entities or touch the network, as a second wall: :func:`safe_parser` and
:func:`safe_iterparse` are the only places the library builds an lxml parser, and a DTD
that slipped past the prolog check is refused on the parsed tree (:func:`refuse_doctype`).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union, cast

from lxml import etree

from ..errors import ParseError, UnsafeXmlError
from ._containers import ArchiveMember, Prefixed, container_kind, open_gzip, open_zip
from ._sniff import sniff

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
"""A path (``.xml``, ``.xml.gz`` or ``.zip``), bytes, a binary file object, or an
:class:`~espi_sst.xml._containers.ArchiveMember` (which is a ``PathLike``)."""

_PROLOG_LIMIT = 64 * 1024
_DTD_MARKUP = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


_HARDENED: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,  # libxml2's own limits on depth and text size stay on
}
"""The lxml settings of every parser the library builds; a caller cannot override them
(a repeated keyword is a TypeError)."""


def safe_parser(**options: Any) -> etree.XMLParser:
    """An lxml parser with every dangerous feature off (no DTD, entities or network)."""
    return etree.XMLParser(**_HARDENED, **options)


def safe_iterparse(stream: Any, **options: Any) -> Any:
    """lxml ``iterparse`` with the settings of :func:`safe_parser`, for the readers: it also
    drops what is not data (comments, processing instructions, indentation: skipping it
    builds half the nodes)."""
    return etree.iterparse(
        stream,
        **_HARDENED,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
        **options,
    )


def validating_iterparse(stream: Any, **options: Any) -> Any:
    """lxml ``iterparse`` with the settings of :func:`safe_parser` and nothing dropped, for
    schema validation (``schema=`` plugs libxml2's validator into the parse): whitespace
    and comments stay as the document has them, so the verdict is the schema's."""
    return etree.iterparse(stream, **_HARDENED, **options)


def refuse_doctype(root: etree._Element, name: str) -> None:
    """Second wall behind the prolog check: a DTD that slipped through is refused."""
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXmlError(
            "document declares a DTD; refused for safety (ESPI never needs one)",
            source=name,
            code="dtd_forbidden",
        )


@dataclass(frozen=True)
class ReadLimits:
    """Resource bounds for reading one document.

    Attributes:
        max_bytes: refuse inputs larger than this (None: no limit, for streaming); for a
            ``.gz`` or ``.zip`` input, the decompressed bytes count.
        max_ratio: refuse a compressed input that inflates more than this many times
            (a decompression bomb; real Green Button files inflate 10 to 55 times).
            None: no ratio limit.
    """

    max_bytes: int | None = 1 << 30
    max_ratio: int | None = 200


class _CountingReader:
    """Wraps a binary stream, refusing to deliver more than ``max_bytes``."""

    def __init__(self, raw: IO[bytes], name: str, max_bytes: int | None, prefix: bytes) -> None:
        self._raw = raw
        self._name = name
        self._max = max_bytes
        self._prefix = prefix
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
        else:
            data = self._raw.read(size if size and size > 0 else 1 << 20)
        self.count += len(data)
        if self._max is not None and self.count > self._max:
            raise UnsafeXmlError(
                f"input is larger than the limit of {self._max:,} bytes; raise "
                "ReadLimits.max_bytes or stream it with iter_interval_readings()",
                source=self._name,
                code="input_too_large",
            )
        return data

    def close(self) -> None:
        self._raw.close()


def source_name(source: Source) -> str:
    if isinstance(source, ArchiveMember):
        return source.name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


@contextmanager
def opened_source(
    source: Source, limits: ReadLimits
) -> Iterator[tuple[IO[bytes] | _CountingReader, str]]:
    """Open a path, bytes or binary file object for reading, safely; yields ``(stream, name)``.

    A gzip or zip input (recognised by its magic bytes, whatever its name) is decompressed
    as it is read (``_containers``); a zip must hold one XML file, or name it with an
    :class:`~espi_sst.xml._containers.ArchiveMember`.  The first bytes are then checked:
    what the file is (an HTML page, an RSS feed, empty, a misspelt ESPI namespace:
    ``_sniff``) and that the prolog declares no DTD, before the parser sees a byte; size
    limits apply to the decompressed bytes (a path's size is checked on the open
    descriptor, so the file checked is the file read).  A file opened here is closed on
    exit, however reading ends.
    """
    name = source_name(source)
    raw: IO[bytes]
    opened_here = False
    member: str | None = None
    if isinstance(source, ArchiveMember):
        raw = _open_path(Path(source.archive), source.archive, ReadLimits(max_bytes=None))
        member = source.member
        opened_here = True
    elif isinstance(source, (str, os.PathLike)):
        raw = _open_path(Path(source), name, limits)
        opened_here = True
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if limits.max_bytes is not None and len(data) > limits.max_bytes:
            raise _too_large(len(data), limits, name)
        raw = io.BytesIO(data)
    elif hasattr(source, "read"):
        raw = source
    else:
        raise TypeError(
            f"cannot read ESPI XML from {type(source).__name__}; give a path, bytes or a binary file"
        )
    inflated = None
    try:
        prefix = raw.read(_PROLOG_LIMIT)
        if isinstance(prefix, str):
            raise TypeError("the file object must be opened in binary mode ('rb')")
        kind = container_kind(prefix)
        if kind is not None:
            whole = _rewound_or_prefixed(raw, source, prefix)
            if kind == "gzip":
                inflated = open_gzip(whole, name, limits.max_bytes, limits.max_ratio)
            else:
                inflated = open_zip(whole, name, member, limits.max_bytes, limits.max_ratio)
            name = inflated.name
            prefix = inflated.read(_PROLOG_LIMIT)
        sniff(prefix, name)
        check_prolog(prefix, name)
        if inflated is not None:
            # Counted again by the reader: the limits hold on the decompressed bytes.
            yield _CountingReader(cast(IO[bytes], inflated), name, limits.max_bytes, prefix), name
        elif raw is source:
            # A caller's stream: we cannot rewind it, and its size is unknown up front.
            yield _CountingReader(raw, name, limits.max_bytes, prefix), name
        else:
            # Our own file or buffer: rewind and let libxml2 call its C-level read().
            raw.seek(0)
            yield raw, name
    finally:
        if inflated is not None:
            inflated.close()
        if opened_here:
            raw.close()


def _rewound_or_prefixed(raw: IO[bytes], source: Source, prefix: bytes) -> IO[bytes]:
    """The whole compressed input again: our own file rewound, a caller's stream with its
    first bytes put back."""
    if raw is not source:
        raw.seek(0)
        return raw
    return Prefixed(prefix, raw)  # type: ignore[return-value]


def _open_path(path: Path, name: str, limits: ReadLimits) -> IO[bytes]:
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise ParseError("no such file; check the path", source=name, code="not_found") from None
    except IsADirectoryError:
        raise ParseError("is a directory, not an XML file", source=name, code="not_found") from None
    except OSError as exc:
        raise ParseError(f"cannot open: {exc.strerror}", source=name, code="io_error") from None
    size = os.fstat(raw.fileno()).st_size
    if limits.max_bytes is not None and size > limits.max_bytes:
        raw.close()
        raise _too_large(size, limits, name)
    return raw


def _too_large(size: int, limits: ReadLimits, name: str) -> UnsafeXmlError:
    return UnsafeXmlError(
        f"input is {size:,} bytes, over the limit of {limits.max_bytes:,}; raise "
        "ReadLimits.max_bytes or stream it with iter_interval_readings()",
        source=name,
        code="input_too_large",
    )


def read_all(handle: IO[bytes] | _CountingReader) -> bytes:
    """Every byte of an opened source (size limits still apply)."""
    return b"".join(iter(lambda: handle.read(1 << 20), b""))


def check_prolog(prefix: bytes, name: str) -> None:
    """Refuse a document whose prolog declares a DTD or entities."""
    if prefix[:2] in (b"\xff\xfe", b"\xfe\xff"):
        prefix = prefix.replace(b"\x00", b"")  # UTF-16: look at the ASCII markup only
    match = _DTD_MARKUP.search(prefix)
    if match is None:
        return
    head = prefix[: match.start()]
    # Only the prolog may hold a DTD; a "<!DOCTYPE" in text later on is harmless data, but
    # inside the first 64 KiB before the first element it is a declaration.
    first_element = re.search(rb"<[A-Za-z_]", head)
    if first_element is None:
        line = head.count(b"\n") + 1
        raise UnsafeXmlError(
            "document declares a DTD or entities (<!DOCTYPE/<!ENTITY); ESPI documents never "
            "need one and it is refused for safety (entity expansion, external entities). "
            "Remove the declaration.",
            source=name,
            line=line,
            code="dtd_forbidden",
        )
