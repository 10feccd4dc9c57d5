"""The ``"direct"`` backend: plans a call for the Cython kernels in ``_core.pyx``.

The plan is all the integer bookkeeping of the polyphase decomposition, done
once per geometry (in C, ``_plan.pxi``, and cached) so that the compiled loops
do only arithmetic:

* a tap table per spatial dimension: for each output row, the kernel rows that
  reach it and the input rows they read (likewise for columns);
* column classes: output columns that use the same kernel columns (one class
  per column phase in the interior, small classes at the borders), so one
  register tile can serve any pixels of a class;
* the kernel, re-packed with output channels contiguous, in register-tile
  blocks ("panels"), by each thread for the blocks it computes.

Calls of under ``TRIVIAL_MADDS`` multiply-adds skip all of this: a plain
loop over the landing taps (``conv2d_transpose_small``) beats the cost of
planning them.

Layers with few output channels (up to ``NARROW_MAX_CHANNELS``) may go to a
second kernel whose vector lanes run over pixels instead of channels, when
the cost model says it is faster (RGB and single-channel outputs; large
stride-1 kernels, where the wide kernel's border tiles are mostly empty). Each
of its threads keeps a small planar window of the input rows in use,
zero-padded so that each column phase is one contiguous run, which is exact
only for a finite kernel (0 * inf is NaN), so kernels holding NaN or inf stay
on the wide kernel.

Both kernels read x and write y through their strides, so channels-first
calls run on the caller's arrays with no layout pass. The only allocation is
the output; scratch arrays (one kernel panel per thread, or the whole packed
kernel when it is small; the narrow kernel's packed kernel and per-thread
windows) come from a buffer kept between calls (``_workspace``).
"""
import functools

import numpy as np

from . import _cost, _simd
from ._registry import Backend
from ._workspace import scratch_arrays


def tap_table(axis):
    """Per output index, the kernel taps that reach it and their input index
    (see ``tap_table`` in ``_plan.pxi``), cached by geometry
    alone: the wide and narrow plans share it, and so do rows and columns
    of the same geometry (square images, square kernels)."""
    return _tap_table(*axis[1:])


@functools.lru_cache(maxsize=256)
def _tap_table(in_size, out_size, kernel_size, stride, dilation, pad):
    return _simd.core.tap_table(in_size, out_size, kernel_size, stride, dilation, pad)


# Output channels up to which the narrow kernel is a candidate; past it, it
# would re-read x for too many 4-channel groups (a cost the model omits).
NARROW_MAX_CHANNELS = 32


@functools.lru_cache(maxsize=128)
def narrow_plan(rows, cols):
    """Row tap table, column phases and window height of the narrow kernel,
    cached."""
    core = _simd.core
    row_table = tap_table(rows)
    *col_tables, pad_left, padded_width = core.column_phases(
        cols.in_size, cols.out_size, cols.kernel_size, cols.stride, cols.dilation, cols.pad,
        core.narrow_run())
    tables = (*row_table, *col_tables)
    window_rows = core.input_rows_per_output_row(row_table[0], row_table[2])
    return tables, pad_left, padded_width, window_rows


