"""The problem type: one transposed convolution, as far as shapes and dtypes
decide it, validated (docs, page *Semantics*, section 5) and indexed
channels-last.

Plans are made for a :class:`ConvTransposeProblem`, never for arrays: the
arrays only arrive when a plan is run.
"""
import os
from dataclasses import dataclass, replace

import numpy as np

from ._arguments import compute_dtype, result_dtype
from ._geometry import Axis, check_reachable, conv2d_output_size, inferred_output_size

# Largest output extent (full, uncropped) handled: keeps every index product in
# the kernels well inside int64.
MAX_EXTENT = 2 ** 62


@dataclass(frozen=True)
class ConvTransposeProblem:
    """A validated call, indexed channels-last, without its arrays.

    Backends plan for this object and then run the plan on arrays: x as
    (N, h, w, Cin) and the kernel as (kh, kw, Cout, Cin), both in ``dtype``,
    and an output of ``output_shape`` (N, H, W, Cout) to fill.

    Attributes
    ----------
    input_shape : tuple of int
        (N, h, w, Cin).
    kernel_shape : tuple of int
        (kh, kw, Cout, Cin).
    output_shape : tuple of int
        (N, H, W, Cout).
    rows, cols : Axis
        Geometry of the two spatial dimensions.
    dtype : numpy.dtype
        The compute dtype, float32 or float64.
    result_dtype : numpy.dtype
        The dtype returned to the caller (float16 inputs are computed in
        float32 and rounded at the end).
    data_format : str
        The caller's layout, ``"channels_last"`` or ``"channels_first"``.

    Examples
    --------
    A registered backend receives one of these with the arrays:

    >>> import numpy as np
    >>> import deconv
    >>> class Inspect(deconv.Backend):
    ...     name = "inspect"
    ...     def run(self, problem, plan, x, kernel, packed, y):
    ...         print(x.shape, problem.output_shape, problem.rows.pad, problem.rows.stride)
    ...         y[...] = 0
    >>> deconv.register_backend(Inspect())
    >>> _ = deconv.conv2d_transpose(np.ones((1, 2, 4, 4)), np.ones((3, 3, 5, 2)), strides=2,
    ...                             padding="same", data_format="channels_first",
    ...                             backend="inspect")
    (1, 4, 4, 2) (1, 8, 8, 5) 0 2
    >>> deconv.unregister_backend("inspect")
    """

    input_shape: tuple
    kernel_shape: tuple
    output_shape: tuple
    rows: Axis
    cols: Axis
    dtype: np.dtype
    result_dtype: np.dtype
    data_format: str

    @property
    def multiply_adds(self):
        """Useful multiply-adds (contributions that land inside the output)."""
        n, _, _, cout = self.output_shape
        return n * self.input_shape[3] * cout * self.rows.landing_pairs * self.cols.landing_pairs

    @property
    def nominal_multiply_adds(self):
        """Multiply-adds counting every tap, landing or not: N h w Cin Cout kh kw."""
        n, h, w, cin = self.input_shape
        kh, kw, cout, _ = self.kernel_shape
        return n * h * w * cin * cout * kh * kw

    @property
    def is_empty(self):
        return 0 in self.input_shape or 0 in self.kernel_shape or 0 in self.output_shape

    @property
    def caller_output_shape(self):
        """``output_shape`` in the caller's layout."""
        n, h, w, c = self.output_shape
        return (n, c, h, w) if self.data_format == "channels_first" else (n, h, w, c)


