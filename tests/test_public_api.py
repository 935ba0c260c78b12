"""What users and plugins import: everything from ``entk_probe``, and README's examples use only that."""

from __future__ import annotations

import ast
import re
import textwrap
from importlib import resources

import entk_probe

from .helpers import REPO


def test_every_exported_name_exists_and_is_listed_once() -> None:
    assert len(entk_probe.__all__) == len(set(entk_probe.__all__))
    for name in entk_probe.__all__:
        assert hasattr(entk_probe, name), name
    assert {"compute_entk", "analyze", "register_model", "register_probe", "Split", "to_json", "PhaseThresholds",
            "EntkProbeError", "UsageError"} <= set(entk_probe.__all__)


# The training loop's integrations are public modules of their own: each needs its library's extra.
INTEGRATIONS = ("entk_probe.integrations", "entk_probe.integrations.lightning", "entk_probe.integrations.transformers")


def test_readme_python_examples_import_only_the_public_api() -> None:
    import importlib

    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    for block in blocks:
        for node in ast.walk(ast.parse(textwrap.dedent(block))):  # blocks inside list items are indented
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("entk_probe"):
                assert node.module in ("entk_probe", *INTEGRATIONS), f"README imports from {node.module}"
                module = entk_probe if node.module == "entk_probe" else importlib.import_module(node.module)
                assert {a.name for a in node.names} <= set(module.__all__)


def test_plugins_need_only_the_package_itself() -> None:
    for plugin in (REPO / "plugins").glob("*.py"):
        for node in ast.walk(ast.parse(plugin.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("entk_probe"):
                assert node.module == "entk_probe", f"{plugin.name} imports from {node.module}"


def test_the_package_is_typed() -> None:
    assert resources.files("entk_probe").joinpath("py.typed").is_file()
