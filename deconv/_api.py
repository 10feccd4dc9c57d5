"""Public verbs: thin wrappers over the planning and execution of ``_operator``.

A function call is an operator call whose kernel is not kept: the parsed
arguments select a cached :class:`deconv._operator.Planner` (per kernel shape
and dtype and static arguments), whose plans per input shape are kept, and
the kernel is packed inside the call as the plan needs.
"""
import numpy as np

from ._adjoint import AdjointPlanner
from ._arguments import (as_array, check_float_dtype, check_rank, integer_pair,
                         parse_data_format, parse_padding)
from ._caches import BoundedDict
from ._adjoint import adjoint_kernel, not_packed
from ._conv2d import conv2d_plan, execute_conv2d
from ._data_format import image_data_format
from ._dispatch import measured_choice, rank
from ._kernel_gradient import execute_gradient, gradient_plan
from ._operator import Planner, StaticArguments, execute
from ._problem import check_kernel_shape
from ._simd import all_finite
from ._threads import resolve_num_threads

# Static argument sets (kernel shape, strides, ...) whose planners are kept.
PLANNERS_KEPT = 128
_planners = BoundedDict(PLANNERS_KEPT)
# The same planners found by the arguments as the caller wrote them, when
# each is of a type whose equal values all parse alike (an int, a tuple of
# two ints, a str or None; not a float or a bool, which compare equal to an
# int but must raise): a repeated call skips the parsing, a few microseconds
# that are most of a small call.
_planners_as_written = BoundedDict(PLANNERS_KEPT)
# The same for conv2d and kernel gradients (keyed by the static arguments
# only: their plans are keyed by the array shapes).
_adjoint_planners = BoundedDict(PLANNERS_KEPT)


def _planner(x, kernel, strides, padding, data_format, dilation_rate, backend, num_threads):
    """Validate the arguments (in the Semantics page's order) and return the
    planner of the call, with x and the kernel as arrays."""
    written = None
    if type(x) is np.ndarray and type(kernel) is np.ndarray:
        written = _as_written(kernel, strides, padding, data_format, dilation_rate, backend,
                              num_threads)
        planner = None if written is None else _planners_as_written.get(written)
        if planner is not None:
            # Everything but x was valid when the planner was made.
            if x.ndim != 4:
                check_rank(x.shape, "x")
            check_float_dtype(x.dtype, "x")
            return planner, x, kernel
    data_format = parse_data_format(data_format)
    padding = parse_padding(padding)
    x = as_array(x, "x")
    kernel = as_array(kernel, "kernel")
    check_float_dtype(x.dtype, "x")
    check_float_dtype(kernel.dtype, "kernel")
    strides = integer_pair(strides, "strides")
    dilation_rate = integer_pair(dilation_rate, "dilation_rate")
    # Only exact types are keyed: True would find the planner made for 1.
    keyed = (backend is None or type(backend) is str) and \
        (num_threads is None or type(num_threads) is int)
    key = (kernel.shape, kernel.dtype, strides, dilation_rate, padding, data_format, backend,
           num_threads) if keyed else None
    planner = None if key is None else _planners.get(key)
    if planner is None:
        planner = Planner(kernel.shape, kernel.dtype, StaticArguments(
            strides, padding, data_format, dilation_rate, backend, num_threads))
        if key is not None:
            _planners.put(key, planner)
    if written is not None:
        _planners_as_written.put(written, planner)
    return planner, x, kernel


def _as_written(kernel, strides, padding, data_format, dilation_rate, backend, num_threads):
    """The key of ``_planners_as_written`` for these arguments, or None if
    one of them is of a type that key cannot hold."""
    if ((type(strides) is int or type(strides) is tuple and len(strides) == 2
         and type(strides[0]) is int and type(strides[1]) is int)
            and (type(dilation_rate) is int or type(dilation_rate) is tuple
                 and len(dilation_rate) == 2 and type(dilation_rate[0]) is int
                 and type(dilation_rate[1]) is int)
            and type(padding) is str
            and (data_format is None or type(data_format) is str)
            and (backend is None or type(backend) is str)
            and (num_threads is None or type(num_threads) is int)):
        return (kernel.shape, kernel.dtype, strides, dilation_rate, padding,
                image_data_format() if data_format is None else data_format, backend,
                num_threads)
    return None


