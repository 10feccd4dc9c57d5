"""The default job of ``python -m deconv``: a DCGAN-style generator, layer by layer."""
import numpy as np

from ._api import choose_backend, conv2d_transpose
from ._config import show_config
from ._timing import timings

# (input channels, output channels) of a 4-layer DCGAN generator, 4x4 -> 64x64 RGB.
GENERATOR_CHANNELS = [(512, 256), (256, 128), (128, 64), (64, 3)]


def run_demo(batch=16, repeats=5, seed=0, num_threads=None):
    """Print the configuration, then run the generator on random input and report
    each layer's shapes, the backend ``"auto"`` chose, and its median time."""
    show_config()
    rng = np.random.default_rng(seed)
    activations = rng.standard_normal((batch, 4, 4, GENERATOR_CHANNELS[0][0]), dtype=np.float32)
    print(f"\nDCGAN generator, batch {batch}, float32, channels_last, kernel 4x4, stride 2, "
          f"'same' (median of {repeats} runs):")
    print(f"  {'layer':<6}{'input':<20}{'output':<20}{'backend':<10}{'ms':>9}{'GFLOP/s':>10}")
    total = 0.0
    for index, (cin, cout) in enumerate(GENERATOR_CHANNELS, start=1):
        kernel = (rng.standard_normal((4, 4, cout, cin), dtype=np.float32)
                  / np.float32(np.sqrt(16 * cin)))
        arguments = dict(strides=2, padding="same", num_threads=num_threads)
        choice = choose_backend(activations, kernel, **arguments)
        output = conv2d_transpose(activations, kernel, **arguments)  # warm-up
        seconds = float(np.median(timings(
            lambda: conv2d_transpose(activations, kernel, **arguments), repeats, warmup=False)))
        total += seconds
        flops = 2 * activations.size * cout * 16
        print(f"  {index:<6}{str(activations.shape):<20}{str(output.shape):<20}"
              f"{choice.backend:<10}{seconds * 1e3:>9.3f}{flops / seconds / 1e9:>10.1f}")
        activations = np.tanh(output) if index == len(GENERATOR_CHANNELS) else np.maximum(output, 0)
    print(f"  total {total * 1e3:.3f} ms; image batch {activations.shape}, values in "
          f"[{activations.min():.2f}, {activations.max():.2f}]")
    return 0
