"""The catalogue commands: the probes and models entk-probe knows, and text probe export."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from entk_probe.cli import main
from entk_probe.probes import load_probe

from .data import SHARED
from .textdata import needs_sst2, needs_text, train_tokenizer


def test_probes_lists_the_text_sources_and_models_counts_timm() -> None:
    probes = CliRunner().invoke(main, ["probes"])
    assert probes.exit_code == 0 and all(name in probes.stdout for name in ("sst2", "glue", "textfile", "cifar10"))
    models = CliRunner().invoke(main, ["models", "--filter", "resnet1*"])
    assert models.exit_code == 0 and "timm architectures" in models.stdout


@needs_sst2
@needs_text
def test_a_text_probe_is_exported_with_its_tokenizer(tmp_path: Path) -> None:
    tokenizer = train_tokenizer(tmp_path / "tok")
    out = tmp_path / "probe.safetensors"
    result = CliRunner().invoke(main, ["probe", "export", "sst2:10", "--data-root", str(SHARED), "--tokenizer",
                                       str(tokenizer), "--max-length", "16", "-o", str(out)])
    assert result.exit_code == 0, result.output
    probe = load_probe(out)
    assert probe.is_text and tuple(probe.inputs.shape) == (10, 3, 16) and probe.max_length == 16
    assert f"tokens of length 16, tokenizer {probe.tokenizer[:12]}" in result.stderr
    missing = CliRunner().invoke(main, ["probe", "export", "sst2:10", "--data-root", str(SHARED), "-o", str(out)])
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1


def test_models_and_probes_list_as_json_too(tmp_path: Path) -> None:
    import json

    from tests.helpers import REPO

    models = CliRunner().invoke(main, ["models", "--plugins", str(REPO / "plugins"), "--json", "-"])
    assert models.exit_code == 0, models.output
    listed = json.loads(models.stdout)
    assert {"name": "resnet20_cifar", "from": f"plugin {REPO / 'plugins' / 'resnet20.py'}"} in listed["models"]
    assert listed["notes"][0].endswith("timm architectures (--timm lists them)")
    probes = CliRunner().invoke(main, ["probes", "--json", str(tmp_path / "p.json")])
    assert probes.exit_code == 0 and "Spec grammar" in probes.stdout  # written, and the table shown, as analyze does
    assert "cifar10" in {p["name"] for p in json.loads((tmp_path / "p.json").read_text())["probes"]}
