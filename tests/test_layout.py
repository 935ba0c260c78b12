"""The package's shape: one subpackage a stage, small modules, short functions."""

from __future__ import annotations

import ast

import pytest

from .helpers import REPO

PACKAGE = REPO / "entk_probe"
STAGES = ("runs", "probes", "engine", "analysis", "pipeline", "output", "integrations")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_the_folders_are_the_stages_of_the_data_flow() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == set(STAGES)
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{stage}/__init__.py does not say what it offers"
    tests = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert set(STAGES) <= tests, "tests mirror the package"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small_and_functions_short(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            reason = "Long because" in (ast.get_docstring(node) or "")
            assert length <= MAX_FUNCTION_LINES or reason, f"{node.name} has {length} lines and no reason in its docstring"


def test_every_package_module_has_a_test_module() -> None:
    missing = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(PACKAGE)
        test = REPO / "tests" / relative.parent / f"test_{relative.name}"
        if not test.is_file():
            missing.append(str(relative))
    assert not missing, f"no test module for {missing}"
