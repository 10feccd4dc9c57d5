"""The ``"direct"`` backend: plans a call for the Cython kernels in ``_core.pyx``.

The plan is all the integer bookkeeping of the polyphase decomposition, done
once per call with NumPy so that the compiled loops do only arithmetic:

* a tap table per spatial dimension: for each output row, the kernel rows that
  reach it and the input rows they read (likewise for columns);
* column classes: output columns that use the same kernel columns (one class
  per column phase in the interior, small classes at the borders), so one
  register tile can serve any pixels of a class;
* the kernel, re-packed with output channels contiguous, in register-tile blocks.

Layers with few output channels (up to ``NARROW_MAX_CHANNELS``) may go to a
second kernel whose vector lanes run over pixels instead of channels, when
the cost model says it is faster (RGB and single-channel outputs; large
stride-1 kernels, where the wide kernel's border tiles are mostly empty). Each
of its threads keeps a small planar window of the input rows in use,
zero-padded so that each column phase is one contiguous run, which is exact
only for a finite kernel (0 * inf is NaN), so kernels holding NaN or inf stay
on the wide kernel.

Both kernels read x and write y through their strides, so channels-first
calls run on the caller's arrays with no layout pass; the only allocations
are the output, the packed kernel and the narrow kernel's per-thread windows.
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


# Output channels up to which the narrow kernel is a candidate; past it, it
# would re-read x for too many 4-channel groups (a cost the model omits).
NARROW_MAX_CHANNELS = 32


def column_phases(axis, run):
    """Column tables of the narrow kernel, one entry per column phase.

    Returns
    -------
    first_column, columns : ndarray of intp, shape (stride,)
        The phase's first output column and how many columns it has.
    tap_start : ndarray of intp, shape (stride + 1,)
        Phase ``p`` uses taps ``tap_start[p]:tap_start[p + 1]`` of:
    kernel_column, input_column : ndarray of intp
        The kernel columns of each phase and the padded input column each one
        reads for the phase's first output column (later columns read the next ones).
    pad_left, padded_width : int
        Zero columns before x, and the padded width (room for a whole last run).
    """
    first, columns, start, kernel_column, input_column, ends = [], [], [0], [], [], []
    for phase in range(axis.stride):
        q0 = (phase - axis.pad) % axis.stride
        count = max(0, -(-(axis.out_size - q0) // axis.stride))
        first.append(q0)
        columns.append(count)
        for b in range(axis.kernel_size):
            if (b * axis.dilation) % axis.stride == phase:
                j0 = (q0 + axis.pad - b * axis.dilation) // axis.stride
                kernel_column.append(b)
                input_column.append(j0)
                ends.append(j0 + -(-count // run) * run)
        start.append(len(kernel_column))
    pad_left = max(0, -min(input_column, default=0))
    padded_width = pad_left + max(axis.in_size, max(ends, default=0))
    as_intp = [np.asarray(v, dtype=np.intp) for v in (first, columns, start, kernel_column)]
    return (*as_intp, np.asarray(input_column, dtype=np.intp) + pad_left, pad_left, padded_width)


def input_rows_per_output_row(count, input_index):
    """The most distinct input rows any one output row reads (at least 1):
    the narrow kernel's window height."""
    taps = np.arange(input_index.shape[1]) < count[:, None]
    if not taps.any():
        return 1
    first = np.where(taps, input_index, np.iinfo(np.intp).max).min(axis=1)
    last = np.where(taps, input_index, np.iinfo(np.intp).min).max(axis=1)
    return int((last - first)[count > 0].max()) + 1


@functools.lru_cache(maxsize=128)
def narrow_plan(rows, cols):
    """Row tap table, column phases and window height of the narrow kernel,
    cached (read-only)."""
    row_table = tap_table(rows)
    *col_tables, pad_left, padded_width = column_phases(cols, _simd.core.narrow_run())
    tables = (*row_table, *col_tables)
    for array in tables:
        array.flags.writeable = False
    return tables, pad_left, padded_width, input_rows_per_output_row(*row_table[::2])


