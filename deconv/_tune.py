"""``python -m deconv tune``: fit the cost model's constants to this machine,
and keep them only if they dispatch at least as well as the shipped ones.

For each calibration path (``deconv._cost.CALIBRATION``: the direct
backend's wide, narrow and dot variants in float32 and float64, pinned; fft;
winograd; reference) a few layers are timed at the backend and compared with the
estimates of the shipped constants: the geometric mean of measured /
estimated time is the path's ratio. The constants each path fits
(``deconv._cost.TUNED_CONSTANTS``) are scaled by its ratio once shrunk
towards the ratio common to the paths (:func:`path_scales`): the model
keeps its shape (what grows with what, fitted on the reference machine)
and takes this machine's speed, and the paths' speeds against each other,
which decide between backends, move only where they differ by more than a
shared machine's drift makes of one machine.

The candidate is then checked on a held-out grid of random layers
(``deconv._grid``, a seed the calibration never sees, with 1-3 channel
layers): every backend is timed on each, and "auto"'s choices under the
shipped and the tuned constants are scored against the fastest. The profile
is stored by ``deconv._profile.save_profile`` (and used from then on) only
when its score is no worse; otherwise nothing is written.
"""
import copy
import math
import statistics
from typing import NamedTuple

import numpy as np

from . import _cost, _direct, _grid, _profile, _simd
from ._arguments import check_count
from ._operator import Conv2DTranspose
from ._registry import get_backend
from ._threads import resolve_num_threads
from ._timing import timings

# Timed calls of each calibration layer in each round of measure_ratios.
CALLS_PER_ROUND = 3
# How far a path's ratio may stray from the common one before tune believes
# it (see path_scales). Seven calibrations of one quiet-to-noisy afternoon on
# the reference machine kind, each against its median path, put the paths
# at 0.84-1.15 (the fft 0.91-1.15, the float32 narrow kernel 0.86-1.0), but
# for float64's narrow kernel and the reference path, whose estimates are
# low here (1.13-1.45 and 1.04-1.45); scaled by them, the tuned profile
# flipped near-ties of the held-out grid -- 90% within 15% against the
# shipped 95% in one run, 95% against 97% in two -- while the constants had
# been fitted on that very machine kind.
RELATIVE_BAND = 1.15
# The held-out grid: its seed (never the calibration's) and default size.
VALIDATION_SEED = 20261129
VALIDATION_SHAPES = 60


class TuneResult(NamedTuple):
    """What ``tune`` measured and decided: measured / estimated time per
    calibration path (``ratios``), the factor each path's constants were
    scaled by (``scales``, :func:`path_scales`), the stored profile's path
    (None when the candidate dispatched worse and was not saved), and the
    held-out grid's scores under the shipped and the tuned constants."""
    ratios: dict
    scales: dict
    path: object
    shipped: _grid.DispatchScore
    tuned: _grid.DispatchScore


def path_scales(ratios, band=RELATIVE_BAND):
    """The factor each path's constants are scaled by, from its measured /
    estimated ``ratios``: the median path's ratio (the machine's speed
    against the reference machine's, which moves every estimate alike and
    no choice between backends; alone for the constants of
    ``deconv._cost.COMMON_PATH``), times the path's ratio to it shrunk by
    ``band`` -- 1 within it, moved ``band`` towards 1 past it. The shipped
    constants put the paths' speeds against each other as the reference
    machine measured them; calibrations there disagree with that by up to
    about ``band`` from one run to the next, so a smaller difference is
    noise, which would flip the near-ties between backends, and a larger
    one (another machine's memory or SIMD units) is believed but for that
    much.

    Examples
    --------
    >>> from deconv._tune import path_scales
    >>> scales = path_scales({"direct_wide_4": 0.8, "fft": 0.88, "reference": 2.0})
    >>> {path: round(scale, 3) for path, scale in scales.items()}
    {'common': 0.88, 'direct_wide_4': 0.88, 'fft': 0.88, 'reference': 1.739}
    """
    common = math.exp(statistics.median(math.log(ratio) for ratio in ratios.values()))
    scales = {_cost.COMMON_PATH: common}
    for path, ratio in ratios.items():
        relative = ratio / common
        if relative > band:
            relative /= band
        elif relative < 1 / band:
            relative *= band
        else:
            relative = 1.0
        scales[path] = common * relative
    return scales


def measure_ratios(threads, repeats=5, calibration=_cost.CALIBRATION, progress=None):
    """Geometric mean of measured / estimated seconds, per path. Each layer
    runs at its backend, planned and packed once (and on its pinned
    variant), so the times are the path's own.

    The layers are timed in ``repeats`` interleaved rounds, in a new random
    order each, CALLS_PER_ROUND calls a round, and each layer's time is the
    median of all its calls: a slow spell of a shared machine (a co-tenant's
    burst) then lands on a round of every path alike, not on all of one
    path's calls -- timed one path after another, the wide kernel's ratio
    once came out 1.51 (0.85-0.92 in other runs) and the tuned constants
    sent 13% of the held-out grid to the wrong backend. The reference
    path's layers take their rounds after the others': its products leave
    OpenBLAS's threads spinning, which would slow whatever came next."""
    check_count("repeats", repeats, 1)
    rng = np.random.default_rng(0)
    groups = ([i for i, layer in enumerate(calibration) if layer.backend != "reference"],
              [i for i, layer in enumerate(calibration) if layer.backend == "reference"])
    steps = len(calibration) + len(groups) * repeats
    calls, estimates = [], []
    for index, layer in enumerate(calibration):
        if progress:
            progress(index, steps, layer.path)
        call, estimate = _calibration_call(layer, threads, rng)
        calls.append(call)
        estimates.append(estimate)
    seconds = [[] for _ in calibration]
    order = np.random.default_rng(1)
    step = len(calibration)
    for group in groups:
        for round_index in range(repeats):
            if progress:
                progress(step, steps, f"round {round_index + 1} of {repeats}")
            for i in order.permutation(group):
                seconds[i].extend(timings(calls[i], CALLS_PER_ROUND, warmup=round_index == 0))
            step += 1
    if progress:
        progress(steps, steps, "calibrated")
    logs = {}
    for layer, times, estimate in zip(calibration, seconds, estimates):
        logs.setdefault(layer.path, []).append(math.log(float(np.median(times)) / estimate))
    return {path: math.exp(sum(values) / len(values)) for path, values in logs.items()}


