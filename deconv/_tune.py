"""``python -m deconv tune``: fit the cost model's constants to this machine.

For each calibration path (``deconv._cost.CALIBRATION``: direct wide and
narrow, float32 and float64; fft; reference) a few layers are timed and
compared with the estimates of the shipped constants; the constants that
path fits (``deconv._cost.TUNED_CONSTANTS``) are scaled by the geometric mean
of measured / estimated time, so the model keeps its shape (what grows with
what, fitted on the reference machine) and takes this machine's speed. The
result is stored by ``deconv._profile.save_profile`` and used from then on.
"""
import copy
import math

import numpy as np

from . import _cost, _profile, _simd
from ._operator import Conv2DTranspose
from ._threads import resolve_num_threads
from ._timing import timings


def measure_ratios(threads, repeats=7, calibration=_cost.CALIBRATION, progress=None):
    """Geometric mean of measured / estimated seconds, per path."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1; got {repeats!r}")
    rng = np.random.default_rng(0)
    logs = {}
    for index, layer in enumerate(calibration):
        if progress:
            progress(index, len(calibration), layer.path)
        x = rng.standard_normal(layer.x).astype(layer.dtype)
        kernel = rng.standard_normal(layer.kernel).astype(layer.dtype)
        operator = Conv2DTranspose(kernel, layer.strides, layer.padding, backend=layer.backend,
                                   num_threads=threads)
        plan = operator.plan_for(x)
        estimate = plan.backend_object.estimate_seconds(plan.problem, threads)
        out = np.empty(plan.problem.caller_output_shape, plan.problem.result_dtype)
        measured = float(np.median(timings(lambda: operator(x, out=out), repeats)))
        logs.setdefault(layer.path, []).append(math.log(measured / estimate))
    if progress:
        progress(len(calibration), len(calibration), "done")
    return {path: math.exp(sum(values) / len(values)) for path, values in logs.items()}


def run_tune(threads=None, repeats=7, calibration=_cost.CALIBRATION, out=print, progress=None):
    """Measure this machine, store the tuned profile, and report what changed."""
    if _simd.core is None:
        raise RuntimeError(_simd.unavailable_reason)
    threads = resolve_num_threads(threads)
    level = _simd.core.isa_name()
    # Always from the shipped constants, so tuning twice does not compound.
    before = copy.deepcopy(_profile.use_defaults("tuning"))
    ratios = measure_ratios(threads, repeats, calibration, progress)
    path = _profile.save_profile(_cost.scaled_profile(before, ratios, level))
    after = _profile.current_profile()
    out(f"Calibrated with {threads} threads, SIMD level {level}; measured / estimated time "
        f"per path with the shipped constants:")
    for name, ratio in sorted(ratios.items()):
        out(f"  {name:<18} {ratio:6.2f}")
    out("Constants changed from the shipped defaults:")
    old = dict(_cost.flatten(before))
    for key, value in _cost.flatten(after):
        if not math.isclose(old[key], value, rel_tol=1e-9):
            out(f"  {key:<40} {old[key]:.4g} -> {value:.4g}")
    out(f"Saved to {path}; used automatically by this version of deconv "
        f"(delete the file to return to the defaults).")
    return ratios, path
