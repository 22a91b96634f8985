"""Many inputs at once: globs, folders of downloads, zip archives of several XML files.

An analyst holds a folder of downloads (``usage-*.xml``, ``2024.zip``) rather than one
file.  The readers (:func:`espi_sst.parse`, :func:`espi_sst.iter_interval_readings`,
:func:`espi_sst.validate`) already read one ``.xml``, ``.xml.gz`` or one-XML ``.zip``
transparently (recognised by magic bytes, decompressed as a stream, bomb-limited:
``espi_sst.xml._containers``); this module turns what a person types into the list of
documents to read:

* :func:`expand_patterns`: shell-style patterns expanded here too (``cmd.exe`` and
  PowerShell do not expand ``*.xml``; a quoted pattern reaches us unexpanded), sorted; a
  pattern that matches nothing is an error rather than silence.
* :func:`expand_sources`: a zip archive becomes one source per XML file in it, folders
  walked; what is not XML (the PDF bill, a readme) is skipped with a note.

``glob`` and ``zipfile`` are imported only when needed (start-up of ``espi-sst inspect``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import EspiWarning, ParseError
from .xml._containers import ArchiveContents, ArchiveMember, archive_contents, container_kind
from .xml._safety import Source, source_name

if TYPE_CHECKING:
    from .readings import Reading

__all__ = [
    "ArchiveContents",
    "ArchiveMember",
    "Inputs",
    "archive_contents",
    "expand_inputs",
    "expand_patterns",
    "expand_sources",
    "readings_of_all",
    "source_name",
]

_GLOB_CHARACTERS = frozenset("*?[")


def expand_patterns(patterns: Iterable[str]) -> list[str]:
    """The paths the arguments name: an existing path (or ``-``, stdin) as given, a pattern
    expanded (``**`` crosses folders), its matches sorted; order of the arguments kept,
    no path twice.

    Raises:
        ParseError: code ``no_match``: a pattern matched no file.
    """
    paths: list[str] = []
    for pattern in patterns:
        if pattern == "-" or os.path.exists(pattern) or not (_GLOB_CHARACTERS & set(pattern)):
            found = [pattern]  # a missing plain path: the reader says "no such file"
        else:
            import glob

            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not found:
                raise ParseError(
                    "no file matches this pattern; check the folder and the spelling",
                    source=pattern,
                    code="no_match",
                )
        paths.extend(p for p in found if p not in paths)
    return paths


def _is_zip(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as handle:
            return container_kind(handle.read(4)) == "zip"
    except OSError:
        return False  # the reader reports a missing or unreadable file


@dataclass(frozen=True)
class Inputs:
    """The documents to read, and notes on what was skipped (for stderr, never fatal)."""

    sources: tuple[Source, ...]
    notes: tuple[str, ...]


def expand_sources(source: Source) -> Inputs:
    """The documents in one input: each XML file of a zip archive; else the input itself.

    Raises:
        ParseError: a damaged zip, or one without any XML file (code ``no_xml_in_archive``).
    """
    if isinstance(source, ArchiveMember) or not isinstance(source, (str, os.PathLike)):
        return Inputs((source,), ())
    if not _is_zip(source):
        return Inputs((source,), ())
    contents = archive_contents(source)
    name = os.fspath(source)
    notes = tuple(f"{name}: skipped {what}" for what in contents.skipped)
    if not contents.members:
        listed = ", ".join(contents.skipped[:5]) or "nothing"
        raise ParseError(
            f"not recognised: the zip archive holds no XML file ({listed})",
            source=name,
            code="no_xml_in_archive",
        )
    return Inputs(contents.members, notes)


def expand_inputs(patterns: Sequence[str]) -> Inputs:
    """:func:`expand_patterns` then :func:`expand_sources` on each: what the CLI reads."""
    sources: list[Source] = []
    notes: list[str] = []
    for path in expand_patterns(patterns):
        inputs = expand_sources(path)
        sources.extend(inputs.sources)
        notes.extend(inputs.notes)
    return Inputs(tuple(sources), tuple(notes))


class AllReadings:
    """The interval readings of several documents, one after the other (one CSV of all).

    Asked for readings, a UsageSummary-only or customer file would otherwise give an empty
    table without a word (issue 18): when no document has any interval reading, that is a
    ParseError (code ``no_readings``); when some have none (the UsageSummary file next to
    the readings in a utility's zip), ``notes`` says which.  The first reading is read when
    this object is made, so a bad first input is refused before anything is written.
    ``warnings`` lists every document's tolerated deviations once iteration is over, and
    ``warnings_by_source`` the same with the name of the document each is from.
    """

    def __init__(self, sources: Sequence[Source]) -> None:
        self._sources = tuple(sources)
        self.warnings: list[EspiWarning] = []
        self.warnings_by_source: list[tuple[str, EspiWarning]] = []
        self.notes: list[str] = []
        self.current: str | None = None
        """The name of the document the last reading yielded came from."""
        self._without: list[str] = []
        self._readings = self._all()
        self._first = next(self._readings, None)

    def __iter__(self) -> Iterator[Reading]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
            yield from self._readings

    def _all(self) -> Iterator[Reading]:
        from .xml.streaming import iter_interval_readings

        found_any = False
        for source in self._sources:
            self.current = source_name(source)
            stream = iter_interval_readings(source)
            found = False
            for reading in stream:
                found = True
                yield reading
            found_any = found_any or found
            self.warnings.extend(stream.warnings)
            self.warnings_by_source.extend((source_name(source), w) for w in stream.warnings)
            if not found:
                self._without.append(source_name(source))
                self.notes.append(f"{source_name(source)}: no interval readings; skipped")
        if not found_any:
            names = ", ".join(self._without[:3]) + (", ..." if len(self._without) > 3 else "")
            raise ParseError(
                "no interval readings (no IntervalBlock): nothing to convert; "
                "`espi-sst inspect` shows what the file holds",
                source=names or "<no input>",
                code="no_readings",
            )


def readings_of_all(sources: Sequence[Source]) -> AllReadings:
    """Every interval reading of ``sources`` in order (see :class:`AllReadings`).

    Raises:
        ParseError: the first document cannot be read, or none has an interval reading.
    """
    return AllReadings(sources)
