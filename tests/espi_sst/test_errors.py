"""The error trees people read are the classes the library raises.

docs/errors.md draws every exception and warning class of the library (the core, the ASP
client, MIDAS); espi_sst/errors.py draws the core's tree and names the two HTTP-layer
sub-trees, which espi_sst/client/errors.py and espi_sst/midas/errors.py draw in full.  Issue 19:
``ScopeError`` was missing from both trees; these tests find any class left out or drawn
under the wrong parent.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import espi_sst
from espi_sst import errors
from espi_sst.client import errors as client_errors
from espi_sst.errors import EspiError, EspiWarning, InvalidDstRule, ScopeError
from espi_sst.midas import (
    MidasError,
    MidasRateLimited,
    MidasResponseError,
    MidasUnavailable,
    RinNotFound,
)
from espi_sst.midas import errors as midas_errors

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
_BRANCH = re.compile(r"(?P<prefix>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z][A-Za-z]+)\b")


def library_classes() -> dict[str, type]:
    """Every public exception and warning class defined in espi_sst, by name."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(espi_sst.__path__, "espi_sst."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, (EspiError, EspiWarning))
                and value.__module__.startswith("espi_sst")
                and not name.startswith("_")
            ):
                found[value.__name__] = value
    return found


def real_parent(cls: type) -> str | None:
    """The class's parent in the tree: its first base inside the tree, None for a root."""
    for base in cls.__bases__:
        if issubclass(base, (EspiError, EspiWarning)):
            return base.__name__
    return None


def drawn_tree(drawing: str) -> dict[str, str | None]:
    """``name -> parent`` of a box-drawing tree (``├── `` / ``│   `` four columns a level)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in textwrap.dedent(drawing).splitlines():
        match = _BRANCH.match(line)
        if match is None:
            continue
        depth = len(match["prefix"]) // 4
        del path[depth:]
        parents[match["name"]] = path[-1] if path else None
        path.append(match["name"])
    return parents


def docstring_drawing(module: object) -> str:
    """The indented block after ``::`` in a module docstring."""
    text = inspect.getdoc(module) or ""
    block = text.split("::\n", 1)[1]
    return "\n".join(line for line in block.splitlines() if not line or line.startswith("    "))


def docs_drawing() -> str:
    return DOCS.read_text(encoding="utf-8").split("```\n", 2)[1]


CLASSES = library_classes()


def test_the_library_has_the_classes_the_trees_are_checked_against() -> None:
    assert {"EspiError", "ScopeError", "InvalidDstRule", "ClientError", "MidasError"} <= set(
        CLASSES
    )
    assert ScopeError.code == "invalid_scope" and issubclass(ScopeError, ValueError)
    assert InvalidDstRule.code == "invalid_dst_rule" and issubclass(InvalidDstRule, ValueError)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_docs_errors_md_draws_every_class_under_its_parent(name: str) -> None:
    tree = drawn_tree(docs_drawing())
    assert name in tree, f"{name} is missing from docs/errors.md"
    assert tree[name] == real_parent(CLASSES[name])


def test_errors_py_draws_the_core_tree_and_names_the_two_layer_roots() -> None:
    tree = drawn_tree(docstring_drawing(errors))
    layers = (CLASSES["ClientError"], CLASSES["MidasError"])
    expected = {
        name: real_parent(cls)
        for name, cls in CLASSES.items()
        if not (issubclass(cls, layers) and cls not in layers)
    }
    assert tree == expected


@pytest.mark.parametrize(
    ("module", "root"), [(client_errors, "ClientError"), (midas_errors, "MidasError")]
)
def test_each_layer_draws_its_own_tree(module: object, root: str) -> None:
    tree = drawn_tree(docstring_drawing(module))
    top = CLASSES[root]
    expected = {
        name: real_parent(cls) if cls is not top else None
        for name, cls in CLASSES.items()
        if issubclass(cls, top)
    }
    assert tree == expected


def test_the_core_errors_are_importable_where_they_are_raised() -> None:
    from espi_sst.localtime import InvalidDstRule as raised_by_localtime
    from espi_sst.scope import ScopeError as raised_by_scope

    assert raised_by_scope is ScopeError and raised_by_localtime is InvalidDstRule


def test_exception_tree_is_as_documented() -> None:
    """errors.py draws the tree; input errors are also ValueErrors (as in requests)."""
    e = espi_sst
    for cls in (e.ParseError, e.SerializeError, e.ValidationError, e.RinError):
        assert issubclass(cls, e.EspiError) and issubclass(cls, ValueError)
    assert issubclass(e.UnsafeXmlError, e.ParseError)
    assert issubclass(e.UnknownCodeWarning, e.EspiWarning)
    assert issubclass(e.EspiWarning, UserWarning)
    codes = {
        cls.code
        for cls in (
            e.EspiError,
            e.ParseError,
            e.UnsafeXmlError,
            e.SerializeError,
            e.ValidationError,
            e.RinError,
        )
    }
    assert len(codes) == 6, "each error class has its own default code"


def test_midas_error_codes_are_distinct() -> None:
    classes = (MidasError, RinNotFound, MidasRateLimited, MidasUnavailable, MidasResponseError)
    assert len({cls.code for cls in classes}) == len(classes)
    assert all(issubclass(cls, MidasError) for cls in classes)
    assert issubclass(MidasError, EspiError)
