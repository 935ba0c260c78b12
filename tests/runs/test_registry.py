"""The model registry: plugin files and folders, the environment, entry points, timm, conflicts."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import timm
import torch

from entk_probe.errors import UsageError
from entk_probe.errors import PluginError
from entk_probe.runs.registry import ModelRegistry, register_model

PLUGIN = '''
import torch
from entk_probe.runs.registry import register_model, REGISTRY

@register_model("{name}", input_size=(1, 8, 8), mean=(0.5,), std=(0.25,), classifier="head")
def factory(num_classes=3):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, num_classes))
'''


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    """A fresh registry that plugin files' register_model calls land in."""
    fresh = ModelRegistry()
    monkeypatch.setattr("entk_probe.runs.registry.REGISTRY", fresh)
    return fresh


def _plugin(path: Path, name: str) -> Path:
    path.write_text(PLUGIN.format(name=name))
    return path


def test_a_plugin_file_registers_its_factory_with_its_origin(tmp_path: Path, registry: ModelRegistry) -> None:
    name = _unique("tiny")
    path = _plugin(tmp_path / "tiny.py", name)
    assert registry.load_plugins(path) == [name]
    entry = registry.get(name)
    assert entry.origin == f"plugin {path.resolve()}"
    assert entry.input_size == (1, 8, 8) and entry.mean == (0.5,) and entry.classifier == "head"
    assert entry.factory(num_classes=4)(torch.zeros(2, 1, 8, 8)).shape == (2, 4)
    assert registry.load_plugins(path) == []  # loading the same file again is a no-op
    assert (name, entry.origin) in registry.available()


def test_a_folder_loads_every_py_file_and_env_paths_too(tmp_path: Path, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [_unique("a"), _unique("b")]
    folder = tmp_path / "plugins"
    folder.mkdir()
    _plugin(folder / "one.py", names[0])
    _plugin(folder / "two.py", names[1])
    (folder / "_helper.py").write_text("raise RuntimeError('helpers are not plugins')")
    assert sorted(registry.load_plugins(folder)) == sorted(names)
    other = _unique("c")
    env_file = _plugin(tmp_path / "env.py", other)
    monkeypatch.setenv("ENTK_PROBE_PLUGINS", f"{env_file}{__import__('os').pathsep}{folder}")
    assert registry.load_env() == [other]


def test_a_name_claimed_twice_names_both_origins(tmp_path: Path, registry: ModelRegistry) -> None:
    name = _unique("dup")
    first, second = _plugin(tmp_path / "first.py", name), _plugin(tmp_path / "second.py", name)
    registry.load_plugins(first)
    with pytest.raises(PluginError, match=rf"{name}.*claimed twice: by plugin .*first\.py and by plugin .*second\.py"):
        registry.load_plugins(second)


def test_a_plugin_cannot_take_a_timm_name(tmp_path: Path, registry: ModelRegistry) -> None:
    path = _plugin(tmp_path / "clash.py", "resnet18")
    with pytest.raises(PluginError, match=r"'resnet18' is claimed twice: by timm and by plugin .*clash\.py"):
        registry.load_plugins(path)


def test_a_plugin_with_timms_register_model_comes_through_timm(tmp_path: Path, registry: ModelRegistry) -> None:
    name = _unique("timm_style")
    path = tmp_path / "timm_style.py"
    path.write_text(textwrap.dedent(f"""
        import torch
        from timm.models import register_model

        @register_model
        def {name}(pretrained=False, num_classes=5, **kwargs):
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, num_classes))
    """))
    assert registry.load_plugins(path) == [name]
    entry = registry.get(name)
    assert entry.origin == f"plugin {path.resolve()} (timm register_model)"
    assert entry.factory(num_classes=2)(torch.zeros(1, 3, 2, 2)).shape == (1, 2)
    assert timm.is_model(name)


def test_a_broken_plugin_is_an_error_naming_the_file(tmp_path: Path, registry: ModelRegistry) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import not_a_module_anywhere\n")
    with pytest.raises(PluginError, match=r"broken\.py failed to load: ModuleNotFoundError"):
        registry.load_plugins(path)
    with pytest.raises(UsageError, match="does not exist"):
        registry.load_plugins(tmp_path / "missing.py")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PluginError, match="holds no .py file"):
        registry.load_plugins(tmp_path / "empty")


def test_a_plugin_calling_sys_exit_is_an_error_not_an_exit(tmp_path: Path, registry: ModelRegistry) -> None:
    path = tmp_path / "quits.py"
    path.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(PluginError, match=r"quits\.py called sys.exit\(3\) while loading"):
        registry.load_plugins(path)


def _fake_distribution(root: Path, module: str, entries: dict[str, str]) -> None:
    """An installed package as importlib.metadata sees it: a dist-info folder and a module."""
    dist = root / f"{module}_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}-pkg\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (dist / "entry_points.txt").write_text(f"[entk_probe.runs.models]\n{lines}\n")
    (root / f"{module}.py").write_text(textwrap.dedent("""
        import torch
        def make(num_classes=10):
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, num_classes))
    """))


def test_entry_points_are_listed_without_import_and_loaded_on_use(tmp_path: Path, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    module, name = _unique("entkpkg"), _unique("pkg_model")
    _fake_distribution(tmp_path, module, {name: f"{module}:make"})
    monkeypatch.syspath_prepend(str(tmp_path))
    origin = f"entry point {module}:make ({module}-pkg 0.1)"
    assert (name, origin) in registry.available()
    assert module not in sys.modules, "listing must not import the package"
    entry = registry.get(name)
    assert module in sys.modules and entry.origin == origin
    assert entry.factory(num_classes=2)(torch.zeros(1, 3)).shape == (1, 2)
    clash = _plugin(tmp_path / "clash.py", name)
    with pytest.raises(PluginError, match=f"claimed twice: by {origin.replace('(', '.').replace(')', '.')}"):
        registry.load_plugins(clash)


def test_unknown_names_say_where_to_look(registry: ModelRegistry) -> None:
    with pytest.raises(UsageError, match="unknown architecture 'nope_net'.*entk-probe models"):
        registry.get("nope_net")
    assert registry.get("test_resnet").origin == "timm"


def test_register_model_bare_decorator_outside_plugins(registry: ModelRegistry) -> None:
    name = _unique("bare")

    def factory() -> torch.nn.Module:
        return torch.nn.Linear(2, 2)

    factory.__name__ = name
    register_model(factory)
    assert registry.get(name).origin == f"module {__name__}"
