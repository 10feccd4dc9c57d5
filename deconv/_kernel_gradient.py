"""The kernel gradient of a transposed convolution (and of ``conv2d``): its
plans and its execution. It is an adjoint of its own, computed with
``_adjoint``'s phases (see that module)."""
import numpy as np

from ._adjoint import (AdjointPlan, adjoint_kernel, channels_last_copy, gradient_axis,
                       not_packed, run_adjoint)
from ._arguments import check_float_dtype, check_rank
from ._operator import checked_out
from ._simd import all_finite
from ._problem import make_problem


def gradient_plan(planner, x, dy, kernel_size):
    """The :class:`deconv._adjoint.AdjointPlan` of the kernel gradient of
    ``y = conv2d_transpose(x, kernel, dy.shape)`` for a kernel of
    ``kernel_size`` (x and dy: arrays, or anything with ``shape`` and
    ``dtype``), made once and kept by ``planner``."""
    check_rank(x.shape, "x")
    check_rank(dy.shape, "dy")
    x_dtype, dy_dtype = np.dtype(x.dtype), np.dtype(dy.dtype)
    check_float_dtype(x_dtype, "x")
    check_float_dtype(dy_dtype, "dy")
    arguments = planner.arguments

    def make(threads):
        if x.shape[0] != dy.shape[0]:
            raise ValueError(f"dy has batch {dy.shape[0]} but x has batch {x.shape[0]}; they "
                             f"must match")
        channel = 3 if arguments.data_format == "channels_last" else 1
        kernel_shape = (*kernel_size, dy.shape[channel], x.shape[channel])
        problem = make_problem(tuple(x.shape), x_dtype, kernel_shape, dy_dtype, tuple(dy.shape),
                               arguments.strides, arguments.dilation_rate, arguments.padding,
                               arguments.data_format, check_memory=False)
        rows = gradient_axis(problem.rows, kernel_size[0])
        cols = gradient_axis(problem.cols, kernel_size[1])
        runs = planner.runs(rows, cols, kernel_shape[2], x.shape[0], kernel_shape[3],
                            problem.dtype, threads)
        return AdjointPlan(problem, runs, kernel_shape, threads)
    return planner.kept(("kernel gradient", x.shape, x_dtype, dy.shape, dy_dtype,
                         kernel_size), make)


def execute_gradient(plan, x, dy, out, inputs):
    """Run a kernel-gradient plan on x and dy (caller's layout) into ``out``
    or a new (kh, kw, Cout, Cin) array; ``inputs`` must not overlap ``out``."""
    dtype = plan.problem.dtype
    result = np.empty(plan.output_shape, plan.result_dtype) if out is None else \
        checked_out(out, plan, inputs, names=("x", "dy"))
    kh, kw, cout, cin = plan.output_shape
    computed = np.empty((cout, kh, kw, cin), dtype)
    if plan.channels_first:
        x, dy = x.transpose(0, 2, 3, 1), dy.transpose(0, 2, 3, 1)
    # dy with batch and channels exchanged: Cout "images" of N channels,
    # gathered with x as the kernel (h x w taps, N to Cin).
    kernel = x.transpose(1, 2, 0, 3)
    run_adjoint(plan, channels_last_copy(dy.transpose(3, 1, 2, 0), dtype, plan.threads),
                lambda: all_finite(x),
                lambda key: adjoint_kernel(kernel, plan, key, dtype), not_packed, computed)
    with np.errstate(over="ignore"):  # float16 overflows to inf, like TensorFlow
        np.copyto(result, computed.transpose(1, 2, 0, 3), casting="same_kind")
    return result
