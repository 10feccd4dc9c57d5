"""Issue-4 check: how often "auto" picks a backend within 15% of the fastest.

    python tools/auto_grid.py --shapes 80

Random shapes (seeded) over spatial 8-64, channels 1-64, kernels 2-33,
strides 1-4, float32, 2 threads. Every backend is timed (median of 5, a
backend already 5x slower than the best after one run is not repeated) and
compared with the backend ``choose_backend`` names. Uses the cost constants
in force (show_config's "cost model" line says which).
"""
import argparse

import numpy as np

import deconv
from deconv import _profile
from deconv._timing import timings

BACKENDS = ("direct", "fft", "reference")


def random_case(rng, sizes=(8, 64), kernels=(2, 33), strides=(1, 4)):
    """A random float32 layer: x (N, h, h, Cin) and kernel (k, k, Cout, Cin)
    shapes, stride and padding; the ranges are inclusive."""
    size = int(rng.integers(sizes[0], sizes[1] + 1))
    k = int(rng.integers(kernels[0], kernels[1] + 1))
    s = int(rng.integers(strides[0], strides[1] + 1))
    cin, cout = int(rng.integers(1, 65)), int(rng.integers(1, 65))
    n = int(rng.integers(1, 3))
    padding = str(rng.choice(["same", "valid"]))
    return (n, size, size, cin), (k, k, cout, cin), s, padding


def time_backend(x, kernel, strides, padding, backend, best):
    def call():
        deconv.conv2d_transpose(x, kernel, strides=strides, padding=padding, backend=backend,
                                num_threads=2)
    first = timings(call, 1)
    if first[0] > 5 * best:
        return first[0]
    return float(np.median(first + timings(call, 4, warmup=False)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"cost model: {_profile.profile_source()}")
    ratios = []
    for index in range(args.shapes):
        x_shape, k_shape, strides, padding = random_case(rng)
        x = rng.standard_normal(x_shape).astype(np.float32)
        kernel = rng.standard_normal(k_shape).astype(np.float32)
        chosen = deconv.choose_backend(x, kernel, strides=strides, padding=padding,
                                       num_threads=2).backend
        seconds, best = {}, float("inf")
        for backend in BACKENDS:
            seconds[backend] = time_backend(x, kernel, strides, padding, backend, best)
            best = min(best, seconds[backend])
        fastest = min(seconds, key=seconds.get)
        ratio = seconds[chosen] / seconds[fastest]
        ratios.append(ratio)
        flag = "" if ratio <= 1.15 else "  <-- off by more than 15%"
        print(f"{index:3d} x{x_shape} k{k_shape[:2]} Cout {k_shape[2]:2d} s{strides} {padding:5} "
              + " ".join(f"{b} {seconds[b] * 1e3:8.2f}" for b in BACKENDS)
              + f"  auto={chosen:9} ratio {ratio:.2f}{flag}")
    ratios = np.array(ratios)
    print(f"auto within 15% of the fastest on {np.mean(ratios <= 1.15):.0%} of {len(ratios)} "
          f"shapes; worst {ratios.max():.2f}x; geometric mean {np.exp(np.log(ratios).mean()):.3f}")


if __name__ == "__main__":
    main()
