"""The ``"reference"`` backend: the Semantics page's section 2 in plain, vectorized NumPy.

One matrix product per kernel tap, scattered with a strided add straight
into the cropped output, so memory stays at the size of the result even for
huge dilations. It is simple enough to read against the spec line by line,
and it is what the other backends are checked against in everyday use (the
tests use their own, even more naive, oracle).
"""
import math

import numpy as np

from . import _cost, _profile
from ._backend import Backend


def reference_conv2d_transpose(problem, x, kernel, y):
    """Fill ``y`` (N, H, W, Cout) with the transposed convolution of ``x``
    (N, h, w, Cin) by ``kernel`` (kh, kw, Cout, Cin), with NumPy. Its threads
    are those of NumPy's BLAS library."""
    rows, cols = problem.rows, problem.cols
    y.fill(0)
    # Products of NaN or inf are meant to propagate; NumPy would warn.
    with np.errstate(invalid="ignore", over="ignore"):
        for a in range(rows.kernel_size):
            i0, i1, r0 = rows.landing_range(a)
            if i0 == i1:
                continue
            for b in range(cols.kernel_size):
                j0, j1, q0 = cols.landing_range(b)
                if j0 == j1:
                    continue
                contribution = x[:, i0:i1, j0:j1, :] @ kernel[a, b].T
                y[:, r0:r0 + (i1 - i0 - 1) * rows.stride + 1:rows.stride,
                  q0:q0 + (j1 - j0 - 1) * cols.stride + 1:cols.stride, :] += contribution


class ReferenceBackend(Backend):
    """Plain NumPy: one matrix product and one strided add per kernel tap."""

    name = "reference"
    description = "plain NumPy (matmul + strided add per tap), the readable oracle"
    strided_kernels = True

    @staticmethod
    def work(problem):
        """The :class:`deconv._cost.ReferenceWork` of ``problem``: per kernel
        tap one batched product (a matrix product per image row), the output
        zeroed, and each product's items moved into it."""
        batch, height = problem.input_shape[:2]
        taps = problem.rows.kernel_size * problem.cols.kernel_size
        cin, cout = problem.input_shape[3], problem.output_shape[3]
        return _cost.ReferenceWork(taps, taps * batch * height, problem.multiply_adds, cout,
                                   math.prod(problem.output_shape),
                                   problem.multiply_adds // max(cin, 1))

    def estimate_seconds(self, problem, num_threads):
        return _cost.reference_seconds(self.work(problem), _profile.current_profile())

    def minimum_seconds(self, problem, num_threads):
        return _cost.reference_minimum_seconds(
            problem.rows.kernel_size * problem.cols.kernel_size, _profile.current_profile())

    def run(self, problem, plan, x, kernel, packed, y):
        reference_conv2d_transpose(problem, x, kernel, y)
