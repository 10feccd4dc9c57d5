"""The ``"reference"`` backend: SPEC section 2 in plain, vectorized NumPy.

One matrix product per kernel tap, scattered with a strided add straight
into the cropped output, so memory stays at the size of the result even for
huge dilations. It is simple enough to read against the spec line by line,
and it is what the other backends are checked against in everyday use (the
tests use their own, even more naive, oracle).
"""

from . import _cost
from ._registry import Backend


def _landing_range(axis, tap):
    """Input indices i whose output i*stride + tap*dilation - pad is in range,
    as (first_input, stop_input, first_output)."""
    offset = tap * axis.dilation - axis.pad
    first = max(0, -(offset // axis.stride))  # ceil(-offset / stride)
    stop = min(axis.in_size, -(-(axis.out_size - offset) // axis.stride))
    return first, max(first, stop), first * axis.stride + offset


def reference_conv2d_transpose(problem, num_threads):
    """Compute ``problem`` (NHWC) with NumPy. ``num_threads`` is not used:
    NumPy's matrix product runs on its BLAS library's own threads."""
    x, kernel = problem.x, problem.kernel
    rows, cols = problem.rows, problem.cols
    y = problem.new_output(zeros=True)
    for a in range(rows.kernel_size):
        i0, i1, r0 = _landing_range(rows, a)
        if i0 == i1:
            continue
        for b in range(cols.kernel_size):
            j0, j1, q0 = _landing_range(cols, b)
            if j0 == j1:
                continue
            contribution = x[:, i0:i1, j0:j1, :] @ kernel[a, b].T
            y[:, r0:r0 + (i1 - i0 - 1) * rows.stride + 1:rows.stride,
              q0:q0 + (j1 - j0 - 1) * cols.stride + 1:cols.stride, :] += contribution
    return y


class ReferenceBackend(Backend):
    """Plain NumPy: one matrix product and one strided add per kernel tap."""

    name = "reference"
    description = "plain NumPy (matmul + strided add per tap), the readable oracle"

    def estimate_seconds(self, problem, num_threads):
        profile = _cost.current_profile()
        batch, height = problem.x.shape[:2]
        cout = problem.output_shape[3]
        taps = problem.rows.kernel_size * problem.cols.kernel_size
        narrow_product_penalty = max(1.0, 8.0 / max(cout, 1))
        return (taps * profile["reference_overhead_s"]
                + taps * batch * height * profile["reference_row_product_s"]
                + problem.multiply_adds * narrow_product_penalty / profile["reference_madds_per_s"])

    def minimum_seconds(self, problem, num_threads):
        taps = problem.rows.kernel_size * problem.cols.kernel_size
        return taps * _cost.current_profile()["reference_overhead_s"]

    def __call__(self, problem, num_threads):
        return reference_conv2d_transpose(problem, num_threads)
