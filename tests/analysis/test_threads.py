"""The analysis runs its small linear algebra on one thread and gives the caller's count back."""

from __future__ import annotations

import pytest
import torch

from entk_probe.analysis.threads import SINGLE_THREAD_MAX_N, analysis_threads


@pytest.mark.parametrize(("n", "inside"), [(100, 1), (SINGLE_THREAD_MAX_N + 1, None)])
def test_threads_inside_and_after(n: int, inside: int | None) -> None:
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with analysis_threads(n):
            assert torch.get_num_threads() == (inside or 2)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError), analysis_threads(n):
            raise ValueError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