def make_problem(x_shape, x_dtype, kernel_shape, kernel_dtype, output_shape, strides,
                 dilations, padding, data_format, check_memory=True):
    """The :class:`ConvTransposeProblem` of parsed arguments (section 5, steps
    5-6: shapes against each other, reachable sizes, a result that fits).

    ``x_shape`` is in the caller's layout; ``output_shape`` is None or what
    :func:`deconv._arguments.parse_output_shape` returns. ``check_memory``
    False skips the comparison with the memory available now (a lazy result,
    computed piece by piece, may be larger).
    """
    channels_last = data_format == "channels_last"
    if channels_last:
        batch, in_h, in_w, in_channels = x_shape
    else:
        batch, in_channels, in_h, in_w = x_shape
    kh, kw, kernel_out, kernel_in = kernel_shape
    if output_shape is None:
        out_h = inferred_output_size(in_h, kh, strides[0], dilations[0], padding)
        out_w = inferred_output_size(in_w, kw, strides[1], dilations[1], padding)
    else:
        if channels_last:
            out_batch, out_h, out_w, out_channels = output_shape
        else:
            out_batch, out_channels, out_h, out_w = output_shape
        if out_batch is not None and out_batch != batch:
            raise ValueError(f"output_shape has batch {out_batch} but x has batch {batch}; "
                             f"they must match (or pass None for the batch)")
        if out_channels != kernel_out:
            raise ValueError(f"output_shape has {out_channels} channels but kernel.shape[2] "
                             f"(output channels) is {kernel_out}")
    if in_channels != kernel_in:
        raise ValueError(f"x has {in_channels} channels ({data_format}) but kernel.shape[3] "
                         f"(input channels) is {kernel_in}")
    if output_shape is not None:
        check_reachable("height", out_h, in_h, kh, strides[0], dilations[0], padding)
        check_reachable("width", out_w, in_w, kw, strides[1], dilations[1], padding)
    problem = _problem_of((batch, in_h, in_w, in_channels), (out_h, out_w, kernel_out),
                          kernel_shape, strides, dilations, padding,
                          result_dtype(x_dtype, kernel_dtype), data_format)
    _check_size(problem, check_memory)
    return problem


def make_adjoint_problem(y_shape, y_dtype, kernel_shape, kernel_dtype, strides, dilations,
                         padding, data_format, check_memory=True):
    """The :class:`ConvTransposeProblem` whose adjoint ``conv2d`` of y computes:
    its output is y's shape and its input the shape conv2d returns (the
    Semantics page, section 8). ``y_shape`` is in the caller's layout."""
    if data_format == "channels_last":
        batch, height, width, channels = y_shape
    else:
        batch, channels, height, width = y_shape
    kh, kw, kernel_out, kernel_in = kernel_shape
    if channels != kernel_out:
        raise ValueError(f"y has {channels} channels ({data_format}) but kernel.shape[2] "
                         f"(the channels of conv2d_transpose's output) is {kernel_out}")
    in_h = conv2d_output_size(height, kh, strides[0], dilations[0], padding)
    in_w = conv2d_output_size(width, kw, strides[1], dilations[1], padding)
    problem = _problem_of((batch, in_h, in_w, kernel_in), (height, width, channels),
                          kernel_shape, strides, dilations, padding,
                          result_dtype(y_dtype, kernel_dtype), data_format)
    _check_size(problem, check_memory, problem.input_shape)
    return problem


def _problem_of(input_shape, output_hwc, kernel_shape, strides, dilations, padding, result,
                data_format):
    """The :class:`ConvTransposeProblem` of validated sizes: ``input_shape``
    (N, h, w, Cin), output (H, W, Cout), the result dtype."""
    batch, in_h, in_w, _ = input_shape
    out_h, out_w, out_channels = output_hwc
    kh, kw = kernel_shape[:2]
    return ConvTransposeProblem(
        input_shape=tuple(input_shape), kernel_shape=tuple(kernel_shape),
        output_shape=(batch, out_h, out_w, out_channels),
        rows=Axis.from_padding("height", in_h, out_h, kh, strides[0], dilations[0], padding),
        cols=Axis.from_padding("width", in_w, out_w, kw, strides[1], dilations[1], padding),
        dtype=compute_dtype(result), result_dtype=result, data_format=data_format)


def window_problem(problem, batch, rows, cols):
    """The part of ``problem`` on the windows ``rows`` and ``cols``
    (:class:`deconv._geometry.Window`, of its output by ``Axis.window`` or
    of its input by ``Axis.adjoint_window``) for ``batch`` images, as a
    problem of its own: the windows' axes say its sizes."""
    cin, cout = problem.input_shape[3], problem.output_shape[3]
    return replace(problem, input_shape=(batch, rows.axis.in_size, cols.axis.in_size, cin),
                   output_shape=(batch, rows.axis.out_size, cols.axis.out_size, cout),
                   rows=rows.axis, cols=cols.axis)


