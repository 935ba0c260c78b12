"""Test-wide settings: a fixed seed, hypothesis's examples fixed too, and CUDA-marked tests skipped
with a reason on CPU machines.

Property tests draw the same examples on every run (the "default" profile), so CI cannot fail by
chance; ``HYPOTHESIS_PROFILE=explore pytest tests/...`` draws new ones to hunt for bugs,
and any failure it finds belongs in the test as an ``@example``.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _private_kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Kernels the tests compute never land in (or come from) the user's cache."""
    os.environ["ENTK_PROBE_CACHE"] = str(tmp_path_factory.mktemp("kernel-cache"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; this machine has none (the CPU path is tested)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
