"""The ``"winograd"`` backend: minimal filtering on the polyphase sub-kernels.

Every output phase of a transposed convolution (the rows ``r`` of one
residue ``r mod stride``, likewise the columns) takes the kernel taps of one
residue: output ``r = first + stride * t`` of the phase is the stride-1
correlation ``sum_u x[base + t + u] * g[u]`` with the phase's ``K`` taps
``g`` (kernel index ``phase + stride * (K - 1 - u)``). A stride-2 4x4 kernel
has four 2x2 sub-kernels, a stride-2 3x3 one sub-kernels of 2x2, 2x1, 1x2 and
1x1, a stride-1 3x3 kernel one phase of 3x3. A dilated axis (at stride 1)
splits likewise, by output residue modulo the dilation: the outputs of a
residue read every dilation-th input, with all the kernel's taps, so a 3x3
kernel of dilation 2 is four interleaved 3x3 stride-1 problems, each on a
strided view of x and y.

Each phase is computed by Winograd's minimal filtering F(T, K) on tiles of
T x T' outputs (``deconv._toom_cook``): the input tiles are transformed
(``BT``), the transformed input and kernel (``G``) are multiplied position
by position -- for every one of the tile's ``alpha x alpha'`` positions, a
matrix product over input channels, run as one call of the direct
backend's wide register-tile kernel on a "kernel" of ``alpha * alpha'``
rows -- and the products transformed back (``AT``) into the phase's
outputs. A 4x4 stride-2 layer takes 25 multiplications per 16 outputs of a
phase in F(4, 2) tiles instead of 64: the arithmetic is 2.56 times smaller,
beyond what the FMA peak allows a direct method. The price is memory: the
transformed input and products pass through memory (in scratch arrays), and
the transformed kernel is ``alpha * alpha' / (K * K')`` times the
sub-kernel's size. An operator packs it once; a function call builds each
position's panel of it from the packed sub-kernel as the products go (a
weighted sum of the taps, :func:`tap_weights`), by the same routine, so
both give the same bits.

Tiles are chosen per axis and phase to minimize the positions computed,
``ceil(outputs / T) * (T + K - 1)``, with at most ``MAX_TILE_INPUTS`` inputs
per axis: float32 rounding grows with the transforms' entries. Measured on
the oracle grid, errors stay within the spec's 1e-5 of max|y| (see the
tests). Along an axis whose phase has one tap there is nothing to save:
its tiles are single pixels (plain products). Problems minimal filtering
cannot help (dilation with a stride, a kernel no larger than its stride, more than
``MAX_PHASE_TAPS`` taps per phase: see :func:`winograd_reason`) run on the
direct kernel, and ``"auto"`` does not consider this backend for them.

How this differs from what exists: MNN's strided deconvolution and the
FPGA designs (e.g. Yan et al., "Efficient Winograd-based transposed
convolution") also split a strided kernel into its phases and apply
F(m, r) to each; here the tile size is chosen per phase from the phase's
own output count (small images get one tile across), the transforms are
derived exactly from interpolation points rather than tabulated, and the
products run on the same register-tiled kernel as the direct backend.

Phases of two taps on each axis (a stride-2 4x4 kernel, a 2x2 kernel at
stride 1 or dilated) with 16-64 channels have a second plan, *fused*
F(2x2, 2x2) (``deconv/_winograd_fused.pxi``): tile row by tile row, eight
tiles at a time, each tile's input transform, products and output
transform in registers and on the stack, nothing through memory but x, y
and the transformed kernel. Its transforms have only 0, 1 and -1 for
entries (each transformed item a sum of at most four terms); it does 9
multiplications per 2x2 outputs and channel pair instead of 16 -- fewer
savings than F(4, 2)'s 25 per 16, but with few channels the staged
transforms cost more than they save (a 16-channel 256x256 image took 4.7x
the direct kernel's time staged, 0.7x fused). The cost model picks the plan of the lower estimate.

Small phases of one shape (the four of a stride-2 4x4 kernel on a small
image: :func:`runs_by_thread`) run one per thread instead, each whole --
input transforms, products, output transforms -- in one compiled call for
them all: a thread reads back what it wrote from its own cache, and a call
costs one compiled call rather than three per phase.

Results depend only on the shapes, never on the thread count (each tile is
transformed by one thread; the products are the wide kernel's). A NaN or
inf input would be spread by the transforms over its tile (inf - inf), so
the backend requires finite data and ``"auto"`` passes over it otherwise.
"""
import math
from typing import NamedTuple

import numpy as np

from . import _cost, _direct, _profile, _simd
from ._backend import Backend, BackendPlan
from ._caches import bounded_cache
from ._toom_cook import minimal_filter
from ._workspace import aligned_empty, scratch_arrays

# The most inputs per tile and axis: float32 errors on the oracle grid stay
# under 4e-6 of max|y| with five (F(4, 2), F(3, 3), F(2, 4)); six (F(5, 2),
# F(4, 3): transforms' entries up to 32) reached 1.1e-5, past SPEC 6's 1e-5.
MAX_TILE_INPUTS = 5
# Kernel taps per phase and axis the backend takes: a phase of K taps on
# tiles of MAX_TILE_INPUTS inputs has MAX_TILE_INPUTS - K + 1 outputs, and
# past 4 taps the saving is too small to pay for the transforms.
MAX_PHASE_TAPS = 4
# The columns of a row of by_run_table (deconv._core's RUN_FIELDS): input
# row and column of the first tile, first output row and column, output
# rows and columns, the sub-kernel's kernel rows, then its kernel columns.
RUN_FIELDS = 6 + 2 * MAX_PHASE_TAPS
# The most bytes a product plan's products read and write -- transformed
# inputs, products, transformed kernel -- for the plans to run one per
# thread (runs_by_thread): about a core's L2 cache (1 MB on the Zen 4
# measured), where they stay from the transforms through the products and
# back. Measured at 2 threads against the stage-by-stage calls: n1_k4s2
# (1.17 MB) 0.80x the time, asym_s21 (1.13 MB) 0.78x, sr_x4_k8 (1.06 MB)
# 0.75x; where the transformed kernel streams from memory, one plan per
# thread lost as often as it won (dcgan1, n1_c512_k4s2, 13.7 MB:
# 0.97-1.13x), and where the rest does (dcgan3, 5.5 MB), 1.2x.
BY_RUN_BYTES = 5 << 18


