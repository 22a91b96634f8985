"""The generated data model is current and complete with respect to the official XSDs.

The model is generated (tools/generate_model.py) so that it cannot drift from ESPI 4.0.
These tests fail when someone edits the schemas without regenerating, edits a generated
module by hand, or when the generator misses a global element or a code.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from espi_sst.model import customer, enums, espi
from espi_sst.model._base import ModelObject
from espi_sst.model._fields import CodeEnum, CodeStrEnum
from espi_sst.model.enums import QualityOfReading, UnitSymbolKind
from espi_sst.validation import schema_dir

ROOT = Path(__file__).resolve().parents[3]
XS = "http://www.w3.org/2001/XMLSchema"


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "tools" / "generate_model.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )


def test_generated_modules_are_current() -> None:
    """``python tools/generate_model.py --check`` exits 0: the model matches the XSDs."""
    result = run_check(ROOT)
    assert result.returncode == 0, result.stderr


def test_the_check_detects_a_hand_edited_module(tmp_path: Path) -> None:
    """The staleness check can fail: a copy with a hand-edited enums.py exits 1, naming it."""
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "generate_model.py", tmp_path / "tools")
    shutil.copytree(schema_dir(), tmp_path / "xsd")
    model = tmp_path / "espi_sst" / "model"
    model.mkdir(parents=True)
    for name in ("enums.py", "espi.py", "customer.py"):
        shutil.copy(ROOT / "espi_sst" / "model" / name, model / name)
    assert run_check(tmp_path).returncode == 0
    edited = model / "enums.py"
    edited.write_text(edited.read_text().replace("Wh = 72,", "Wh_edited = 72,", 1))
    result = run_check(tmp_path)
    assert result.returncode == 1
    assert "enums.py" in result.stderr


def global_elements(xsd: str) -> dict[str, str]:
    """Global element name -> its type's local name, read from the schema file with lxml."""
    root = etree.parse(str(schema_dir() / xsd)).getroot()
    return {
        el.get("name"): (el.get("type") or "").split(":")[-1]
        for el in root.findall(f"{{{XS}}}element")
    }


@pytest.mark.parametrize(
    ("xsd", "module"), [("espi.xsd", espi), ("customer.xsd", customer)], ids=["espi", "customer"]
)
def test_every_global_element_has_a_model_class(xsd: str, module: object) -> None:
    elements = global_elements(xsd)
    roots = module.ROOT_ELEMENTS  # type: ignore[attr-defined]
    assert len(elements) >= 20
    assert set(roots) == set(elements)
    for name, cls in roots.items():
        assert issubclass(cls, ModelObject)
        assert cls.XML_TYPE == elements[name], name
        assert cls.__module__ == module.__name__  # type: ignore[attr-defined]


def test_resource_classes_are_named_after_their_elements() -> None:
    """The class takes the element's name where the type differs (LocalTimeParameters)."""
    assert espi.ROOT_ELEMENTS["LocalTimeParameters"] is espi.LocalTimeParameters
    assert espi.LocalTimeParameters.XML_TYPE == "TimeConfiguration"
    assert espi.ROOT_ELEMENTS["BatchList"].__name__ == "BatchList"
    assert customer.ROOT_ELEMENTS["Statement"].__name__ == "Statement"  # new in customer.xsd 4.0


def test_unit_symbol_72_is_watt_hours() -> None:
    assert UnitSymbolKind(72).name == "Wh"
    assert "Watt" in UnitSymbolKind(72).description
    assert UnitSymbolKind(80).name == "money"  # uom 80, which older libraries reject


def test_quality_of_reading_includes_19() -> None:
    """Quality 19 (revenue quality) is in ESPI 4.0's table; older libraries reject it."""
    assert QualityOfReading(19).name == "revenue_quality"
    assert QualityOfReading(19).description


def xsd_enumerations() -> dict[str, list[str]]:
    root = etree.parse(str(schema_dir() / "espi.xsd")).getroot()
    out: dict[str, list[str]] = {}
    for simple in root.findall(f"{{{XS}}}simpleType"):
        values = [e.get("value") for e in simple.iter(f"{{{XS}}}enumeration")]
        if values:
            out[simple.get("name")] = values
    return out


CODE_TABLES = [
    cls
    for _, cls in inspect.getmembers(enums, inspect.isclass)
    if issubclass(cls, (CodeEnum, CodeStrEnum)) and cls not in (CodeEnum, CodeStrEnum)
]


def test_there_are_many_code_tables() -> None:
    assert len(CODE_TABLES) >= 30


@pytest.mark.parametrize("table", CODE_TABLES, ids=lambda t: t.__name__)
def test_code_table_has_exactly_the_xsd_values(table: type) -> None:
    """Every enumeration value of the XSD simple type, and nothing else, in schema order."""
    expected = xsd_enumerations()[table.__name__]
    if issubclass(table, CodeEnum):
        assert [str(int(member)) for member in table] == expected
    else:
        assert [member.value for member in table] == expected
    for member in table:
        assert isinstance(member.description, str)


def test_quality_of_reading_table_size() -> None:
    assert len(QualityOfReading) == len(xsd_enumerations()["QualityOfReading"]) == 14
