"""Checkpoint formats: detection, what each records, and a new format as one class."""

from __future__ import annotations

import argparse
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from entk_probe.errors import CheckpointError, EntkProbeWarning
from entk_probe.runs import formats
from entk_probe.runs.checkpoints import discover
from entk_probe.runs.formats import CheckpointContent, CheckpointFormat, format_of, short_name


@pytest.mark.parametrize(("name", "kind"), [("a.safetensors", "safetensors"), ("checkpoint-3.pth.tar", "torch"),
                                            ("m.pt", "torch"), ("m.pth", "torch"), ("pytorch_model.bin", "torch"),
                                            ("epoch=3.ckpt", "torch"), ("notes.txt", None), ("a.safetensors.bak", None),
                                            ("model.safetensors.index.json", "sharded"),
                                            ("pytorch_model.bin.index.json", "sharded"), ("config.json", None)])
def test_each_file_has_its_format(name: str, kind: str | None) -> None:
    found = format_of(Path(name))
    assert (found.name if found else None) == kind


def test_short_names_drop_the_formats_suffix() -> None:
    assert [short_name(n) for n in ("checkpoint-3.pth.tar", "a.safetensors", "x.pt", "other.txt",
                                    "checkpoint-9/model.safetensors.index.json")] == [
        "checkpoint-3", "a", "x", "other.txt", "checkpoint-9/model"]


def test_what_each_format_records(tmp_path: Path) -> None:
    save_file({"w": torch.zeros(2)}, str(tmp_path / "a.safetensors"), metadata={"epoch": "3", "arch": "resnet18"})
    content = format_of(tmp_path / "a.safetensors").read(tmp_path / "a.safetensors", tensors=False)
    assert content.records == {"epoch": 3, "arch": "resnet18"} and content.content == {}
    torch.save({"state_dict": {"w": torch.zeros(2)}, "step": torch.tensor(7), "epoch": 2, "big": torch.zeros(3),
                "args": argparse.Namespace(model="resnet18")}, tmp_path / "b.pt")
    content = format_of(tmp_path / "b.pt").read(tmp_path / "b.pt")
    assert set(content.records) == {"step", "epoch", "args"} and content.records["args"] == {"model": "resnet18"}
    assert int(content.records["step"]) == 7 and not content.unpickled


class NumpyFormat(CheckpointFormat):
    """A format the project does not have: numpy .npz archives of weights."""

    name = "numpy"
    suffixes = (".npz",)

    def read(self, path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
        with np.load(path) as data:
            weights = {k: torch.from_numpy(data[k]) for k in data.files if not k.startswith("meta_")}
            records = {k[5:]: data[k].item() for k in data.files if k.startswith("meta_")}
        return CheckpointContent(path, self, weights if tensors else {}, records)


def test_a_new_format_is_one_class_in_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, NumpyFormat()))
    for step in (20, 10):
        np.savez(tmp_path / f"w{step}.npz", w=np.zeros(3, np.float32), meta_step=np.array(step))
    found = discover(tmp_path)
    assert [(c.name, c.step) for c in found] == [("w10.npz", 10), ("w20.npz", 20)]
    assert short_name("w10.npz") == "w10"


