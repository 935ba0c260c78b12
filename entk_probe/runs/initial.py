"""The initial model of a run timm's train.py made, rebuilt from the seed it recorded.

timm's train.py saves no initial checkpoint. It seeds every generator with ``utils.random_seed(
args.seed, args.rank)`` (Python's, numpy's and torch's, with seed + rank; under DDP every rank's
model takes rank 0's parameters) and creates the model right after, before anything else draws a
random number. Seeding with that same function (rank 0) and building the same architecture with
the same factory arguments gives the same parameters, provided the timm and torch versions
initialise as the training's did (the header and the JSON name both). A run that started from
pretrained weights or from an initial checkpoint cannot be rebuilt so.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from timm.utils import random_seed

from ..atomic import write_atomically
from ..errors import UsageError
from .checkpoints import Checkpoint, read_checkpoint
from .models import ModelSpec, build_model
from .records import Records

INIT_NAME = "init (seed {seed})"


def initial_state(spec: ModelSpec, records: Records) -> tuple[dict[str, torch.Tensor], int]:
    """The parameters and buffers timm's train.py started from, and the seed they came from."""
    found = records.get("seed")
    if found is None:
        raise UsageError("--init seed needs the run's seed, and neither the checkpoints' args nor args.yaml record one")
    if spec.origin != "timm":
        raise UsageError(f"--init seed rebuilds timm train.py's initial model; {spec.arch} comes from {spec.origin}")
    for key in ("pretrained", "initial_checkpoint", "resume"):
        value = records.get(key)
        if value is not None and value[0] not in (False, "", 0):
            raise UsageError(f"--init seed cannot rebuild this run's initial model: it started from {key}={value[0]!r} "
                             f"({value[1]})")
    random_seed(int(found[0]), 0)  # train.py's own seeding: Python, numpy and torch at seed + rank
    model = build_model(spec)
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, int(found[0])


def initial_checkpoint(spec: ModelSpec, records: Records, folder: Path) -> Checkpoint:
    """The rebuilt initial model as a checkpoint at epoch 0 (timm's checkpoints record no step),
    written as a safetensors file in ``folder``."""
    state, seed = initial_state(spec, records)
    versions = f"timm{timm.__version__}-torch{torch.__version__.split('+')[0]}"
    kwargs = hashlib.sha256(repr(sorted(spec.kwargs.items())).encode()).hexdigest()[:12]
    # No metadata: safetensors writes metadata in a varying order, and the file's sha256 keys the
    # kernel cache; what the file is, its name says.
    path = folder / f"{spec.arch}-{kwargs}-seed{seed}-{versions}.safetensors"
    write_atomically(path, lambda tmp: save_file(state, str(tmp)))
    ckpt = read_checkpoint(path, folder)
    assert ckpt is not None
    return replace(ckpt, name=INIT_NAME.format(seed=seed), step=None, epoch=0.0, args={}, rebuilt=True)
