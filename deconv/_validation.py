"""Argument checks and the output-size rules: the one place errors are raised.

Everything here follows SPEC.md section 5, in its order, and raises before any
large allocation: arrays are only inspected (``np.asarray`` does not copy an
existing array) until every rule has passed, and sizes are computed with Python
integers so nothing can overflow.
"""
import functools
import numbers
import operator
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._data_format import DATA_FORMATS, image_data_format

PADDINGS = ("same", "valid")
SUPPORTED_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
# Largest output extent (full, uncropped) handled: keeps every index product in
# the kernels well inside int64.
MAX_EXTENT = 2 ** 62


class Axis(NamedTuple):
    """Geometry of one spatial dimension of a transposed convolution.

    ``pad`` is how many leading rows (columns) of the full output are cropped.
    A named tuple: the backends' caches key on it, and a tuple hashes in C.
    """

    name: str
    in_size: int
    out_size: int
    kernel_size: int
    stride: int
    dilation: int
    pad: int

    @property
    def effective_kernel(self):
        return (self.kernel_size - 1) * self.dilation + 1


@dataclass(frozen=True, eq=False)
class ConvTransposeProblem:
    """A validated call, indexed channels-last, ready for any backend.

    Backends receive this object; they return an array of ``output_shape`` and
    dtype ``x.dtype`` (:meth:`new_output` allocates one in the caller's layout).

    Attributes
    ----------
    x : ndarray
        Input, shape (N, h, w, Cin), native byte order, in the compute dtype
        (float32 or float64). C-contiguous for channels-last callers; for
        channels-first callers, a transposed view of a C-contiguous
        (N, Cin, h, w) array (no copy is made to change the layout).
    kernel : ndarray
        Kernel, shape (kh, kw, Cout, Cin), same dtype and layout guarantees.
    output_shape : tuple of int
        (N, H, W, Cout).
    rows, cols : Axis
        Geometry of the two spatial dimensions.
    result_dtype : numpy.dtype
        The dtype returned to the caller (float16 inputs are computed in
        float32 and rounded at the end).
    data_format : str
        The caller's layout, ``"channels_last"`` or ``"channels_first"``.

    Examples
    --------
    A registered backend receives one of these; its geometry says everything
    about the call:

    >>> import numpy as np
    >>> import deconv
    >>> class Inspect(deconv.Backend):
    ...     name = "inspect"
    ...     def __call__(self, problem, num_threads):
    ...         print(problem.x.shape, problem.output_shape, problem.rows.pad, problem.rows.stride)
    ...         return np.zeros(problem.output_shape, problem.x.dtype)
    >>> deconv.register_backend(Inspect())
    >>> _ = deconv.conv2d_transpose(np.ones((1, 2, 4, 4)), np.ones((3, 3, 5, 2)), strides=2,
    ...                             padding="same", data_format="channels_first",
    ...                             backend="inspect")
    (1, 4, 4, 2) (1, 8, 8, 5) 0 2
    >>> deconv.unregister_backend("inspect")
    """

    x: np.ndarray
    kernel: np.ndarray
    output_shape: tuple
    rows: Axis
    cols: Axis
    result_dtype: np.dtype
    data_format: str

    @property
    def multiply_adds(self):
        """Useful multiply-adds (contributions that land inside the output)."""
        n, _, _, cout = self.output_shape
        cin = self.x.shape[3]
        return n * cin * cout * _landing_taps(self.rows) * _landing_taps(self.cols)

    def new_output(self, zeros=False):
        """A new output array of ``output_shape`` (N, H, W, Cout) and ``x.dtype``,
        stored in the caller's layout: for channels-first callers it is a
        transposed view of a C-contiguous (N, Cout, H, W) array."""
        make = np.zeros if zeros else np.empty
        if self.data_format == "channels_first":
            n, h, w, c = self.output_shape
            return make((n, c, h, w), dtype=self.x.dtype).transpose(0, 2, 3, 1)
        return make(self.output_shape, dtype=self.x.dtype)

    @property
    def is_empty(self):
        return self.x.size == 0 or self.kernel.size == 0 or 0 in self.output_shape


