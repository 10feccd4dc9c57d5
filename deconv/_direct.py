"""The ``"direct"`` backend: plans, packs and runs the Cython kernels of ``_core.pyx``.

A plan is all the integer bookkeeping of the polyphase decomposition, done
once per problem (the tables in C, ``_plan.pxi``) so that the compiled loops
do only arithmetic:

* a tap table per spatial dimension (:class:`TapTable`): for each output row,
  the kernel rows that reach it and the input rows they read (likewise for
  columns);
* column classes (:class:`ColumnClasses`): output columns that use the same
  kernel columns (one class per column phase in the interior, small classes
  at the borders), so one register tile can serve any pixels of a class.

There are five variants, and the plan names one:

``"small"``
    Calls under ``TRIVIAL_MADDS`` multiply-adds, where tiles and threads cost
    more than the arithmetic: on one thread, each input pixel's values for
    every tap (one vector-matrix product), added where the taps land.
``"wide"``
    Register tiles of pixels times a block of output channels, the kernel
    packed in such blocks ("panels").
``"folded"``
    The wide kernel on the same call with its kernel's columns folded into
    output channels (``deconv._problem.columns_folded``: a kernel as wide
    as the column stride, tiling the output's columns without overlap, as
    U-Net's 2x2 stride-2 up-convolutions): each input pixel's row taps
    write one contiguous run of ``stride * Cout`` items, in channel blocks
    that pad ``stride * Cout`` channels rather than Cout for each phase, and
    x is read once per row phase instead of once per phase. An output
    element sums the same terms in the same order as in the wide variant.
``"narrow"``
    Few output channels (up to ``NARROW_MAX_CHANNELS``): vector lanes run
    over pixels instead, each thread keeping a small zero-padded planar window
    of the input rows in use (RGB and single-channel outputs; large stride-1
    kernels, whose wide border tiles are mostly empty). The padding is exact
    only for a finite kernel (0 * inf is NaN), so a kernel holding NaN or
    inf runs on the wide variant instead.
``"dot"``
    One to four output channels from many input channels (``_dot.pxi``):
    vector lanes run over input channels, each output element a sum of dot
    products of x's pixels (read where they lie) with the kernel's taps, so
    neither the wide kernel's padding of Cout nor the narrow kernel's planar
    copy of x is paid (an autoencoder's or a segmentation net's last layer).

Which variant runs is decided by the cost model with its shipped constants
(``deconv._cost.DEFAULT_PROFILE``) at one thread, never a tuned profile or
the thread count, so every process runs the same code path for the same
problem; the tuned constants only say how long that path takes. The tile
kernels read x and write y through their strides, so channels-first calls
run on the caller's arrays with no layout pass. Scratch arrays come from a
buffer kept between calls (``_workspace``).
"""
import math
from typing import NamedTuple

import numpy as np

from . import _cost, _profile, _simd
from ._backend import Backend, BackendPlan
from ._caches import bounded_cache
from ._problem import columns_folded
from ._workspace import aligned_empty, scratch_arrays

# Below this many nominal multiply-adds (~1 us of arithmetic) a call takes the
# "small" variant: tiles and threads would cost more than the arithmetic.
TRIVIAL_MADDS = 1 << 16
# Seconds of work (the plan's estimate at one thread, shipped constants,
# fixed cost left out) that make waking one more OpenMP thread worth it:
# tiny calls stay on one thread. Results do not depend on it. Zero wakes
# every thread asked for.
SECONDS_PER_THREAD = 20e-6
# Output channels up to which the narrow kernel is a candidate; past it, it
# would re-read x for too many channel groups (a cost the model omits).
NARROW_MAX_CHANNELS = 32
# Multiply-adds between two looks for signals (Ctrl-C) in a long call: about
# 10-20 ms of work on AVX-512, 0.1 s on the baseline build.
MADDS_PER_SIGNAL_CHECK = 2_000_000_000
# Packed kernels up to this size are read whole by every thread, which then
# splits rows rather than channel blocks (each input row is read once): a
# typical L2 cache. Measured at 2 threads, 1 MB against 256 KB: unet_up1
# (512 KB) 7.4 -> 5.9 ms, dcgan3 (512 KB) 5.9 -> 5.1 ms, no suite layer slower.
WHOLE_PACK_BYTES = 1 << 20
# The same choice for kernels packed beforehand (operators), which cost no
# packing in the call: rows split between threads pay up to a larger size
# (dcgan2's 2 MB panels: 4.57 -> 4.42 ms; dcgan2_f64's 4 MB: 10.2 -> 9.8 ms),
# channel blocks still win at dcgan1's 8 MB.
PACKED_WHOLE_BYTES = 1 << 22


