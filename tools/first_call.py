"""Issue-3 check: the first call on a new shape against a warm call, per suite layer.

    python tools/first_call.py [--backend direct] [--processes 5]

What is measured is the cost of a shape being new (plans, rankings, FFT
sizes, fresh output memory), not the cost of a process or its caches being
cold: the extension is imported, the OpenMP team started and the cores kept
busy for 0.3 s first (see measure_once), and each
layer's first call comes right after a call on a neighbouring shape (one row
and one column more, so no plan of the layer's own shape exists yet) that
warms the code paths. "warm" is the median of the next eleven calls, back
to back, and also of eleven calls that each follow a call of the neighbouring
shape again (as in a network, where each layer follows others): the second
compares first and warm calls in the same conditions but for the shape
being new, the first also includes what a tight loop gains. Timings
pause the garbage collector (as timeit does). Each of ``--processes`` fresh
processes measures every layer once; the ratio reported is the median.
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np

import deconv
from deconv._suite import SUITE
from deconv._timing import timings


def arrays(layer, rng, grow=0):
    n, h, w, c = layer.x
    x = rng.standard_normal((n, h + grow, w + grow, c)).astype(layer.dtype)
    if layer.data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x, rng.standard_normal(layer.kernel).astype(layer.dtype)


def measure_once(backend):
    """{layer: (first seconds, warm median seconds)} in this process."""
    # Keep both cores busy for 0.3 s first: on this VM an idle process's
    # first milliseconds of work run up to 3x slower (the very same call on
    # the very same arrays alternates 2 ms / 6 ms until then).
    start = time.perf_counter()
    while time.perf_counter() - start < 0.3:
        deconv.conv2d_transpose(np.ones((4, 16, 16, 64)), np.ones((3, 3, 64, 64)), num_threads=2)
    rng = np.random.default_rng(0)
    results = {}
    for layer in SUITE:
        def call_on(x, kernel):
            return lambda: deconv.conv2d_transpose(
                x, kernel, strides=layer.strides, padding=layer.padding,
                data_format=layer.data_format, dilation_rate=layer.dilation,
                backend=backend, num_threads=2)
        neighbour = call_on(*arrays(layer, rng, grow=1))
        call = call_on(*arrays(layer, rng))
        neighbour()
        first, *warm = timings(call, 12, warmup=False)
        # Warm calls that, like the first, each follow a call of another
        # shape (as layers of a network do): the same conditions but for
        # the shape being new.
        interleaved = []
        for _ in range(11):
            neighbour()
            interleaved += timings(call, 1, warmup=False)
        results[layer.name] = (first, float(np.median(warm)), float(np.median(interleaved)))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="backend to time (default: auto)")
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_once(args.backend)))
        return
    command = [sys.executable, __file__, "--child"]
    if args.backend:
        command += ["--backend", args.backend]
    runs = [json.loads(subprocess.run(command, check=True, capture_output=True,
                                      text=True).stdout) for _ in range(args.processes)]
    print(f"backend {args.backend or 'auto'}, median over {args.processes} processes; "
          f"warm: repeated back to back / each after a call of the neighbouring shape")
    print(f"{'layer':<15}{'first ms':>10}{'warm ms':>10}{'ratio':>8}"
          f"{'warm ms':>10}{'ratio':>8}")
    worst = [0.0, 0.0]
    for layer in SUITE:
        first = np.median([run[layer.name][0] for run in runs])
        line = f"{layer.name:<15}{first * 1e3:>10.3f}"
        for column in (1, 2):
            warm = np.median([run[layer.name][column] for run in runs])
            ratio = float(np.median([run[layer.name][0] / run[layer.name][column]
                                     for run in runs]))
            worst[column - 1] = max(worst[column - 1], ratio)
            line += f"{warm * 1e3:>10.3f}{ratio:>8.2f}"
        print(line)
    print(f"worst first/warm ratio: {worst[0]:.2f} (back to back), "
          f"{worst[1]:.2f} (after another shape)")


if __name__ == "__main__":
    main()
