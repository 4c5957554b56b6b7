"""The numba kernels of ``explainers._compiled`` against plain numpy."""

from __future__ import annotations

import numpy as np

from explainops.explainers._compiled import fill_hybrid_rows, odd_power_game


def test_hybrid_rows_are_chosen_bit_for_bit_nan_and_infinities_included() -> None:
    # given samples and background rows holding NaN, infinities and signed zeros, and masks
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(4, 7))
    background = rng.normal(size=(3, 7))
    samples[0, 0], samples[1, 3], samples[2, 5] = np.nan, np.inf, -0.0
    background[0, 1], background[1, 0], background[2, 6] = np.nan, -np.inf, -0.0
    masks = rng.random((5, 7)) < 0.5
    pairs = np.arange(3, 17)  # a run of (sample, coalition) pairs, not starting at 0
    rows = np.empty((pairs.shape[0], 3, 7))
    # when the kernel fills them
    fill_hybrid_rows(rows, samples, background, masks, int(pairs[0]))
    # then each row is numpy's choice of the sample's or the background row's value, bit for bit
    expected = np.where(
        masks[pairs % 5][:, None, :], samples[pairs // 5][:, None, :], background[None, :, :]
    )
    assert rows.view(np.uint64).tobytes() == expected.view(np.uint64).tobytes(), (
        "the same 64-bit patterns: NaN stays NaN, -0.0 stays -0.0, nothing is computed"
    )


def test_the_odd_power_game_is_its_two_powers_combined() -> None:
    # given centred indices at a few coalitions, each row's shift and its two coefficients
    rng = np.random.default_rng(1)
    index = rng.normal(size=(4, 9))
    shift = rng.normal(size=4)
    coefficients = rng.normal(size=(4, 2))
    expected = coefficients[:, :1] * (index**3 - shift[:, None] ** 3) + coefficients[:, 1:] * (
        index**5 - shift[:, None] ** 5
    )
    # when the kernel combines them in place
    odd_power_game(index, shift, coefficients)
    # then each is a_0 (u^3 - s^3) + a_1 (u^5 - s^5) (to rounding: products in another order)
    np.testing.assert_allclose(index, expected, rtol=1e-12, atol=1e-12)
