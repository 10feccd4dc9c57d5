"""The cost model: each path's formula, and the table of what tune fits."""
import math

import pytest

from deconv import _cost

PROFILE = _cost.DEFAULT_PROFILE


def test_direct_formulas():
    work = _cost.DirectWork(padded_madds=8e9, tile_taps=1_000_000, units=6, outputs=3_000_000)
    rate = PROFILE["direct_madds_per_thread"]["wide"]["avx512"]["4"]
    per_thread = (8e9 / rate + 1_000_000 * PROFILE["direct_tile_tap_s"]["wide"]["avx512"]
                  + 3_000_000 * PROFILE["direct_output_s"]["wide"]["avx512"])
    assert math.isclose(_cost.direct_seconds("wide", work, 4, 2, PROFILE, "avx512"),
                        PROFILE["direct_overhead_s"] + per_thread / 2)
    # no more threads than units of work
    assert math.isclose(_cost.direct_seconds("wide", work, 4, 64, PROFILE, "avx512"),
                        PROFILE["direct_overhead_s"] + per_thread / 6)
    # Half tiles: a quarter of the multiply-adds at their own rate.
    half = work._replace(half_madds=2e9)
    assert math.isclose(_cost.direct_seconds("wide", half, 4, 2, PROFILE, "avx512"),
                        PROFILE["direct_overhead_s"] + per_thread / 2
                        + (2e9 / PROFILE["direct_wide_half_rate"] - 2e9) / rate / 2)
    narrow = work._replace(group=8, copied=5_000_000)
    narrow_rate = PROFILE["direct_madds_per_thread"]["narrow"]["avx2"]["8"] * \
        PROFILE["direct_narrow_group8_speedup"]["8"]
    assert math.isclose(_cost.direct_seconds("narrow", narrow, 8, 1, PROFILE, "avx2"),
                        PROFILE["direct_overhead_s"] + 8e9 / narrow_rate
                        + 1_000_000 * PROFILE["direct_tile_tap_s"]["narrow"]["avx2"]
                        + 3_000_000 * PROFILE["direct_output_s"]["narrow"]["avx2"]
                        + 5_000_000 * PROFILE["direct_narrow_copy_s"]["avx2"])
    dot_rate = PROFILE["direct_madds_per_thread"]["dot"]["baseline"]["4"]
    assert math.isclose(_cost.direct_seconds("dot", work, 4, 1, PROFILE, "baseline"),
                        PROFILE["direct_overhead_s"] + 8e9 / dot_rate
                        + 1_000_000 * PROFILE["direct_tile_tap_s"]["dot"]["baseline"]
                        + 3_000_000 * PROFILE["direct_output_s"]["dot"]["baseline"])
    small = _cost.DirectWork(padded_madds=30_000, tile_taps=700, units=1, outputs=500)
    assert math.isclose(_cost.direct_seconds("small", small, 4, 2, PROFILE, "avx512"),
                        PROFILE["direct_small_overhead_s"]
                        + 30_000 / PROFILE["direct_small_madds_per_s"]
                        + 700 * PROFILE["direct_tile_tap_s"]["small"]["avx512"]
                        + 500 * PROFILE["direct_output_s"]["small"]["avx512"])
    assert _cost.direct_minimum_seconds(True, PROFILE) == PROFILE["direct_small_overhead_s"]
    assert _cost.direct_minimum_seconds(False, PROFILE) == PROFILE["direct_overhead_s"]


