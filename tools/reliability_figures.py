"""Figures behind the docs' guarantees page that tests must not assert
(they are timings): how soon Ctrl-C stops a long call on each backend, and
how long a call with absurd strides or dilations takes to plan.

    python tools/reliability_figures.py interrupts
    python tools/reliability_figures.py geometry
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

import deconv

# backend, x shape, kernel shape, stride, dtype: calls of several seconds
LONG_CALLS = {
    "direct wide": ("direct", (256, 32, 32, 256), (4, 4, 256, 256), 2, "float64"),
    "direct narrow": ("direct", (768, 64, 64, 64), (15, 15, 3, 64), 1, "float32"),
    "fft": ("fft", (512, 128, 128, 16), (31, 31, 16, 16), 1, "float32"),
    "reference": ("reference", (64, 32, 32, 256), (4, 4, 256, 256), 2, "float32"),
}

INTERRUPT = """
import os, signal, sys, threading, time, numpy as np, deconv
backend, x_shape, k_shape, stride, dtype = {case!r}
rng = np.random.default_rng(0)
x = rng.standard_normal(x_shape).astype(dtype)
k = rng.standard_normal(k_shape).astype(dtype)
sent = []
def interrupt():
    time.sleep(1.0)
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt, daemon=True).start()
try:
    deconv.conv2d_transpose(x, k, strides=stride, padding="same", backend=backend)
    print("finished before the signal")
except KeyboardInterrupt:
    print(f"KeyboardInterrupt {{time.perf_counter() - sent[0]:.3f}} s after SIGINT; ", end="")
print("usable afterwards:", deconv.conv2d_transpose(np.ones((1, 2, 2, 1)),
                                                    np.ones((2, 2, 1, 1))).shape)
"""


def interrupts():
    for name, case in LONG_CALLS.items():
        done = subprocess.run([sys.executable, "-c", INTERRUPT.format(case=case)],
                              capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "2"})
        print(f"{name:<14} {done.stdout.strip() or done.stderr.strip()[-200:]}")


HUGE = [1, 3, 7, 10 ** 9, 2 ** 40, 2 ** 61, 2 ** 62 - 1, 2 ** 62, 2 ** 63 - 1]


def geometry():
    """Every stride and dilation of HUGE on either axis of inputs of 0, 1 and
    3 rows, with the smallest valid output (where planning used to loop over
    the stride) and with the inferred one; each call after clear_caches()."""
    outcomes, worst = {}, {}
    kernel = np.ones((3, 2, 2, 2))
    for backend in ("auto", "direct", "fft", "reference", "choose_backend"):
        if backend != "choose_backend":  # first-call costs of the backend itself
            deconv.conv2d_transpose(np.ones((1, 3, 2, 2)), kernel, backend=backend)
        for size in (0, 1, 3):
            x = np.ones((1, size, 2, 2))
            for value in HUGE:
                for padding in ("same", "valid"):
                    for strides, dilation in (((value, 1), (1, 1)), ((1, 1), (1, value))):
                        low_h, _ = deconv.valid_output_sizes(size, 3, strides[0], dilation[0],
                                                             padding)
                        low_w, _ = deconv.valid_output_sizes(2, 2, strides[1], dilation[1],
                                                             padding)
                        for output_shape in ((1, low_h, low_w, 2), None):
                            deconv.clear_caches()
                            start = time.perf_counter()
                            try:
                                if backend == "choose_backend":
                                    deconv.choose_backend(x, kernel, output_shape, strides,
                                                          padding, dilation_rate=dilation)
                                else:
                                    deconv.conv2d_transpose(x, kernel, output_shape, strides,
                                                            padding, dilation_rate=dilation,
                                                            backend=backend)
                                outcome = "result"
                            except (ValueError, MemoryError) as error:
                                outcome = type(error).__name__
                            seconds = time.perf_counter() - start
                            outcomes[outcome] = outcomes.get(outcome, 0) + 1
                            if output_shape is not None and seconds > worst.get(backend, 0):
                                worst[backend] = seconds
    for backend, seconds in worst.items():
        print(f"{backend:<15} slowest call with the smallest valid output: "
              f"{seconds * 1e3:.2f} ms")
    print("outcomes:", outcomes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=["interrupts", "geometry"])
    {"interrupts": interrupts, "geometry": geometry}[parser.parse_args().figure]()


if __name__ == "__main__":
    main()
