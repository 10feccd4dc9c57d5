"""``python -m deconv tune``: fit the cost model's constants to this machine.

For each path of each backend (direct wide and narrow, float32 and float64;
fft; reference) a few calibration layers are timed and compared with the
current estimates; the constants of that path are scaled by the geometric
mean of measured / estimated time, so the model keeps its shape (what grows
with what, fitted on the reference machine) and takes this machine's speed.
The result is stored by ``deconv._cost.save_profile`` and used from then on.
"""
import copy
import math

import numpy as np

from . import _cost, _simd
from ._registry import get_backend
from ._threads import resolve_num_threads
from ._timing import timings
from ._validation import prepare

# (path, backend, x shape, kernel shape, strides, padding, dtype): small layers
# that still exercise each path's cost terms.
CALIBRATION = [
    ("direct_wide_4", "direct", (8, 8, 8, 128), (4, 4, 64, 128), 2, "same", "float32"),
    ("direct_wide_4", "direct", (4, 16, 16, 64), (3, 3, 64, 64), 1, "same", "float32"),
    ("direct_wide_4", "direct", (1, 32, 32, 16), (9, 9, 16, 16), 1, "same", "float32"),
    ("direct_wide_8", "direct", (8, 8, 8, 128), (4, 4, 64, 128), 2, "same", "float64"),
    ("direct_wide_8", "direct", (4, 16, 16, 64), (3, 3, 64, 64), 1, "same", "float64"),
    ("direct_narrow_4", "direct", (4, 32, 32, 32), (4, 4, 3, 32), 2, "same", "float32"),
    ("direct_narrow_4", "direct", (2, 32, 32, 8), (9, 9, 1, 8), 1, "same", "float32"),
    ("direct_narrow_8", "direct", (4, 32, 32, 32), (4, 4, 3, 32), 2, "same", "float64"),
    ("fft", "fft", (1, 32, 32, 8), (21, 21, 8, 8), 1, "valid", "float32"),
    ("fft", "fft", (2, 32, 32, 16), (15, 15, 16, 16), 1, "same", "float32"),
    ("fft", "fft", (2, 64, 64, 8), (31, 31, 8, 8), 1, "valid", "float32"),
    # The reference model overestimates small calls, so calibrate it where it
    # competes: layers of realistic size, wide and narrow.
    ("reference", "reference", (8, 8, 8, 256), (4, 4, 128, 256), 2, "same", "float32"),
    ("reference", "reference", (8, 32, 32, 64), (4, 4, 3, 64), 2, "same", "float32"),
    ("reference", "reference", (2, 32, 32, 16), (9, 9, 16, 16), 1, "same", "float32"),
]


def measure_ratios(threads, repeats=7, calibration=CALIBRATION, progress=None):
    """Geometric mean of measured / estimated seconds, per path."""
    rng = np.random.default_rng(0)
    logs = {}
    for index, (path, name, x_shape, k_shape, strides, padding, dtype) in enumerate(calibration):
        if progress:
            progress(index, len(calibration), path)
        x = rng.standard_normal(x_shape).astype(dtype)
        kernel = rng.standard_normal(k_shape).astype(dtype)
        problem = prepare(x, kernel, None, strides, padding, None, 1)
        backend = get_backend(name)
        estimate = backend.estimate_seconds(problem, threads)
        measured = float(np.median(timings(lambda: backend(problem, threads), repeats)))
        logs.setdefault(path, []).append(math.log(measured / estimate))
    if progress:
        progress(len(calibration), len(calibration), "done")
    return {path: math.exp(sum(values) / len(values)) for path, values in logs.items()}


def scaled_profile(profile, ratios, level):
    """A copy of ``profile`` whose rates are divided and per-unit costs
    multiplied by each path's measured / estimated ratio."""
    tuned = copy.deepcopy(profile)
    for itemsize in ("4", "8"):
        if f"direct_wide_{itemsize}" in ratios:
            tuned["direct_madds_per_thread"][level][itemsize] /= ratios[f"direct_wide_{itemsize}"]
        if f"direct_narrow_{itemsize}" in ratios:
            tuned["direct_narrow_madds_per_thread"][level][itemsize] /= \
                ratios[f"direct_narrow_{itemsize}"]
    if "direct_wide_4" in ratios:
        tuned["direct_tile_tap_s"] *= ratios["direct_wide_4"]
    if "fft" in ratios:
        tuned["fft_flops_per_thread"] /= ratios["fft"]
        tuned["fft_contraction_per_thread"] /= ratios["fft"]
        tuned["fft_overhead_s"] *= ratios["fft"]
        tuned["fft_phase_overhead_s"] *= ratios["fft"]
    if "reference" in ratios:
        tuned["reference_madds_per_s"] /= ratios["reference"]
        tuned["reference_row_product_s"] *= ratios["reference"]
        tuned["reference_overhead_s"] *= ratios["reference"]
    return tuned


def _flatten(profile, prefix=""):
    for key, value in profile.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def run_tune(threads=None, repeats=7, calibration=CALIBRATION, out=print, progress=None):
    """Measure this machine, store the tuned profile, and report what changed."""
    if _simd.core is None:
        raise RuntimeError(_simd.unavailable_reason)
    threads = resolve_num_threads(threads)
    level = _simd.core.isa_name()
    # Always from the shipped constants, so tuning twice does not compound.
    before = copy.deepcopy(_cost.use_defaults("tuning"))
    ratios = measure_ratios(threads, repeats, calibration, progress)
    path = _cost.save_profile(scaled_profile(before, ratios, level))
    after = _cost.current_profile()
    out(f"Calibrated with {threads} threads, SIMD level {level}; measured / estimated time "
        f"per path with the shipped constants:")
    for name, ratio in sorted(ratios.items()):
        out(f"  {name:<18} {ratio:6.2f}")
    out("Constants changed from the shipped defaults:")
    old = dict(_flatten(before))
    for key, value in _flatten(after):
        if not math.isclose(old[key], value, rel_tol=1e-9):
            out(f"  {key:<40} {old[key]:.4g} -> {value:.4g}")
    out(f"Saved to {path}; used automatically by this version of deconv "
        f"(delete the file to return to the defaults).")
    return ratios, path
