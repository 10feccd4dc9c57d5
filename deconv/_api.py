"""Public verbs: validate -> normalize layout -> choose a backend -> run."""

from . import _dispatch
from ._registry import AUTO, check_backend_name, current_backend, get_backend
from ._threads import resolve_num_threads
from ._validation import prepare, to_caller_layout


def conv2d_transpose(x, kernel, output_shape=None, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1), *, backend=None, num_threads=None):
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

    Returns
    -------
    ndarray
        New C-contiguous array in the caller's layout. Its dtype follows
        NumPy's promotion of ``x`` and ``kernel`` (float16 is computed in
        float32 and rounded at the end).

    Raises
    ------
    ValueError
        Unknown ``data_format``, ``padding`` or backend; arrays not of rank 4;
        non-positive strides or dilations; an ``output_shape`` that does not
        match x, the kernel, or a reachable size (the message gives the valid
        range); a forced backend that cannot compute the call.
    TypeError
        Non-floating inputs, non-integer strides, dilations, sizes or thread counts.
    MemoryError
        If the result cannot fit in this machine's memory.

    See Also
    --------
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
    problem = prepare(x, kernel, output_shape, strides, padding, data_format, dilation_rate)
    threads = resolve_num_threads(num_threads)
    name = check_backend_name(current_backend() if backend is None else backend)
    if problem.is_empty:
        if name != AUTO:
            _forced_backend(name, problem)
        return to_caller_layout(problem, problem.new_output(zeros=True))
    if name == AUTO:
        chosen = get_backend(_dispatch.fastest_usable(problem, threads))
    else:
        chosen = _forced_backend(name, problem)
    return to_caller_layout(problem, chosen(problem, threads))


def _forced_backend(name, problem):
    chosen = get_backend(name)
    reason = _dispatch.unsupported_reason(chosen, problem)
    if reason is not None:
        raise ValueError(f"backend {name!r} cannot compute this call: {reason}")
    return chosen


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
    problem = prepare(x, kernel, output_shape, strides, padding, data_format, dilation_rate)
    return _dispatch.choose(problem, resolve_num_threads(num_threads), measure=measure)
