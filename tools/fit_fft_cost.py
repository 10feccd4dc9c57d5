"""Fit the "fft" backend's cost constants (deconv._cost.DEFAULT_PROFILE's
entries that deconv._cost.TUNED_CONSTANTS["fft"] names) on this machine.

    python tools/fit_fft_cost.py --layers 96 --seed 3

Random layers where the FFT path matters (spatial 16-64, channels 1-64,
kernels 7-33, strides 1-4, batch 1-2, float32), each timed with
``backend="fft"`` at 2 threads (median of 5 runs in each of 3 rounds over all
layers), against the model
``overhead + phases * phase_overhead + flops / flop_rate + madds /
madd_rate`` (deconv._cost.fft_seconds over the plan's deconv._cost.FFTWork).
The four constants are a nonnegative least-squares fit of the *relative*
error; the script prints them with the fit's median and worst
measured/estimated ratios.
"""
import argparse
import functools

import numpy as np
import scipy.optimize

import deconv
from deconv._cost import TUNED_CONSTANTS
from deconv._timing import timings

from auto_grid import random_case  # tools/ is the script's directory

THREADS = 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, calls, layers = [], [], []
    for _ in range(args.layers):
        x_shape, k_shape, strides, padding = random_case(rng, sizes=(16, 64), kernels=(7, 33),
                                                         strides=(1, 4))
        x = rng.standard_normal(x_shape).astype(np.float32)
        kernel = rng.standard_normal(k_shape).astype(np.float32)
        terms = deconv.Conv2DTranspose(kernel, strides, padding, backend="fft").plan_for(
            x).backend_plan.work
        rows.append([1.0, terms.phases, terms.transform_flops / THREADS,
                     terms.complex_madds / THREADS])
        calls.append(functools.partial(deconv.conv2d_transpose, x, kernel, strides=strides,
                                       padding=padding, backend="fft", num_threads=THREADS))
        layers.append(f"{x_shape} k{k_shape[0]} s{strides} {padding:5}")
    # rounds over all layers: a burst of noise on a shared machine then
    # touches a few runs of many layers, not all the runs of one
    runs = [[] for _ in calls]
    for _ in range(args.rounds):
        for call, times in zip(calls, runs):
            times.extend(timings(call, 5))
    seconds = [float(np.median(times)) for times in runs]
    design, seconds = np.array(rows), np.array(seconds)
    coefficients, _ = scipy.optimize.nnls(design / seconds[:, None], np.ones(len(seconds)))
    overhead, phase, per_flop, per_madd = coefficients
    ratios = seconds / (design @ coefficients)
    for layer, measured, ratio in zip(layers, seconds, ratios):
        print(f"{layer}: {measured * 1e3:8.3f} ms, measured / fitted {ratio:.2f}")
    rates, costs = TUNED_CONSTANTS["fft"]["rates"], TUNED_CONSTANTS["fft"]["costs"]
    for name, value in zip(rates + costs, (1 / per_flop, 1 / per_madd, overhead, phase)):
        print(f'"{name}": {value:.3g},')
    print(f"measured / fitted: median {np.median(ratios):.2f}, "
          f"range {ratios.min():.2f}-{ratios.max():.2f}")


if __name__ == "__main__":
    main()