def columns_folded(problem):
    """``problem`` with its kernel's columns folded into output channels, or
    None where they do not fold.

    When each output column takes exactly one kernel column -- kernel width
    equal to the stride, no dilation, no crop, and the output ``stride``
    times as wide as x -- the ``stride`` output columns of an input column,
    each of Cout channels, are one run of ``stride * Cout`` items in a
    channels-last output: the same call is a kernel of one column and
    ``kw * Cout`` channels (the caller's kernel, reshaped) at column stride
    1, into the output viewed as ``W / stride`` columns of ``kw * Cout``
    channels. U-Net's 2x2 stride-2 up-convolutions fold, as does any layer
    whose kernel tiles the output without overlap.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._problem import columns_folded, make_problem
    >>> problem = make_problem((1, 4, 5, 8), np.float32, (3, 3, 6, 8), np.float32, None,
    ...                        (3, 3), (1, 1), "valid", "channels_last")
    >>> folded = columns_folded(problem)
    >>> folded.kernel_shape, folded.output_shape, folded.cols.stride
    ((3, 1, 18, 8), (1, 12, 5, 18), 1)
    """
    cols = problem.cols
    if (problem.data_format != "channels_last" or cols.stride < 2
            or cols.kernel_size != cols.stride or cols.dilation != 1 or cols.pad != 0
            or cols.out_size != cols.in_size * cols.stride):
        return None
    kh, kw, cout, cin = problem.kernel_shape
    batch, height = problem.output_shape[:2]
    return replace(problem, kernel_shape=(kh, 1, kw * cout, cin),
                   output_shape=(batch, height, cols.in_size, kw * cout),
                   cols=Axis(cols.name, cols.in_size, cols.in_size, 1, 1, 1, 0))


def check_kernel_shape(kernel_shape):
    """A kernel needs at least one row and one column."""
    if kernel_shape[0] == 0 or kernel_shape[1] == 0:
        raise ValueError(f"kernel must have at least one row and one column; got kernel "
                         f"shape {tuple(kernel_shape)} (kh, kw, Cout, Cin)")


def available_memory_bytes():
    """Memory a new array can have now: MemAvailable of /proc/meminfo where
    there is one (free memory plus what the page cache would give back),
    else the free physical pages, else None (no check)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_size(problem, check_memory, allocated_shape=None):
    """Extents inside int64, and the array a call allocates (the output by
    default) addressable and, if ``check_memory``, within the memory
    available."""
    for axis in (problem.rows, problem.cols):
        if max(axis.stride, axis.dilation) >= MAX_EXTENT:
            raise ValueError(f"the {axis.name} stride {axis.stride} and dilation "
                             f"{axis.dilation} must stay below 2**62")
        if max(axis.full_size, axis.out_size, axis.effective_kernel) >= MAX_EXTENT:
            raise ValueError(f"the {axis.name} geometry is too large to compute (input "
                             f"{axis.in_size}, kernel {axis.kernel_size}, stride "
                             f"{axis.stride}, dilation {axis.dilation}): extents must stay "
                             f"below 2**62")
    # Every extent, zero or not, must be addressable: NumPy refuses a shape
    # whose nonzero extents overflow even when another one is 0.
    shape = problem.output_shape if allocated_shape is None else allocated_shape
    extents = 1
    for size in shape:
        extents *= max(size, 1)
    nbytes = extents * problem.dtype.itemsize
    if nbytes > np.iinfo(np.intp).max:
        raise ValueError(f"the output of shape {shape} would need {nbytes} "
                         f"bytes (its nonzero extents), more than this platform can address")
    if 0 in shape or not check_memory:
        return
    memory = available_memory_bytes()
    if memory is not None and nbytes > memory:
        raise MemoryError(f"the output of shape {shape} would need "
                          f"{nbytes / 2**30:.1f} GiB but {memory / 2**30:.1f} GiB of memory "
                          f"is available")
