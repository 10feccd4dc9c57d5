"""Record direct vs FFT time against kernel size (stride 1), for the Backends page.

Run on a quiet machine, then rebuild the docs:

    python docs/scripts/measure_crossover.py   # writes docs/data/crossover.json
"""
import json
import os
import platform

import numpy as np

import deconv
from deconv._timing import timings

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SIZES = [3, 5, 7, 9, 11, 13, 15, 17, 21, 25, 31, 37, 45]
SHAPE = (2, 64, 64, 16)  # N, h, w, Cin = Cout
THREADS = 2


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    rows = []
    for k in SIZES:
        kernel = rng.standard_normal((k, k, SHAPE[3], SHAPE[3]), dtype=np.float32)
        seconds = {backend: float(np.median(timings(lambda: deconv.conv2d_transpose(
            x, kernel, padding="same", backend=backend, num_threads=THREADS), 7)))
            for backend in ("direct", "fft")}
        choice = deconv.choose_backend(x, kernel, padding="same", num_threads=THREADS)
        rows.append({"kernel": k, "seconds": seconds, "estimates": choice.estimates,
                     "auto": choice.backend})
        print(k, seconds, choice.backend)
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "crossover.json"), "w") as handle:
        json.dump({"x": SHAPE, "threads": THREADS, "dtype": "float32", "padding": "same",
                   "machine": platform.machine(), "deconv": deconv.__version__,
                   "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
