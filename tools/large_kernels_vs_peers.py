"""Issue-4 check: large stride-1 kernels beyond the suite, "auto" against the peers.

    python tools/large_kernels_vs_peers.py      # in an environment with torch and tf_keras

Each layer is timed with backend="auto", PyTorch (channels_last) and TensorFlow
(the bench's runners), 2 threads each, in three interleaved rounds of seven;
medians, and the best peer's time over deconv's.
"""
import numpy as np

from deconv._bench import deconv_runner, tensorflow_runner, torch_runner
from deconv._suite import Layer
from deconv._timing import timings

LAYERS = [
    Layer("k21_c16", (2, 64, 64, 16), (21, 21, 16, 16), (1, 1), "same"),
    Layer("k25_c8", (1, 96, 96, 8), (25, 25, 8, 8), (1, 1), "same"),
    Layer("k15_c32", (1, 64, 64, 32), (15, 15, 32, 32), (1, 1), "same"),
    Layer("k17_c16_valid", (2, 48, 48, 16), (17, 17, 16, 16), (1, 1), "valid"),
    Layer("k31_rgb_deblur", (1, 128, 128, 3), (31, 31, 3, 3), (1, 1), "same"),
    Layer("k33_gray_256", (1, 256, 256, 1), (33, 33, 1, 1), (1, 1), "same"),
]


def main():
    print(f"{'layer':16} {'chosen':>10} {'auto ms':>8} {'torch':>8} {'tf':>8} {'best/auto':>9}")
    for layer in LAYERS:
        chosen, auto = deconv_runner(layer, "auto", 2)
        runs = {"auto": auto, "torch": torch_runner(layer, 2), "tf": tensorflow_runner(layer, 2)}
        med = {}
        for _ in range(3):  # interleaved rounds
            for name, run in runs.items():
                med.setdefault(name, []).extend(timings(run, 7))
        ms = {name: np.median(times) * 1e3 for name, times in med.items()}
        ahead = min(ms["torch"], ms["tf"]) / ms["auto"]
        print(f"{layer.name:16} {chosen:>10} {ms['auto']:8.3f} {ms['torch']:8.3f} "
              f"{ms['tf']:8.3f} {ahead:9.2f}x")


if __name__ == "__main__":
    main()