def _calibration_call(layer, threads, rng):
    """A call running ``layer`` (a ``deconv._cost.CalibrationLayer``) at its
    backend on random data, planned and packed once (on its pinned variant
    if it has one), and the estimate of its seconds by the constants in
    force (the shipped ones while tuning)."""
    x = rng.standard_normal(layer.x).astype(layer.dtype)
    kernel = rng.standard_normal(layer.kernel).astype(layer.dtype)
    problem = Conv2DTranspose(kernel, layer.strides, layer.padding,
                              backend=layer.backend).plan_for(x).problem
    backend = get_backend(layer.backend)
    if layer.variant is not None:
        plan = backend.plan_variant(problem, threads, layer.variant)
        estimate = _direct.plan_seconds(problem, plan, threads, _profile.current_profile())
    else:
        plan = backend.plan(problem, threads)
        estimate = backend.estimate_seconds(problem, threads)
    packed = backend.pack(problem, plan, kernel)
    y = np.empty(problem.output_shape, problem.dtype)
    return lambda: backend.run(problem, plan, x, kernel, packed, y), estimate


def held_out_scores(profiles, threads, shapes=VALIDATION_SHAPES, seed=VALIDATION_SEED,
                    progress=None):
    """The :class:`deconv._grid.DispatchScore` of each of ``profiles`` (by
    name) on ``shapes`` random layers: every backend timed once per layer,
    each profile's choice put in force and scored against the fastest."""
    cases = _grid.random_cases(seed, shapes)
    ratios = {name: [] for name in profiles}
    for index, case in enumerate(cases):
        if progress:
            progress(index, len(cases), "held-out grid")
        seconds = _grid.time_backends(case, threads)
        fastest = min(seconds.values())
        for name, profile in profiles.items():
            with _profile.profile_in_force(profile, f"{name} constants (tune's check)"):
                ratios[name].append(seconds[_grid.chosen_backend(case, threads)] / fastest)
    if progress:
        progress(len(cases), len(cases), "done")
    return {name: _grid.score(values) for name, values in ratios.items()}


def run_tune(threads=None, repeats=5, calibration=_cost.CALIBRATION,
             validation_shapes=VALIDATION_SHAPES, out=print, progress=None):
    """Measure this machine, check the candidate profile on the held-out
    grid, store it if it dispatches no worse than the shipped constants, and
    report; returns a :class:`TuneResult`."""
    check_count("validation_shapes", validation_shapes, 1)
    if _simd.core is None:
        raise RuntimeError(_simd.unavailable_reason)
    threads = resolve_num_threads(threads)
    level = _simd.core.isa_name()
    stored_source = _profile.profile_source()
    # Always from the shipped constants, so tuning twice does not compound.
    shipped = copy.deepcopy(_profile.use_defaults("tuning"))
    try:
        ratios = measure_ratios(threads, repeats, calibration, progress)
        scales = path_scales(ratios)
        candidate = _cost.scaled_profile(shipped, scales, level)
        scores = held_out_scores({"shipped": shipped, "tuned": candidate}, threads,
                                 validation_shapes, progress=progress)
    finally:
        _profile.reload_profile()
    out(f"Calibrated with {threads} threads, SIMD level {level}; measured / estimated time "
        f"per path with the shipped constants, and the scale of its constants (the paths' "
        f"common ratio, and theirs against it past {RELATIVE_BAND:.2f}x):")
    for name, ratio in sorted(ratios.items()):
        out(f"  {name:<18} {ratio:6.2f}  scaled {scales[name]:6.2f}")
    out(f"  {_cost.COMMON_PATH:<18} {'':6}  scaled {scales[_cost.COMMON_PATH]:6.2f}  "
        f"(the direct kernel's fixed cost per call, its small calls)")
    out(f"Held-out grid ({validation_shapes} random layers, 1-3 channel ones among them), "
        f"auto's choices against the fastest backend:")
    out(f"  shipped constants: {scores['shipped']}")
    out(f"  tuned constants:   {scores['tuned']}")
    if not scores["tuned"].no_worse_than(scores["shipped"]):
        out(f"Not saved: the tuned constants dispatch worse than the shipped ones on the "
            f"held-out grid. Still in force: {stored_source}.")
        return TuneResult(ratios, scales, None, scores["shipped"], scores["tuned"])
    out("Constants changed from the shipped defaults:")
    old = dict(_cost.flatten(shipped))
    for key, value in _cost.flatten(candidate):
        if not math.isclose(old[key], value, rel_tol=1e-9):
            out(f"  {key:<40} {old[key]:.4g} -> {value:.4g}")
    path = _profile.save_profile(candidate)
    out(f"Saved to {path}; used automatically by this version of deconv "
        f"(delete the file to return to the defaults).")
    return TuneResult(ratios, scales, path, scores["shipped"], scores["tuned"])
