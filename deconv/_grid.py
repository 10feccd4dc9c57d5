"""Random layers that check ``"auto"``'s dispatch against measurements: the
held-out grid of ``python -m deconv tune`` and ``python -m deconv bench
--grid``.

A case is drawn from wide ranges (spatial 8-64, kernels 1-33, strides 1-4,
batches 1-64 log-uniformly, channels 1-64, and with probability
``narrow`` each of Cin and Cout from 1-3), float32; draws past ``max_madds``
nominal multiply-adds are drawn again so that timing every backend stays
quick. Every backend is timed on it; the choice ``"auto"`` makes with the
constants in force is scored by its time over the fastest one's.
"""
import math
import time
from typing import NamedTuple

import numpy as np

from ._api import choose_backend, conv2d_transpose
from ._config import processor_name
from ._timing import timings

# The backends "auto" chooses among.
BACKENDS = ("direct", "fft", "reference", "winograd")
# What "within" means: auto's choice at most this much slower than the fastest.
TOLERANCE = 1.15
# Long enough for the idle threads of OpenMP to stop spinning.
QUIET_SECONDS = 0.1
# Each backend's share of a round: a fast call runs in a burst of about this
# long (at most 1000 calls), every call timed. A 20 us call timed five
# times, once a round, once had a median of 58 us (28 us in bursts): the
# median of a burst is a spike's only if most of the burst is.
BURST_SECONDS = 0.002
# After the reference backend's products: OpenBLAS's idle threads spin for
# about 2**28 cycles, but a direct call timed 0.1 s after them still took
# 4-8 ms (one or two of the scheduler's ticks) instead of 0.1.
BLAS_QUIET_SECONDS = 0.5


class GridCase(NamedTuple):
    """One random layer: x (N, h, h, Cin) and kernel (k, k, Cout, Cin)
    shapes, stride, padding, and the seed of its data."""
    x_shape: tuple
    kernel_shape: tuple
    strides: int
    padding: str
    seed: int

    def arrays(self):
        rng = np.random.default_rng(self.seed)
        return (rng.standard_normal(self.x_shape, dtype=np.float32),
                rng.standard_normal(self.kernel_shape, dtype=np.float32))

    def describe(self):
        k, _, cout, _ = self.kernel_shape
        return f"x{self.x_shape} k{k} Cout {cout:2d} s{self.strides} {self.padding:5}"


class DispatchScore(NamedTuple):
    """How close auto's choices came to the fastest backend: the fraction of
    cases ``within`` TOLERANCE, the ``worst`` ratio, their ``geomean``."""
    within: float
    worst: float
    geomean: float

    def no_worse_than(self, other):
        """At least as many cases within tolerance, and a geometric mean no
        higher than ``other``'s."""
        return self.within >= other.within and self.geomean <= other.geomean

    def __str__(self):
        return (f"within {_percent()} of the fastest on "
                f"{self.within:.0%}, worst {self.worst:.2f}x, geometric mean {self.geomean:.3f}")