def _landing_taps(axis):
    """Number of (input index, kernel tap) pairs whose output lands in range."""
    total = 0
    for a in range(axis.kernel_size):
        low = axis.pad - a * axis.dilation           # i * stride >= low
        high = axis.out_size + axis.pad - a * axis.dilation  # i * stride < high
        first = max(0, -(-low // axis.stride))
        last = min(axis.in_size, -(-high // axis.stride))
        total += max(0, last - first)
    return total


def valid_output_sizes(in_size, kernel_size, stride, dilation, padding):
    """Inclusive range of output sizes reachable for one spatial dimension.

    Parameters
    ----------
    in_size, kernel_size, stride, dilation : int
    padding : {"same", "valid"}

    Returns
    -------
    (low, high) : tuple of int

    Examples
    --------
    >>> from deconv import valid_output_sizes
    >>> valid_output_sizes(5, 3, 2, 1, "valid")
    (11, 12)
    >>> valid_output_sizes(5, 3, 2, 1, "same")
    (9, 10)
    """
    effective = (kernel_size - 1) * dilation + 1
    if padding == "same":
        if in_size == 0:
            return 0, 0
        return (in_size - 1) * stride + 1, in_size * stride
    if in_size == 0:
        return max(0, effective - 2 * stride + 1), effective - 1
    low = (in_size - 1) * stride + effective
    return low, low + stride - 1


def inferred_output_size(in_size, kernel_size, stride, dilation, padding):
    """The output size used when ``output_shape`` is None (Keras 3 rule)."""
    if padding == "same":
        return in_size * stride
    effective = (kernel_size - 1) * dilation + 1
    return max(0, (in_size - 1) * stride + max(effective, stride))


def _as_array(value, name):
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged nested sequences, exotic objects
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if array.ndim != 4:
        layout = "(kh, kw, Cout, Cin)" if name == "kernel" else \
            "(N, h, w, Cin) or (N, Cin, h, w)"
        raise ValueError(f"{name} must be a 4-D array {layout}; got an array of rank "
                         f"{array.ndim} with shape {array.shape}")
    return array


def _check_float_dtype(array, name):
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return
    if dtype.kind == "f":
        hint = f"{name}.astype(np.float64)"
    elif dtype.kind == "c":
        hint = f"the real and imaginary parts separately, e.g. {name}.real.astype(np.float64)"
    else:
        hint = f"{name}.astype(np.float32)"
    raise TypeError(f"{name} has dtype {dtype}; deconv computes with real floating point "
                    f"only (float16, float32 or float64): convert it first with {hint}")


def _is_integer(value):
    if type(value) is int:  # the common case, without the slower ABC check
        return True
    return (isinstance(value, (numbers.Integral, np.integer))
            and not isinstance(value, (bool, np.bool_)))


def _integer_pair(value, name):
    """Parse strides / dilation_rate: an int or two ints, each >= 1."""
    if type(value) is int and value >= 1:  # the common cases, checked quickly
        return value, value
    if (type(value) is tuple and len(value) == 2 and type(value[0]) is int
            and type(value[1]) is int and value[0] >= 1 and value[1] >= 1):
        return value
    if _is_integer(value):
        entries = [value, value]
    elif isinstance(value, np.ndarray) and value.ndim <= 1:
        if value.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers; got an array of dtype {value.dtype}")
        entries = list(value.reshape(-1))
        if value.ndim == 0:
            entries = entries * 2
    elif isinstance(value, (list, tuple)):
        entries = list(value)
    else:
        raise TypeError(f"{name} must be an int or a pair of ints; got {value!r} "
                        f"({type(value).__name__})")
    if len(entries) != 2:
        raise ValueError(f"{name} must have 2 entries (rows, columns); got {len(entries)}: "
                         f"{value!r}")
    for entry in entries:
        if not _is_integer(entry):
            raise TypeError(f"{name} must hold integers; got {entry!r} "
                            f"({type(entry).__name__}) in {value!r}")
    pair = tuple(operator.index(entry) for entry in entries)
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive integers (>= 1); got {pair}")
    return pair


def _parse_output_shape(output_shape):
    """Four non-negative ints, or None in the batch slot; or None as a whole."""
    if output_shape is None:
        return None
    if isinstance(output_shape, np.ndarray):
        if output_shape.ndim != 1:
            raise ValueError(f"output_shape must be 1-D with 4 entries; got an array of "
                             f"shape {output_shape.shape}")
        if output_shape.dtype.kind not in "iuO":
            raise TypeError(f"output_shape must hold integers; got an array of dtype "
                            f"{output_shape.dtype}")
        entries = list(output_shape)
    elif isinstance(output_shape, (list, tuple)):
        entries = list(output_shape)
    else:
        raise TypeError(f"output_shape must be None or a sequence of 4 ints; got "
                        f"{output_shape!r} ({type(output_shape).__name__})")
    if len(entries) != 4:
        raise ValueError(f"output_shape must have 4 entries; got {len(entries)}: "
                         f"{tuple(entries)}")
    parsed = []
    for position, entry in enumerate(entries):
        if entry is None and position == 0:
            parsed.append(None)
            continue
        if entry is None:
            raise ValueError(f"output_shape[{position}] is None; only the batch entry "
                             f"(output_shape[0]) may be None")
        if not _is_integer(entry):
            raise TypeError(f"output_shape entries must be integers; got {entry!r} "
                            f"({type(entry).__name__}) at position {position}")
        if entry < 0:
            raise ValueError(f"output_shape entries must be non-negative; got {entry} "
                             f"at position {position}")
        parsed.append(operator.index(entry))
    return parsed


def _check_reachable(name, out_size, in_size, kernel_size, stride, dilation, padding):
    low, high = valid_output_sizes(in_size, kernel_size, stride, dilation, padding)
    if low <= out_size <= high:
        return
    kernel = f"kernel {kernel_size}"
    if dilation != 1:
        kernel += f" dilated by {dilation} (effective {(kernel_size - 1) * dilation + 1})"
    raise ValueError(f"output {name} {out_size} is not reachable from input {name} "
                     f"{in_size} with {kernel}, stride {stride}, padding '{padding}': "
                     f"valid {name}s are {low}..{high}")


@functools.lru_cache(maxsize=1)
def _physical_memory_bytes():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_size(output_shape, compute_dtype, rows, cols):
    for axis in (rows, cols):
        full = (axis.in_size - 1) * axis.stride + axis.effective_kernel
        if max(full, axis.out_size, axis.effective_kernel) >= MAX_EXTENT:
            raise ValueError(f"the {axis.name} geometry is too large to compute (input "
                             f"{axis.in_size}, kernel {axis.kernel_size}, stride "
                             f"{axis.stride}, dilation {axis.dilation}): extents must stay "
                             f"below 2**62")
    elements = 1
    for size in output_shape:
        elements *= size
    nbytes = elements * compute_dtype.itemsize
    if nbytes > np.iinfo(np.intp).max:
        raise ValueError(f"the output of shape {tuple(output_shape)} would need {nbytes} bytes, "
                         f"more than this platform can address")
    memory = _physical_memory_bytes()
    if memory is not None and nbytes > memory:
        raise MemoryError(f"the output of shape {tuple(output_shape)} would need "
                          f"{nbytes / 2**30:.1f} GiB but this machine has "
                          f"{memory / 2**30:.1f} GiB of memory")


def prepare(x, kernel, output_shape, strides, padding, data_format, dilation_rate):
    """Validate a call (SPEC section 5, in order) and normalize it to NHWC.

    Returns
    -------
    ConvTransposeProblem
    """
    if data_format is None:
        data_format = image_data_format()
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS} (or None for "
                         f"deconv.image_data_format()); got {data_format!r}")
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'same' or 'valid' (any case); got {padding!r}")
    padding = padding.lower()

    x = _as_array(x, "x")
    kernel = _as_array(kernel, "kernel")
    _check_float_dtype(x, "x")
    _check_float_dtype(kernel, "kernel")
    result_dtype = np.result_type(x.dtype, kernel.dtype).newbyteorder("=")
    compute_dtype = np.dtype(np.float32) if result_dtype.itemsize == 2 else result_dtype

    stride_pair = _integer_pair(strides, "strides")
    dilation_pair = _integer_pair(dilation_rate, "dilation_rate")

    channels_last = data_format == "channels_last"
    if channels_last:
        batch, in_h, in_w, in_channels = x.shape
    else:
        batch, in_channels, in_h, in_w = x.shape
    kh, kw, kernel_out, kernel_in = kernel.shape
    if kh == 0 or kw == 0:
        raise ValueError(f"kernel must have at least one row and one column; got kernel "
                         f"shape {kernel.shape} (kh, kw, Cout, Cin)")

    requested = _parse_output_shape(output_shape)
    if requested is None:
        out_h = inferred_output_size(in_h, kh, stride_pair[0], dilation_pair[0], padding)
        out_w = inferred_output_size(in_w, kw, stride_pair[1], dilation_pair[1], padding)
        out_batch, out_channels = batch, kernel_out
    else:
        if channels_last:
            out_batch, out_h, out_w, out_channels = requested
        else:
            out_batch, out_channels, out_h, out_w = requested
        if out_batch is None:
            out_batch = batch
        if out_batch != batch:
            raise ValueError(f"output_shape has batch {out_batch} but x has batch {batch}; "
                             f"they must match (or pass None for the batch)")
        if out_channels != kernel_out:
            raise ValueError(f"output_shape has {out_channels} channels but kernel.shape[2] "
                             f"(output channels) is {kernel_out}")
    if in_channels != kernel_in:
        raise ValueError(f"x has {in_channels} channels ({data_format}) but kernel.shape[3] "
                         f"(input channels) is {kernel_in}")
    if requested is not None:
        _check_reachable("height", out_h, in_h, kh, stride_pair[0], dilation_pair[0], padding)
        _check_reachable("width", out_w, in_w, kw, stride_pair[1], dilation_pair[1], padding)

    rows = _axis("height", in_h, out_h, kh, stride_pair[0], dilation_pair[0], padding)
    cols = _axis("width", in_w, out_w, kw, stride_pair[1], dilation_pair[1], padding)
    out_shape_nhwc = (batch, out_h, out_w, kernel_out)
    _check_size(out_shape_nhwc, compute_dtype, rows, cols)

    x = np.ascontiguousarray(x, dtype=compute_dtype)
    return ConvTransposeProblem(
        x=x if channels_last else x.transpose(0, 2, 3, 1),
        kernel=np.ascontiguousarray(kernel, dtype=compute_dtype),
        output_shape=out_shape_nhwc,
        rows=rows,
        cols=cols,
        result_dtype=result_dtype,
        data_format=data_format,
    )


def _axis(name, in_size, out_size, kernel_size, stride, dilation, padding):
    effective = (kernel_size - 1) * dilation + 1
    full = (in_size - 1) * stride + effective
    pad = max(0, full - out_size) // 2 if padding == "same" else 0
    return Axis(name, in_size, out_size, kernel_size, stride, dilation, pad)


def to_caller_layout(problem, y):
    """The result in the caller's layout and dtype, C-contiguous (no copy when
    ``y`` came from :meth:`ConvTransposeProblem.new_output` and needs no cast)."""
    if problem.data_format == "channels_first":
        y = y.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(y, dtype=problem.result_dtype)