def _not_packed(plan):
    return None


def conv2d_transpose(x, kernel, output_shape=None, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1), *, backend=None, num_threads=None,
                     out=None):
    """2-D transposed convolution with the semantics of ``tf.keras.backend.conv2d_transpose``.

    Each input pixel scatters a copy of the kernel, scaled by its value, into
    the output at ``stride`` spacing; "same" padding then crops the full result
    to ``output_shape`` (the odd extra row or column comes off the bottom or
    right). It is the adjoint (gradient with respect to the input) of
    ``conv2d(y, kernel, strides, padding, dilation_rate)``.

    Parameters
    ----------
    x : array_like
        Input, (N, h, w, Cin) for ``"channels_last"`` or (N, Cin, h, w) for
        ``"channels_first"``. Real floating point: float16, float32 or float64.
    kernel : array_like
        Kernel (kh, kw, Cout, Cin) -- rows, columns, OUT, IN -- for both
        layouts. It is not flipped.
    output_shape : sequence of 4 ints, optional
        (N, H, W, Cout) or (N, Cout, H, W) in the layout of ``data_format``;
        the batch entry may be None (x's batch). None (the default) infers
        H = h * s for "same" and H = (h - 1) * s + max(E, s) for "valid",
        where E = (kh - 1) * d + 1.
    strides : int or pair of ints, optional
        Spacing of the scattered copies, each >= 1. Default (1, 1).
    padding : {"valid", "same"}, optional
        Case-insensitive. Default "valid".
    data_format : {"channels_last", "channels_first"}, optional
        None (the default) means :func:`image_data_format`.
    dilation_rate : int or pair of ints, optional
        Spacing of the kernel taps, each >= 1. Unlike Keras 2, strides are
        honoured together with dilation. Default (1, 1).
    backend : str, optional
        ``"auto"``, ``"direct"``, ``"fft"``, ``"reference"`` or any registered
        name; None (the default) means :func:`current_backend`.
    num_threads : int, optional
        Threads to use; None means OMP_NUM_THREADS if set, else every usable core.
    out : ndarray, optional
        Where to write the result, as for NumPy's ufuncs: C-contiguous, of
        the output's shape (in the caller's layout) and dtype, sharing no
        memory with x or the kernel.

    Returns
    -------
    ndarray
        ``out``, or a new C-contiguous array in the caller's layout. Its dtype
        follows NumPy's promotion of ``x`` and ``kernel`` (float16 is
        computed in float32 and rounded at the end).

    Raises
    ------
    ValueError
        Unknown ``data_format``, ``padding`` or backend; arrays not of rank 4;
        non-positive strides or dilations; an ``output_shape`` that does not
        match x, the kernel, or a reachable size (the message gives the valid
        range); a forced backend that cannot compute the call; an ``out`` of
        the wrong shape, not C-contiguous, read-only or overlapping an input.
    TypeError
        Non-floating inputs, non-integer strides, dilations, sizes or thread
        counts; an ``out`` of the wrong type or dtype.
    MemoryError
        If the result cannot fit in this machine's memory.

    See Also
    --------
    Conv2DTranspose : the same with a fixed kernel, packed once.
    choose_backend : which backend ``"auto"`` takes for a call, and why.
    valid_output_sizes : the reachable output sizes of one dimension.

    Notes
    -----
    For every n, input pixel (i, j), tap (a, b), and channels o, c::

        r = i*sh + a*dh - pad_top ;  q = j*sw + b*dw - pad_left
        y[n, r, q, o] += x[n, i, j, c] * kernel[a, b, o, c]   (if 0 <= r < H, 0 <= q < W)

    with ``pad_top = max(0, (h-1)*sh + E_h - H) // 2`` for "same" and 0 for
    "valid" (columns alike).

    Examples
    --------
    A single pixel of value 1 reproduces the kernel, unflipped:

    >>> import numpy as np
    >>> import deconv
    >>> x = np.zeros((1, 1, 1, 1)); x[0, 0, 0, 0] = 1.0
    >>> k = np.arange(4.0).reshape(2, 2, 1, 1)
    >>> deconv.conv2d_transpose(x, k)[0, :, :, 0]
    array([[0., 1.],
           [2., 3.]])

    Upsampling by 2 with "same" padding, as in a DCGAN generator:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((8, 4, 4, 64), dtype=np.float32)
    >>> k = rng.standard_normal((4, 4, 32, 64), dtype=np.float32)
    >>> deconv.conv2d_transpose(x, k, strides=2, padding="same").shape
    (8, 8, 8, 32)
    """
    planner, x, kernel = _planner(x, kernel, strides, padding, data_format, dilation_rate,
                                  backend, num_threads)
    plan = planner.call_plan(x, output_shape)
    compute_kernel = np.ascontiguousarray(kernel, dtype=plan.problem.dtype)
    return execute(planner, plan, x, compute_kernel, _not_packed, None, out, (x, kernel))


