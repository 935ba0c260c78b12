"""The phase rule of an earlier checkout on issue 20's saved kernels, for the before/after table.

    git worktree add /tmp/oldrule e55009d   # schema 1.4: the speed boundary
    python docs/experiments/old_rule_on_runs.py --checkout /tmp/oldrule r20cos_s cnx_oc_s ...

Reads the kernels ``issue20_runs.sh`` saved (the same three probe samples as
``boundary_evidence.py``), computes their centred angles with numpy and classifies them with
``entk_probe.analysis.phases.classify`` imported from ``--checkout``. Prints a markdown table:
boundary (rule) and verdict on each probe sample.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

import numpy as np

KERNELS = Path(os.environ.get("KERNELS", "/tmp/entk-kernels"))


def centred_angles(kernels: np.ndarray) -> np.ndarray:
    """(T, T) degrees between the centred (T, n, n) kernels."""
    k = kernels - kernels.mean(1, keepdims=True)
    k = k - k.mean(2, keepdims=True)
    u = k.reshape(len(k), -1)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip(u @ u.T, -1.0, 1.0)))


def probe_samples(name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernels (T, n, n), times) of the run's three probe samples, as boundary_evidence.py takes them."""
    whole = KERNELS / f"{name}.npz"
    if whole.exists():
        z = np.load(whole)
        parts: list[list[int]] = [[], [], []]
        for c in np.unique(z["labels"]):
            for p, chunk in enumerate(np.array_split(np.flatnonzero(z["labels"] == c), 3)):
                parts[p].extend(int(i) for i in chunk)
        return [(z["kernels"][:, np.sort(idx)][:, :, np.sort(idx)], z["times"]) for idx in parts]
    return [(np.load(p)["kernels"], np.load(p)["times"]) for p in sorted(KERNELS.glob(f"{name}_s[0-9].npz"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, required=True)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    sys.path.insert(0, str(args.checkout))
    phases = importlib.import_module("entk_probe.analysis.phases")
    print("| run | probe sample 1 | probe sample 2 | probe sample 3 |\n| --- | --- | --- | --- |")
    for name in args.runs:
        cells = []
        for kernels, times in probe_samples(name):
            r = phases.classify(centred_angles(kernels), list(times))
            at = "—" if r.boundary is None else f"{times[r.boundary]:.3g}"
            cells.append(f"{at} ({r.boundary_rule}) {r.verdict}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
