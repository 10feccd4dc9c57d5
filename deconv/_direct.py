"""The ``"direct"`` backend: plans a call for the Cython kernels in ``_core.pyx``.

The plan is all the integer bookkeeping of the polyphase decomposition, done
once per call with NumPy so that the compiled loops do only arithmetic:

* a tap table per spatial dimension: for each output row, the kernel rows that
  reach it and the input rows they read (likewise for columns);
* column classes: output columns that use the same kernel columns (one class
  per column phase in the interior, small classes at the borders), so one
  register tile can serve any pixels of a class;
* the kernel, re-packed with output channels contiguous, in register-tile blocks.
"""
import functools

import numpy as np

from . import _cost, _simd
from ._registry import Backend


def tap_table(axis):
    """For each output index, the kernel taps that reach it and their input index.

    Returns
    -------
    count : ndarray of intp, shape (out_size,)
    kernel_index, input_index : ndarray of intp, shape (out_size, max(1, max(count)))
        Row ``r`` lists ``count[r]`` pairs in increasing kernel order.
    """
    outputs, taps, inputs = [], [], []
    i = np.arange(axis.in_size, dtype=np.intp)
    for a in range(axis.kernel_size):
        out = i * axis.stride + (a * axis.dilation - axis.pad)
        keep = (out >= 0) & (out < axis.out_size)
        outputs.append(out[keep])
        taps.append(np.full(int(keep.sum()), a, dtype=np.intp))
        inputs.append(i[keep])
    outputs, taps, inputs = (np.concatenate(v) for v in (outputs, taps, inputs))
    order = np.lexsort((taps, outputs))
    outputs, taps, inputs = outputs[order], taps[order], inputs[order]
    count = np.bincount(outputs, minlength=axis.out_size).astype(np.intp)
    width = max(1, int(count.max(initial=0)))
    slot = np.arange(outputs.size) - (np.cumsum(count) - count)[outputs]
    kernel_index = np.zeros((axis.out_size, width), dtype=np.intp)
    input_index = np.zeros((axis.out_size, width), dtype=np.intp)
    kernel_index[outputs, slot] = taps
    input_index[outputs, slot] = inputs
    return count, kernel_index, input_index


def column_classes(axis, count, kernel_index, input_index):
    """Group output columns that use the same kernel columns.

    Returns
    -------
    class_start : ndarray of intp, shape (n_classes + 1,)
        Class ``k`` is ``class_columns[class_start[k]:class_start[k + 1]]``;
        its first column is the representative whose taps the kernel uses.
    class_columns : ndarray of intp, shape (out_size,)
    column_shift : ndarray of intp, shape (out_size,)
        How many input columns each column is shifted from its representative.
    """
    width = kernel_index.shape[1]
    used = np.arange(width) < count[:, None]
    key = np.concatenate([count[:, None],
                          (np.arange(axis.out_size) + axis.pad)[:, None] % axis.stride,
                          np.where(used, kernel_index, -1)], axis=1)
    _, label = np.unique(key, axis=0, return_inverse=True)
    label = label.reshape(-1)
    class_columns = np.argsort(label, kind="stable").astype(np.intp)
    class_start = np.searchsorted(label[class_columns],
                                  np.arange(label.max(initial=-1) + 2)).astype(np.intp)
    representative = class_columns[class_start[:-1]]
    column_shift = (input_index[:, 0] - input_index[representative[label], 0]).astype(np.intp)
    return class_start, class_columns, column_shift


def pack_kernel(kernel, num_threads):
    """Kernel (kh, kw, Cout, Cin) -> (blocks, kh, kw, Cin, block), zero-padded."""
    kh, kw, cout, cin = kernel.shape
    block = _simd.core.channel_block(kernel.itemsize)
    packed = np.zeros((-(-cout // block), kh, kw, cin, block), dtype=kernel.dtype)
    _simd.core.pack_weights(kernel, packed, num_threads)
    return packed


@functools.lru_cache(maxsize=128)
def plan(rows, cols):
    """Tap tables and column classes for one geometry, cached (read-only)."""
    col_tables = tap_table(cols)
    arrays = (*tap_table(rows), *col_tables, *column_classes(cols, *col_tables))
    for array in arrays:
        array.flags.writeable = False
    return arrays


class DirectBackend(Backend):
    """Polyphase, register-tiled, OpenMP-parallel kernel (Cython)."""

    name = "direct"
    description = "Cython polyphase kernel, OpenMP, bitwise thread-invariant"

    def unsupported_reason(self, problem):
        return _simd.unavailable_reason

    def estimate_seconds(self, problem, num_threads):
        return _estimate_seconds(problem, num_threads)

    def __call__(self, problem, num_threads):
        packed = pack_kernel(problem.kernel, num_threads)
        y = np.empty(problem.output_shape, dtype=problem.x.dtype)
        _simd.core.conv2d_transpose_nhwc(problem.x, packed, *plan(problem.rows, problem.cols),
                                         y, num_threads)
        return y


def _estimate_seconds(problem, num_threads):
    """Useful multiply-adds, inflated by the unused lanes of the last channel
    block, at the fitted per-thread rate of this SIMD level and dtype, plus a
    fixed cost per (register tile, kernel tap) visit."""
    if _simd.core is None:
        return None
    profile = _cost.current_profile()
    level = _simd.core.isa_name()
    itemsize = problem.x.itemsize
    block = _simd.core.channel_block(itemsize)
    cout, cin = problem.output_shape[3], problem.x.shape[3]
    blocks = -(-cout // block)
    lane_use = cout / (blocks * block)
    rate = profile["direct_madds_per_thread"][level][itemsize] * lane_use
    tile_taps = problem.multiply_adds / max(1, cin * cout) / _simd.core.pixel_block(itemsize) * blocks
    threads = max(1, min(num_threads, problem.output_shape[1] * blocks))
    work = problem.multiply_adds / rate + tile_taps * profile["direct_tile_tap_s"]
    return profile["direct_overhead_s"] + work / threads
