"""Fit the "fft" backend's cost constants (deconv._cost.DEFAULT_PROFILE's
entries that deconv._cost.TUNED_CONSTANTS["fft"] names) on this machine.

    python tools/fit_fft_cost.py --layers 120 --seed 3

Random layers of deconv._grid where the FFT path matters (spatial 16-64,
kernels 7-33, strides 1-4, batches 1-64, channels 1-64 or a third of the
time 1-3, up to 2e9 multiply-adds, float32), each timed with
``backend="fft"`` at 2 threads (median of 5 runs in each of 3 rounds over all
layers; tools/cost_fit.py), against the model of deconv._cost.fft_seconds
over the plan's deconv._cost.FFTWork::

    overhead + phases * phase_overhead + (flops / flop_rate + madds / madd_rate
    + image_phases * image_phase + spectrum_reads * read + outputs * output) / threads

The seven constants are a nonnegative least-squares fit of the *relative*
error; the script prints them with the fit's median and worst
measured/estimated ratios.
"""
import functools

from cost_fit import (  # tools/ is the script's directory
    fit_arguments,
    fit_constants,
    median_seconds,
    report,
)

import deconv
from deconv import _simd
from deconv._cost import TUNED_CONSTANTS
from deconv._grid import random_cases

THREADS = 2


def main():
    args = fit_arguments(__doc__, layers=48, seed=3).parse_args()
    rows, calls, layers = [], [], []
    for case in random_cases(args.seed, args.layers, sizes=(16, 64), kernels=(7, 33),
                             batches=(1, 64), narrow=1 / 3, max_madds=2e9):
        x, kernel = case.arrays()
        x_shape, k_shape, strides, padding = case.x_shape, case.kernel_shape, case.strides, \
            case.padding
        terms = deconv.Conv2DTranspose(kernel, strides, padding, backend="fft").plan_for(
            x).backend_plan.work
        rows.append([1.0, terms.phases, terms.transform_flops / THREADS,
                     terms.complex_madds / THREADS, terms.image_phases / THREADS,
                     terms.spectrum_reads / THREADS, terms.output_items / THREADS])
        calls.append(functools.partial(deconv.conv2d_transpose, x, kernel, strides=strides,
                                       padding=padding, backend="fft", num_threads=THREADS))
        layers.append(f"{x_shape} k{k_shape[0]} s{strides} {padding:5}")
    seconds = median_seconds(calls, args.rounds)
    (overhead, phase, per_flop, per_madd, per_image_phase, per_read, per_output), ratios = \
        fit_constants(rows, seconds)
    report(layers, seconds, ratios)
    rates, costs = TUNED_CONSTANTS["fft"]["rates"], TUNED_CONSTANTS["fft"]["costs"]
    level = _simd.core.isa_name()
    for name, value in zip((name.format(level=level) for name in rates + costs),
                           (1 / per_flop, 1 / per_madd, overhead, phase, per_image_phase,
                            per_read, per_output)):
        print(f'"{name}": {value:.3g},')


if __name__ == "__main__":
    main()
