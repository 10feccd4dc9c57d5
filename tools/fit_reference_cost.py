"""Fit the "reference" backend's cost constants (deconv._cost.DEFAULT_PROFILE's
entries that deconv._cost.TUNED_CONSTANTS["reference"] names) on this machine.

    python tools/fit_reference_cost.py --layers 80 --seed 7

Random layers of deconv._grid where the reference path competes (kernels
1-5, where each tap's product is large; spatial 8-64, strides 1-4, batches
1-64, channels 1-64 or a third of the time 1-3, up to 2e8 multiply-adds,
float32), each timed with ``backend="reference"`` at 2 threads (median of 5
runs in each of 3 rounds over all layers; tools/cost_fit.py), against the
model of deconv._cost.reference_seconds over its deconv._cost.ReferenceWork::

    taps * overhead + row_products * row_product
    + madds * narrow_product_penalty(Cout) / rate
    + items * item + product_items * product_item

The five constants are a nonnegative least-squares fit of the *relative*
error; the script prints them with the fit's median and worst
measured/estimated ratios. NumPy's BLAS runs the products on the threads it
has; the layers are timed back to back, as a program calling the reference
path would run them.
"""
import functools

from cost_fit import (  # tools/ is the script's directory
    fit_arguments,
    fit_constants,
    median_seconds,
    report,
)

import deconv
from deconv import _cost
from deconv._grid import random_cases
from deconv._reference import ReferenceBackend

THREADS = 2


def main():
    args = fit_arguments(__doc__, layers=80, seed=7).parse_args()
    rows, calls, layers = [], [], []
    for case in random_cases(args.seed, args.layers, kernels=(1, 5), max_madds=2e8):
        x, kernel = case.arrays()
        problem = deconv.Conv2DTranspose(kernel, case.strides, case.padding,
                                         backend="reference").plan_for(x).problem
        work = ReferenceBackend.work(problem)
        rows.append([work.taps, work.row_products,
                     work.madds * _cost.narrow_product_penalty(work.output_channels),
                     work.items, work.product_items])
        calls.append(functools.partial(deconv.conv2d_transpose, x, kernel,
                                       strides=case.strides, padding=case.padding,
                                       backend="reference", num_threads=THREADS))
        layers.append(f"{case.describe()}")
    seconds = median_seconds(calls, args.rounds)
    (overhead, row_product, per_madd, item, product_item), ratios = fit_constants(rows, seconds)
    report(layers, seconds, ratios)
    rates, costs = (_cost.TUNED_CONSTANTS["reference"]["rates"],
                    _cost.TUNED_CONSTANTS["reference"]["costs"])
    for name, value in zip(rates + costs,
                           (1 / per_madd, row_product, overhead, item, product_item)):
        print(f'"{name}": {value:.3g},')


if __name__ == "__main__":
    main()