class TapTable(NamedTuple):
    """Per output index ``r``: ``count[r]`` taps, kernel index
    ``kernel_index[r, t]`` reading input index ``input_index[r, t]``, in
    increasing kernel order (zeros after)."""
    count: np.ndarray
    kernel_index: np.ndarray
    input_index: np.ndarray


class ColumnClasses(NamedTuple):
    """Class ``k`` is ``columns[start[k]:start[k + 1]]``; its first column is
    the representative whose taps the kernel uses, and ``shift[q]`` is how
    many input columns column q is shifted from its representative."""
    start: np.ndarray
    columns: np.ndarray
    shift: np.ndarray


class SmallGeometry(NamedTuple):
    """What the small variant's kernel needs of the two axes."""
    kernel_height: int
    kernel_width: int
    stride_height: int
    stride_width: int
    dilation_height: int
    dilation_width: int
    pad_top: int
    pad_left: int


class WideTables(NamedTuple):
    rows: TapTable
    cols: TapTable
    classes: ColumnClasses


class ColumnPhases(NamedTuple):
    """The narrow kernel's columns, per column phase p: ``columns[p]`` output
    columns from ``first_column[p]`` on (every ``stride``), with taps
    ``tap_start[p]:tap_start[p + 1]`` of ``kernel_column`` and
    ``input_column`` (the padded input column each reads for the phase's first
    output column); the window has ``pad_left`` zero columns before x and is
    ``padded_width`` wide."""
    first_column: np.ndarray
    columns: np.ndarray
    tap_start: np.ndarray
    kernel_column: np.ndarray
    input_column: np.ndarray
    stride: int
    pad_left: int
    padded_width: int


class NarrowTables(NamedTuple):
    rows: TapTable
    cols: ColumnPhases
    window_rows: int


def tap_table(axis):
    """The :class:`TapTable` of an axis (``deconv._geometry.Axis``), cached by
    geometry alone: rows and columns of the same geometry share it."""
    return _tap_table(*axis[1:])


@bounded_cache(256)
def _tap_table(in_size, out_size, kernel_size, stride, dilation, pad):
    return TapTable(*_simd.core.tap_table(in_size, out_size, kernel_size, stride, dilation, pad))


@bounded_cache(128)
def wide_tables(rows, cols):
    """The :class:`WideTables` of a geometry. Nothing writes the arrays after
    planning: the kernels take them as ``const``."""
    col_table = tap_table(cols)
    classes = ColumnClasses(*_simd.core.column_classes(col_table, cols.stride, cols.pad))
    return WideTables(tap_table(rows), col_table, classes)


@bounded_cache(128)
def narrow_tables(rows, cols):
    """The :class:`NarrowTables` of a geometry."""
    core = _simd.core
    row_table = tap_table(rows)
    *arrays, pad_left, padded_width = core.column_phases(
        cols.in_size, cols.out_size, cols.kernel_size, cols.stride, cols.dilation, cols.pad,
        core.narrow_run())
    phases = ColumnPhases(*arrays, cols.stride, pad_left, padded_width)
    return NarrowTables(row_table, phases, core.input_rows_per_output_row(row_table))


def narrow_group_candidates(itemsize):
    """The channel-group sizes the narrow kernel offers for items of
    ``itemsize`` bytes here; its plan takes the one the cost model (shipped
    constants) finds fastest. Every size gives the same bits: each output
    channel sums the same terms in the same order, whatever its group."""
    return _simd.core.narrow_groups(itemsize)


def threads_worth_waking(problem, num_threads, variant, work):
    """Threads for a plan of ``variant`` doing ``work``: one per
    SECONDS_PER_THREAD of its estimated time, up to ``num_threads``."""
    profile = _cost.DEFAULT_PROFILE
    seconds = _cost.direct_seconds(variant, work, problem.dtype.itemsize, 1, profile,
                                   _simd.core.isa_name()) - profile["direct_overhead_s"]
    return threads_for_seconds(seconds, num_threads)


def threads_for_seconds(seconds, num_threads):
    """One thread per SECONDS_PER_THREAD of ``seconds`` of estimated work (at
    one thread, fixed cost left out), at least one, up to ``num_threads``."""
    if SECONDS_PER_THREAD <= 0:
        return num_threads
    return max(1, min(num_threads, int(seconds / SECONDS_PER_THREAD)))