def choose_backend(x, kernel, output_shape=None, strides=(1, 1), padding="valid",
                   data_format=None, dilation_rate=(1, 1), *, num_threads=None, measure=False):
    """Say which backend ``backend="auto"`` takes for a call, and why.

    Takes the arguments of :func:`conv2d_transpose` (and validates them the
    same way) but computes nothing unless ``measure`` is True.

    Parameters
    ----------
    x, kernel, output_shape, strides, padding, data_format, dilation_rate
        As for :func:`conv2d_transpose`.
    num_threads : int, optional
        As for :func:`conv2d_transpose`; the estimates depend on it.
    measure : bool, optional
        If True, run every usable candidate on this very call (once to warm
        up, then best of three) and choose the fastest measured one.

    Returns
    -------
    BackendChoice
        ``backend`` (the name), ``reason``, ``estimates`` (seconds per usable
        backend), ``rejected`` (backend -> why it cannot be used) and
        ``measured`` (seconds, with ``measure=True``).

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> x = np.ones((1, 8, 8, 16), np.float32)
    >>> k = np.ones((3, 3, 16, 16), np.float32)
    >>> choice = deconv.choose_backend(x, k, strides=2, padding="same")
    >>> choice.backend in deconv.list_backends()
    True
    >>> sorted(deconv.choose_backend(x, k, measure=True).measured) == sorted(choice.estimates)
    True
    """
    planner, x, kernel = _planner(x, kernel, strides, padding, data_format, dilation_rate,
                                  None, num_threads)
    problem = planner.problem(x, output_shape)
    finite = all_finite(x) and all_finite(kernel)
    choice = rank(problem, resolve_num_threads(num_threads), finite=finite)
    if not measure:
        return choice
    return measured_choice(choice, lambda name: conv2d_transpose(
        x, kernel, output_shape, strides, padding, data_format, dilation_rate, backend=name,
        num_threads=num_threads))


def _adjoint_planner(strides, padding, data_format, dilation_rate, backend, num_threads):
    """The :class:`deconv._adjoint.AdjointPlanner` of parsed layout and
    padding and the other static arguments (validated here)."""
    strides = integer_pair(strides, "strides")
    dilation_rate = integer_pair(dilation_rate, "dilation_rate")
    keyed = (backend is None or type(backend) is str) and \
        (num_threads is None or type(num_threads) is int)
    key = (strides, dilation_rate, padding, data_format, backend, num_threads) if keyed \
        else None
    planner = None if key is None else _adjoint_planners.get(key)
    if planner is None:
        planner = AdjointPlanner(StaticArguments(strides, padding, data_format, dilation_rate,
                                                 backend, num_threads))
        if key is not None:
            _adjoint_planners.put(key, planner)
    return planner