def narrow_conv2d_transpose(problem, num_threads):
    """Few output channels: pixel-vectorized tiles over per-thread row windows."""
    x, kernel = problem.x, problem.kernel
    tables, pad_left, padded_width, window_rows = narrow_plan(problem.rows, problem.cols)
    cin = x.shape[3]
    kh, kw, cout, _ = kernel.shape
    group = _simd.core.narrow_group()
    packed = np.zeros((kh, kw, cin, -(-cout // group) * group), dtype=x.dtype)
    packed[..., :cout] = kernel.transpose(0, 1, 3, 2)
    windows = np.zeros((num_threads, cin, window_rows, padded_width), dtype=x.dtype)
    window_holds = np.full((num_threads, window_rows), -1, dtype=np.intp)
    tap_slots = np.empty((num_threads, tables[1].shape[1]), dtype=np.intp)
    y = problem.new_output()
    _simd.core.conv2d_transpose_narrow(x, packed, *tables, problem.cols.stride, pad_left,
                                       windows, window_holds, tap_slots, y, num_threads)
    return y


# Multiply-adds that make waking one more OpenMP thread worth it (~20 us of
# work): tiny calls stay on one thread. Results do not depend on it.
MADDS_PER_THREAD = 2_000_000


def threads_worth_waking(problem, num_threads):
    n, h, w, cin = problem.x.shape
    kh, kw, cout, _ = problem.kernel.shape
    return max(1, min(num_threads, n * h * w * cin * cout * kh * kw // MADDS_PER_THREAD))


def uses_narrow_kernel(problem, num_threads):
    """Whether a call goes to the narrow-output kernel: it is estimated faster
    than the wide one, and the kernel is finite (see the module docstring)."""
    estimates = variant_estimates(problem, num_threads)
    return ("narrow" in estimates and estimates["narrow"] < estimates["wide"]
            and bool(np.isfinite(problem.kernel).all()))


def pack_kernel(kernel, num_threads):
    """Kernel (kh, kw, Cout, Cin) -> (blocks, kh, kw, Cin, block), zero-padded."""
    kh, kw, cout, cin = kernel.shape
    block = _simd.core.channel_block(kernel.itemsize)
    packed = np.empty((-(-cout // block), kh, kw, cin, block), dtype=kernel.dtype)
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
        num_threads = threads_worth_waking(problem, num_threads)
        if uses_narrow_kernel(problem, num_threads):
            return narrow_conv2d_transpose(problem, num_threads)
        packed = pack_kernel(problem.kernel, num_threads)
        y = problem.new_output()
        batch, _, width, _ = problem.output_shape
        # Channels-first output rows are staged per thread (see _core.pyx).
        stage_items = batch * width * packed.shape[4] if y.strides[3] != y.itemsize else 1
        stages = np.empty((num_threads, stage_items), dtype=y.dtype)
        _simd.core.conv2d_transpose_wide(problem.x, packed, *plan(problem.rows, problem.cols),
                                         y, stages, num_threads)
        return y


def _narrow_seconds(problem, num_threads, profile, level):
    """Narrow kernel: every 32-pixel run of every phase, for every row tap, column
    tap and group of 4 channels (groups zero-padded), at the narrow rate."""
    itemsize = problem.x.itemsize
    batch, height, _, cout = problem.output_shape
    (row_count, _, _, _, columns, tap_start, _, _), _, _, _ = narrow_plan(problem.rows,
                                                                           problem.cols)
    group, run = _simd.core.narrow_group(), _simd.core.narrow_run()
    groups = -(-cout // group)
    runs = (-(-columns // run)) * np.diff(tap_start)  # run x column-tap visits per phase
    tile_taps = batch * int(row_count.sum()) * int(runs.sum()) * groups
    padded = tile_taps * run * group * problem.x.shape[3]
    rate = profile["direct_narrow_madds_per_thread"][level][str(itemsize)]
    threads = max(1, min(num_threads, batch * height * groups))
    work = padded / rate + tile_taps * profile["direct_tile_tap_s"]
    return profile["direct_overhead_s"] + work / threads


def _wide_seconds(problem, num_threads, profile, level):
    """Wide kernel: whole register tiles per column class (short tiles at the
    borders count in full), padded channel blocks, at the wide rate."""
    itemsize = problem.x.itemsize
    height, cout = problem.output_shape[1], problem.output_shape[3]
    row_count, _, _, col_count, _, _, class_start, class_columns, _ = plan(problem.rows,
                                                                           problem.cols)
    block, pixels = _simd.core.channel_block(itemsize), _simd.core.pixel_block(itemsize)
    blocks = -(-cout // block)
    tiles = -(-problem.x.shape[0] * np.diff(class_start) // pixels)
    class_taps = col_count[class_columns[class_start[:-1]]]
    tile_taps = int(row_count.sum()) * int((tiles * class_taps).sum()) * blocks
    padded = tile_taps * pixels * block * problem.x.shape[3]
    rate = profile["direct_madds_per_thread"][level][str(itemsize)]
    threads = max(1, min(num_threads, height * blocks))
    work = padded / rate + tile_taps * profile["direct_tile_tap_s"]
    return profile["direct_overhead_s"] + work / threads


_variants = {}


def variant_estimates(problem, num_threads):
    """Estimated seconds of each kernel variant that may run ``problem``, cached
    per call shape: ``{"wide": s}`` plus ``"narrow"`` for up to
    NARROW_MAX_CHANNELS output channels (assuming a finite kernel)."""
    profile = _cost.current_profile()
    key = (problem.rows, problem.cols, problem.x.shape, problem.output_shape[3],
           problem.x.itemsize, num_threads, id(profile))
    estimates = _variants.get(key)
    if estimates is None:
        level = _simd.core.isa_name()
        estimates = {"wide": _wide_seconds(problem, num_threads, profile, level)}
        if problem.output_shape[3] <= NARROW_MAX_CHANNELS:
            estimates["narrow"] = _narrow_seconds(problem, num_threads, profile, level)
        if len(_variants) >= 256:
            _variants.clear()
        _variants[key] = estimates
    return estimates


def _estimate_seconds(problem, num_threads):
    """The faster variant's estimate (see :func:`variant_estimates`)."""
    if _simd.core is None:
        return None
    return min(variant_estimates(problem, num_threads).values())
