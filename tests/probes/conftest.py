"""Fixtures of the probe tests: one small WordPiece tokenizer trained on real SST-2 per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..textdata import SST2, train_tokenizer


@pytest.fixture(scope="session")
def sst2_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tokenizer trained on SST-2's training sentences (transformers' layout)."""
    if not (SST2 / "train.tsv").is_file():
        pytest.skip(f"real SST-2 is not at {SST2} (see ../shared/data/README.md)")
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))
