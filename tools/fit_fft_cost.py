"""Fit the "fft" backend's cost constants (deconv._cost.DEFAULT_PROFILE's
entries that deconv._cost.TUNED_CONSTANTS["fft"] names) on this machine.

    python tools/fit_fft_cost.py --layers 120 --seed 3

Random layers of deconv._grid where the FFT path matters (spatial 16-64,
kernels 7-33, strides 1-4, batches 1-64, channels 1-64 or a third of the
time 1-3, up to 2e9 multiply-adds, float32) and a quarter as many small
ones (spatial 4-16, kernels 4-24, batches 1-8), each timed with
``backend="fft"`` at 2 threads (median of 5 runs in each of 3 rounds over all
layers; tools/cost_fit.py), against the model of deconv._cost.fft_seconds
over the plan's deconv._cost.FFTWork::

    overhead + phases * phase_overhead + (flops / flop_rate + madds / madd_rate
    + image_phases * image_phase + spectrum_reads * read + outputs * output) / threads

where, for layers whose phases run one per thread (deconv._fft.phases_by_thread),
the phases' fixed cost is ``phases * thread_phase / threads`` instead, each
image phase costs ``thread_image_phase``, and ``threads`` is the phases over
the busiest thread's share of them. The nine constants are a nonnegative least-squares fit of the *relative*
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
from deconv._cost import TUNED_CONSTANTS, fft_threads
from deconv._grid import random_cases

THREADS = 2


def main():
    args = fit_arguments(__doc__, layers=48, seed=3).parse_args()
    rows, calls, layers = [], [], []
    # A quarter more layers are small (images of 4-16 pixels, batches 1-8),
    # whose time is mostly the fixed costs: without them the fit put the
    # cost per call at 67 us, three times a small call's whole time.
    cases = (random_cases(args.seed, args.layers, sizes=(16, 64), kernels=(7, 33),
                          batches=(1, 64), narrow=1 / 3, max_madds=2e9)
             + random_cases(args.seed, args.layers // 4, sizes=(4, 16), kernels=(4, 24),
                            batches=(1, 8), narrow=1 / 3))
    for case in cases:
        x, kernel = case.arrays()
        x_shape, k_shape, strides, padding = case.x_shape, case.kernel_shape, case.strides, \
            case.padding
        terms = deconv.Conv2DTranspose(kernel, strides, padding, backend="fft").plan_for(
            x).backend_plan.work
        threads = fft_threads(terms, THREADS)
        rows.append([1.0, 0.0 if terms.phases_by_thread else terms.phases,
                     terms.phases / threads if terms.phases_by_thread else 0.0,
                     terms.transform_flops / threads, terms.complex_madds / threads,
                     0.0 if terms.phases_by_thread else terms.image_phases / threads,
                     terms.image_phases / threads if terms.phases_by_thread else 0.0,
                     terms.spectrum_reads / threads, terms.output_items / threads])
        calls.append(functools.partial(deconv.conv2d_transpose, x, kernel, strides=strides,
                                       padding=padding, backend="fft", num_threads=THREADS))
        layers.append(f"{x_shape} k{k_shape[0]} Cout {k_shape[2]:2} s{strides} {padding:5}")
    seconds = median_seconds(calls, args.rounds)
    (overhead, phase, thread_phase, per_flop, per_madd, per_image_phase,
     per_thread_image_phase, per_read, per_output), ratios = fit_constants(rows, seconds)
    report(layers, seconds, ratios)
    rates, costs = TUNED_CONSTANTS["fft"]["rates"], TUNED_CONSTANTS["fft"]["costs"]
    level = _simd.core.isa_name()
    for name, value in zip((name.format(level=level) for name in rates + costs),
                           (1 / per_flop, 1 / per_madd, overhead, phase, thread_phase,
                            per_image_phase, per_thread_image_phase, per_read, per_output)):
        print(f'"{name}": {value:.3g},')


if __name__ == "__main__":
    main()
