"""The default job of ``python -m deconv``: a DCGAN-style generator
(``deconv._generator``), layer by layer.

Each layer is a :class:`deconv.Conv2DTranspose` operator writing into an
output buffer of its own, so that after the first batch the generator runs
without allocating; ``--loop`` times it against the same layers called as
functions, and traces what a loop allocates.
"""
import tracemalloc

import numpy as np

from ._config import show_config
from ._generator import GENERATOR_CHANNELS, LATENT_SIZE, Generator
from ._timing import timings


def run_demo(batch=16, repeats=5, seed=0, num_threads=None, loop=0):
    """Print the configuration, then run the generator on random input and report
    each layer's shapes, the backend ``"auto"`` chose, and its median time;
    with ``loop``, also time ``loop`` runs of the whole generator through
    operators and through functions, and what the operator loop allocates."""
    show_config()
    generator = Generator(batch, seed, num_threads)
    noise = np.random.default_rng(seed).standard_normal((batch, LATENT_SIZE), dtype=np.float32)
    print(f"\nDCGAN generator, batch {batch}, float32, channels_last: a dense layer to "
          f"4x4x{GENERATOR_CHANNELS[0][0]}, then transposed convolutions with kernel 4x4, "
          f"stride 2, 'same' (median of {repeats} runs):")
    print(f"  {'layer':<6}{'input':<20}{'output':<20}{'backend':<18}{'ms':>9}{'GFLOP/s':>10}")
    total = 0.0
    activations = generator.stages()[0][1](noise)
    for index, (layer, out) in enumerate(zip(generator.layers, generator.outputs), start=1):
        plan = layer.plan_for(activations)
        layer(activations, out=out)  # warm-up: plan, pack
        seconds = float(np.median(timings(lambda: layer(activations, out=out), repeats,
                                          warmup=False)))
        total += seconds
        flops = 2 * activations.size * out.shape[3] * 16
        print(f"  {index:<6}{str(activations.shape):<20}{str(out.shape):<20}"
              f"{plan.backend + ' (' + plan.variant + ')':<18}{seconds * 1e3:>9.3f}"
              f"{flops / seconds / 1e9:>10.1f}")
        activations = out
    images = generator(noise)
    print(f"  total {total * 1e3:.3f} ms; image batch {images.shape}, values in "
          f"[{images.min():.2f}, {images.max():.2f}]")
    if loop:
        report_loop(generator, noise, loop)
    return 0


def report_loop(generator, noise, runs):
    """Time ``runs`` runs of the generator through operators (with their
    output buffers) and through functions, alternately, and trace the
    memory the operator loop allocates."""
    generator(noise)
    generator.with_functions(noise)
    operator_seconds, function_seconds = [], []
    for _ in range(5):  # alternate, so that a change of machine speed hits both
        operator_seconds += timings(lambda: [generator(noise) for _ in range(runs)], 1)
        function_seconds += timings(lambda: [generator.with_functions(noise)
                                             for _ in range(runs)], 1)
    tracemalloc.start()
    try:
        # One traced run first: NumPy keeps a small block of its last strided
        # in-place operation (56 bytes, the reference backend's +=) until the
        # next one, so only from then on is a kept byte one a run has leaked.
        generator(noise)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(runs):
            generator(noise)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    operators, functions = float(np.median(operator_seconds)), float(np.median(function_seconds))
    print(f"\n{runs} runs of the generator (median of 5 alternating loops):")
    print(f"  operators with out= buffers {operators * 1e3:9.2f} ms")
    print(f"  conv2d_transpose calls      {functions * 1e3:9.2f} ms")
    print(f"  ratio {operators / functions:.2f}")
    print(f"  traced by tracemalloc over the operator loop: {after - before} bytes kept, "
          f"peak {peak - before} bytes above the start (one image batch is "
          f"{generator.outputs[-1].nbytes} bytes)")
