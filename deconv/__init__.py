"""deconv: fast 2-D transposed convolution on NumPy arrays, with the exact
semantics of ``tf.keras.backend.conv2d_transpose``.

>>> import numpy as np, deconv
>>> deconv.conv2d_transpose(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), strides=2).shape
(1, 5, 5, 1)
"""
from ._api import choose_backend, conv2d, conv2d_transpose, conv2d_transpose_kernel_gradient
from ._conv2d import Conv2D
from ._backend import Backend, BackendPlan
from ._caches import clear_caches
from ._config import show_config
from ._data_format import image_data_format, set_image_data_format
from ._direct import DirectBackend
from ._dispatch import BackendChoice
from ._fft import FFTBackend
from ._geometry import valid_output_sizes
from ._operator import CallPlan, Conv2DTranspose
from ._problem import ConvTransposeProblem
from ._reference import ReferenceBackend
from ._registry import (
    current_backend,
    get_backend,
    list_backends,
    register_backend,
    set_backend,
    set_global_backend,
    unregister_backend,
)
from ._version import __version__
from ._winograd import WinogradBackend

register_backend(ReferenceBackend())
register_backend(DirectBackend())
register_backend(FFTBackend())
register_backend(WinogradBackend())

__all__ = [
    "Backend",
    "BackendChoice",
    "BackendPlan",
    "CallPlan",
    "Conv2DTranspose",
    "Conv2D",
    "ConvTransposeProblem",
    "__version__",
    "choose_backend",
    "clear_caches",
    "conv2d",
    "conv2d_transpose",
    "conv2d_transpose_kernel_gradient",
    "current_backend",
    "get_backend",
    "image_data_format",
    "list_backends",
    "register_backend",
    "set_backend",
    "set_global_backend",
    "set_image_data_format",
    "show_config",
    "unregister_backend",
    "valid_output_sizes",
]
