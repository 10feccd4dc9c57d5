"""Fit the narrow kernel's rates in groups of 8 and 16 output channels on this machine.

    python tools/fit_narrow_groups.py --layers 30 --seed 5 [--dtype float64]

The narrow kernel tiles output channels in groups of 4, 8 or (float32,
AVX-512) 16, and its plan takes the group the cost model finds fastest, so
deconv._cost.DEFAULT_PROFILE holds a rate per padded multiply-add for each:
groups of 4 at ``direct_madds_per_thread.narrow`` (fitted with the other
narrow constants by ``tools/fit_direct_cost.py --variant narrow``, over
layers that are mostly 1-4 output channels), the others as speedups over it.

Random layers of the dispatch grid with 5-32 output channels (the ones
groups of 8 and 16 serve), each timed with the narrow kernel in every group
at 2 threads, median of 5 runs in each of 3 rounds over all the calls. With
the shipped constants for the overhead, tile visits, outputs and copies as
known terms, each group's rate is a one-term least-squares fit of the
relative error (tools/cost_fit.py); the script prints the fits and the
speedups under their names in the profile (per item size: float64's
groups of 8 fill a whole AVX-512 vector, float32's half of one).
"""
import functools

import numpy as np
from cost_fit import (  # tools/ is the script's directory
    fit_arguments,
    fit_constants,
    median_seconds,
)

import deconv
from deconv import _cost, _simd
from deconv._direct import DirectBackend, _narrow_plan_of_group, narrow_group_candidates
from deconv._grid import random_cases

THREADS = 2
OUTPUT_CHANNELS = (5, 32)


def group_call(problem, x, kernel, group):
    """The narrow plan of ``problem`` in groups of ``group`` at THREADS threads,
    the part of its estimate the other constants make, and a function running it."""
    profile, level = _cost.DEFAULT_PROFILE, _simd.core.isa_name()
    backend = DirectBackend()
    plan = _narrow_plan_of_group(problem, group)._replace(num_threads=THREADS)
    packed = backend.pack(problem, plan, kernel)
    y = np.empty(problem.output_shape, problem.dtype)
    work = plan.work
    known = profile["direct_overhead_s"] + (
        work.tile_taps * profile["direct_tile_tap_s"]["narrow"][level]
        + work.outputs * profile["direct_output_s"]["narrow"][level]
        + work.copied * profile["direct_narrow_copy_s"][level]) / THREADS
    return (work.padded_madds / THREADS, known,
            functools.partial(backend.run, problem, plan, x, kernel, packed, y))


def main():
    parser = fit_arguments(__doc__, layers=30, seed=5)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    item = np.dtype(args.dtype).itemsize
    groups = narrow_group_candidates(item)
    calls = {group: [] for group in groups}
    draws = iter(random_cases(args.seed, 100 * args.layers, kernels=(1, 33), narrow=0.3,
                              max_madds=3e8))
    drawn = 0
    while drawn < args.layers:
        case = next(draws)
        if not OUTPUT_CHANNELS[0] <= case.kernel_shape[2] <= OUTPUT_CHANNELS[1]:
            continue
        x = rng.standard_normal(case.x_shape).astype(args.dtype)
        kernel = rng.standard_normal(case.kernel_shape).astype(args.dtype)
        problem = deconv.Conv2DTranspose(kernel, case.strides, case.padding,
                                         backend="direct").plan_for(x).problem
        for group in groups:
            calls[group].append(group_call(problem, x, kernel, group))
        drawn += 1
    seconds = median_seconds([call for group in groups for *_, call in calls[group]],
                             args.rounds).reshape(len(groups), -1)
    level = _simd.core.isa_name()
    base = _cost.DEFAULT_PROFILE["direct_madds_per_thread"]["narrow"][level][str(item)]
    for group, measured in zip(groups, seconds):
        madds, known, _ = zip(*calls[group])
        coefficients, ratios = fit_constants([[m] for m in madds], measured, known)
        rate = 1 / coefficients[0]
        print(f"groups of {group}: {rate:.3g} multiply-adds/s per thread; measured / fitted "
              f"median {np.median(ratios):.2f}, range {ratios.min():.2f}-{ratios.max():.2f}")
        if group != 4:
            print(f'"direct_narrow_group{group}_speedup.{item}": {rate / base:.3g},')


if __name__ == "__main__":
    main()
