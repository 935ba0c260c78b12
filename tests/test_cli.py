"""The command line: exit codes, stdout/stderr discipline, through CliRunner and the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from entk_probe import __version__
from entk_probe.cli import main

from .helpers import write_run


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_analyze_prints_the_report_on_stdout(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "ckpt_10" in result.stdout and "verdict: insufficient" in result.stdout


def test_usage_errors_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "missing"), "--probe", "synthetic:3"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "missing" in result.stderr
    assert "Traceback" not in result.output
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--max-memory", "lots"])
    assert result.exit_code == 2 and "lots" in result.stderr


def test_analysis_failures_exit_1(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3"])
    assert result.exit_code == 1 and "no checkpoint" in result.stderr


def _script() -> str:
    script = shutil.which("entk-probe", path=str(Path(sys.executable).parent))
    assert script is not None, "entk-probe is not installed next to this Python"
    return script


def test_installed_console_script_runs() -> None:
    done = subprocess.run([_script(), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and __version__ in done.stdout


@pytest.mark.parametrize("probe", ["synthetic:4", "cifar10:20"])
def test_console_script_full_analysis_pipes_clean_json(tmp_path: Path, probe: str) -> None:
    import json

    import jsonschema

    from entk_probe.output.jsonreport import schema

    from .data import SHARED, needs_cifar

    if probe.startswith("cifar") and needs_cifar.args[0]:
        pytest.skip(needs_cifar.kwargs["reason"])
    write_run(tmp_path / "run", steps=(0, 5, 10, 15, 20, 25, 30, 35), num_classes=10)
    done = subprocess.run([_script(), "analyze", str(tmp_path / "run"), "--probe", probe, "--data-root", str(SHARED),
                           "--device", "cpu", "--json", "-"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ENTK_PROBE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, schema(), cls=jsonschema.Draft202012Validator)
    assert len(report["checkpoints"]) == 8 and report["probe"]["spec"] == probe
    if probe.startswith("cifar"):
        assert report["probe"]["dataset"] == "cifar10" and len(report["probe"]["labels"]) == 20
        assert all(c["metrics"]["accuracy"] is not None for c in report["checkpoints"])


def test_models_lists_plugins_with_their_origin() -> None:
    plugins = Path(__file__).resolve().parent.parent / "plugins"
    result = CliRunner().invoke(main, ["models", "--plugins", str(plugins)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "resnet20_cifar" in result.stdout and "timm architectures" in result.stdout
    assert str(plugins / "resnet20.py") in result.stdout
    result = CliRunner().invoke(main, ["models", "--timm", "--filter", "test_vi*"])
    assert result.exit_code == 0 and "test_vit" in result.stdout and "test_resnet" not in result.stdout


def test_analyze_selection_and_model_options(tmp_path: Path) -> None:
    write_run(tmp_path / "run", steps=(0, 5, 10, 15))
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                       "--range", "0.5:", "--every", "2", "--arch", "test_resnet",
                                       "--model-kwargs", "num_classes=3"])
    assert result.exit_code == 0, result.output
    assert "ckpt_5" in result.stdout and "ckpt_15" in result.stdout and "ckpt_10" not in result.stdout


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "missing"), "--probe", "synthetic:3", "--debug"])
    assert result.exit_code != 0 and result.exc_info is not None and result.exc_info[0].__name__ == "UsageError"


def test_library_warnings_become_one_line_each_on_stderr(tmp_path: Path) -> None:
    import torch

    run = tmp_path / "run"
    write_run(run, steps=(0, 5))
    for i, path in enumerate(sorted(run.iterdir())):  # torch copies without any recorded step or epoch
        from safetensors.torch import load_file

        torch.save(load_file(str(path)), run / f"copy{i}.pt")
        path.unlink()
    result = CliRunner().invoke(main, ["analyze", str(run), "--probe", "synthetic:3", "--device", "cpu",
                                       "--arch", "test_resnet", "--input-size", "3,32,32"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("entk-probe: warning: ordered 2 checkpoints by the numbers in their file names") == 1
    assert "entk-probe: warning" not in result.stdout


def test_probe_export_and_probes(tmp_path: Path) -> None:
    from entk_probe.probes import load_probe

    from .data import fake_images, write_cifar10_python

    data, labels = fake_images(30)
    write_cifar10_python(tmp_path / "data" / "cifar-10-batches-py", data, labels)
    out = tmp_path / "probe.safetensors"
    plugins = Path(__file__).resolve().parent.parent / "plugins"
    result = CliRunner().invoke(main, ["probe", "export", "cifar10:20", "--data-root", str(tmp_path / "data"),
                                       "--arch", "resnet20_cifar", "--plugins", str(plugins), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "wrote" in result.stderr and "0.247" in result.stderr
    assert load_probe(out).n == 20
    result = CliRunner().invoke(main, ["probe", "export", "cifar10:20,split=x", "-o", str(out)])
    assert result.exit_code == 2 and "split must be train or test" in result.stderr
    result = CliRunner().invoke(main, ["probe", "export", "cifar10:20", "--data-root", str(tmp_path / "nothing"), "-o", str(out)])
    assert result.exit_code == 1 and "--download" in result.stderr
    result = CliRunner().invoke(main, ["probes"])
    assert result.exit_code == 0 and "fashion-mnist" in result.stdout and "imagefolder" in result.stdout


def test_kernel_command_and_save_kernels(tmp_path: Path) -> None:
    from entk_probe.output.kernelfile import load_kernel

    paths = write_run(tmp_path / "run")
    out = tmp_path / "K.safetensors"
    result = CliRunner().invoke(main, ["kernel", str(paths[1]), "--probe", "synthetic:3", "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "wrote" in result.stderr
    kernel, meta = load_kernel(out)
    assert kernel.shape == (3, 3) and meta["arch"] == "test_resnet" and meta["step"] == "5"
    saved = tmp_path / "kernels"
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                       "--save-kernels", str(saved), "--quiet", "--no-color"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in saved.iterdir())
    assert files == ["ckpt_0.safetensors.kernel.safetensors", "ckpt_10.safetensors.kernel.safetensors",
                     "ckpt_5.safetensors.kernel.safetensors"]
    import torch

    assert torch.equal(load_kernel(saved / files[2])[0], kernel), "the same checkpoint, the same kernel"
    result = CliRunner().invoke(main, ["kernel", str(tmp_path / "run" / "nope.pt"), "--probe", "synthetic:3", "-o", str(out)])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_report_command_rerenders_a_saved_report(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    saved = tmp_path / "report.json"
    first = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                      "--json", str(saved), "--no-color"], terminal_width=80)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["report", str(saved), "--no-color"], terminal_width=80)
    assert again.exit_code == 0 and again.stdout == first.stdout
    result = CliRunner().invoke(main, ["report", str(tmp_path / "none.json")])
    assert result.exit_code == 2


def test_the_help_points_to_the_definitions() -> None:
    from .helpers import REPO

    assert (REPO / "docs" / "definitions.md").is_file()
    for command in ([], ["analyze"]):
        assert "docs/definitions.md" in CliRunner().invoke(main, [*command, "--help"]).output


def test_every_command_has_help_with_an_example() -> None:
    for command in (["analyze"], ["kernel"], ["report"], ["switch"], ["compare"], ["watch"], ["models"], ["probes"],
                    ["probe", "export"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, command


def test_debug_lists_every_layers_path_on_stderr_and_the_json_keeps_the_plan(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    report = tmp_path / "report.json"
    args = ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu", "--no-cache",
            "--json", str(report)]
    result = CliRunner().invoke(main, [*args, "--debug"])
    assert result.exit_code == 0, result.output
    assert "layer4.0.conv1" in result.stderr and "structured" in result.stderr and "why" in result.stderr
    assert "layer4.0.conv1" not in result.stdout and "layers by path:" in result.stdout
    import json

    kernel = json.loads(report.read_text())["kernel"]
    assert kernel["paths"] == "auto" and kernel["gram_dtype"] == "float32"
    assert {layer["path"] for layer in kernel["plan"]["layers"]} <= {"structured", "per-sample"}
    result = CliRunner().invoke(main, [*args, "--paths", "jacobian", "--gram-dtype", "float64"])
    assert result.exit_code == 0, result.output
    assert "layer4.0.conv1" not in result.stderr
    kernel = json.loads(report.read_text())["kernel"]
    assert kernel["paths"] == "jacobian" and kernel["gram_dtype"] == "float64"
    assert {layer["path"] for layer in kernel["plan"]["layers"]} == {"jacobian"}


@pytest.mark.parametrize("where", ["directory", "read-only", "proc"])
def test_an_unwritable_json_report_is_one_line_and_the_analysis_is_not_lost(tmp_path: Path, where: str) -> None:
    write_run(tmp_path / "run")
    target = {"directory": tmp_path / "out", "read-only": tmp_path / "ro" / "sub" / "r.json", "proc": Path("/proc/r.json")}[where]
    if where == "directory":
        target.mkdir()
    if where == "read-only":
        (tmp_path / "ro").write_text("a file where a folder should be")
    cache = tmp_path / "cache"
    args = ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu"]
    result = CliRunner(env={"ENTK_PROBE_CACHE": str(cache)}).invoke(main, [*args, "--json", str(target)])
    assert result.exit_code == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"entk-probe: error: could not write the JSON report {target}") and "nothing is recomputed" in error
    assert "verdict" in result.stdout  # the terminal report is still printed
    assert not list(tmp_path.rglob(".*.tmp")) and "Traceback" not in result.output
    elsewhere = tmp_path / "elsewhere.json"
    again = CliRunner(env={"ENTK_PROBE_CACHE": str(cache)}).invoke(main, [*args, "--json", str(elsewhere)])
    assert again.exit_code == 0 and elsewhere.is_file()
    import json

    assert all(c["kernel_cached"] for c in json.loads(elsewhere.read_text())["checkpoints"])  # nothing recomputed


def test_an_interrupt_exits_130_and_says_where_the_kernels_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import entk_probe.cli as cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "analyze", interrupted)
    write_run(tmp_path / "run")
    result = CliRunner(env={"ENTK_PROBE_CACHE": str(tmp_path / "cache")}).invoke(
        main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3"])
    assert result.exit_code == 130
    assert result.stderr.strip() == (f"entk-probe: interrupted; kernels computed so far stay in the kernel cache "
                                     f"({tmp_path / 'cache'}) and the same command continues from them")
    uncached = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--no-cache"])
    assert uncached.exit_code == 130 and "with --no-cache nothing computed so far was kept" in uncached.stderr


def test_the_estimate_is_one_stderr_line_before_the_report_and_a_refusal_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from entk_probe.pipeline import forecast

    write_run(tmp_path / "run")
    args = ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu", "--no-cache"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("entk-probe: estimate: ")]
    assert len(lines) == 1 and "3 kernel(s) to compute" in lines[0]
    assert "estimated beforehand: 3 kernel(s) in " in result.stdout and "entk-probe: estimate" not in result.stdout
    assert "entk-probe: estimate" not in CliRunner().invoke(main, args + ["--quiet"]).stderr
    monkeypatch.setattr(forecast, "available_memory", lambda device: 1024)
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.splitlines()[-1].startswith("entk-probe: error: this run is not expected to fit")
    assert CliRunner().invoke(main, args + ["--force"]).exit_code == 0


def test_analyze_on_a_checkpoint_file_points_to_the_kernel_command(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run")[0]
    result = CliRunner().invoke(main, ["analyze", str(path), "--probe", "synthetic:3"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"{path} is a file: analyze takes the folder of a run's checkpoints (here {path.parent}" in result.stderr
    assert f"entk-probe kernel {path} --probe SPEC" in result.stderr


def test_the_header_says_raw_or_ema_weights(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu"])
    assert result.exit_code == 0 and "parameters, raw weights" in result.stdout
