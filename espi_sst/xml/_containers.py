"""Green Button downloads that come compressed: ``.xml.gz`` and ``.zip``, read as streams.

Utilities hand out their Download My Data files zipped (one or several XML files, sometimes
in folders, sometimes next to a PDF bill), and people gzip big ones.  The readers accept
them as they come: the container is recognised by its magic bytes (RFC 1952 section 2.3.1:
``1f 8b``; PKWARE APPNOTE 4.3.7: ``PK\\x03\\x04``, an empty archive ``PK\\x05\\x06``), not
by its name, and decompressed as it is read, never whole into memory.

A compressed file is a classic way to smuggle a huge input (a "zip bomb": kilobytes that
inflate to gigabytes).  The decompressed bytes are what the hostile-XML limits count
(:class:`~espi_sst.xml._safety.ReadLimits` ``max_bytes``), and, as the streaming readers
have no size limit, a ratio limit refuses an input that inflates more than
``ReadLimits.max_ratio`` times (real Green Button files inflate 10 to 55 times: repetitive
XML; a bomb, about 1,000 times).

``gzip`` and ``zipfile`` are imported only when such a file is met (start-up, issue 17).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from ..errors import ParseError, UnsafeXmlError

if TYPE_CHECKING:
    import zipfile

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
RATIO_SLACK = 1 << 20
"""Decompressed bytes always allowed, whatever the ratio (tiny files inflate oddly)."""


def container_kind(head: bytes) -> str | None:
    """``"gzip"``, ``"zip"`` or None (plain bytes), from the first bytes of an input."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:4] in ZIP_MAGICS:
        return "zip"
    return None


