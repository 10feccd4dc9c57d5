"""Machine constants of the cost model that ``"auto"`` uses to rank backends.

Each backend estimates its run time as work divided by a rate plus a fixed
overhead; the rates below were fitted on the project's reference machine
(2 cores, AVX-512). ``python -m deconv tune`` can measure them for the
machine at hand (see ``deconv._tune``).
"""
DEFAULT_PROFILE = {
    # direct: multiply-adds per second per thread when every lane of the
    # register tile is useful, by SIMD level and item size.
    "direct_madds_per_thread": {
        "avx512": {4: 93e9, 8: 55e9},
        "avx2": {4: 10e9, 8: 9e9},
        "baseline": {4: 14e9, 8: 9e9},
    },
    # direct, narrow-output kernel (Cout <= 8): multiply-adds per second per
    # thread, counting the zero-padded channels of the last group of 4.
    "direct_narrow_madds_per_thread": {
        "avx512": {4: 60e9, 8: 40e9},
        "avx2": {4: 20e9, 8: 10e9},
        "baseline": {4: 15e9, 8: 6e9},
    },
    # direct: cost of visiting one kernel tap for one register tile (address
    # arithmetic, loop entry) -- dominant when Cin is small and kernels large.
    "direct_tile_tap_s": 20e-9,
    "direct_overhead_s": 60e-6,
    # reference, per kernel tap: a fixed cost, one small matrix product per
    # image row, and the multiply-adds (slower when there are few output
    # channels, see ReferenceBackend.estimate_seconds).
    "reference_overhead_s": 30e-6,
    "reference_row_product_s": 29e-9,
    "reference_madds_per_s": 50e9,
    # fft: transform flops per second per thread, complex multiply-adds of the
    # channel contraction per second per thread, fixed costs.
    "fft_flops_per_thread": 5e9,
    "fft_contraction_per_thread": 1.5e9,
    "fft_overhead_s": 100e-6,
    "fft_phase_overhead_s": 40e-6,
}


def current_profile():
    """The constants in force."""
    return DEFAULT_PROFILE