def gather_tap_table(axis):
    """The :class:`TapTable` of the adjoint of an axis (output index i of
    the gather reads input ``i * stride + a * dilation - pad`` with tap a):
    the taps of each index, in increasing order, are a run."""
    return _gather_tap_table(*axis[1:])


@bounded_cache(256)
def _gather_tap_table(in_size, out_size, kernel_size, stride, dilation, pad):
    reads = (np.arange(in_size)[:, None] * stride + np.arange(kernel_size)[None, :] * dilation
             - pad)
    lands = (reads >= 0) & (reads < out_size)
    count = lands.sum(axis=1).astype(np.intp)
    width = max(1, int(count.max(initial=0)))
    first = np.where(count > 0, lands.argmax(axis=1), 0)
    slots = np.arange(width)
    used = slots[None, :] < count[:, None]
    kernel_index = np.where(used, first[:, None] + slots[None, :], 0).astype(np.intp)
    input_index = np.where(used, np.arange(in_size)[:, None] * stride
                           + kernel_index * dilation - pad, 0).astype(np.intp)
    return TapTable(count, kernel_index, input_index)


@bounded_cache(128)
def gather_tables(rows, cols):
    """The :class:`WideTables` of the adjoint of the axes ``rows`` and
    ``cols``: the wide kernel computes a gather from such tables as it
    computes a scatter from its own (a class of columns shares its taps,
    each column shifted by a multiple of the stride)."""
    col_table = gather_tap_table(cols)
    classes = ColumnClasses(*_simd.core.column_classes(col_table, 1, 0))
    return WideTables(gather_tap_table(rows), col_table, classes)


def gather_plan(problem, num_threads):
    """The wide variant's plan of a gather: ``problem`` is laid out as the
    gather runs (x the gathered array, output its result, kernel (kh, kw,
    out, in)) with the axes of the transposed convolution it is the adjoint
    of as ``rows`` and ``cols``."""
    return _wide_plan(problem, num_threads, gather_tables(problem.rows, problem.cols))


