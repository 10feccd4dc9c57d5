"""Fit the "winograd" backend's cost constants (deconv._cost.DEFAULT_PROFILE's
``winograd_*`` entries) on this machine.

    python tools/fit_winograd_cost.py --layers 60 --seed 7

The layers are the benchmark suite's and extra layers the backend takes
(deconv._winograd.winograd_reason is None) and those it takes of
``--layers`` random ones (deconv._grid's draws with kernels 2-8, strides 1-4,
spatial 4-32, batches 1-32, channels 1-64, a quarter of them
channels-first), each called with
``backend="winograd"`` at 2 threads (median of 5 runs in each of 3 rounds over
all layers; tools/cost_fit.py), against the model of
deconv._cost.winograd_seconds over the plan's deconv._cost.WinogradWork::

    products + overhead + phases * phase + (positions * position + items * item
    + kernel_items * kernel_item + copied * copied_item) / threads

where ``products`` is the wide kernel's own estimate of the position-by-position
products, taken as known (its constants are the direct backend's; fitted
freely, its coefficient trades places with the per-item terms, which grow
with it). The other constants are a nonnegative least-squares fit of the
*relative* error; the script prints them under their names with the fit's
median and worst measured / fitted ratios.
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
from deconv import _cost, _simd
from deconv._grid import random_cases
from deconv._profile import current_profile
from deconv._suite import EXTRA, SUITE
from deconv._winograd import winograd_reason

THREADS = 2
NAMES = ("winograd_overhead_s", "winograd_phase_s", "winograd_strided_item_s",
         "winograd_position_s", "winograd_item_s", "winograd_kernel_item_s")


def layers(count, seed):
    """(x, kernel, strides, padding, data_format, label) of the suite's and
    extra layers the backend takes, then ``count`` random ones."""
    rng = np.random.default_rng(seed)
    for layer in SUITE + EXTRA:
        if layer.dilation != (1, 1):
            continue
        x = rng.standard_normal(layer.x).astype(layer.dtype)
        if layer.data_format == "channels_first":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        kernel = rng.standard_normal(layer.kernel).astype(layer.dtype)
        yield x, kernel, layer.strides, layer.padding, layer.data_format, layer.name
    cases = random_cases(seed, count, sizes=(4, 32), kernels=(2, 8), batches=(1, 32),
                         narrow=0, max_madds=3e8)
    for index, case in enumerate(cases):
        x, kernel = case.arrays()
        data_format = "channels_first" if index % 4 == 3 else "channels_last"
        if data_format == "channels_first":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        yield x, kernel, case.strides, case.padding, data_format, case.describe()


def main():
    args = fit_arguments(__doc__, layers=60, seed=7).parse_args()
    profile, level = current_profile(), _simd.core.isa_name()
    rows, known, calls, labels = [], [], [], []
    for x, kernel, strides, padding, data_format, label in layers(args.layers, args.seed):
        operator = deconv.Conv2DTranspose(kernel, strides, padding, data_format=data_format,
                                          backend="winograd", num_threads=THREADS)
        plan = operator.plan_for(x)
        if winograd_reason(plan.problem) is not None:
            continue
        work, scale = plan.backend_plan.work, x.itemsize / 4
        products = (_cost.direct_seconds("wide", work.products, x.itemsize, THREADS, profile,
                                         level) - profile["direct_overhead_s"])
        known.append(products)
        rows.append([1.0, work.phases, scale * work.strided_items / THREADS,
                     work.positions / THREADS,
                     scale * (work.input_items + work.output_items) / THREADS,
                     scale * work.kernel_items / THREADS])
        calls.append(functools.partial(deconv.conv2d_transpose, x, kernel, strides=strides,
                                       padding=padding, data_format=data_format,
                                       backend="winograd", num_threads=THREADS))
        labels.append(label)
    seconds = median_seconds(calls, args.rounds)
    constants, ratios = fit_constants(rows, seconds, known)
    report(labels, seconds, ratios)
    for name, value in zip(NAMES, constants):
        print(f'"{name}": {value:.3g},')


if __name__ == "__main__":
    main()
