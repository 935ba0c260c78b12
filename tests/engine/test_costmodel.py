"""The cost model: hand-counted work on a tiny layer, the choices it implies, and its memory limits."""

from __future__ import annotations

from entk_probe.engine.costmodel import per_sample_cost, structured_cost
from entk_probe.engine.layers import Geometry


def test_work_of_a_tiny_linear_layer_counted_by_hand() -> None:
    # Linear 3 -> 2 with bias (I = 4 patch features), one position; N = 4 samples, R = 2 rows, trace mode.
    geo = Geometry(groups=1, positions=1, in_features=4, out_features=2)
    per_sample = per_sample_cost(geo, 4, 2, False, 8, 2**30)
    # Forming: N·R·T·O·I = 4·2·1·2·4 = 64 multiply-adds; Gram of 4 rows of R·P = 16 columns, one
    # block (the whole triangle computed): 4·4·16 = 256; 2 flops each.
    assert per_sample is not None and per_sample.flops == 2 * (64 + 256)
    structured = structured_cost(geo, 4, 2, False, 8, 2**30)
    # One block of all 4 samples: 16 (sample, position) pairs; A: 16·I = 64, B: 16·R·O = 64, combine: 16.
    assert structured is not None and structured.flops == 2 * (64 + 64) + 16


def test_wide_layers_with_few_positions_are_structured_and_wide_images_per_sample() -> None:
    wide = Geometry(1, 1, 4097, 4096)  # the 3072-4096 MLP's kind of layer
    assert structured_cost(wide, 64, 10, False, 4, 2**30).weight < per_sample_cost(wide, 64, 10, False, 4, 2**30).weight / 100
    image = Geometry(1, 1024, 28, 64)  # a first convolution at 32x32
    assert per_sample_cost(image, 100, 10, True, 4, 2**30).weight < structured_cost(image, 100, 10, True, 4, 2**30).weight


def test_memory_slices_output_channels_and_blocks_and_refuses_what_cannot_fit() -> None:
    geo = Geometry(1, 16, 1153, 128)
    roomy = per_sample_cost(geo, 500, 10, False, 4, 2**34)
    tight = per_sample_cost(geo, 500, 10, False, 4, 256 * 2**20)
    assert roomy is not None and roomy.out_slab == 0
    assert tight is not None and 0 < tight.out_slab < 128 and tight.working_bytes <= 256 * 2**20
    assert tight.flops == roomy.flops  # slicing changes memory, not work
    assert per_sample_cost(geo, 500, 10, False, 4, 2**20) is None
    small = structured_cost(geo, 500, 10, False, 8, 64 * 2**20)
    assert small is not None and small.block < structured_cost(geo, 500, 10, False, 8, 2**34).block
    assert small.working_bytes <= 64 * 2**20
    assert structured_cost(geo, 500, 10, False, 8, 2**16) is None