class _Counter:
    """Unpickling this appends a line to a file: how many times a payload ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.system, (f"echo ran >> {self.path}",))


def _corrupt(tmp_path: Path) -> dict[str, bytes]:
    good = tmp_path / "good.pt"
    torch.save({"state_dict": {"w": torch.randn(20, 20)}, "epoch": 1}, good)
    zipped = good.read_bytes()
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.randn(20, 20)}}, buffer, _use_new_zipfile_serialization=False)
    legacy = buffer.getvalue()
    rng = np.random.default_rng(0)
    return {"random bytes": rng.bytes(3000), "text": b"hello\n" * 50, "truncated zip": zipped[: len(zipped) // 2],
            "truncated legacy": legacy[: len(legacy) // 2], "legacy with random tail": legacy[:100] + rng.bytes(400)}


@pytest.mark.parametrize("trust", [False, True])
def test_corrupt_torch_files_say_so_and_never_advise_trust(tmp_path: Path, trust: bool) -> None:
    for what, data in _corrupt(tmp_path).items():
        path = tmp_path / "broken.pt"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no full unpickling is tried, so no warning
            with pytest.raises(CheckpointError) as caught:
                format_of(path).read(path, trust=trust)
        message = str(caught.value)
        assert message.startswith(f"{path}: not a readable torch checkpoint, truncated or corrupt"), (what, message)
        assert "--trust-checkpoints" not in message and "\n" not in message, what
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: empty file \(0 bytes\)"):
        format_of(tmp_path / "empty.pt").read(tmp_path / "empty.pt", trust=trust)


def test_a_file_that_cannot_be_opened_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(formats, "open", denied, raising=False)
    with pytest.raises(CheckpointError, match=r"locked\.safetensors: cannot be read \(Permission denied\)"):
        format_of(path).read(path)


def test_trust_unpickles_only_what_safe_loading_refused_and_each_file_once(tmp_path: Path) -> None:
    counter = tmp_path / "runs.txt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0}, tmp_path / "a.pt")
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 1, "payload": _Counter(counter)}, tmp_path / "b.pt")
    with pytest.warns(EntkProbeWarning, match=r"b\.pt: loaded with full unpickling") as caught:
        found = discover(tmp_path, trust=True)
        contents = [format_of(c.path).read(c.path, trust=True) for c in found]
    assert [c.unpickled for c in found] == [False, True] and [c.unpickled for c in contents] == [False, True]
    assert counter.read_text().count("ran") == 1  # discovery and the full read: the payload ran once
    assert len([w for w in caught if "full unpickling" in str(w.message)]) == 1


# ------------------------------------------------------------------ fuzzing (hypothesis)

import argparse as _argparse  # noqa: E402
import tempfile  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from entk_probe.runs.checkpoints import read_checkpoint, sha256_of  # noqa: E402
from entk_probe.runs.loading import read_content  # noqa: E402


def _originals(folder: Path) -> dict[str, bytes]:
    weights = {"conv.weight": torch.randn(4, 3, 3, 3), "fc.weight": torch.randn(5, 4), "fc.bias": torch.zeros(5)}
    plain = folder / "plain.pth"
    torch.save({"state_dict": weights, "epoch": 3}, plain)
    with_args = folder / "args.pth.tar"  # an argparse.Namespace: safe loading refuses it, --trust reads it
    torch.save({"state_dict": weights, "epoch": 3, "args": _argparse.Namespace(model="resnet18")}, with_args)
    st_file = folder / "w.safetensors"
    save_file(weights, str(st_file), metadata={"epoch": "3", "arch": "resnet18"})
    return {p.name: p.read_bytes() for p in (plain, with_args, st_file)}


with tempfile.TemporaryDirectory() as _tmp:
    ORIGINALS = _originals(Path(_tmp))

MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0, exclude_max=True)),
    st.tuples(st.just("flip"), st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("random"), st.binary(min_size=0, max_size=64)),
)


def _mutated(data: bytes, mutation: tuple) -> bytes:
    if mutation[0] == "truncate":
        return data[: int(mutation[1] * len(data))]
    if mutation[0] == "flip":
        i = int(mutation[1] * len(data))
        return data[:i] + bytes([data[i] ^ (1 << mutation[2])]) + data[i + 1 :]
    return mutation[1]


@given(name=st.sampled_from(sorted(ORIGINALS)), mutation=MUTATIONS, trust=st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_damaged_checkpoint_is_read_or_is_one_line_naming_it(name: str, mutation: tuple, trust: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / name
        path.write_bytes(_mutated(ORIGINALS[name], mutation))
        formats._UNPICKLED.clear()
        for read in (lambda: read_checkpoint(path, Path(tmp), trust=trust), lambda: read_content(path, trust=trust)):
            try:
                read()
            except CheckpointError as exc:
                message = str(exc)
                assert str(path) in message and "\n" not in message
                if "--trust-checkpoints" in message:  # advice to trust only for a refusal, never once trusted
                    assert not trust and "refuses" in message
            # any other exception type fails the test: it would be a traceback for the user


def test_a_silent_bit_flip_in_safetensors_data_changes_the_recorded_sha256(tmp_path: Path) -> None:
    data = bytearray(ORIGINALS["w.safetensors"])
    header = 8 + int.from_bytes(data[:8], "little")
    data[header + 5] ^= 0x10  # inside the first tensor's bytes: the format has no checksum to notice
    original, flipped = tmp_path / "a" / "w.safetensors", tmp_path / "b" / "w.safetensors"
    for path, content in ((original, ORIGINALS["w.safetensors"]), (flipped, bytes(data))):
        path.parent.mkdir()
        path.write_bytes(content)
    a, b = (read_checkpoint(p, p.parent) for p in (original, flipped))
    assert a is not None and b is not None and a.epoch == b.epoch == 3.0  # both read without complaint
    assert a.sha256 == sha256_of(original) != b.sha256 == sha256_of(flipped)  # the report's sha256 tells them apart


# Hugging Face sharded saves: one checkpoint read from every shard.

from safetensors.torch import load_file  # noqa: E402

from entk_probe.runs.hflayout import shard_paths  # noqa: E402

from ..textdata import needs_sst2, needs_text  # noqa: E402


@needs_sst2
@needs_text
def test_a_sharded_save_reads_as_the_unsharded_file(sharded_run: Path, bert_run: Path) -> None:
    index = sharded_run / "checkpoint-40" / "model.safetensors.index.json"
    reference = load_file(str(bert_run / "checkpoint-40" / "model.safetensors"))
    content = format_of(index).read(index)  # type: ignore[union-attr]
    assert len(shard_paths(index)) > 2 and content.format.name == "sharded"
    assert set(content.content) == set(reference) and all(torch.equal(content.content[k], v) for k, v in reference.items())
    assert content.records == {"format": "pt"}  # what save_pretrained writes in every shard's metadata
    assert format_of(index).read(index, tensors=False).content == {}  # type: ignore[union-attr]


def _torch_shards(folder: Path, weights: dict[str, torch.Tensor], weight_map: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for shard in set(weight_map.values()):
        torch.save({k: v for k, v in weights.items() if weight_map[k] == shard}, folder / shard)
    index = folder / "pytorch_model.bin.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return index


def test_older_transformers_sharded_torch_files_and_a_tensor_missing_from_its_shard(tmp_path: Path) -> None:
    weights = {"a": torch.randn(3), "b": torch.randn(2, 2), "c": torch.randn(4)}
    first, second = "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"
    index = _torch_shards(tmp_path / "checkpoint-7", weights, {"a": first, "b": first, "c": second})
    found = discover(tmp_path)  # the shards are parts of one checkpoint, not checkpoints
    assert [(c.name, c.step) for c in found] == [("checkpoint-7", 7)]
    content = read_content(index)
    assert set(content.content) == set(weights) and all(torch.equal(content.content[k], v) for k, v in weights.items())
    index.write_text(json.dumps({"weight_map": {"a": first, "b": first, "c": second, "d": second, "e": first}}))
    with pytest.raises(CheckpointError, match=f"d is not in {second}, the shard its index names \\(1 more tensors"):
        read_content(index)
