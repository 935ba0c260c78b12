"""The run's own data as the probe: ``run:validation[:N]`` and ``run:train[:N]``.

timm's train.py records where its data was (args.yaml: ``data_dir``, ``dataset``, ``val_split``,
``train_split``). ``dataset`` empty or ``folder`` means image folders, ``data_dir/<split>`` (as
timm looks for them); ``torch/cifar10``, ``torch/cifar100``, ``torch/mnist`` and
``torch/fashion_mnist`` mean those datasets under ``data_dir`` (validation is their test split).
The spec becomes an ordinary one (``imagefolder:...``, ``cifar10:...,split=test``), said in a notice.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ..errors import UsageError, warn
from ..runs.records import RUN_ARGS_FILE, read_run_args
from .options import AnalyzeOptions

RUN_SPEC = re.compile(r"run:(?P<split>validation|val|train)(?::(?P<n>[0-9]+))?(?P<options>(?:,[^,]+)*)")
TORCH_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "mnist": "mnist", "fashion_mnist": "fashion-mnist",
                  "fashionmnist": "fashion-mnist"}
FOLDER_SPLITS = {"validation": ("validation", "val", "valid", "test"), "train": ("train", "training")}


def _folder(data_dir: Path, recorded: str | None, split: str) -> Path:
    names = ((recorded,) if recorded else ()) + FOLDER_SPLITS[split]
    for name in names:
        if (data_dir / name).is_dir():
            return data_dir / name
    raise UsageError(f"--probe run:{split}: no folder {' or '.join(str(data_dir / n) for n in dict.fromkeys(names))} "
                     f"(args.yaml data_dir); pass --probe with the folder's path")


def resolve_run_probe(spec: str, run_dir: Path, options: AnalyzeOptions) -> tuple[str, AnalyzeOptions]:
    """``spec`` as an ordinary probe spec, with the data root it needs; other specs unchanged."""
    if not spec.strip().lower().startswith("run:"):
        return spec, options
    m = RUN_SPEC.fullmatch(spec.strip())
    if m is None:
        raise UsageError(f"cannot read probe spec {spec!r}: the run's own data is run:validation[:N] or run:train[:N]")
    split = "train" if m["split"] == "train" else "validation"
    args = read_run_args(run_dir)
    if not args.get("data_dir"):
        raise UsageError(f"--probe {spec}: {run_dir / RUN_ARGS_FILE} records no data_dir; pass --probe with the data's "
                         "folder or a dataset (cifar10:500)")
    data_dir = Path(str(args["data_dir"])).expanduser()
    dataset = str(args.get("dataset") or "").lower()
    count, extra = (f":{m['n']}" if m["n"] else ""), m["options"] or ""
    if dataset in ("", "folder", "imagefolder"):
        recorded = args.get("val_split" if split == "validation" else "train_split")
        resolved = f"imagefolder:{_folder(data_dir, recorded, split)}{count}{extra}"
    elif dataset.split("/", 1)[-1] in TORCH_DATASETS and dataset.startswith(("torch/", "tfds/", "hfds/")):
        name = TORCH_DATASETS[dataset.split("/", 1)[1]]
        resolved = f"{name}{count},split={'test' if split == 'validation' else 'train'}{extra}"
        options = dataclasses.replace(options, data_root=options.data_root or data_dir)
    else:
        raise UsageError(f"--probe {spec}: the run's dataset {dataset!r} (args.yaml) is not one entk-probe reads; pass "
                         "--probe with a folder of its images or a dataset spec")
    warn(f"--probe {spec} is {resolved} (args.yaml data_dir {data_dir}, dataset {dataset or 'folder'})", code="run-probe")
    return resolved, options