class _CountingRaw:
    """The compressed stream, counting what the decompressor took from it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class Inflated:
    """The decompressed stream: refuses a bomb, turns a damaged container into ParseError."""

    def __init__(
        self,
        stream: IO[bytes],
        compressed: Callable[[], int],
        name: str,
        kind: str,
        max_bytes: int | None,
        max_ratio: int | None,
    ) -> None:
        self._stream = stream
        self._compressed = compressed
        self._name = name
        self._kind = kind
        self._max_bytes = max_bytes
        self._max_ratio = max_ratio
        self.count = 0
        self.name = name

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size if size and size > 0 else 1 << 20)
        except (EOFError, OSError, ValueError) as exc:
            raise damaged(self._kind, self._name, exc) from None
        except Exception as exc:  # zlib.error, zipfile.BadZipFile: imported lazily
            if type(exc).__name__ in ("error", "BadZipFile", "LargeZipFile"):
                raise damaged(self._kind, self._name, exc) from None
            raise
        self.count += len(data)
        if self._max_bytes is not None and self.count > self._max_bytes:
            raise UnsafeXmlError(
                f"{self._kind} content inflates to more than the limit of "
                f"{self._max_bytes:,} bytes; refused (raise ReadLimits.max_bytes if it is "
                "a genuine file)",
                source=self._name,
                code="input_too_large",
            )
        if (
            self._max_ratio is not None
            and self.count > RATIO_SLACK
            and self.count > self._max_ratio * max(self._compressed(), 1)
        ):
            raise UnsafeXmlError(
                f"{self._kind} content inflates more than {self._max_ratio} times its "
                "compressed size (a decompression bomb?); refused (real Green Button files "
                "inflate about 10 to 55 times; raise ReadLimits.max_ratio if it is genuine)",
                source=self._name,
                code="decompression_bomb",
            )
        return data

    def close(self) -> None:
        self._stream.close()


def damaged(kind: str, name: str, exc: BaseException) -> ParseError:
    reason = str(exc) or type(exc).__name__
    return ParseError(
        f"not recognised: the {kind} file is truncated or damaged ({reason}); download it again",
        source=name,
        code="bad_archive",
    )


def open_gzip(raw: IO[bytes], name: str, max_bytes: int | None, max_ratio: int | None) -> Inflated:
    """The decompressed stream of a gzip file (several concatenated members read as one)."""
    import gzip

    counting = _CountingRaw(raw)
    return Inflated(
        cast(IO[bytes], gzip.GzipFile(fileobj=cast(Any, counting), mode="rb")),
        lambda: counting.count,
        name,
        "gzip",
        max_bytes,
        max_ratio,
    )


_SKIPPED_FOLDERS = ("__MACOSX/",)
"""Folders archivers add that hold no data (macOS resource forks)."""


def looks_like_xml(head: bytes) -> bool:
    """Whether the first bytes of a member are XML (a BOM, blanks, then ``<``)."""
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom) :].replace(b"\x00", b"")
            break
    return head.lstrip()[:1] == b"<"


@dataclass(frozen=True)
class ArchiveMember:
    """One XML file inside a zip archive: a source the readers accept like a path.

    ``name`` is how errors and outputs call it (``download.zip/folder/usage.xml``); it can
    be opened again (the streaming reader reads some files twice)."""

    archive: str
    member: str
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"{self.archive}/{self.member}")

    def __fspath__(self) -> str:  # lets source_name() and error messages show it
        return self.name


@dataclass(frozen=True)
class ArchiveContents:
    """What a zip archive holds: its XML members, and what was skipped and why."""

    members: tuple[ArchiveMember, ...]
    skipped: tuple[str, ...]


def _zip(raw: IO[bytes], name: str) -> zipfile.ZipFile:
    import zipfile

    try:
        return zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise damaged("zip", name, exc) from None


def archive_contents(archive: str | os.PathLike[str]) -> ArchiveContents:
    """The XML members of a zip archive (folders walked, others skipped with a reason)."""
    name = os.fspath(archive)
    with Path(archive).open("rb") as raw, _zip(raw, name) as zf:
        return _contents(zf, name)


def _contents(zf: zipfile.ZipFile, name: str) -> ArchiveContents:
    members: list[ArchiveMember] = []
    skipped: list[str] = []
    for info in zf.infolist():
        if info.is_dir() or info.filename.startswith(_SKIPPED_FOLDERS):
            continue
        try:
            with zf.open(info) as handle:
                head = handle.read(512)
        except Exception as exc:  # BadZipFile, zlib.error, NotImplementedError (method)
            skipped.append(f"{info.filename} (cannot be read: {exc})")
            continue
        if looks_like_xml(head):
            members.append(ArchiveMember(name, info.filename))
        else:
            skipped.append(f"{info.filename} (not XML)")
    return ArchiveContents(tuple(members), tuple(skipped))


def open_zip(
    raw: IO[bytes],
    name: str,
    member: str | None,
    max_bytes: int | None,
    max_ratio: int | None,
) -> Inflated:
    """The decompressed stream of one XML member: ``member``, or the archive's only one.

    Raises:
        ParseError: a damaged archive, no XML member, or several (name one, or read them
            all with :func:`espi_sst.sources.expand_sources`).
    """
    spool: IO[bytes] | None = None
    if not raw.seekable():
        import tempfile

        spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed with the member's stream)
        while chunk := raw.read(1 << 20):
            spool.write(chunk)
        spool.seek(0)
        raw = spool
    try:
        zf = _zip(raw, name)
    except ParseError:
        if spool is not None:
            spool.close()
        raise
    closing = _Closing(zf, spool)
    try:
        stream, info, name = _member_stream(zf, name, member)
    except BaseException:
        closing.close()
        raise
    closing.stream = stream
    return Inflated(
        cast(IO[bytes], closing),
        lambda: info.compress_size,
        name,
        "zip",
        max_bytes,
        max_ratio,
    )


def _member_stream(
    zf: zipfile.ZipFile, name: str, member: str | None
) -> tuple[IO[bytes], zipfile.ZipInfo, str]:
    if member is None:
        contents = _contents(zf, name)
        if not contents.members:
            listed = ", ".join(contents.skipped[:5]) or "nothing"
            raise ParseError(
                f"not recognised: the zip archive holds no XML file ({listed})",
                source=name,
                code="no_xml_in_archive",
            )
        if len(contents.members) > 1:
            listed = ", ".join(m.member for m in contents.members[:5])
            raise ParseError(
                f"the zip archive holds {len(contents.members)} XML files ({listed}); read "
                "each with espi_sst.sources.expand_sources(), or give them all to "
                "`espi-sst convert`",
                source=name,
                code="several_xml_in_archive",
            )
        member = contents.members[0].member
        name = contents.members[0].name
    try:
        info = zf.getinfo(member)
        return zf.open(info), info, name
    except KeyError:
        raise ParseError(
            f"the zip archive has no member {member!r}", source=name, code="not_found"
        ) from None
    except Exception as exc:
        raise damaged("zip", name, exc) from None


class _Closing:
    """A member's stream that closes its ZipFile, and the spooled copy, too."""

    def __init__(self, archive: Any, spool: IO[bytes] | None) -> None:
        self.stream: IO[bytes] | None = None
        self._archive = archive
        self._spool = spool

    def read(self, size: int = -1) -> bytes:
        assert self.stream is not None
        return self.stream.read(size)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self._archive.close()
        if self._spool is not None:
            self._spool.close()


class Prefixed:
    """A caller's unseekable stream with its first bytes (already read) put back."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)
