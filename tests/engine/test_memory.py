"""Memory sizes: parsing, formatting, the default budget."""

from __future__ import annotations

import pytest
import torch

from entk_probe.errors import UsageError
from entk_probe.engine.memory import available_memory, default_budget, format_bytes, parse_bytes


@pytest.mark.parametrize(
    "text,expected",
    [
        (1024, 1024),
        ("1024", 1024),
        ("1e9", 10**9),
        ("2GB", 2 * 10**9),
        ("2gb", 2 * 10**9),
        ("1.5 GiB", int(1.5 * 2**30)),
        ("512MiB", 512 * 2**20),
        ("64k", 64_000),
        ("3KiB", 3072),
    ],
)
def test_sizes_parse(text: object, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "12 parsecs", "-1GB", "0", "nan", True])
def test_bad_sizes_are_usage_errors_that_show_the_value(text: object) -> None:
    with pytest.raises(UsageError):
        parse_bytes(text)


def test_format_bytes() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 2**30) == "3.0 GiB"


def test_default_budget_is_half_of_what_is_free() -> None:
    cpu = torch.device("cpu")
    free = available_memory(cpu)
    with open("/proc/meminfo") as fh:
        meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
    assert abs(free - meminfo["MemAvailable"]) < 0.1 * meminfo["MemTotal"]
    assert 0.4 * free < default_budget(cpu) < 0.6 * free


def test_allocation_failures_are_recognised() -> None:
    from entk_probe.engine.memory import is_out_of_memory

    try:
        torch.empty(2**62, dtype=torch.uint8)
    except RuntimeError as exc:
        assert is_out_of_memory(exc)
    else:
        pytest.fail("allocating 4 EiB did not fail")
    assert not is_out_of_memory(RuntimeError("vmap: It looks like you're calling .item() on a Tensor"))