def conv2d(y, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
           *, backend=None, num_threads=None, out=None):
    """2-D convolution with the semantics of ``tf.keras.backend.conv2d``: the
    exact adjoint of :func:`conv2d_transpose` with the same kernel.

    For the same kernel array and arguments, ``conv2d(., kernel, s, p, d)``
    is the adjoint of ``conv2d_transpose(., kernel, ..., s, p, d)``:
    ``<conv2d(y), x> == <y, conv2d_transpose(x, kernel, y.shape)>`` for every
    stride, dilation, padding and output size. It is the gradient of a
    transposed convolution with respect to its input.

    Parameters
    ----------
    y : array_like
        (N, H, W, Cout) for ``"channels_last"`` or (N, Cout, H, W) for
        ``"channels_first"``; float16, float32 or float64.
    kernel : array_like
        (kh, kw, Cout, Cin): deconv's (and conv2d_transpose's) layout, read as
        TensorFlow's conv2d kernel (kh, kw, in, out). Not flipped.
    strides : int or pair of ints, optional
        Default (1, 1).
    padding : {"valid", "same"}, optional
        "valid": h = (H - E) // s + 1 (0 when H < E, where TensorFlow raises),
        E = (kh - 1) * d + 1; "same": h = ceil(H / s). Default "valid".
    data_format : {"channels_last", "channels_first"}, optional
        None (the default) means :func:`image_data_format`.
    dilation_rate : int or pair of ints, optional
        Default (1, 1). Strides are honoured together with dilation
        (TensorFlow's conv2d refuses that combination).
    backend, num_threads
        As for :func:`conv2d_transpose`.
    out : ndarray, optional
        Where to write the result: C-contiguous, of its shape (caller's
        layout) and dtype, sharing no memory with y or the kernel.

    Returns
    -------
    ndarray
        (N, h, w, Cin) or (N, Cin, h, w), dtype as :func:`conv2d_transpose`.

    Raises
    ------
    ValueError, TypeError, MemoryError
        As :func:`conv2d_transpose`, for y in place of x (y's channels must
        be ``kernel.shape[2]``).

    See Also
    --------
    Conv2D : the same with a fixed kernel, planned and packed once.
    conv2d_transpose_kernel_gradient : the gradient with respect to the kernel.

    Notes
    -----
    For every n, pixel (i, j) of the result, tap (a, b) and channel c::

        r = i*sh + a*dh - pad_top ;  q = j*sw + b*dw - pad_left
        x[n, i, j, c] = sum over a, b, o of y[n, r, q, o] * kernel[a, b, o, c]
                        (terms with r, q outside y dropped)

    with ``pad_top = max(0, (h - 1)*sh + E_h - H) // 2`` for "same" and 0
    for "valid" (columns alike): the crop of :func:`conv2d_transpose`.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> rng = np.random.default_rng(0)
    >>> kernel = rng.standard_normal((3, 3, 8, 4))
    >>> y = rng.standard_normal((2, 9, 9, 8))
    >>> deconv.conv2d(y, kernel, strides=2, padding="same").shape
    (2, 5, 5, 4)

    The adjoint identity:

    >>> x = rng.standard_normal((2, 5, 5, 4))
    >>> lhs = np.vdot(deconv.conv2d(y, kernel, strides=2, padding="same"), x)
    >>> rhs = np.vdot(y, deconv.conv2d_transpose(x, kernel, y.shape, strides=2, padding="same"))
    >>> bool(np.isclose(lhs, rhs))
    True
    """
    data_format = parse_data_format(data_format)
    padding = parse_padding(padding)
    y = as_array(y, "y")
    kernel = as_array(kernel, "kernel")
    check_float_dtype(y.dtype, "y")
    check_float_dtype(kernel.dtype, "kernel")
    check_kernel_shape(kernel.shape)
    planner = _adjoint_planner(strides, padding, data_format, dilation_rate, backend,
                               num_threads)
    plan = conv2d_plan(planner, y, kernel.shape, kernel.dtype)
    dtype = plan.problem.dtype
    return execute_conv2d(plan, y, lambda: all_finite(kernel),
                          lambda key: adjoint_kernel(kernel, plan, key, dtype),
                          not_packed, out, (y, kernel))