def _wide_plan(problem, num_threads, tables=None):
    """Wide variant: the register tiles of each column class (a partial last
    tile counts as the tile that computes it), in padded channel blocks (a
    last one of few channels in half tiles where there are:
    ``deconv._core.computed_channels``)."""
    core = _simd.core
    itemsize = problem.dtype.itemsize
    batch, height, _, cout = problem.output_shape
    if tables is None:
        tables = wide_tables(problem.rows, problem.cols)
    block = core.channel_block(itemsize)
    blocks = -(-cout // block)
    tile_taps, slot_taps = core.wide_tile_taps(tables, batch, core.tile_pixel_sizes(itemsize))
    computed, cin = core.computed_channels(cout, itemsize), problem.input_shape[3]
    work = _cost.DirectWork(padded_madds=slot_taps * computed * cin,
                            tile_taps=tile_taps * blocks, units=height * blocks,
                            outputs=batch * height * problem.output_shape[2] * computed,
                            half_madds=slot_taps * half_block_channels(computed, block) * cin)
    return BackendPlan("wide", ("wide", block), tables,
                       threads_worth_waking(problem, num_threads, "wide", work), work)


def half_block_channels(computed, block):
    """Channels of the last block computed in half tiles, of ``computed``
    (``deconv._core.computed_channels``) in blocks of ``block``: 0 or half
    a block."""
    return computed % block


def _folded_plan(folded, num_threads):
    """Folded variant: the wide plan of the problem ``folded`` (see
    :func:`deconv._problem.columns_folded`)."""
    plan = _wide_plan(folded, num_threads)
    return plan._replace(variant="folded", packing=("folded", plan.packing[1]))


def _folded_kernel(kernel):
    """A kernel with its columns folded into channels
    (``deconv._problem.columns_folded``): (kh, 1, kw * Cout, Cin), reshaped."""
    kh, kw, cout, cin = kernel.shape
    return kernel.reshape(kh, 1, kw * cout, cin)


def _folded_output(y, kw):
    """y (N, H, W, Cout) viewed as (N, H, W / kw, kw * Cout), the output of
    a call with its kernel's ``kw`` columns folded into channels; None where
    y's columns and channels are not one run of items (then the wide
    variant writes it as it is)."""
    batch, height, width, cout = y.shape
    if cout > 1 and y.strides[2] != cout * y.strides[3]:
        return None
    channel = y.strides[3] if cout > 1 else y.strides[2]
    return np.lib.stride_tricks.as_strided(
        y, (batch, height, width // kw, kw * cout),
        (y.strides[0], y.strides[1], kw * y.strides[2], channel))


def _dot_plan(problem, num_threads):
    """Dot variant: the tiles of each column class of each image row, every
    tap a vector multiply-add per (padded) group of input channels and output
    channel, and a sum of the lanes per output element."""
    core = _simd.core
    batch, height, _, cout = problem.output_shape
    tables = wide_tables(problem.rows, problem.cols)
    tile_taps, slot_taps = core.wide_tile_taps(tables, 1, (core.dot_pixels(cout),))
    lanes = core.dot_lanes(problem.dtype.itemsize)
    padded_cin = -(-problem.input_shape[3] // lanes) * lanes
    # Only the outputs some tap reaches have lanes to sum; the others are zeros.
    reached = int(np.count_nonzero(tables.rows.count)) * int(np.count_nonzero(tables.cols.count))
    work = _cost.DirectWork(padded_madds=batch * slot_taps * cout * padded_cin,
                            tile_taps=batch * tile_taps, units=batch * height,
                            outputs=batch * reached * cout)
    return BackendPlan("dot", ("dot",), tables,
                       threads_worth_waking(problem, num_threads, "dot", work), work)


def _narrow_plan(problem, num_threads):
    """Narrow variant: every run of pixels of every column phase, for every
    row tap, column tap and (zero-padded) channel group, in the group size
    (:func:`narrow_group_candidates`) the cost model finds fastest: more
    channels per tile load fewer pixels per multiply-add, but pad more."""
    plans = [_narrow_plan_of_group(problem, group)
             for group in narrow_group_candidates(problem.dtype.itemsize)]
    level = _simd.core.isa_name()
    best = min(plans, key=lambda plan: _cost.direct_seconds(
        "narrow", plan.work, problem.dtype.itemsize, 1, _cost.DEFAULT_PROFILE, level))
    return best._replace(num_threads=threads_worth_waking(problem, num_threads, "narrow",
                                                          best.work))


def _narrow_plan_of_group(problem, group):
    """The narrow plan of ``problem`` in channel groups of ``group`` (on one thread)."""
    core = _simd.core
    batch, height, _, cout = problem.output_shape
    cols = problem.cols
    groups = -(-cout // group)
    tables = narrow_tables(problem.rows, cols)
    tile_taps, slot_taps = (batch * groups * taps for taps in core.narrow_tile_taps(
        tables.rows, cols.out_size, cols.kernel_size, cols.stride, cols.dilation, cols.pad,
        *core.narrow_runs(group)))
    # Each thread copies the input rows its output rows read into its planar
    # window once: about all of x, zero-padded to the window's width.
    n, in_height, _, cin = problem.input_shape
    work = _cost.DirectWork(padded_madds=slot_taps * group * cin, tile_taps=tile_taps,
                            units=batch * height * groups, group=group,
                            outputs=batch * height * cols.out_size * groups * group,
                            copied=n * in_height * tables.cols.padded_width * cin)
    return BackendPlan("narrow", ("narrow", group), tables, 1, work)


def small_tap_values(problem):
    """The padded row length of the small variant's packed kernel, if
    ``problem`` takes that variant (under TRIVIAL_MADDS multiply-adds, and
    a kernel small enough to pack on the stack); else None."""
    kh, kw, cout, cin = problem.kernel_shape
    lanes, most, most_packed = _simd.core.small_lanes()
    tap_values = -(-kh * kw * cout // lanes) * lanes
    if problem.nominal_multiply_adds < TRIVIAL_MADDS and tap_values <= most and \
            cin * tap_values <= most_packed:
        return tap_values
    return None


@bounded_cache(256)
def candidate_plans(problem, num_threads, level):
    """The plans of every variant that may run ``problem`` on ``level``'s
    build, by variant name; cached."""
    tap_values = small_tap_values(problem)
    if tap_values is not None:
        rows, cols = problem.rows, problem.cols
        geometry = SmallGeometry(rows.kernel_size, cols.kernel_size, rows.stride, cols.stride,
                                 rows.dilation, cols.dilation, rows.pad, cols.pad)
        # Each input pixel's vector-matrix product over the padded taps, then
        # each (pixel, tap) pair's additions where the tap lands; and every
        # output item zeroed.
        batch, in_height, in_width, cin = problem.input_shape
        pixels = batch * in_height * in_width
        work = _cost.DirectWork(pixels * cin * tap_values,
                                pixels * rows.kernel_size * cols.kernel_size, 1,
                                outputs=math.prod(problem.output_shape))
        return {"small": BackendPlan("small", ("small", tap_values), geometry, 1, work)}
    plans = {"wide": _wide_plan(problem, num_threads)}
    folded = columns_folded(problem)
    if folded is not None:
        plans["folded"] = _folded_plan(folded, num_threads)
    if problem.output_shape[3] <= NARROW_MAX_CHANNELS:
        plans["narrow"] = _narrow_plan(problem, num_threads)
    if _dot_fits(problem):
        plans["dot"] = _dot_plan(problem, num_threads)
    return plans


def _dot_fits(problem):
    """Whether the dot variant may run ``problem``: few output channels, and
    x's channels contiguous (a channels-first x would need a copy first)."""
    return (problem.output_shape[3] <= _simd.core.dot_max_channels()
            and problem.data_format == "channels_last")


def choose_variant(problem, plans):
    """The plan, of ``plans`` (by variant), that the shipped cost model finds
    fastest on one thread (see the module docstring): the variants add up
    an output's terms in different orders, so the choice must not depend on
    the thread count."""
    return min(plans.values(), key=lambda plan: plan_seconds(
        problem, plan, 1, _cost.DEFAULT_PROFILE))


def plan_seconds(problem, plan, num_threads, profile):
    """A direct plan's estimated seconds with ``profile``'s constants (the
    folded variant's are the wide kernel's)."""
    variant = "wide" if plan.variant == "folded" else plan.variant
    return _cost.direct_seconds(variant, plan.work, problem.dtype.itemsize, num_threads,
                                profile, _simd.core.isa_name())


class DirectBackend(Backend):
    """Polyphase, register-tiled, OpenMP-parallel kernel (Cython)."""

    name = "direct"
    description = "Cython polyphase kernel, OpenMP, bitwise thread-invariant"
    strided_kernels = True

    def unsupported_reason(self, problem):
        return _simd.unavailable_reason

    def plan(self, problem, num_threads):
        return choose_variant(problem, candidate_plans(problem, num_threads,
                                                       _simd.core.isa_name()))

    def plan_variant(self, problem, num_threads, variant):
        """The plan of ``variant`` for ``problem`` where that variant may run
        it, else :meth:`plan`'s. Each variant adds up an output element's
        terms in its own order: the pieces of a tiled call run the whole
        call's variant so that they agree with it bit for bit."""
        if variant == "wide":
            return _wide_plan(problem, num_threads)
        if variant == "folded":  # the wide variant's sums, where the columns do not fold
            folded = columns_folded(problem)
            return (_wide_plan(problem, num_threads) if folded is None
                    else _folded_plan(folded, num_threads))
        if variant == "narrow" and problem.output_shape[3] <= NARROW_MAX_CHANNELS:
            return _narrow_plan(problem, num_threads)
        if variant == "dot" and problem.output_shape[3] <= _simd.core.dot_max_channels():
            return _dot_plan(problem, num_threads)  # a channels-first x is copied first
        plans = candidate_plans(problem, num_threads, _simd.core.isa_name())
        return plans[variant] if variant in plans else self.plan(problem, num_threads)

    def estimate_seconds(self, problem, num_threads):
        if _simd.core is None:
            return None
        return plan_seconds(problem, self.plan(problem, num_threads), num_threads,
                            _profile.current_profile())

    def minimum_seconds(self, problem, num_threads):
        return _cost.direct_minimum_seconds(small_tap_values(problem) is not None,
                                            _profile.current_profile())

    def pack(self, problem, plan, kernel):
        """The kernel as the plan's variant reads it; for the narrow variant,
        with whether it is finite."""
        kind = plan.packing[0]
        kh, kw, cout, cin = kernel.shape
        if kind == "small":
            packed = aligned_empty((cin, plan.packing[1]), kernel.dtype)
            _simd.core.pack_small_kernel(np.ascontiguousarray(kernel), packed)
            return packed
        if kind == "dot":
            packed = aligned_empty(kernel.shape, kernel.dtype)
            packed[...] = kernel
            return packed
        if kind == "folded":
            kernel = _folded_kernel(kernel)
            kh, kw, cout, cin = kernel.shape
        if kind in ("wide", "folded"):
            block = plan.packing[1]
            panels = aligned_empty((-(-cout // block), kh, kw, cin, block), kernel.dtype)
            _simd.core.pack_wide_panels(kernel, panels, plan.num_threads)
            return panels
        group = plan.packing[1]
        packed = aligned_empty((kh, kw, cin, -(-cout // group) * group), kernel.dtype)
        _simd.core.pack_narrow_kernel(kernel, packed, plan.num_threads)
        return packed, _simd.all_finite(kernel, plan.num_threads)

    def run(self, problem, plan, x, kernel, packed, y):
        core = _simd.core
        if plan.variant == "small":
            core.conv2d_transpose_small(x, np.ascontiguousarray(kernel), packed, plan.tables, y)
        elif plan.variant == "dot":
            if x.shape[3] > 1 and x.strides[3] != x.itemsize:
                x = np.ascontiguousarray(x)
            core.conv2d_transpose_dot(x, np.ascontiguousarray(kernel) if packed is None else
                                      packed, plan.tables, y, units_per_signal_check(plan.work),
                                      plan.num_threads)
        elif plan.variant == "narrow":
            finite = (_simd.all_finite(kernel, plan.num_threads) if packed is None
                      else packed[1])
            if finite:
                _run_narrow(plan, x, kernel, None if packed is None else packed[0], y)
            else:
                wide = candidate_plans(problem, plan.num_threads, core.isa_name())["wide"]
                _run_wide(problem, wide, x, kernel, None, y)
        elif plan.variant == "folded":
            folded_y = _folded_output(y, kernel.shape[1])
            if folded_y is None:
                _run_wide(problem, _wide_plan(problem, plan.num_threads), x, kernel, None, y)
            else:
                _run_wide(columns_folded(problem), plan, x, _folded_kernel(kernel), packed,
                          folded_y)
        else:
            _run_wide(problem, plan, x, kernel, packed, y)


def _run_wide(problem, plan, x, kernel, panels, y):
    """The wide kernel, with its panels packed beforehand (``panels``) or,
    without them, packed here: whole when small, else by each thread for the
    blocks it computes."""
    threads, block = plan.num_threads, plan.packing[1]
    kh, kw, cout, cin = kernel.shape
    blocks = -(-cout // block)
    whole = blocks < threads or blocks * kh * kw * cin * block * kernel.itemsize <= (
        WHOLE_PACK_BYTES if panels is None else PACKED_WHOLE_BYTES)
    batch, _, width, _ = problem.output_shape
    stage_items = batch * width * block if y.strides[3] != y.itemsize else 1
    if panels is not None:
        panel_blocks, stages = scratch_arrays(((0,), np.intp), ((threads, stage_items), y.dtype))
    else:
        panels, panel_blocks, stages = scratch_arrays(
            ((blocks if whole else threads, kh, kw, cin, block), kernel.dtype),
            ((0 if whole else threads,), np.intp), ((threads, stage_items), y.dtype))
        if whole:
            _simd.core.pack_wide_panels(kernel, panels, threads)
        else:
            panel_blocks.fill(-1)
    _simd.core.conv2d_transpose_wide(x, kernel, panels, panel_blocks, plan.tables, y, stages,
                                     not whole, units_per_signal_check(plan.work), threads,
                                     _simd.streams(y.nbytes))


def _run_narrow(plan, x, kernel, packed, y):
    """The narrow kernel, packing the kernel here when ``packed`` is None."""
    threads, group, tables = plan.num_threads, plan.packing[1], plan.tables
    kh, kw, cout, cin = kernel.shape
    window = ((threads, cin, tables.window_rows, tables.cols.padded_width), x.dtype)
    holds = ((threads, tables.window_rows), np.intp)
    slots = ((threads, tables.rows.kernel_index.shape[1]), np.intp)
    if packed is None:
        packed, windows, window_holds, tap_slots = scratch_arrays(
            ((kh, kw, cin, -(-cout // group) * group), kernel.dtype), window, holds, slots)
        _simd.core.pack_narrow_kernel(kernel, packed, threads)
    else:
        windows, window_holds, tap_slots = scratch_arrays(window, holds, slots)
    windows.fill(0)
    window_holds.fill(-1)
    _simd.core.conv2d_transpose_narrow(x, packed, tables, windows, window_holds, tap_slots, y,
                                       group, units_per_signal_check(plan.work), threads,
                                       _simd.streams(y.nbytes))


def units_per_signal_check(work):
    """Work units of a tiled plan's ``work`` (a ``deconv._cost.DirectWork``,
    or anything with its ``units`` and ``padded_madds``) between two looks
    for signals."""
    return max(1, work.units * MADDS_PER_SIGNAL_CHECK // max(1, work.padded_madds))