def random_cases(seed, count, sizes=(8, 64), kernels=(1, 33), strides=(1, 4),
                 batches=(1, 64), narrow=1 / 3, max_madds=2e8):
    """``count`` random :class:`GridCase`; the ranges are inclusive."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        k = int(rng.integers(kernels[0], kernels[1] + 1))
        s = int(rng.integers(strides[0], strides[1] + 1))
        cin, cout = (int(rng.integers(1, 4)) if rng.random() < narrow else
                     int(rng.integers(1, 65)) for _ in range(2))
        n = min(batches[1], int(math.exp(rng.uniform(math.log(batches[0]),
                                                     math.log(batches[1] + 1)))))
        padding = str(rng.choice(["same", "valid"]))
        if n * size * size * cin * cout * k * k <= max_madds:
            cases.append(GridCase((n, size, size, cin), (k, k, cout, cin), s, padding,
                                  int(rng.integers(1 << 31))))
    return cases


def time_backends(case, threads, repeats=5):
    """Median seconds on ``case`` of each backend of BACKENDS that "auto"
    considers for it (one with an estimate: the winograd backend hands the
    layers it cannot help to the direct kernel, which would be timed twice).

    Each backend is first called once untimed and twice timed, after a
    pause of QUIET_SECONDS (the first calls after a pause are the slowest:
    a 0.1 ms call once took a scheduler tick, 4 ms). A backend whose faster
    first timing was five times the best's is not run again; the others
    are timed in ``repeats - 2`` more interleaved rounds: the machine's
    speed drifts over seconds, so each round compares the backends at the
    same moment. In a round, a backend whose first timings were shorter
    than BURST_SECONDS runs a burst of calls that long, each timed. The
    reference backend is timed after all that, all at once (as many calls
    as its rounds would have taken), and followed by a pause of
    BLAS_QUIET_SECONDS: its products leave OpenBLAS's threads spinning,
    which slows down whatever is timed next several times over."""
    x, kernel = case.arrays()
    estimates = choose_backend(x, kernel, strides=case.strides, padding=case.padding,
                               num_threads=threads).estimates
    calls = {}
    for backend in (name for name in BACKENDS if estimates.get(name) is not None):
        def call(backend=backend):
            conv2d_transpose(x, kernel, strides=case.strides, padding=case.padding,
                             backend=backend, num_threads=threads)
        calls[backend] = call
    reference = calls.pop("reference", None)
    seconds = {}
    for backend, call in calls.items():
        time.sleep(QUIET_SECONDS)
        seconds[backend] = timings(call, 2)
    best = min((min(times) for times in seconds.values()), default=math.inf)
    live = [backend for backend in calls if min(seconds[backend]) <= 5 * best]
    bursts = {backend: _burst(seconds[backend]) for backend in live}
    for _ in range(repeats - 2):
        for backend in live:
            seconds[backend] += timings(calls[backend], bursts[backend], warmup=False)
    if reference is not None:
        time.sleep(QUIET_SECONDS)
        seconds["reference"] = timings(reference, 2)
        if min(seconds["reference"]) <= 5 * best:
            seconds["reference"] += timings(
                reference, (repeats - 2) * _burst(seconds["reference"]), warmup=False)
        time.sleep(BLAS_QUIET_SECONDS)
    return {backend: float(np.median(times)) for backend, times in seconds.items()}


def _burst(first_seconds):
    """Calls in a backend's share of a round: about BURST_SECONDS of them
    (at most 1000), going by its faster first timing; one for a call that
    long or longer."""
    return max(1, min(1000, int(BURST_SECONDS / max(min(first_seconds), 1e-9))))


def chosen_backend(case, threads):
    """The backend "auto" takes for ``case`` with the constants in force."""
    x, kernel = case.arrays()
    return choose_backend(x, kernel, strides=case.strides, padding=case.padding,
                          num_threads=threads).backend


def score(ratios):
    """The :class:`DispatchScore` of auto's time over the fastest, per case."""
    ratios = np.asarray(ratios, float)
    return DispatchScore(float(np.mean(ratios <= TOLERANCE)), float(ratios.max()),
                         float(np.exp(np.log(ratios).mean())))


def run_grid(shapes=50, seed=1, threads=2, out=print, json_path=None):
    """``python -m deconv bench --grid``: time every backend on ``shapes``
    random layers of ``seed``, print each with auto's choice under the
    constants in force and the ratio to the fastest, then the score; return
    the :class:`DispatchScore`."""
    from . import _profile
    out(f"cost model: {_profile.profile_source()}")
    ratios, rows = [], []
    for index, case in enumerate(random_cases(seed, shapes)):
        seconds = time_backends(case, threads)
        chosen = chosen_backend(case, threads)
        ratio = seconds[chosen] / min(seconds.values())
        ratios.append(ratio)
        rows.append({"case": case.describe(), "seconds": seconds, "auto": chosen, "ratio": ratio})
        flag = "" if ratio <= TOLERANCE else f"  <-- off by more than {_percent()}"
        out(f"{index:3d} {case.describe()} "
            + " ".join(f"{name} {seconds[name] * 1e3:8.3f}" if name in seconds else
                       f"{name} {'-':>8}" for name in BACKENDS)
            + f"  auto={chosen:9} ratio {ratio:.2f}{flag}")
    result = score(ratios)
    out(f"seed {seed}, {len(ratios)} shapes, {threads} threads: auto {result}")
    if json_path:
        import json
        with open(json_path, "w") as handle:
            json.dump({"seed": seed, "threads": threads, "processor": processor_name(),
                       "score": result._asdict(), "rows": rows}, handle, indent=1)
    return result


def _percent():
    return f"{int(round((TOLERANCE - 1) * 100))}%"
