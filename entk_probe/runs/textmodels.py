"""Language models of Hugging Face runs: found from the checkpoint folders, built offline from config.json.

A checkpoint folder with a ``config.json`` naming a transformers model (``model_type``,
``architectures``) is a text run; one with ``adapter_config.json`` is a PEFT adapter of a base
model in a local folder (``--base-model DIR``, else the adapter's ``base_model_name_or_path``
where that is a folder). The class is ``architectures[0]`` (or ``--arch``), built from the
config with random weights, then loaded with each checkpoint's weights: nothing is downloaded.
The tokenizer is the one saved beside the checkpoints (or the run, or the base model), else
``--tokenizer DIR``.

The network the engine sees (``textcall``) takes packed token inputs (``probes.tokens``) and
returns (batch, classes) logits: a sequence classifier's logits, or a causal or masked LM's
logits of the label words at the prediction position.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError, UsageError
from .checkpoints import Checkpoint
from .hflayout import adapter_config, json_object, read_adapter_config
from .textcall import model_kind

TEXT_EXTRA = "pip install 'entk-probe[text]'"
CONFIG = "config.json"
TOKENIZER_MARKERS = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")


def import_transformers() -> Any:
    """The transformers module, or a UsageError naming the extra to install."""
    try:
        import transformers
    except ImportError:
        raise UsageError(f"this run is a Hugging Face model, which needs the text extra: {TEXT_EXTRA}") from None
    transformers.logging.set_verbosity_error()  # its notices about configs are not the report's
    return transformers


@dataclass(frozen=True)
class TextRun:
    """Where a Hugging Face run's model, adapter and tokenizer are."""

    config_dir: Path  # the folder of the (base) model's config.json
    config: dict[str, Any]
    arch: str
    arch_source: str
    adapter: dict[str, Any] | None = None  # adapter_config.json of a PEFT run
    base_dir: Path | None = None  # the base model's folder (PEFT runs)
    base_source: str = ""
    tokenizer_dir: Path | None = None
    tokenizer_source: str = "the run"

    @property
    def kind(self) -> str:
        """"classifier" (logits per class), "causal-lm" or "masked-lm" (label words' logits)."""
        return model_kind(self.arch)

    @property
    def identity(self) -> str:
        """sha256 of the config and the adapter's config (and the base model's weights' names), for the cache key."""
        text = json.dumps([self.config, self.adapter, str(self.base_dir or "")], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _hf_config(folder: Path) -> dict[str, Any] | None:
    path = folder / CONFIG
    if not path.is_file():
        return None
    data = json_object(path, "transformers' save_pretrained")
    return data if "model_type" in data else None


def _base_folder(adapter: dict[str, Any], where: Path, base_model: Path | None) -> tuple[Path, str]:
    if base_model is not None:
        if _hf_config(Path(base_model)) is None:
            raise UsageError(f"--base-model {base_model}: no Hugging Face config.json there (save the base model "
                             "with save_pretrained)")
        return Path(base_model), "--base-model"
    named = str(adapter.get("base_model_name_or_path") or "")
    candidates = [Path(named).expanduser(), where.parent / named] if named else []
    for folder in candidates:
        if folder.is_dir() and _hf_config(folder) is not None:
            return folder, f"{where / 'adapter_config.json'} base_model_name_or_path"
    raise UsageError(f"{where}: a PEFT adapter of {named or 'an unnamed base model'}, which is not a local folder "
                     "with a config.json: pass --base-model DIR (nothing is downloaded)")


def _tokenizer(folders: list[Path], given: Path | None) -> tuple[Path | None, str]:
    if given is not None:
        return Path(given), "--tokenizer"
    for folder in folders:
        if any((folder / marker).is_file() for marker in TOKENIZER_MARKERS):
            return folder, f"the tokenizer saved in {folder}"
    return None, "the run (no tokenizer is saved with it)"


def text_run(ckpt: Checkpoint, run_dir: Path, *, arch: str | None = None, base_model: Path | None = None,
             tokenizer: Path | None = None) -> TextRun | None:
    """The Hugging Face model behind ``ckpt``, or None when it is not one (a timm or plugin run)."""
    folder = ckpt.path.parent
    adapter_path = adapter_config(ckpt.path)
    adapter = read_adapter_config(adapter_path) if adapter_path is not None else None
    base_dir, base_source = (None, "")
    if adapter is not None:
        base_dir, base_source = _base_folder(adapter, folder, base_model)
        config_dir = base_dir
    else:
        config_dir = next((f for f in (folder, run_dir) if _hf_config(f) is not None), None)  # type: ignore[assignment]
        if config_dir is None:
            return None
    config = _hf_config(config_dir)
    assert config is not None
    names = config.get("architectures") or []
    if arch is None and not (isinstance(names, list) and names and isinstance(names[0], str)):
        raise UsageError(f"{config_dir / CONFIG} names no architectures: pass --arch, e.g. BertForSequenceClassification")
    chosen, source = (arch, "--arch") if arch else (names[0], f"{config_dir / CONFIG} architectures")
    tok_dir, tok_source = _tokenizer([f for f in (folder, run_dir, base_dir) if f is not None], tokenizer)
    return TextRun(config_dir, config, chosen, source, adapter, base_dir, base_source, tok_dir, tok_source)


def build_text_model(run: TextRun) -> Any:
    """A fresh model of ``run`` (random weights; the base model's weights loaded under an adapter), in eval mode."""
    transformers = import_transformers()
    cls = getattr(transformers, run.arch, None)
    if cls is None or not hasattr(cls, "config_class"):
        raise ModelError(f"transformers {transformers.__version__} has no model class {run.arch!r} "
                         f"({run.arch_source}): pass --arch with one it has")
    try:
        config = transformers.AutoConfig.from_pretrained(str(run.config_dir), local_files_only=True)
        config._attn_implementation = "eager"  # plain matmul and softmax: forward-mode AD (switch's linearisation) needs it
        model = cls(config)
    except Exception as exc:  # a config transformers cannot read, or a class that does not take it
        raise ModelError(f"building {run.arch} from {run.config_dir / CONFIG} failed: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    if run.adapter is not None:
        with warnings.catch_warnings():  # peft's use of transformers' deprecated names is not the user's to fix
            warnings.simplefilter("ignore", FutureWarning)
            model = _with_adapter(model, run)
    return model.eval()


def _with_adapter(model: Any, run: TextRun) -> Any:
    """``model`` with the base weights of ``run.base_dir`` and an untrained PEFT adapter of ``run.adapter``."""
    from .hfweights import load_hf_weights, read_folder_weights

    try:
        import peft
    except ImportError:
        raise UsageError(f"this run is a PEFT adapter, which needs the text extra: {TEXT_EXTRA}") from None
    assert run.base_dir is not None
    load_hf_weights(model, read_folder_weights(run.base_dir), where=str(run.base_dir))
    # Saved adapters say inference_mode true, which freezes them; the kernel is over what was trained.
    config = {k: v for k, v in (run.adapter or {}).items() if k != "base_model_name_or_path"} | {"inference_mode": False}
    try:
        peft_config = peft.PeftConfig.from_peft_type(**config)
        return peft.get_peft_model(model, peft_config)
    except Exception as exc:  # an adapter config this peft cannot use
        raise ModelError(f"the PEFT adapter ({run.base_source or 'adapter_config.json'}) cannot be applied to "
                         f"{run.arch}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
