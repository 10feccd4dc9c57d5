"""The NumPy DCGAN generator end to end (``python -m deconv bench --pipeline``).

A dense layer on NumPy's BLAS, then four transposed convolutions with bias
and ReLU/tanh, batch 16, two threads: with NumPy's BLAS as it is, and with
it on one thread (threadpoolctl), the recipe for pipelines. The second is
what deconv's layers cost in a pipeline; the first shows what OpenBLAS's
spinning threads take from them.
"""
import numpy as np

from deconv._generator import LATENT_SIZE, Generator

THREADS = 2


class Pipeline:
    params = (["default", "one thread"],)
    param_names = ["blas"]
    timeout = 120

    def setup(self, blas):
        self.generator = Generator(16, num_threads=THREADS)
        self.z = np.random.default_rng(1).standard_normal((16, LATENT_SIZE), dtype=np.float32)
        self.limit = None
        if blas == "one thread":
            from threadpoolctl import ThreadpoolController
            self.limit = ThreadpoolController().limit(limits=1, user_api="blas")
        self.generator(self.z)  # warm-up: plans, packed kernels, pages

    def teardown(self, blas):
        if self.limit is not None:
            self.limit.restore_original_limits()

    def time_generator(self, blas):
        self.generator(self.z)