class AxisPhase(NamedTuple):
    """One output phase of one axis: ``outputs`` indices from
    ``first_output`` on, every ``step``; the kernel ``taps`` of the phase in
    correlation order (none: the phase's outputs are zeros); the inputs it
    reads, from ``first_input`` on, every ``input_step``; the index among
    those, ``input_base``, that the first tile's first input reads; and the
    phase's tiles: ``tiles`` of ``tile`` outputs.

    A strided axis has a phase per output residue modulo the stride (steps
    of the stride, every input, a residue's taps); a dilated one (stride 1)
    a phase per residue modulo the dilation (steps of the dilation, every
    dilation-th input, all taps): each an undilated stride-1 correlation."""
    first_output: int
    outputs: int
    step: int
    taps: tuple
    first_input: int
    input_step: int
    input_base: int
    tile: int
    tiles: int

    @property
    def inputs(self):
        """Inputs per tile (alpha): T + K - 1."""
        return self.tile + len(self.taps) - 1


def tile_size(outputs, taps):
    """The tile T (outputs per tile) of a phase of ``outputs`` outputs and
    ``taps`` taps that computes the fewest positions, ``ceil(outputs / T) *
    (T + taps - 1)``, with at most MAX_TILE_INPUTS inputs; the smaller tile
    of a tie (its transforms round less).

    Examples
    --------
    >>> from deconv._winograd import tile_size
    >>> tile_size(4, 2), tile_size(16, 2), tile_size(7, 3), tile_size(9, 1)
    (4, 4, 3, 1)
    """
    if taps <= 1:
        return 1
    candidates = range(1, MAX_TILE_INPUTS - taps + 2)
    return min(candidates, key=lambda t: (-(-outputs // t) * (t + taps - 1), t))


def axis_phases(axis):
    """The :class:`AxisPhase` of each output phase of ``axis`` (a
    ``deconv._geometry.Axis`` of dilation 1 or stride 1), in order of their
    first outputs.

    Examples
    --------
    >>> from deconv._geometry import Axis
    >>> from deconv._winograd import axis_phases
    >>> [(p.first_output, p.step, p.taps, p.first_input, p.input_step)
    ...  for p in axis_phases(Axis.from_padding("rows", 8, 8, 3, 1, 2, "same"))]
    [(0, 2, (2, 1, 0), 0, 2), (1, 2, (2, 1, 0), 1, 2)]
    """
    return _axis_phases(*axis[1:])


@bounded_cache(256)
def _axis_phases(in_size, out_size, kernel_size, stride, dilation, pad):
    phases = []
    if dilation > 1:  # stride 1: output o + pad = i + dilation * tap
        taps = tuple(range(kernel_size - 1, -1, -1))
        for first in range(min(dilation, out_size)):
            # Output first + pad + dilation * t reads input first_input +
            # dilation * (quotient + t - tap).
            quotient, first_input = divmod(first + pad, dilation)
            outputs = -(-(out_size - first) // dilation)
            tile = tile_size(outputs, kernel_size)
            phases.append(AxisPhase(first, outputs, dilation, taps, first_input, dilation,
                                    quotient - (kernel_size - 1), tile, -(-outputs // tile)))
        return tuple(phases)
    for first in range(min(stride, out_size)):
        residue = (first + pad) % stride
        count = len(range(residue, kernel_size, stride))
        taps = tuple(residue + stride * (count - 1 - u) for u in range(count))
        # Output first + pad = stride * m + residue reads input m - j with tap j.
        base = (first + pad - residue) // stride - (count - 1)
        outputs = -(-(out_size - first) // stride)
        tile = tile_size(outputs, count)
        phases.append(AxisPhase(first, outputs, stride, taps, 0, 1, base, tile,
                                -(-outputs // tile)))
    return tuple(phases)


class Transforms(NamedTuple):
    """A minimal filter's data transforms (BT, AT) as arrays of the compute
    dtype (its kernel transform is :func:`tap_weights`')."""
    input: np.ndarray
    output: np.ndarray


class PhaseTiles(NamedTuple):
    """One output phase (a row phase and a column phase with taps) in a
    :class:`ProductPlan`: the index of x its tiles read (its axes' inputs),
    and the slice of each position's matrices its tiles take (N * row
    tiles * column tiles columns). Indices built once with the plan: slices
    made per call would pass through the interpreter's cache of them."""
    rows: AxisPhase
    cols: AxisPhase
    inputs: tuple
    tiles: slice


class ProductPlan(NamedTuple):
    """The output phases that share one transformed kernel -- the same taps
    and tiles: one phase of a strided layer, the sub-grids of like size of a
    dilated one -- whose tiles are multiplied together, one matrix product
    per transform position: their minimal filters' :class:`Transforms`, and
    the work counts of the products. (Their tables, O(batch * tiles), are
    built when the products run: :func:`product_tables`; planning a huge
    problem allocates nothing of its size.)"""
    phases: tuple
    row_transforms: Transforms
    col_transforms: Transforms
    # The columns of each position's matrix product: every phase's tiles.
    columns: int
    work: _cost.DirectWork
    # The sub-kernel as a view, kernel[rows, cols] (taps in correlation
    # order), and the weight of tap (u, w) in position (i, j) of the
    # transformed kernel, G_rows[i, u] * G_cols[j, w] (ah * aw, K * K').
    sub_kernel: tuple
    tap_weights: np.ndarray
    # Transform positions of a tile, alpha * alpha'.
    positions: int
    # Items from one position's matrix to the next in the scratch arrays of
    # the transformed inputs and of the products (position_stride).
    input_stride: int
    product_stride: int
    # The sub-kernel as the wide kernel packs it (blocks, K, K', Cin, block).
    taps_shape: tuple
    # Work units of the products between two looks for signals.
    units_per_check: int

    @property
    def pointwise(self):
        """Whether its phases take one tap per axis: each output then takes
        one input pixel's product with one tap, with nothing to transform
        (:func:`pointwise_views`)."""
        return self.positions == 1

    @property
    def layout(self):
        """The row and column taps and tiles its phases share."""
        rows, cols = self.phases[0].rows, self.phases[0].cols
        return rows.taps, rows.tile, cols.taps, cols.tile


class WinogradTables(NamedTuple):
    """Every phase of a problem: ``products``, the :class:`ProductPlan` of
    the phases with taps, and ``zeros``, the index of the outputs of each
    phase without (zeros); and the items of the scratch arrays a call
    needs, the largest over ``products``: transformed inputs, products, a
    function call's packed sub-kernel, and each thread's slot for the
    group of its blocks (:func:`tap_group`) that a function call packs as
    it goes. ``by_run`` is the table of ``deconv._core.winograd_by_run``
    when the product plans can run one per thread (:func:`by_run_table`),
    else None."""
    products: tuple
    zeros: tuple
    input_items: int
    product_items: int
    tap_items: int
    tap_slot_items: int
    by_run: object


def tap_group(run, itemsize):
    """Blocks of a :class:`ProductPlan`'s packed sub-kernel that the products
    of a function call hold in cache at once (``deconv._core.winograd_tap_group``)."""
    blocks, *block_shape = run.taps_shape
    return min(blocks, _simd.core.winograd_tap_group(math.prod(block_shape) * itemsize))


@bounded_cache(64)
def transforms(outputs, taps, dtype):
    """The :class:`Transforms` of F(``outputs``, ``taps``) in ``dtype``, read-only."""
    bt, _, at = minimal_filter(outputs, taps).arrays(dtype)
    for array in (bt, at):
        array.flags.writeable = False
    return Transforms(bt, at)


def winograd_reason(problem):
    """Why minimal filtering cannot help ``problem`` (shapes only), or None:
    the backend then runs the direct kernel instead."""
    most = []
    for axis, name in ((problem.rows, "rows"), (problem.cols, "columns")):
        if axis.dilation != 1 and axis.stride != 1:
            return (f"minimal filtering takes a dilated axis at stride 1 only (got dilation "
                    f"{axis.dilation} and stride {axis.stride} for {name})")
        taps = -(-axis.kernel_size // axis.stride)
        if taps > MAX_PHASE_TAPS:
            return (f"a phase of {taps} taps along the {name} (kernel {axis.kernel_size}, "
                    f"stride {axis.stride}); at most {MAX_PHASE_TAPS}")
        most.append(taps)
    if max(most) < 2:
        return "every phase has one tap (kernel no larger than the stride): nothing to save"
    return None


@bounded_cache(64)
def tap_weights(row_phase, col_phase, dtype):
    """The weights of the taps of a phase's sub-kernel in each position of
    its transformed kernel (see :class:`ProductPlan`), each rounded once from
    its exact value; read-only. ``row_phase`` and ``col_phase`` are (tile
    outputs, taps) of F(T, K) along each axis.

    Examples
    --------
    >>> from deconv._winograd import tap_weights
    >>> tap_weights((2, 2), (1, 1), "float64")  # F(2, 2) along rows, F(1, 1) along columns
    array([[1., 0.],
           [1., 1.],
           [0., 1.]])
    """
    rows = minimal_filter(row_phase[0], row_phase[1]).kernel_transform
    cols = minimal_filter(col_phase[0], col_phase[1]).kernel_transform
    weights = np.array([[float(g_row * g_col) for g_row in row for g_col in col]
                        for row in rows for col in cols], dtype=dtype)
    weights.flags.writeable = False
    return weights


def _taps_slice(phase):
    """The phase's taps, in correlation order, as a slice of the kernel's axis."""
    step = phase.taps[0] - phase.taps[1] if len(phase.taps) > 1 else 1
    stop = phase.taps[-1] - step
    return slice(phase.taps[0], None if stop < 0 else stop, -step)


@bounded_cache(128)
def product_tables(positions, columns, one_kernel_row=False):
    """The wide kernel's tables for ``positions`` independent matrix
    products of ``columns`` rows each: output row xi reads input row xi with
    kernel row xi (kernel row 0, ``one_kernel_row``: a panel refilled for
    each position); every column is one class, column q reading column q."""
    each = np.arange(positions, dtype=np.intp)[:, None]
    kernel_rows = np.zeros_like(each) if one_kernel_row else each.copy()
    rows = _direct.TapTable(np.ones(positions, np.intp), kernel_rows, each)
    cols = _direct.TapTable(np.ones(columns, np.intp), np.zeros((columns, 1), np.intp),
                            np.arange(columns, dtype=np.intp)[:, None])
    classes = _direct.ColumnClasses(np.array([0, columns], np.intp),
                                    np.arange(columns, dtype=np.intp),
                                    np.arange(columns, dtype=np.intp))
    return _direct.WideTables(rows, cols, classes)


def product_tile_taps(positions, columns, sizes):
    """``deconv._core.wide_tile_taps`` of :func:`product_tables` (one
    block), in closed form: each of the ``positions`` rows takes one tap on
    one class of ``columns`` columns, in tiles of ``sizes[0]`` pixels (the
    last one partial: the smallest tile of ``sizes`` that holds it).
    Returns (tile taps, pixel-slot taps).

    Examples
    --------
    >>> from deconv._winograd import product_tile_taps
    >>> product_tile_taps(25, 30, (12, 8, 4))  # tiles of 12, 12 and one of 8 for 6
    (75, 800)
    """
    pixels = sizes[0]
    rest = columns % pixels
    last = min(tile for tile in sizes if tile >= rest) if rest else 0
    return positions * -(-columns // pixels), positions * (columns - rest + last)


@bounded_cache(128)
def winograd_tables(problem):
    """The :class:`WinogradTables` of ``problem`` (cached by problem)."""
    core = _simd.core
    itemsize = problem.dtype.itemsize
    batch, cin, cout = problem.input_shape[0], problem.input_shape[3], problem.output_shape[3]
    block = core.channel_block(itemsize)
    by_layout, zeros = {}, []
    for rows in axis_phases(problem.rows):
        for cols in axis_phases(problem.cols):
            if not rows.taps or not cols.taps:
                zeros.append((slice(None), slice(rows.first_output, None, rows.step),
                              slice(cols.first_output, None, cols.step)))
            else:
                by_layout.setdefault((rows.taps, rows.tile, cols.taps, cols.tile),
                                     []).append((rows, cols))
    products = []
    for (row_taps, row_tile, col_taps, col_tile), pairs in by_layout.items():
        phases, columns = [], 0
        for rows, cols in pairs:
            inputs = (slice(None), slice(rows.first_input, None, rows.input_step),
                      slice(cols.first_input, None, cols.input_step))
            tiles = slice(columns, columns + batch * rows.tiles * cols.tiles)
            phases.append(PhaseTiles(rows, cols, inputs, tiles))
            columns = tiles.stop
        positions = phases[0].rows.inputs * phases[0].cols.inputs
        sizes = core.tile_pixel_sizes(itemsize)
        if positions == 1:
            # Pointwise (see pointwise_views): each image row of a phase is a
            # row of the wide kernel's tiles, a unit of work per block.
            counts = [product_tile_taps(batch * phase.rows.outputs, phase.cols.outputs, sizes)
                      for phase in phases]
            tile_taps, slot_taps = map(sum, zip(*counts))
            rows = sum(phase.rows.outputs for phase in phases)
        else:
            tile_taps, slot_taps = product_tile_taps(positions, columns, sizes)
            rows = positions
        blocks, computed = -(-cout // block), core.computed_channels(cout, itemsize)
        work = _cost.DirectWork(
            padded_madds=slot_taps * computed * cin, tile_taps=tile_taps * blocks,
            units=rows * blocks, outputs=positions * columns * computed,
            half_madds=slot_taps * _direct.half_block_channels(computed, block) * cin)
        weights = tap_weights((row_tile, len(row_taps)), (col_tile, len(col_taps)),
                              problem.dtype)
        products.append(ProductPlan(
            tuple(phases), transforms(row_tile, len(row_taps), problem.dtype),
            transforms(col_tile, len(col_taps), problem.dtype), columns, work,
            (_taps_slice(phases[0].rows), _taps_slice(phases[0].cols)), weights, positions,
            position_stride(columns, cin, problem.dtype),
            position_stride(columns, cout, problem.dtype),
            (blocks, len(row_taps), len(col_taps), cin, block),
            _direct.units_per_signal_check(work)))
    transformed = [run for run in products if not run.pointwise]
    return WinogradTables(
        tuple(products), tuple(zeros),
        max((run.positions * run.input_stride for run in transformed), default=0),
        max((run.positions * run.product_stride for run in transformed), default=0),
        max((math.prod(run.taps_shape) for run in products), default=0),
        max((tap_group(run, problem.dtype.itemsize) * math.prod(run.taps_shape[1:])
             for run in products), default=0),
        by_run_table(products))


def by_run_table(products):
    """The table of ``deconv._core.winograd_by_run`` for ``products`` (a
    read-only intp array, a row of RUN_FIELDS per :class:`ProductPlan`), or
    None unless each runs whole on one thread: two plans or more, each of
    one phase that reads x itself (not a dilated sub-grid), all of the same
    shape -- the same transforms, tiles, positions and taps per axis; only
    the taps themselves and where the tiles lie differ (the four phases of a
    stride-2 4x4 kernel, say).

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._problem import make_problem
    >>> from deconv._winograd import winograd_tables
    >>> problem = make_problem((1, 8, 8, 3), np.float32, (4, 4, 5, 3), np.float32, None,
    ...                        (2, 2), (1, 1), "same", "channels_last")
    >>> winograd_tables(problem).by_run[:, :6]  # one row per output phase
    array([[-1, -1,  0,  0,  8,  8],
           [-1,  0,  0,  1,  8,  8],
           [ 0, -1,  1,  0,  8,  8],
           [ 0,  0,  1,  1,  8,  8]])
    """
    def shape(run):
        (phase,) = run.phases
        return (run.positions, run.columns, run.taps_shape, phase.rows.tile,
                phase.rows.tiles, phase.rows.step, phase.cols.tile, phase.cols.tiles,
                phase.cols.step)

    if len(products) < 2 or any(
            len(run.phases) != 1 or any(axis.input_step != 1 or axis.first_input != 0
                                        for axis in (run.phases[0].rows, run.phases[0].cols))
            for run in products):
        return None
    if len({shape(run) for run in products}) != 1:
        return None
    table = np.zeros((len(products), RUN_FIELDS), np.intp)
    for row, run in zip(table, products):
        rows, cols = run.phases[0].rows, run.phases[0].cols
        row[:6] = (rows.input_base, cols.input_base, rows.first_output, cols.first_output,
                   rows.outputs, cols.outputs)
        row[6:6 + len(rows.taps)] = rows.taps
        row[6 + MAX_PHASE_TAPS:6 + MAX_PHASE_TAPS + len(cols.taps)] = cols.taps
    table.flags.writeable = False
    return table


def winograd_work(problem, tables):
    """The :class:`deconv._cost.WinogradWork` of a plan's tables: the
    products, the output phases, the positions of their tiles (each
    transformed in and out, with Cin and Cout items; none in pointwise
    plans), the items of
    channels-first data copied to and from channels-last, and the kernel
    items a function call reads to transform the kernel as it goes, per
    :class:`ProductPlan`: its sub-kernel packed, then one tap per nonzero
    weight of each position, block by block."""
    cin, cout = problem.input_shape[3], problem.output_shape[3]
    block = _simd.core.channel_block(problem.dtype.itemsize)
    products = _cost.DirectWork(**{field: sum(getattr(run.work, field)
                                              for run in tables.products)
                                   for field in ("padded_madds", "tile_taps", "units",
                                                 "outputs", "half_madds")})
    transformed = sum(run.positions * run.columns for run in tables.products
                      if not run.pointwise)
    # A pointwise plan's panels are its tap itself, copied once.
    kernel_items = sum((1 if run.pointwise else
                        np.count_nonzero(run.tap_weights) + run.tap_weights.shape[1])
                       * -(-cout // block) * block * cin for run in tables.products)
    # A channels-first x and y are copied to and from channels-last.
    strided = (math.prod(problem.input_shape) * (cin > 1)
               + math.prod(problem.output_shape) * (cout > 1)
               if problem.data_format == "channels_first" else 0)
    phases = sum(len(run.phases) for run in tables.products)
    return _cost.WinogradWork(products, phases, transformed, transformed * cin,
                              transformed * cout, kernel_items, strided)


# Fused F(2x2, 2x2) (deconv._core.winograd_fused22): tiles of 2x2 outputs
# of a phase of two taps on each axis, computed in groups along a tile row.
FUSED = "fused 2x2"
FUSED_LANES = 16


class FusedTables(NamedTuple):
    """A fused F(2x2, 2x2) plan's phases: ``axes``, the table
    ``deconv._core.winograd_fused22`` takes (phases, 2 axes, 7 fields: first
    output, output step, outputs, first input, input step, inputs, and the
    phase input that the first output's first tap reads), and ``taps``,
    each phase's row and column kernel taps in correlation order (phases, 2
    axes, 2), which its transformed kernel is made of; both read-only."""
    axes: np.ndarray
    taps: np.ndarray


def fused_reason(problem):
    """Why fused F(2x2, 2x2) cannot compute ``problem`` (shapes and dtype
    only), or None: float32 on 16-lane vectors, FUSED_LANES to
    ``deconv._core.fused22_channels()`` input and output channels (with
    fewer, the vectors of each tile's transforms and products run part
    empty: 1.2-2.1x the direct kernel's time, measured), every phase two
    taps on each axis (a 4x4 kernel at stride 2, a 2x2 kernel at stride 1
    or dilated), at most ``deconv._core.fused22_max_phases()`` phases."""
    reason = winograd_reason(problem)
    if reason is not None:
        return reason
    most = _simd.core.fused22_channels()
    if not most:
        return "fused F(2x2, 2x2) needs vectors of 16 float32 lanes (AVX-512)"
    cin, cout = problem.input_shape[3], problem.output_shape[3]
    if problem.dtype != np.float32 or not FUSED_LANES <= min(cin, cout) <= max(cin, cout) <= most:
        return (f"fused F(2x2, 2x2) takes float32 with {FUSED_LANES} to {most} channels in and "
                f"out (got {problem.dtype} with {cin} in, {cout} out)")
    row_phases, col_phases = axis_phases(problem.rows), axis_phases(problem.cols)
    if any(len(phase.taps) != 2 for phase in row_phases + col_phases):
        return "fused F(2x2, 2x2) takes phases of two taps on each axis only"
    if len(row_phases) * len(col_phases) > _simd.core.fused22_max_phases():
        return f"fused F(2x2, 2x2) takes at most {_simd.core.fused22_max_phases()} phases"
    return None


@bounded_cache(128)
def fused_tables(problem):
    """The :class:`FusedTables` of ``problem`` (see :func:`fused_reason`).

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._problem import make_problem
    >>> from deconv._winograd import fused_tables
    >>> problem = make_problem((1, 4, 4, 16), np.dtype("float32"), (4, 4, 16, 16),
    ...                        np.dtype("float32"), None, (2, 2), (1, 1), "same",
    ...                        "channels_last")
    >>> tables = fused_tables(problem)
    >>> tables.axes.shape, tables.taps[0].tolist()
    ((4, 2, 7), [[3, 1], [3, 1]])
    >>> tables.axes[0, 0].tolist()  # output rows 0, 2, 4, 6; input rows from -1
    [0, 2, 4, 0, 1, 4, -1]
    """
    _, height, width, _ = problem.input_shape
    entries, taps = [], []
    for rows in axis_phases(problem.rows):
        for cols in axis_phases(problem.cols):
            entries.append([_fused_axis(rows, height), _fused_axis(cols, width)])
            taps.append((rows.taps, cols.taps))
    tables = FusedTables(np.array(entries, np.intp).reshape(len(entries), 2, 7),
                         np.array(taps, np.intp).reshape(len(taps), 2, 2))
    for array in tables:
        array.flags.writeable = False
    return tables


def _fused_axis(phase, size):
    return (phase.first_output, phase.step, phase.outputs, phase.first_input, phase.input_step,
            phase_inputs(phase, size), phase.input_base)


def phase_inputs(phase, size):
    """How many inputs an :class:`AxisPhase` reads of an axis of ``size``:
    ``first_input``, then every ``input_step``-th."""
    return len(range(phase.first_input, size, phase.input_step))


def fused_work(problem, tables):
    """The :class:`deconv._cost.FusedWork` of a fused plan."""
    batch, cin, cout = problem.input_shape[0], problem.input_shape[3], problem.output_shape[3]
    blocks = -(-cout // FUSED_LANES)
    group_tiles = _simd.core.fused22_group_tiles()
    madds = tile_blocks = units = 0
    for rows, cols in tables.axes[:, :, 2]:
        tile_rows, tile_cols = -(-int(rows) // 2), -(-int(cols) // 2)
        groups = -(-tile_cols // group_tiles)
        units += batch * tile_rows
        madds += batch * tile_rows * groups * group_tiles * 9 * cin * blocks * FUSED_LANES
        tile_blocks += batch * tile_rows * tile_cols * blocks
    padded = -(-cin // FUSED_LANES) * FUSED_LANES
    kernel_items = len(tables.taps) * 9 * padded * blocks * FUSED_LANES
    return _cost.FusedWork(madds, tile_blocks, units, math.prod(problem.output_shape),
                           kernel_items)


def fused_pack(tables, kernel, threads, packed=None):
    """The transformed kernel of a fused plan (``deconv._core.winograd_fused_pack``),
    made on ``threads`` in ``packed`` (its items; a new array if None):
    (phases, blocks, 9, Cin padded to 16, 16)."""
    _, _, cout, cin = kernel.shape
    shape = (len(tables.taps), -(-cout // FUSED_LANES), 9, -(-cin // FUSED_LANES) * FUSED_LANES,
             FUSED_LANES)
    packed = aligned_empty(shape, kernel.dtype) if packed is None else packed.reshape(shape)
    _simd.core.winograd_fused_pack(kernel, tables.taps, packed, threads)
    return packed


def _run_fused(plan, x, kernel, packed, y):
    if packed is None:  # a function call: in this thread's scratch (no page faults)
        scratch, = scratch_arrays(((plan.work.kernel_items,), kernel.dtype),
                                  slot="winograd fused")
        packed = fused_pack(plan.tables, kernel, plan.num_threads, scratch)
    _simd.core.winograd_fused22(x, packed, plan.tables.axes, y, _simd.streams(y.nbytes),
                                _direct.units_per_signal_check(plan.work), plan.num_threads)


class WinogradBackend(Backend):
    """Minimal filtering F(T, K) per polyphase sub-kernel (Cython, OpenMP)."""

    name = "winograd"
    description = "Winograd minimal filtering per output phase, for 2-4 taps per phase"
    # The transforms spread a NaN or inf over its tile (inf - inf).
    requires_finite = True
    strided_kernels = True

    def unsupported_reason(self, problem):
        return _simd.unavailable_reason

    def plan(self, problem, num_threads):
        if winograd_reason(problem) is not None:
            direct = _DIRECT.plan(problem, num_threads)
            return direct._replace(variant="direct " + direct.variant,
                                   packing=None if direct.packing is None else (
                                       "direct", direct.packing))
        tables = winograd_tables(problem)
        work = winograd_work(problem, tables)
        profile = _cost.DEFAULT_PROFILE
        seconds = _cost.winograd_seconds(work, problem.dtype.itemsize, 1, profile,
                                         _simd.core.isa_name()) - profile["winograd_overhead_s"]
        if fused_reason(problem) is None:  # the plan of the two estimated faster
            fused = fused_tables(problem)
            fused_effort = fused_work(problem, fused)
            fused_seconds = (_cost.winograd_fused_seconds(fused_effort, 1, profile)
                             - profile["winograd_overhead_s"])
            if fused_seconds < seconds:
                return BackendPlan(FUSED, ("winograd", FUSED, fused.taps.tobytes()), fused,
                                   _direct.threads_for_seconds(fused_seconds, num_threads),
                                   fused_effort)
        threads = _direct.threads_for_seconds(seconds, num_threads)
        if runs_by_thread(tables, threads, problem.input_shape):
            # One compiled call for every phase: one phase's fixed cost.
            work = work._replace(phases=1)
        # The packed kernel depends on each phase's taps and tiles (and so on
        # the output size): an operator packs once per such layout.
        packing = ("winograd", tuple(run.layout for run in tables.products))
        return BackendPlan("winograd", packing, tables, threads, work)

    def estimate_seconds(self, problem, num_threads):
        if _simd.core is None or winograd_reason(problem) is not None:
            return None
        plan = self.plan(problem, num_threads)
        if plan.variant == FUSED:
            return _cost.winograd_fused_seconds(plan.work, num_threads,
                                                _profile.current_profile())
        return _cost.winograd_seconds(plan.work, problem.dtype.itemsize, num_threads,
                                      _profile.current_profile(), _simd.core.isa_name())

    def minimum_seconds(self, problem, num_threads):
        return _profile.current_profile()["winograd_overhead_s"]

    def pack(self, problem, plan, kernel):
        """The transformed kernel of every phase, as the wide kernel's panels
        (a :class:`TransformedKernel`)."""
        if plan.packing[0] == "direct":
            return _DIRECT.pack(problem, _direct_plan(plan), kernel)
        if plan.variant == FUSED:
            return fused_pack(plan.tables, kernel, plan.num_threads)
        core = _simd.core
        block = core.channel_block(kernel.itemsize)
        products = plan.tables.products
        shapes = [_panels_shape(run, kernel.shape, block) for run in products]
        # Plans that run one per thread read their panels as one array.
        stacked = (aligned_empty((len(products), *shapes[0]), kernel.dtype)
                   if plan.tables.by_run is not None else None)
        packed = []
        for index, run in enumerate(products):
            taps = _pack_taps(run, kernel, aligned_empty(run.taps_shape, kernel.dtype),
                              plan.num_threads)
            panels = (aligned_empty(shapes[index], kernel.dtype) if stacked is None
                      else stacked[index])
            core.winograd_pack(taps, run.tap_weights, panels, plan.num_threads)
            packed.append(panels)
        return TransformedKernel(tuple(packed), stacked)

    def run(self, problem, plan, x, kernel, packed, y):
        if plan.variant.startswith("direct "):
            _DIRECT.run(problem, _direct_plan(plan), x, kernel, packed, y)
        else:
            run_winograd(problem, plan, x, kernel, packed, y)


# Runs what minimal filtering cannot help (see winograd_reason).
_DIRECT = _direct.DirectBackend()


class TransformedKernel(NamedTuple):
    """An operator's packed kernel: ``panels``, the transformed kernel of
    each :class:`ProductPlan` (blocks, positions, 1, Cin, block); when the
    plans run one per thread (``WinogradTables.by_run``), these are views of
    ``stacked`` (plans, blocks, positions, 1, Cin, block), else it is None."""
    panels: tuple
    stacked: object


def _direct_plan(plan):
    """The direct backend's plan inside a plan of this backend that defers to it."""
    return plan._replace(variant=plan.variant[len("direct "):],
                         packing=None if plan.packing is None else plan.packing[1])


def _panels_shape(run, kernel_shape, block):
    """(blocks, positions, 1, Cin, block): a :class:`ProductPlan`'s transformed kernel."""
    cout, cin = kernel_shape[2], kernel_shape[3]
    return (-(-cout // block), run.positions, 1, cin, block)


def _pack_taps(run, kernel, taps, threads):
    """``taps`` (``run.taps_shape``) filled from ``kernel``; returned."""
    _simd.core.pack_wide_panels(kernel[run.sub_kernel], taps, threads)
    return taps


def position_stride(columns, channels, dtype):
    """Items from one transform position's (columns, channels) matrix to the
    next in the scratch arrays: whole cache lines, an odd number of them.
    A tile writes (or reads) every position: at a stride of a multiple of
    4 KB (a power of two channels and columns) those all fall in one set of
    the L1 cache and evict each other (12 ways, 16-36 positions); an odd
    number of lines walks through every set.

    Examples
    --------
    >>> from deconv._winograd import position_stride
    >>> position_stride(64, 256, "float32"), position_stride(3, 5, "float32")
    (16400, 16)
    """
    line = 64 // np.dtype(dtype).itemsize
    lines = -(-(columns * channels) // line)
    return (lines + 1 - lines % 2) * line


def by_position(buffer, positions, columns, channels, stride):
    """A (positions, columns, channels) view of ``buffer`` whose positions
    are ``stride`` items apart (:func:`position_stride`)."""
    return slots_by_position(buffer, 1, positions, columns, channels, stride)[0]


def slots_by_position(buffer, slots, positions, columns, channels, stride):
    """A (slots, positions, columns, channels) view of ``buffer``: ``slots``
    of :func:`by_position`'s views, one after the other."""
    item = buffer.itemsize
    return np.ndarray((slots, positions, columns, channels), buffer.dtype,
                      buffer[:slots * positions * stride], 0,
                      (positions * stride * item, stride * item, channels * item, item))


def run_winograd(problem, plan, x, kernel, packed, y):
    """Fill ``y`` (N, H, W, Cout) from ``x`` (N, h, w, Cin) product by
    product (:class:`ProductPlan`): the input transform of each of its
    phases' tiles, the products, the output transform of each phase. The
    products of an operator read its ``packed`` transformed kernel (the
    wide kernel's panels); a function call's transform the kernel as they
    go, position by position, from its sub-kernel packed as the wide kernel
    packs it, a group of blocks at a time by the thread that uses them
    (``deconv._core.winograd_products``): the transformed kernel, up to
    ``alpha * alpha' / (K * K')`` times the sub-kernel, never passes through
    memory, nor (block by block) does the packed sub-kernel. Plans that run
    one per thread (:func:`runs_by_thread`) go through one compiled call
    that runs each whole, to the same bits. A fused plan (:data:`FUSED`)
    runs every phase in one compiled call instead, from its transformed
    kernel (``packed``, or made here: :func:`fused_pack`)."""
    core = _simd.core
    threads, tables = plan.num_threads, plan.tables
    cin, cout, dtype = x.shape[3], y.shape[3], y.dtype
    fused = plan.variant == FUSED
    if y.size == 0 or not fused and not tables.products:  # no phase takes a tap: zeros
        y[...] = 0
        return
    # Channels-first data: the transforms read and write a channels-last
    # copy (one pass of each array, against a strided item per channel of
    # every tile position).
    x_staged, y_staged = scratch_arrays(
        (x.shape if cin > 1 and x.strides[3] != x.itemsize else (0,), dtype),
        (y.shape if cout > 1 and y.strides[3] != y.itemsize else (0,), dtype),
        slot="winograd layout")
    if x_staged.size:
        core.copy_layout(x, x_staged, threads)
        x = x_staged
    out = y_staged if y_staged.size else y
    if fused:
        _run_fused(plan, x, kernel, packed, out)
    else:
        for outputs in tables.zeros:
            out[outputs] = 0
        if runs_by_thread(tables, threads, x.shape):
            _run_by_thread(tables, x, kernel, packed, out, threads)
        else:
            _run_by_stage(tables, x, kernel, packed, out, threads)
    if out is not y:
        core.copy_layout(out, y, threads)


def _run_by_stage(tables, x, kernel, packed, y, threads):
    """:func:`run_winograd` product plan by product plan, each stage split
    between the threads: input transforms, products, output transforms."""
    core = _simd.core
    cin, cout, dtype = x.shape[3], y.shape[3], y.dtype
    block = core.channel_block(y.itemsize)
    blocks = -(-cout // block)
    on_demand = packed is None
    panel_items = threads * cin * block if on_demand else 0
    inputs, products, tap_buffer, slot_buffer, panel_buffer, stages, no_blocks, unused_kernel = \
        scratch_arrays(((tables.input_items,), dtype), ((tables.product_items,), dtype),
                       ((tables.tap_items if on_demand else 0,), dtype),
                       ((threads * tables.tap_slot_items if on_demand else 0,), dtype),
                       ((panel_items,), dtype), ((threads, 1), dtype), ((0,), np.intp),
                       ((1, 1, 1, 1), dtype), slot="winograd")
    for index, run in enumerate(tables.products):
        if run.pointwise:
            for phase in run.phases:
                if on_demand:
                    _pointwise_phase(run, phase, x, kernel[run.sub_kernel],
                                     panel_buffer.reshape(threads, 1, 1, cin, block), True, y,
                                     threads)
                else:
                    _pointwise_phase(run, phase, x, unused_kernel, packed.panels[index], False,
                                     y, threads)
            continue
        positions, columns = run.positions, run.columns
        v = by_position(inputs, positions, columns, cin, run.input_stride)
        m = by_position(products, positions, columns, cout, run.product_stride)
        for phase in run.phases:
            rows, cols = phase.rows, phase.cols
            core.winograd_input(x[phase.inputs], run.row_transforms.input,
                                run.col_transforms.input, rows.input_base, rows.tile,
                                rows.tiles, cols.input_base, cols.tile, cols.tiles,
                                v[:, phase.tiles], threads)
        if on_demand:
            shape = run.taps_shape
            slots_shape = (threads, tap_group(run, y.itemsize), *shape[1:])
            panels = panel_buffer.reshape(threads, 1, 1, cin, block)
            core.winograd_products(v, kernel[run.sub_kernel],
                                   tap_buffer[:math.prod(shape)].reshape(shape),
                                   slot_buffer[:math.prod(slots_shape)].reshape(slots_shape),
                                   run.tap_weights, panels,
                                   product_tables(positions, columns, one_kernel_row=True), m,
                                   stages, max(1, run.units_per_check // blocks), threads)
        else:
            core.conv2d_transpose_wide(v[None], unused_kernel, packed.panels[index], no_blocks,
                                       product_tables(positions, columns), m[None], stages,
                                       False, run.units_per_check, threads)
        for phase in run.phases:
            rows, cols = phase.rows, phase.cols
            core.winograd_output(m[:, phase.tiles], run.row_transforms.output,
                                 run.col_transforms.output, rows.first_output, rows.step,
                                 rows.outputs, cols.first_output, cols.step, cols.outputs, y,
                                 threads)


class PointwiseViews(NamedTuple):
    """What :func:`pointwise_views` returns: the views of x and y paired
    pixel for pixel, and whether they cover all the phase's outputs."""
    x: np.ndarray
    y: np.ndarray
    whole: bool


def pointwise_views(phase, x, y):
    """The :class:`PointwiseViews` of ``x`` and ``y`` that a phase of one tap
    per axis (a :class:`PhaseTiles` of a pointwise :class:`ProductPlan`)
    pairs pixel for pixel, each output taking its input's product with the
    tap, and whether they cover all the phase's outputs (the others read
    past x: zeros). Without transforms (F(1, 1) is the identity, which
    copies exactly), the products read x and write y where they lie.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._geometry import Axis
    >>> from deconv._winograd import PhaseTiles, axis_phases, pointwise_views
    >>> axis = Axis.from_padding("rows", 4, 9, 3, 2, 1, "valid")  # 4 -> 9, k3 s2
    >>> odd = axis_phases(axis)[1]  # outputs 1, 3, 5, 7: input t with tap 1
    >>> phase = PhaseTiles(odd, odd, (slice(None),) * 3, slice(0))
    >>> x, y = np.zeros((1, 4, 4, 2)), np.zeros((1, 9, 9, 3))
    >>> views = pointwise_views(phase, x, y)
    >>> views.x.shape, views.y.shape, views.whole
    ((1, 4, 4, 2), (1, 4, 4, 3), True)
    """
    x_index, y_index, whole = [slice(None)], [slice(None)], True
    for axis, size in ((phase.rows, x.shape[1]), (phase.cols, x.shape[2])):
        # Output t reads input first_input + input_step * (input_base + t).
        inputs = phase_inputs(axis, size)
        start = max(0, -axis.input_base)
        stop = max(start, min(axis.outputs, inputs - axis.input_base))
        whole = whole and start == 0 and stop == axis.outputs
        first = axis.first_input + axis.input_step * (axis.input_base + start)
        x_index.append(slice(first, first + axis.input_step * (stop - start), axis.input_step))
        first = axis.first_output + axis.step * start
        y_index.append(slice(first, first + axis.step * (stop - start), axis.step))
    return PointwiseViews(x[tuple(x_index)], y[tuple(y_index)], whole)


def _pointwise_phase(run, phase, x, kernel, panels, on_demand, y, threads):
    """One phase of a pointwise :class:`ProductPlan` into ``y`` by the wide
    kernel on :func:`pointwise_views`: with an operator's ``panels`` (its
    transformed kernel, which is the tap), or ``on_demand`` (a function
    call) with the tap ``kernel`` (1, 1, Cout, Cin) packed by each thread
    into its slot of ``panels`` (threads, 1, 1, Cin, block) as it comes to
    each block: the bits the transforms and products would give (their
    panels are the tap times 1, and F(1, 1) copies)."""
    views = pointwise_views(phase, x, y)
    if not views.whole:
        y[:, phase.rows.first_output::phase.rows.step,
          phase.cols.first_output::phase.cols.step] = 0
    if 0 in views.x.shape[1:3]:
        return
    block = panels.shape[4]
    # A y whose channels are not contiguous (one channel, channels-first) is
    # written a row at a time through a stage per thread.
    stage_items = (views.y.shape[0] * views.y.shape[2] * block
                   if views.y.strides[3] != y.itemsize else 1)
    # Which block each thread's panel holds (none yet); empty for packed panels.
    stages, panel_blocks = scratch_arrays(
        ((threads, stage_items), y.dtype), ((threads if on_demand else 0,), np.intp),
        slot="winograd pointwise")
    panel_blocks.fill(-1)
    _simd.core.conv2d_transpose_wide(
        views.x, kernel, panels, panel_blocks,
        product_tables(views.x.shape[1], views.x.shape[2], one_kernel_row=True), views.y,
        stages, on_demand, run.units_per_check, threads)


def runs_by_thread(tables, threads, x_shape):
    """Whether a call runs its product plans one per thread
    (``deconv._core.winograd_by_run``): they allow it (``tables.by_run``),
    the threads share them out evenly, x has data, and what a plan's
    products read and write -- its transformed inputs, products and
    transformed kernel -- is at most BY_RUN_BYTES."""
    if tables.by_run is None or len(tables.products) % threads or 0 in x_shape:
        return False
    run = tables.products[0]
    blocks, _, _, cin, block = run.taps_shape
    items = run.positions * (run.input_stride + run.product_stride + blocks * cin * block)
    return items * run.tap_weights.itemsize <= BY_RUN_BYTES


def _run_by_thread(tables, x, kernel, packed, y, threads):
    """:func:`run_winograd` with its product plans one per thread, each
    whole (``deconv._core.winograd_by_run``), in ``threads`` slots of scratch."""
    core = _simd.core
    run = tables.products[0]
    positions, columns = run.positions, run.columns
    cin, cout, dtype = x.shape[3], y.shape[3], y.dtype
    block = core.channel_block(y.itemsize)
    on_demand = packed is None
    # Each thread's transformed inputs and products, reused run after run.
    inputs, products, tap_slots, panel_slots, stages, no_panels, no_kernel = scratch_arrays(
        ((threads * positions * run.input_stride,), dtype),
        ((threads * positions * run.product_stride,), dtype),
        ((threads, *run.taps_shape) if on_demand else (threads, 0, 0, 0, 0, block), dtype),
        ((threads, 1, 1, cin, block) if on_demand else (threads, 0, 0, 0, block), dtype),
        ((threads, 1), dtype), ((0, 0, 0, 0, 0, block), dtype), ((1, 1, 1, 1), dtype),
        slot="winograd")
    phase = run.phases[0]
    core.winograd_by_run(
        x, kernel if on_demand else no_kernel, tables.by_run, run.row_transforms.input,
        run.col_transforms.input, run.row_transforms.output, run.col_transforms.output,
        phase.rows.step, phase.cols.step,
        slots_by_position(inputs, threads, positions, columns, cin, run.input_stride),
        slots_by_position(products, threads, positions, columns, cout, run.product_stride),
        no_panels if on_demand else packed.stacked, tap_slots, run.tap_weights, panel_slots,
        product_tables(positions, columns, one_kernel_row=on_demand), y, stages, threads)
