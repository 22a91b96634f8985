"""The public surface and the layering rules, guarded (httpx's test_exported_members).

``espi_sst.__all__`` is the API users may rely on: adding or removing a name must be a
deliberate change to this list.  The layering rules of the house style are checked too: the
core library imports no web framework, database or HTTP client (it does no network I/O),
and the data model knows nothing of lxml or xmlschema.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import espi_sst

PACKAGE = Path(espi_sst.__file__).parent

EXPECTED_ALL = {
    "Document",
    "EspiError",
    "EspiWarning",
    "IntervalColumns",
    "ParseError",
    "ReadLimits",
    "Reading",
    "ReadingContext",
    "ReadingStream",
    "Rin",
    "RinError",
    "RinRole",
    "SerializeError",
    "UnknownCodeWarning",
    "UnsafeXmlError",
    "ValidationError",
    "ValidationIssue",
    "__version__",
    "iter_interval_blocks",
    "iter_interval_readings",
    "parse",
    "serialize",
    "summaries_dataframe",
    "to_dataframe",
    "validate",
}

FORBIDDEN_IN_CORE = ("flask", "sqlalchemy", "requests", "authlib", "httpx", "urllib3", "werkzeug")


def test_all_lists_exactly_the_expected_names() -> None:
    assert sorted(espi_sst.__all__) == sorted(EXPECTED_ALL)
    assert len(espi_sst.__all__) == len(set(espi_sst.__all__)), "duplicates in __all__"


def test_every_exported_name_is_importable() -> None:
    for name in espi_sst.__all__:
        assert hasattr(espi_sst, name), name
    namespace: dict[str, object] = {}
    exec("from espi_sst import *", namespace)  # noqa: S102 - the star import users may write
    assert set(EXPECTED_ALL) - {"__version__"} <= set(namespace)


def test_exported_objects_live_where_documented() -> None:
    """Errors come from errors.py, the codec from xml/ -- the facade only re-exports."""
    assert espi_sst.ParseError.__module__ == "espi_sst.errors"
    assert espi_sst.parse.__module__ == "espi_sst.xml.reader"
    assert espi_sst.serialize.__module__ == "espi_sst.xml.writer"
    assert espi_sst.iter_interval_readings.__module__ == "espi_sst.xml.streaming"
    assert espi_sst.validate.__module__ == "espi_sst.validation"
    assert espi_sst.Document.__module__ == "espi_sst.document"


def test_version_is_a_string() -> None:
    assert isinstance(espi_sst.__version__, str) and espi_sst.__version__.count(".") == 2


def test_py_typed_marker_is_shipped() -> None:
    assert (PACKAGE / "py.typed").is_file()


# ---- layering ----------------------------------------------------------------------------
IMPORT_EVERYTHING = """
import importlib, importlib.abc, json, pkgutil, sys

FORBIDDEN = set(json.loads(sys.argv[1]))
attempted = set()

class Recorder(importlib.abc.MetaPathFinder):
    # Records attempts even for packages that are not installed (or guarded by try/except).
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in FORBIDDEN:
            attempted.add(top)
        return None

# The house style's ASP client layer (espi_sst.client, on requests + Authlib) uses the
# core, not the other way round: it and the conformance kit built on it (an ASP and a
# customer talking to a server under test) are the subpackages allowed an HTTP client.
CLIENT_LAYER = {"espi_sst.client", "espi_sst.conformance"}

def walk(path, prefix):
    for info in pkgutil.iter_modules(path, prefix):
        if info.name in CLIENT_LAYER:
            continue
        module = importlib.import_module(info.name)
        yield info.name
        if info.ispkg:
            yield from walk(module.__path__, info.name + ".")

sys.meta_path.insert(0, Recorder())
import espi_sst
names = sorted(walk(espi_sst.__path__, "espi_sst."))
print(json.dumps({
    "modules": names,
    "attempted": sorted(attempted),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN),
}))
"""


def test_core_library_imports_no_web_framework_database_or_http_client() -> None:
    """Importing espi_sst and every submodule never touches flask, sqlalchemy, requests ...

    Runs in a fresh interpreter so that other tests' imports cannot hide or fake anything.
    """
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, json.dumps(FORBIDDEN_IN_CORE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    assert "espi_sst.xml.reader" in report["modules"]
    assert "espi_sst.model.espi" in report["modules"]
    assert report["attempted"] == []
    assert report["loaded"] == []


def imported_modules(path: Path) -> set[str]:
    """Top-level names a source file imports (absolute imports only), by reading its AST."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_data_model_imports_no_xml_library() -> None:
    """espi_sst/model is plain dataclasses: no lxml, no xmlschema (house style, section 1)."""
    files = sorted((PACKAGE / "model").glob("*.py"))
    assert len(files) >= 6
    for path in files:
        imports = imported_modules(path)
        assert not imports & {"lxml", "xmlschema", "xml", "defusedxml"}, (path.name, imports)


IMPORT_MODEL_WITHOUT_XML = """
import importlib, importlib.abc, json, pkgutil, sys, types

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lxml", "xmlschema", "defusedxml"):
            raise ImportError(f"the model layer imported {name}")
        return None

sys.meta_path.insert(0, Blocker())
# Stand-in for the espi_sst package whose __init__ (the facade) loads the codec: only the
# model and what it imports itself get executed.
package = types.ModuleType("espi_sst")
package.__path__ = [sys.argv[1]]
sys.modules["espi_sst"] = package
import espi_sst.model
names = sorted(m.name for m in pkgutil.walk_packages(espi_sst.model.__path__, "espi_sst.model."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(m for m in sys.modules if m.startswith("espi_sst"))}))
"""


def test_the_data_model_works_without_any_xml_library() -> None:
    """Importing every espi_sst.model module -- and whatever they import, transitively --
    succeeds in an interpreter where lxml and xmlschema cannot be imported at all."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_MODEL_WITHOUT_XML, str(PACKAGE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "espi_sst.model.espi" in report["modules"]
    assert not [
        m for m in report["loaded"] if m.startswith(("espi_sst.xml", "espi_sst.validation"))
    ]


def test_only_the_codec_and_validation_import_lxml_and_only_validation_imports_xmlschema() -> None:
    lxml_users = set()
    xmlschema_users = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        imports = imported_modules(path)
        if "lxml" in imports:
            lxml_users.add(relative)
        if "xmlschema" in imports:
            xmlschema_users.add(relative)
    assert xmlschema_users == {"validation.py"}
    # The conformance kit reads portal HTML (lxml.html) and runs XPath rules on trees the
    # codec's safe reader built: pyproject.toml's import-linter contract says the same.
    assert {p for p in lxml_users if not p.startswith(("xml/", "conformance/"))} == {
        "validation.py"
    }
    assert "xml/reader.py" in lxml_users
