"""Fit the "direct" backend's cost constants for one of its variants on this machine.

    python tools/fit_direct_cost.py --variant dot --layers 48 --seed 5

Random layers that the variant may run (drawn like the dispatch grid of
deconv._grid, with 1-3 channel layers and batches up to 64), each timed with the
variant pinned (``DirectBackend.plan_variant``) at 2 threads, median of 5
runs in each of 3 rounds over all layers, against the model of
deconv._cost.direct_seconds over the plan's deconv._cost.DirectWork::

    overhead + (padded_madds / rate + tile_taps * tile_tap_s
                + outputs * output_s + copied * copy_s) / threads

(copied for the narrow variant only; ``--variant small``, the untiled
calls under TRIVIAL_MADDS, runs on one thread, with tile_taps its (input
pixel, tap) pairs).

The constants are a nonnegative least-squares fit of the relative error
(tools/cost_fit.py, shared with tools/fit_fft_cost.py); the script prints
them under their names in deconv._cost.DEFAULT_PROFILE, with the fit's
median and worst measured / fitted ratios. The calls are timed at the
backend (planned and packed once), so the fitted overhead leaves out the
~10 us a call spends in validation and dispatch.
"""
import functools

import numpy as np
from cost_fit import (  # tools/ is the script's directory
    fit_arguments,
    fit_constants,
    median_seconds,
    report,
)

import deconv
from deconv import _simd
from deconv._direct import TRIVIAL_MADDS, DirectBackend, candidate_plans
from deconv._grid import random_cases

THREADS = 2
# Per variant: the work terms its time grows with, and the constants they fit.
MODELS = {
    "wide": (("overhead", "padded_madds", "tile_taps", "outputs"),
             ("direct_overhead_s", "1 / direct_madds_per_thread.wide.{level}.{item}",
              "direct_tile_tap_s.wide.{level}", "direct_output_s.wide.{level}")),
    "narrow": (("overhead", "padded_madds", "tile_taps", "outputs", "copied"),
               ("direct_overhead_s", "1 / direct_madds_per_thread.narrow.{level}.{item}",
                "direct_tile_tap_s.narrow.{level}", "direct_output_s.narrow.{level}",
                "direct_narrow_copy_s.{level}")),
    "dot": (("overhead", "padded_madds", "tile_taps", "outputs"),
            ("direct_overhead_s", "1 / direct_madds_per_thread.dot.{level}.{item}",
             "direct_tile_tap_s.dot.{level}", "direct_output_s.dot.{level}")),
    "small": (("overhead", "padded_madds", "tile_taps", "outputs"),
              ("direct_small_overhead_s", "1 / direct_small_madds_per_s",
               "direct_tile_tap_s.small.{level}", "direct_output_s.small.{level}")),
}
# Where each variant competes: the layers drawn for it (deconv._grid's
# ranges otherwise, up to 3e8 multiply-adds).
DRAWS = {
    "wide": dict(kernels=(1, 21), narrow=0.2),
    "narrow": dict(kernels=(1, 33), narrow=0.6),
    "dot": dict(kernels=(1, 9), narrow=0.0),
    "small": dict(sizes=(1, 24), kernels=(1, 9), max_madds=TRIVIAL_MADDS),
}


def pinned_call(x, kernel, strides, padding, variant):
    """The call's work terms and a function running it on ``variant``, or
    None when the variant cannot run it."""
    problem = deconv.Conv2DTranspose(kernel, strides, padding, backend="direct").plan_for(
        x).problem
    if variant not in candidate_plans(problem, THREADS, _simd.core.isa_name()):
        return None
    backend = DirectBackend()
    plan = backend.plan_variant(problem, THREADS, variant)
    packed = backend.pack(problem, plan, kernel)
    y = np.empty(problem.output_shape, problem.dtype)
    work, threads = plan.work, plan.num_threads
    terms = {"overhead": 1.0, "padded_madds": work.padded_madds / threads,
             "tile_taps": work.tile_taps / threads, "outputs": work.outputs / threads,
             "copied": work.copied / threads}
    return terms, functools.partial(backend.run, problem, plan, x, kernel, packed, y)


def main():
    parser = fit_arguments(__doc__, layers=48, seed=5)
    parser.add_argument("--variant", choices=sorted(MODELS), default="dot")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args()
    terms_of, names = MODELS[args.variant]
    rng = np.random.default_rng(args.seed)
    rows, calls, labels = [], [], []
    draws = iter(random_cases(args.seed, 100 * args.layers,
                              **{"max_madds": 3e8, **DRAWS[args.variant]}))
    while len(calls) < args.layers:
        case = next(draws)
        x_shape, k_shape, strides, padding = case.x_shape, case.kernel_shape, case.strides, \
            case.padding
        if args.variant == "dot" and k_shape[2] > 4:
            k_shape = (*k_shape[:2], int(rng.integers(1, 5)), k_shape[3])
        x = rng.standard_normal(x_shape).astype(args.dtype)
        kernel = rng.standard_normal(k_shape).astype(args.dtype)
        pinned = pinned_call(x, kernel, strides, padding, args.variant)
        if pinned is None:
            continue
        terms, call = pinned
        rows.append([terms[name] for name in terms_of])
        calls.append(call)
        labels.append(f"{x_shape} k{k_shape[0]} Cout {k_shape[2]} s{strides} {padding:5}")
    seconds = median_seconds(calls, args.rounds)
    coefficients, ratios = fit_constants(rows, seconds)
    report(labels, seconds, ratios)
    level, item = _simd.core.isa_name(), np.dtype(args.dtype).itemsize
    for name, value in zip(names, coefficients):
        name = name.format(level=level, item=item)
        if name.startswith("1 / "):
            name, value = name[4:], (1 / value if value else float("inf"))
        print(f'"{name}": {value:.3g},')


if __name__ == "__main__":
    main()
