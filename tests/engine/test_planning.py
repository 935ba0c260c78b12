"""The memory planner: groups cover every parameter element once and respect the budget."""

from __future__ import annotations

import pytest

from entk_probe.errors import MemoryBudgetError
from entk_probe.engine.planning import JACOBIAN_COPIES, MIN_CHUNK, make_plan

SIZES = [("a.weight", 5000), ("a.bias", 50), ("b.weight", 40000), ("b.bias", 80), ("c.weight", 800)]


def _plan(budget: int, **kw: object):
    args = dict(num_samples=20, num_classes=10, jacobian_rows=10, gram_rows=20, itemsize=4,
                activation_bytes=2000, budget=budget)
    args.update(kw)
    return make_plan(SIZES, **args)


def _covered(plan) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for group in plan.groups:
        for piece in group.pieces:
            spans.setdefault(piece.name, []).append((piece.start, piece.stop))
    return spans


def test_a_large_budget_holds_the_whole_jacobian_in_one_group() -> None:
    plan = _plan(10**9)
    assert plan.holds_full_jacobian
    assert plan.groups[0].chunk_size == MIN_CHUNK  # a quarter of 20 samples, but at least 16
    assert _plan(10**9, num_samples=200, gram_rows=200).groups[0].chunk_size == 50
    assert plan.num_params == sum(n for _, n in SIZES)


@pytest.mark.parametrize("budget", [20_000_000, 12_000_000, 8_000_000])
def test_small_budgets_split_parameters_and_keep_every_element_once(budget: int) -> None:
    plan = _plan(budget)
    assert len(plan.groups) > 1
    spans = _covered(plan)
    assert list(spans) == [name for name, _ in SIZES], "groups keep the model's parameter order"
    for name, numel in SIZES:
        ranges = sorted(spans[name])
        assert ranges[0][0] == 0 and ranges[-1][1] == numel
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), f"{name}: gap or overlap"
    for group in plan.groups:
        store = 20 * 10 * group.size * 4
        slab = 20 * group.slab_columns * 8
        work = group.chunk_size * (JACOBIAN_COPIES * 10 * group.tensor_elements * 4 + 12 * 2000 * 3)
        assert store + slab + work <= budget
        assert group.chunk_size >= 1


def test_a_parameter_larger_than_a_group_is_split_into_column_ranges() -> None:
    plan = _plan(8_000_000)
    b_pieces = _covered(plan)["b.weight"]
    assert len(b_pieces) > 1


def test_chunk_size_override_is_used() -> None:
    plan = _plan(10**9, chunk_size=3)
    assert [g.chunk_size for g in plan.groups] == [3]
    assert plan.num_chunks == 7  # ceil(20 / 3)


def test_float64_needs_no_slab_copies() -> None:
    plan = _plan(10**9, itemsize=8)
    assert plan.groups[0].slab_columns == 10 * sum(n for _, n in SIZES)  # trace: C·P columns


def test_too_small_a_budget_is_a_clear_error() -> None:
    with pytest.raises(MemoryBudgetError, match="b.weight"):
        _plan(2_000_000)