@pytest.mark.parametrize("level", ["avx512", "avx2", "baseline"])
def test_fft_formula(level):
    work = _cost.FFTWork(phases=4, transform_flops=3e9, complex_madds=2e9, image_phases=8,
                         spectrum_reads=5e6, output_items=7e6)
    constant = {name: value[level] for name, value in PROFILE.items() if name.startswith("fft_")}
    expected = (constant["fft_overhead_s"] + 4 * constant["fft_phase_overhead_s"]
                + 3e9 / (2 * constant["fft_flops_per_thread"])
                + 2e9 / (2 * constant["fft_contraction_per_thread"])
                + (8 * constant["fft_image_phase_s"] + 5e6 * constant["fft_spectrum_read_s"]
                   + 7e6 * constant["fft_output_item_s"]) / 2)
    assert math.isclose(_cost.fft_seconds(work, 2, PROFILE, level), expected)
    assert (_cost.fft_minimum_seconds(PROFILE, level)
            <= _cost.fft_seconds(work, 64, PROFILE, level))
    # Nine phases one per thread on two: the busier thread takes five.
    by_thread = work._replace(phases=9, phases_by_thread=True)
    parallel = 9 / 5
    expected = (constant["fft_overhead_s"] + 9 * constant["fft_thread_phase_s"] / parallel
                + 3e9 / (parallel * constant["fft_flops_per_thread"])
                + 2e9 / (parallel * constant["fft_contraction_per_thread"])
                + (8 * constant["fft_thread_image_phase_s"]
                   + 5e6 * constant["fft_spectrum_read_s"]
                   + 7e6 * constant["fft_output_item_s"]) / parallel)
    assert math.isclose(_cost.fft_seconds(by_thread, 2, PROFILE, level), expected)
    assert math.isclose(_cost.fft_seconds(by_thread, 1, PROFILE, level),
                        _cost.fft_seconds(by_thread._replace(phases_by_thread=False), 1,
                                          PROFILE, level))
    assert (_cost.fft_minimum_seconds(PROFILE, level)
            <= _cost.fft_seconds(by_thread, 64, PROFILE, level))


def test_reference_formula():
    work = _cost.ReferenceWork(taps=9, row_products=90, madds=1e6, output_channels=2,
                               items=70_000, product_items=30_000)
    expected = (9 * PROFILE["reference_overhead_s"] + 90 * PROFILE["reference_row_product_s"]
                + 1e6 * 4 / PROFILE["reference_madds_per_s"]
                + 70_000 * PROFILE["reference_item_s"]
                + 30_000 * PROFILE["reference_product_item_s"])
    assert math.isclose(_cost.reference_seconds(work, PROFILE), expected)


def test_every_calibration_path_fits_existing_constants():
    paths = {layer.path for layer in _cost.CALIBRATION}
    assert paths | {_cost.COMMON_PATH} == set(_cost.TUNED_CONSTANTS)
    for layer in _cost.CALIBRATION:  # the direct paths pin the variant they calibrate
        if layer.backend == "direct":
            assert layer.path.split("_")[1] == layer.variant
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
    fft_rate, fft_overhead = PROFILE["fft_flops_per_thread"], PROFILE["fft_overhead_s"]
    assert tuned["fft_flops_per_thread"][level] == fft_rate[level] / 2
    assert tuned["fft_overhead_s"][level] == fft_overhead[level] * 2
    for other in {"avx512", "avx2", "baseline"} - {level}:  # only the level tuned
        assert tuned["fft_flops_per_thread"][other] == fft_rate[other]
        assert tuned["direct_tile_tap_s"]["wide"][other] == \
            PROFILE["direct_tile_tap_s"]["wide"][other]
    wide, shipped = tuned["direct_madds_per_thread"]["wide"], PROFILE["direct_madds_per_thread"]
    assert wide[level]["8"] == shipped["wide"][level]["8"] / 4
    assert wide[level]["4"] == shipped["wide"][level]["4"] * 2
    assert tuned["direct_madds_per_thread"]["dot"] == shipped["dot"]
    assert tuned["direct_tile_tap_s"]["wide"][level] == \
        PROFILE["direct_tile_tap_s"]["wide"][level] * 0.5
    assert tuned["direct_tile_tap_s"]["narrow"] == PROFILE["direct_tile_tap_s"]["narrow"]
    untouched = {"reference_madds_per_s", "direct_small_overhead_s"}
    assert all(tuned[name] == PROFILE[name] for name in untouched)
    assert PROFILE == _cost.DEFAULT_PROFILE  # the input is not changed
