"""Issue-3 check: the first call on a new shape against a warm call, per suite layer.

    python tools/first_call.py

Each layer's shape is new to the process when it is first called (plans,
rankings and FFT sizes are computed then); "warm" is the median of the next
eleven calls. The extension is imported and one unrelated two-thread call made
first, so import and OpenMP start-up costs are not counted.
"""
import numpy as np

import deconv
from deconv._suite import SUITE
from deconv._timing import timings


def main():
    # Start the OpenMP team once (a per-process cost, not a per-shape one).
    deconv.conv2d_transpose(np.ones((4, 16, 16, 64)), np.ones((3, 3, 64, 64)), num_threads=2)
    rng = np.random.default_rng(0)
    worst = 0.0
    print(f"{'layer':<15}{'first ms':>10}{'warm ms':>10}{'ratio':>8}")
    for layer in SUITE:
        x = rng.standard_normal(layer.x).astype(layer.dtype)
        if layer.data_format == "channels_first":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        kernel = rng.standard_normal(layer.kernel).astype(layer.dtype)

        def call():
            deconv.conv2d_transpose(x, kernel, strides=layer.strides, padding=layer.padding,
                                    data_format=layer.data_format,
                                    dilation_rate=layer.dilation, num_threads=2)
        first, *warm = timings(call, 12, warmup=False)
        ratio = first / float(np.median(warm))
        worst = max(worst, ratio)
        print(f"{layer.name:<15}{first * 1e3:>10.3f}{np.median(warm) * 1e3:>10.3f}{ratio:>8.2f}")
    print(f"worst first/warm ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
