"""How many CPU threads the small dense linear algebra of the analysis runs on.

Eigendecompositions and subspace angles of (N, N) kernels are small next to a kernel: on two
cores a 500 x 500 eigh takes 14-23 ms either way, but with torch's threads competing with another
busy process a 100 x 100 eigh took 0.4 s on two threads against under 1 ms on one (issue 10),
and a 2000 x 2000 one 1.9 s against 1.2 s. One thread is never much slower below
``SINGLE_THREAD_MAX_N`` and is much faster on a loaded machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

SINGLE_THREAD_MAX_N = 2048


@contextmanager
def analysis_threads(n: int) -> Iterator[None]:
    """Run torch on one thread inside the block when matrices are at most ``SINGLE_THREAD_MAX_N`` wide."""
    if n > SINGLE_THREAD_MAX_N:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
