"""The cost model: each path's formula, and the table of what tune fits."""
import math

import pytest

from deconv import _cost

PROFILE = _cost.DEFAULT_PROFILE


def test_direct_formulas():
    work = _cost.DirectWork(padded_madds=8e9, tile_taps=1_000_000, units=6)
    rate = PROFILE["direct_madds_per_thread"]["avx512"]["4"]
    per_thread = 8e9 / rate + 1_000_000 * PROFILE["direct_tile_tap_s"]
    assert math.isclose(_cost.direct_seconds("wide", work, 4, 2, PROFILE, "avx512"),
                        PROFILE["direct_overhead_s"] + per_thread / 2)
    # no more threads than units of work
    assert math.isclose(_cost.direct_seconds("wide", work, 4, 64, PROFILE, "avx512"),
                        PROFILE["direct_overhead_s"] + per_thread / 6)
    narrow = work._replace(group=8)
    narrow_rate = PROFILE["direct_narrow_madds_per_thread"]["avx2"]["8"] * \
        PROFILE["direct_narrow_group8_speedup"]
    assert math.isclose(_cost.direct_seconds("narrow", narrow, 8, 1, PROFILE, "avx2"),
                        PROFILE["direct_overhead_s"] + 8e9 / narrow_rate
                        + 1_000_000 * PROFILE["direct_tile_tap_s"])
    small = _cost.DirectWork(padded_madds=30_000, tile_taps=0, units=1)
    assert math.isclose(_cost.direct_seconds("small", small, 4, 2, PROFILE, "avx512"),
                        PROFILE["direct_small_overhead_s"]
                        + 30_000 / PROFILE["direct_small_madds_per_s"])
    assert _cost.direct_minimum_seconds(True, PROFILE) == PROFILE["direct_small_overhead_s"]
    assert _cost.direct_minimum_seconds(False, PROFILE) == PROFILE["direct_overhead_s"]


def test_fft_formula():
    work = _cost.FFTWork(phases=4, transform_flops=3e9, complex_madds=2e9)
    expected = (PROFILE["fft_overhead_s"] + 4 * PROFILE["fft_phase_overhead_s"]
                + 3e9 / (2 * PROFILE["fft_flops_per_thread"])
                + 2e9 / (2 * PROFILE["fft_contraction_per_thread"]))
    assert math.isclose(_cost.fft_seconds(work, 2, PROFILE), expected)
    assert _cost.fft_minimum_seconds(PROFILE) <= _cost.fft_seconds(work, 64, PROFILE)


def test_reference_formula():
    work = _cost.ReferenceWork(taps=9, row_products=90, madds=1e6, output_channels=2)
    expected = (9 * PROFILE["reference_overhead_s"] + 90 * PROFILE["reference_row_product_s"]
                + 1e6 * 4 / PROFILE["reference_madds_per_s"])
    assert math.isclose(_cost.reference_seconds(work, PROFILE), expected)


def test_every_calibration_path_fits_existing_constants():
    paths = {layer.path for layer in _cost.CALIBRATION}
    assert paths == set(_cost.TUNED_CONSTANTS)
    names = dict(_cost.flatten(PROFILE))
    for path, kinds in _cost.TUNED_CONSTANTS.items():
        assert set(kinds) == {"rates", "costs"}
        for dotted in kinds["rates"] + kinds["costs"]:
            for level in ("avx512", "avx2", "baseline"):
                assert dotted.format(level=level) in names, (path, dotted)


@pytest.mark.parametrize("level", ["avx512", "avx2", "baseline"])
def test_scaling_divides_rates_and_multiplies_costs(level):
    tuned = _cost.scaled_profile(PROFILE, {"fft": 2.0, "direct_wide_8": 4.0,
                                           "direct_wide_4": 0.5}, level)
    assert tuned["fft_flops_per_thread"] == PROFILE["fft_flops_per_thread"] / 2
    assert tuned["fft_overhead_s"] == PROFILE["fft_overhead_s"] * 2
    assert tuned["direct_madds_per_thread"][level]["8"] == \
        PROFILE["direct_madds_per_thread"][level]["8"] / 4
    assert tuned["direct_madds_per_thread"][level]["4"] == \
        PROFILE["direct_madds_per_thread"][level]["4"] * 2
    assert tuned["direct_tile_tap_s"] == PROFILE["direct_tile_tap_s"] * 0.5
    untouched = {"reference_madds_per_s", "direct_small_overhead_s"}
    assert all(tuned[name] == PROFILE[name] for name in untouched)
    assert PROFILE == _cost.DEFAULT_PROFILE  # the input is not changed
