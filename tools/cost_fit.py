"""What the cost-fitting tools share: timing many layers in interleaved
rounds, and a least-squares fit of a linear cost model's constants.

``tools/fit_fft_cost.py`` and ``tools/fit_direct_cost.py`` describe each
layer by the terms of its plan's work (``deconv._cost``: what the time grows
with) and time it; :func:`fit_constants` finds the nonnegative coefficients
of the terms that best explain the times in *relative* error, so a 30 us
call weighs as much as a 30 ms one.
"""
import argparse

import numpy as np
import scipy.optimize

from deconv._timing import timings


def fit_arguments(doc, layers, seed):
    """The command line every fitting tool takes (``--layers``, ``--seed``,
    ``--rounds``), with the tool's defaults; a tool adds its own options to
    the parser returned."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--layers", type=int, default=layers)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--rounds", type=int, default=3)
    return parser


def median_seconds(calls, rounds=3, repeats=5):
    """Median seconds of each call: ``repeats`` runs in each of ``rounds``
    rounds over all the calls, so that a burst of noise on a shared machine
    touches a few runs of many layers, not all the runs of one."""
    runs = [[] for _ in calls]
    for _ in range(rounds):
        for call, times in zip(calls, runs):
            times.extend(timings(call, repeats))
    return np.array([float(np.median(times)) for times in runs])


def fit_constants(design, seconds, known=None):
    """Nonnegative coefficients c minimizing the relative error of
    ``known + design @ c`` against ``seconds`` (rows: layers, columns:
    terms; ``known``: a part of each time already modelled, zero by
    default), and the measured / fitted ratio of each layer."""
    design, seconds = np.asarray(design, float), np.asarray(seconds, float)
    known = np.zeros(len(seconds)) if known is None else np.asarray(known, float)
    coefficients, _ = scipy.optimize.nnls(design / seconds[:, None], 1 - known / seconds)
    return coefficients, seconds / (known + design @ coefficients)


def report(labels, seconds, ratios, out=print):
    """One line per layer, then the spread of measured / fitted."""
    for label, measured, ratio in zip(labels, seconds, ratios):
        out(f"{label}: {measured * 1e3:8.3f} ms, measured / fitted {ratio:.2f}")
    out(f"measured / fitted: median {np.median(ratios):.2f}, "
        f"range {ratios.min():.2f}-{ratios.max():.2f}")