def conv2d_transpose_kernel_gradient(x, dy, kernel_size, strides=(1, 1), padding="valid",
                                     data_format=None, dilation_rate=(1, 1), *, backend=None,
                                     num_threads=None, out=None):
    """The gradient of a transposed convolution with respect to its kernel.

    For ``y = conv2d_transpose(x, kernel, dy.shape, strides, padding,
    data_format, dilation_rate)`` with a kernel of ``kernel_size``, the
    gradient of ``<dy, y>`` with respect to the kernel. It is also the kernel
    gradient of :func:`conv2d`: for ``z = conv2d(y, kernel, ...)``, the
    gradient of ``<g, z>`` is ``conv2d_transpose_kernel_gradient(g, y, ...)``.

    Parameters
    ----------
    x : array_like
        The transposed convolution's input, (N, h, w, Cin) or (N, Cin, h, w).
    dy : array_like
        The gradient of its output, (N, H, W, Cout) or (N, Cout, H, W): H and
        W must be sizes the transposed convolution reaches from h and w (the
        same messages as :func:`conv2d_transpose`'s ``output_shape``).
    kernel_size : int or pair of ints
        (kh, kw).
    strides, padding, data_format, dilation_rate, backend, num_threads
        As for :func:`conv2d_transpose`.
    out : ndarray, optional
        Where to write the result: C-contiguous (kh, kw, Cout, Cin) of the
        result's dtype, sharing no memory with x or dy.

    Returns
    -------
    ndarray
        (kh, kw, Cout, Cin), whatever the layout; dtype NumPy's promotion of
        x's and dy's (float16 computed in float32).

    Raises
    ------
    ValueError, TypeError, MemoryError
        As :func:`conv2d_transpose`; also for x and dy of different batches.

    Notes
    -----
    For every tap (a, b) and channels o, c::

        dkernel[a, b, o, c] = sum over n, i, j of x[n, i, j, c] * dy[n, r, q, o]
        r = i*sh + a*dh - pad_top ;  q = j*sw + b*dw - pad_left   (r, q inside dy)

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 4, 4, 3))
    >>> dy = rng.standard_normal((2, 8, 8, 5))
    >>> grad = deconv.conv2d_transpose_kernel_gradient(x, dy, (4, 4), strides=2,
    ...                                                padding="same")
    >>> grad.shape
    (4, 4, 5, 3)

    It is the derivative of ``<dy, conv2d_transpose(x, kernel)>``, which is
    linear in the kernel:

    >>> kernel = rng.standard_normal((4, 4, 5, 3))
    >>> value = np.vdot(dy, deconv.conv2d_transpose(x, kernel, dy.shape, strides=2,
    ...                                             padding="same"))
    >>> bool(np.isclose(np.vdot(grad, kernel), value))
    True
    """
    data_format = parse_data_format(data_format)
    padding = parse_padding(padding)
    x = as_array(x, "x")
    dy = as_array(dy, "dy")
    check_float_dtype(x.dtype, "x")
    check_float_dtype(dy.dtype, "dy")
    kernel_size = integer_pair(kernel_size, "kernel_size")
    planner = _adjoint_planner(strides, padding, data_format, dilation_rate, backend,
                               num_threads)
    plan = gradient_plan(planner, x, dy, kernel_size)
    return execute_gradient(plan, x, dy, out, (x, dy))
