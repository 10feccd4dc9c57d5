"""The reference suite's layers, for every backend, dtype and layout.

Shapes come from ``deconv._suite.SUITE`` (the layers of the project's
benchmark suite); each benchmark times one ``conv2d_transpose`` call with two
threads, and ``peakmem_*`` records the peak memory of the process around it.
"""
import numpy as np

import deconv
from deconv._suite import SUITE

REFERENCE_LAYERS = [layer for layer in SUITE][:14]
LAYER_NAMES = [layer.name for layer in REFERENCE_LAYERS]
BACKENDS = ["auto", "direct", "fft", "reference"]
THREADS = 2


def layer_inputs(layer_name, dtype=None, data_format=None):
    """The suite layer called ``layer_name`` and its random x (in the
    layout ``data_format``, by default the layer's) and kernel."""
    layer = next(layer for layer in SUITE if layer.name == layer_name)
    dtype, data_format = dtype or layer.dtype, data_format or layer.data_format
    rng = np.random.default_rng(0)
    x = rng.standard_normal(layer.x).astype(dtype)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return layer, x, rng.standard_normal(layer.kernel).astype(dtype)


class Layers:
    params = (LAYER_NAMES, BACKENDS, ["float32", "float64"], ["channels_last", "channels_first"])
    param_names = ["layer", "backend", "dtype", "data_format"]
    timeout = 120

    def setup(self, layer_name, backend, dtype, data_format):
        layer, self.x, self.kernel = layer_inputs(layer_name, dtype, data_format)
        self.kwargs = dict(strides=layer.strides, padding=layer.padding, data_format=data_format,
                           dilation_rate=layer.dilation, backend=backend, num_threads=THREADS)
        self.call()  # warm-up: caches, FFT plans

    def call(self):
        return deconv.conv2d_transpose(self.x, self.kernel, **self.kwargs)

    def time_conv2d_transpose(self, *params):
        self.call()

    def peakmem_conv2d_transpose(self, *params):
        self.call()


class Extra:
    """The layers beyond the reference suite (odd sizes, asymmetric strides,
    float64, channels_first, N=1, tiny), as deconv's bench command runs them."""
    params = ([layer.name for layer in SUITE[14:]], ["auto", "direct"])
    param_names = ["layer", "backend"]

    def setup(self, layer_name, backend):
        layer, self.x, self.kernel = layer_inputs(layer_name)
        self.kwargs = dict(strides=layer.strides, padding=layer.padding,
                           data_format=layer.data_format, dilation_rate=layer.dilation,
                           backend=backend, num_threads=THREADS)

    def time_conv2d_transpose(self, *params):
        deconv.conv2d_transpose(self.x, self.kernel, **self.kwargs)


class Operators:
    """Every suite layer through a Conv2DTranspose operator writing into an
    out= buffer: what a model run in a loop does (planned and packed once)."""
    params = ([layer.name for layer in SUITE],)
    param_names = ["layer"]
    timeout = 120

    def setup(self, layer_name):
        layer, self.x, kernel = layer_inputs(layer_name)
        self.operator = deconv.Conv2DTranspose(kernel, layer.strides, layer.padding,
                                               layer.data_format, layer.dilation,
                                               num_threads=THREADS)
        self.out = self.operator(self.x)  # plans, packs, and gives the buffer

    def time_operator_call(self, layer_name):
        self.operator(self.x, out=self.out)


class Dispatch:
    """What a call costs besides its arithmetic: validation, planning,
    estimates, guards; tiny calls through the function and an operator."""

    def setup(self):
        self.x = np.ones((1, 4, 4, 8), np.float32)
        self.kernel = np.ones((3, 3, 8, 8), np.float32)
        self.operator = deconv.Conv2DTranspose(self.kernel, 2, "same", num_threads=1)
        self.out = self.operator(self.x)

    def time_choose_backend(self):
        deconv.choose_backend(self.x, self.kernel, strides=2, padding="same")

    def time_tiny_call(self):
        deconv.conv2d_transpose(self.x, self.kernel, strides=2, padding="same", num_threads=1)

    def time_tiny_operator_call(self):
        self.operator(self.x, out=self.out)


class FirstCall:
    """A call on a shape whose plan is not kept yet (plans, rankings and FFT
    sizes made anew): every suite layer after clear_caches()."""
    params = ([layer.name for layer in SUITE],)
    param_names = ["layer"]
    timeout = 120

    def setup(self, layer_name):
        layer, self.x, self.kernel = layer_inputs(layer_name)
        self.kwargs = dict(strides=layer.strides, padding=layer.padding,
                           data_format=layer.data_format, dilation_rate=layer.dilation,
                           num_threads=THREADS)
        deconv.conv2d_transpose(self.x, self.kernel, **self.kwargs)  # code paths warm

    def time_first_call(self, layer_name):
        deconv.clear_caches()
        deconv.conv2d_transpose(self.x, self.kernel, **self.kwargs)


class Adjoints:
    """conv2d (the adjoint) and the kernel gradient on every suite layer's
    output shape, as ``python -m deconv bench --op`` times them; and conv2d
    through a Conv2D operator (a reconstruction loop's fixed kernel)."""
    params = ([layer.name for layer in SUITE], ["auto", "direct"])
    param_names = ["layer", "backend"]
    timeout = 120

    def setup(self, layer_name, backend):
        layer, self.x, self.kernel = layer_inputs(layer_name)
        self.kwargs = dict(strides=layer.strides, padding=layer.padding,
                           data_format=layer.data_format, dilation_rate=layer.dilation,
                           backend=backend, num_threads=THREADS)
        self.y = deconv.conv2d_transpose(self.x, self.kernel, **self.kwargs)
        self.operator = deconv.Conv2D(self.kernel, **self.kwargs)
        self.out = self.operator(self.y)

    def time_conv2d(self, *params):
        deconv.conv2d(self.y, self.kernel, **self.kwargs)

    def time_conv2d_operator(self, *params):
        self.operator(self.y, out=self.out)

    def time_kernel_gradient(self, *params):
        deconv.conv2d_transpose_kernel_gradient(self.x, self.y, self.kernel.shape[:2],
                                                **self.kwargs)