def narrow_conv2d_transpose(problem, num_threads):
    """Few output channels: pixel-vectorized tiles over per-thread row windows."""
    x, kernel = problem.x, problem.kernel
    tables, pad_left, padded_width, window_rows = narrow_plan(problem.rows, problem.cols)
    cin = x.shape[3]
    kh, kw, cout, _ = kernel.shape
    group = narrow_group_size(cout)
    packed, windows, window_holds, tap_slots = scratch_arrays(
        ((kh, kw, cin, -(-cout // group) * group), x.dtype),
        ((num_threads, cin, window_rows, padded_width), x.dtype),
        ((num_threads, window_rows), np.intp),
        ((num_threads, tables[1].shape[1]), np.intp))
    packed[..., cout:] = 0
    packed[..., :cout] = kernel.transpose(0, 1, 3, 2)
    windows.fill(0)
    window_holds.fill(-1)
    y = problem.new_output()
    _simd.core.conv2d_transpose_narrow(x, packed, *tables, problem.cols.stride, pad_left,
                                       windows, window_holds, tap_slots, y, group, num_threads)
    return y


def narrow_group_size(cout):
    """Output channels per narrow tile: the largest size the SIMD level offers
    that pads Cout to no more channels than groups of 4 do (16 -> 8, 21 -> 8,
    but 3 -> 4, 12 -> 4)."""
    sizes = _simd.core.narrow_groups()
    padded = -(-cout // sizes[0]) * sizes[0]
    return max(size for size in sizes if -(-cout // size) * size == padded)


# Multiply-adds that make waking one more OpenMP thread worth it (~20 us of
# work): tiny calls stay on one thread. Results do not depend on it.
MADDS_PER_THREAD = 2_000_000


# Below this many multiply-adds (~1 us of arithmetic) a call is neither
# planned nor estimated: it costs its fixed overhead whatever the kernel, and
# planning would cost more than the arithmetic (see DirectBackend).
TRIVIAL_MADDS = 1 << 16


def _nominal_madds(problem):
    """Multiply-adds counting every tap, landing or not (cheap to compute)."""
    n, h, w, cin = problem.x.shape
    kh, kw, cout, _ = problem.kernel.shape
    return n * h * w * cin * cout * kh * kw


def threads_worth_waking(problem, num_threads):
    return max(1, min(num_threads, _nominal_madds(problem) // MADDS_PER_THREAD))


def uses_narrow_kernel(problem, num_threads):
    """Whether a call goes to the narrow-output kernel: it is estimated faster
    than the wide one, and the kernel is finite (see the module docstring)."""
    estimates = variant_estimates(problem, num_threads)
    return ("narrow" in estimates and estimates["narrow"] < estimates["wide"]
            and bool(np.isfinite(problem.kernel).all()))


# Packed kernels up to this size are packed whole before the wide kernel runs,
# and its threads split rows rather than channel blocks (see
# conv2d_transpose_wide): a quarter of a typical 1-2 MB L2 cache.
WHOLE_PACK_BYTES = 1 << 18


def wide_scratch(problem, y, num_threads):
    """The wide kernel's scratch arrays: ``panels`` (slots, kh, kw, Cin, block)
    and ``panel_blocks`` as conv2d_transpose_wide expects them -- room for
    every block (``panel_blocks`` empty) when the packed kernel is small or
    has fewer blocks than threads, else one panel per thread, packed on
    demand (``panel_blocks`` all -1) -- and ``stages``, one row of staged
    output per thread when y's channels are not contiguous."""
    kernel = problem.kernel
    kh, kw, cout, cin = kernel.shape
    block = _simd.core.channel_block(kernel.itemsize)
    blocks = -(-cout // block)
    whole = blocks < num_threads or blocks * kh * kw * cin * block * kernel.itemsize <= \
        WHOLE_PACK_BYTES
    batch, _, width, _ = problem.output_shape
    stage_items = batch * width * block if y.strides[3] != y.itemsize else 1
    panels, panel_blocks, stages = scratch_arrays(
        ((blocks if whole else num_threads, kh, kw, cin, block), kernel.dtype),
        ((0 if whole else num_threads,), np.intp),
        ((num_threads, stage_items), y.dtype))
    panel_blocks.fill(-1)
    return panels, panel_blocks, stages


@functools.lru_cache(maxsize=128)
def plan(rows, cols):
    """Tap tables and column classes for one geometry, cached.

    The cached tables are shared by every later call of the geometry and
    only ever passed to the kernels, whose parameters are ``const``: nothing
    writes them after planning (marking them read-only cost a tenth of a
    tiny call's first-call planning)."""
    col_tables = tap_table(cols)
    classes = _simd.core.column_classes(*col_tables, cols.stride, cols.pad)
    return (*tap_table(rows), *col_tables, *classes)


class DirectBackend(Backend):
    """Polyphase, register-tiled, OpenMP-parallel kernel (Cython)."""

    name = "direct"
    description = "Cython polyphase kernel, OpenMP, bitwise thread-invariant"

    def unsupported_reason(self, problem):
        return _simd.unavailable_reason

    def estimate_seconds(self, problem, num_threads):
        return _estimate_seconds(problem, num_threads)

    def minimum_seconds(self, problem, num_threads):
        if _nominal_madds(problem) < TRIVIAL_MADDS:
            return _small_seconds(problem, _cost.current_profile())
        return _cost.current_profile()["direct_overhead_s"]

    def __call__(self, problem, num_threads):
        if _nominal_madds(problem) < TRIVIAL_MADDS:
            # Too small to plan: a plain loop over the landing taps, on one thread.
            y = problem.new_output(zeros=True)
            rows, cols = problem.rows, problem.cols
            _simd.core.conv2d_transpose_small(problem.x, problem.kernel, y, rows.stride,
                                              cols.stride, rows.dilation, cols.dilation,
                                              rows.pad, cols.pad)
            return y
        # The variant is chosen for the threads asked for (the estimates that
        # "auto" just made, cached), then run on as many as are worth waking.
        narrow = uses_narrow_kernel(problem, num_threads)
        num_threads = threads_worth_waking(problem, num_threads)
        if narrow:
            return narrow_conv2d_transpose(problem, num_threads)
        y = problem.new_output()
        panels, panel_blocks, stages = wide_scratch(problem, y, num_threads)
        _simd.core.conv2d_transpose_wide(problem.x, problem.kernel, panels, panel_blocks,
                                         *plan(problem.rows, problem.cols), y, stages,
                                         num_threads)
        return y


def _narrow_seconds(problem, num_threads, profile, level):
    """Narrow kernel: every 32-pixel run of every phase, for every row tap, column
    tap and channel group (zero-padded), at the narrow rate (faster by a
    fitted factor with groups of 8)."""
    core = _simd.core
    batch, height, _, cout = problem.output_shape
    cols = problem.cols
    group, run = narrow_group_size(cout), core.narrow_run()
    groups = -(-cout // group)
    tile_taps = batch * groups * core.narrow_tile_taps(
        tap_table(problem.rows)[0], cols.out_size, cols.kernel_size, cols.stride,
        cols.dilation, cols.pad, run)
    padded = tile_taps * run * group * problem.x.shape[3]
    rate = profile["direct_narrow_madds_per_thread"][level][str(problem.x.itemsize)]
    if group > 4:
        rate *= profile["direct_narrow_group8_speedup"]
    threads = max(1, min(num_threads, batch * height * groups))
    work = padded / rate + tile_taps * profile["direct_tile_tap_s"]
    return profile["direct_overhead_s"] + work / threads


def _small_seconds(problem, profile):
    """The plain loop of calls under TRIVIAL_MADDS: a fixed cost, then every
    nominal multiply-add on one thread."""
    return (profile["direct_small_overhead_s"]
            + _nominal_madds(problem) / profile["direct_small_madds_per_s"])


def _wide_seconds(problem, num_threads, profile, level):
    """Wide kernel: the register tiles of each column class (a partial last
    tile counts as the short or whole tile that computes it), padded channel
    blocks, at the wide rate."""
    core = _simd.core
    itemsize = problem.x.itemsize
    height, cout = problem.output_shape[1], problem.output_shape[3]
    row_count, _, _, col_count, _, _, class_start, class_columns, _ = plan(problem.rows,
                                                                           problem.cols)
    block, pixels = core.channel_block(itemsize), core.pixel_block(itemsize)
    blocks = -(-cout // block)
    tile_taps, slot_taps = core.wide_tile_taps(row_count, col_count, class_start, class_columns,
                                               problem.x.shape[0], pixels,
                                               core.short_pixel_block(itemsize))
    tile_taps *= blocks
    padded = slot_taps * blocks * block * problem.x.shape[3]
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
    if estimates is None and _nominal_madds(problem) < TRIVIAL_MADDS:
        estimates = {"small": _small_seconds(problem, profile)}  # see DirectBackend
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
