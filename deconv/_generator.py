"""A DCGAN generator in NumPy with deconv: what ``python -m deconv`` shows
layer by layer and ``python -m deconv bench --pipeline`` times end to end.

Noise ``z`` (N, 100) goes through a dense layer (a NumPy matrix product, so
NumPy's BLAS runs just before the first transposed convolution), a bias and
ReLU, a reshape to (N, 4, 4, 512), then four 4x4 stride-2 "same" transposed
convolutions, each followed by a bias and ReLU (tanh after the last), to
(N, 64, 64, 3) images: the generator of Radford et al. (2016) without batch
normalization, which at inference folds into the weights and biases anyway.
Each transposed convolution is a :class:`deconv.Conv2DTranspose` writing
into a buffer of its own, so after the first batch nothing is allocated.
"""
import numpy as np

from ._api import conv2d_transpose
from ._operator import Conv2DTranspose

LATENT_SIZE = 100
# Spatial size of the dense layer's output, which the first layer upsamples.
FIRST_SIZE = 4
# (input channels, output channels) of the four layers, 4x4 -> 64x64 RGB.
GENERATOR_CHANNELS = [(512, 256), (256, 128), (128, 64), (64, 3)]


class Generator:
    """The generator's weights, its layers as operators, and their output
    buffers for one batch size.

    Parameters
    ----------
    batch : int
        Images per call.
    seed : int
        Seed of the random weights (scaled so that activations stay of order 1).
    num_threads : int, optional
        Threads of each transposed convolution (deconv's default if None).

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._generator import Generator, LATENT_SIZE
    >>> generator = Generator(batch=2)
    >>> z = np.random.default_rng(0).standard_normal((2, LATENT_SIZE), dtype=np.float32)
    >>> generator(z).shape
    (2, 64, 64, 3)
    >>> [name for name, _ in generator.stages()][:3]
    ['dense', 'layer 1', 'bias+relu 1']
    """

    def __init__(self, batch, seed=0, num_threads=None):
        rng = np.random.default_rng(seed)
        first_channels = GENERATOR_CHANNELS[0][0]
        self.batch = batch
        self.dense = rng.standard_normal(
            (LATENT_SIZE, FIRST_SIZE * FIRST_SIZE * first_channels), dtype=np.float32
        ) / np.float32(np.sqrt(LATENT_SIZE))
        self.dense_bias = 0.1 * rng.standard_normal(self.dense.shape[1], dtype=np.float32)
        self.kernels = [(rng.standard_normal((4, 4, cout, cin), dtype=np.float32)
                         / np.float32(np.sqrt(4 * cin))) for cin, cout in GENERATOR_CHANNELS]
        self.biases = [0.1 * rng.standard_normal(cout, dtype=np.float32)
                       for _, cout in GENERATOR_CHANNELS]
        self.arguments = dict(strides=2, padding="same", num_threads=num_threads)
        self.layers = [Conv2DTranspose(kernel, **self.arguments) for kernel in self.kernels]
        self.dense_out = np.empty((batch, self.dense.shape[1]), np.float32)
        size = FIRST_SIZE
        self.outputs = []
        for _, cout in GENERATOR_CHANNELS:
            size *= 2
            self.outputs.append(np.empty((batch, size, size, cout), np.float32))
        self._stages = self._make_stages()

    def stages(self):
        """The computation as (name, function of the previous stage's output)
        pairs, in order: "dense", then "layer i" (a transposed convolution)
        and its "bias+relu i" (or "bias+tanh 4")."""
        return list(self._stages)

    def _make_stages(self):
        def dense(z):
            np.matmul(z, self.dense, out=self.dense_out)
            self.dense_out += self.dense_bias
            np.maximum(self.dense_out, 0, out=self.dense_out)
            return self.dense_out.reshape(self.batch, FIRST_SIZE, FIRST_SIZE, -1)

        def layer(index):
            return lambda activations: self.layers[index](activations, out=self.outputs[index])

        def activation(index, last):
            def apply(activations):
                activations += self.biases[index]
                if last:
                    return np.tanh(activations, out=activations)
                return np.maximum(activations, 0, out=activations)
            return apply

        stages = [("dense", dense)]
        for index in range(len(self.layers)):
            last = index == len(self.layers) - 1
            stages.append((f"layer {index + 1}", layer(index)))
            stages.append((f"bias+{'tanh' if last else 'relu'} {index + 1}",
                           activation(index, last)))
        return stages

    def __call__(self, z):
        """Images for the noise ``z`` (batch, LATENT_SIZE), in the kept buffers."""
        activations = z
        for _, stage in self._stages:
            activations = stage(activations)
        return activations

    def with_functions(self, z):
        """The same computation with :func:`conv2d_transpose` calls instead
        of operators (new arrays every call)."""
        activations = np.maximum(z @ self.dense + self.dense_bias, 0).reshape(
            self.batch, FIRST_SIZE, FIRST_SIZE, -1)
        for index, kernel in enumerate(self.kernels):
            activations = conv2d_transpose(activations, kernel, **self.arguments)
            activations += self.biases[index]
            if index == len(self.kernels) - 1:
                np.tanh(activations, out=activations)
            else:
                np.maximum(activations, 0, out=activations)
        return activations
