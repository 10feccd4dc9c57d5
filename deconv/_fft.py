"""The ``"fft"`` backend: transposed convolution in the frequency domain.

A stride-s transposed convolution splits into s_h * s_w stride-1 problems,
one per output phase (polyphase): output row ``R = s*m + p`` only receives the
kernel rows ``a`` with ``a*d = p (mod s)``, at input row ``m - (a*d - p)/s``.
Each phase is therefore a linear convolution of the input with a small
"phase kernel" holding those taps at positions ``(a*d - p)/s`` (a regular
grid, so dilation costs nothing). The input's spectrum is computed once and
shared by all phases; per phase the kernel spectra are multiplied in and
summed over input channels (Cython, OpenMP), transformed back and the
phase's rows and columns are written into the cropped output. With several
phases to share out, each runs whole on one thread, from its taps to its
output (``_core.fft_phases``); otherwise one after the other, each step
split between the threads.

The images are transformed by ``_core``'s own FFTs (planar Stockham
passes of radix 4, 2, 3 and 5, OpenMP over row pairs and column blocks,
vectorized across channels), into per-thread workspace buffers: at these
sizes scipy.fft's threads gave no speed-up and its freshly allocated outputs
cost more in page faults than the transforms. Real images are transformed
two rows at a time as one complex row, and the inverse writes the phase's
cropped rows and columns straight into the output. The kernels are not
transformed by FFT: a phase kernel has a few taps zero-padded to a transform
length several times longer, and there are Cin * Cout of them, so their
spectra are direct DFTs over the taps alone, vectorized over the kernels
(``_core.kernel_width_spectra`` along the width; the height DFT is fused
with the channel contraction in ``_core.spectral_product``, a few frequencies
at a time, so the kernel spectra are never stored whole).

Spectra are planar and channels-last -- (images, Lh, 2, Lw/2 + 1,
channels), axis 2 the real and imaginary parts -- so the contraction at one
frequency is a small complex vector-matrix product over contiguous rows and
no array is transposed. The transform length only has to keep the rows and
columns that land free of wrap-around (see :func:`transform_length`), not
hold the whole linear convolution: a 15x15 "same" convolution of 64x64 maps
uses 72-point transforms, not 80. float32 stays float32. The batch is
processed in chunks so the spectra stay within ``MEMORY_BUDGET_BYTES``.
"""
import math
from typing import NamedTuple

import numpy as np

from . import _cost, _profile, _simd
from ._backend import Backend, BackendPlan
from ._caches import bounded_cache
from ._workspace import scratch_arrays

MEMORY_BUDGET_BYTES = 512 * 2 ** 20
# The most bytes of input and product spectra (spectra_bytes) for the
# phases to run one per thread (phases_by_thread): about a core's L2 cache
# (1 MB on the Zen 4 measured). Each thread then reads all the input spectra and writes all
# its product spectra every phase; one after the other, each phase's
# threads take half of them. Measured at 2 threads, one per thread against
# one after the other: x(4, 32, 32, 32) k12 stride 2 (1.3 MB) 0.93x the
# time, x(2..11, 55, 55, 3) k20 (0.16-0.88 MB) 0.95-1.00x; x(16, 55, 55, 3)
# (1.3 MB) 1.04x, x(22, 55, 55, 3) (1.8 MB) 1.06x, x(16, 32, 32, 32) k12
# (5.3 MB) 1.12x.
BY_THREAD_BYTES = 5 << 18
# Groups of frequencies (u, Lh - u, Lh/2 -+ u) whose kernel spectra
# spectral_product computes together at one v: each chunk of taps is then
# read from memory once for up to sixteen frequencies.
GROUPS_PER_BLOCK = 4


def transform_length(axis, phases):
    """Shortest fast FFT length that leaves every landing index of every phase
    free of wrap-around.

    A circular convolution of length L sums the linear one at indices
    ``m + j*L``. The linear convolution of a phase is zero past index
    ``in_size + positions[-1] - 1``, so indices ``start <= m < stop`` are exact
    when ``L >= stop`` and ``L >= in_size + positions[-1] - start``; and the
    transform holds the whole input, ``L >= in_size`` (more than the other
    bounds only when the last inputs land nowhere, as in a piece of a tiled
    call).
    """
    needed = max(axis.in_size, *(max(p.stop, axis.in_size + int(p.positions[-1]) - p.start)
                                 for p in phases))
    return smooth_length(needed)


def smooth_length(needed):
    """The smallest length at least ``needed`` with no prime factor above 5:
    the lengths the transforms of ``_spectral.pxi`` run in radices 4, 2, 3
    and 5 (``scipy.fft.next_fast_len(needed, real=True)``, without importing
    scipy.fft, which loads SciPy's BLAS and starts its threads).

    Examples
    --------
    >>> from deconv._fft import smooth_length
    >>> [smooth_length(n) for n in (1, 7, 11, 97, 1001)]
    [1, 8, 12, 100, 1024]
    """
    best = 1
    while best < needed:  # a power of five: a first candidate
        best *= 5
    fives = 1
    while fives < best:
        odd = fives  # 3**b * 5**a
        while odd < best:
            # times the smallest power of two that takes it to ``needed``
            best = min(best, odd << max(0, (-(-needed // odd) - 1).bit_length()))
            odd *= 3
        fives *= 5
    return best


class Placement(NamedTuple):
    """Where the kept rows (or columns) ``start <= m < stop`` of a phase's
    inverse transform go: output index ``first + (m - start) * step``."""
    start: int
    stop: int
    first: int
    step: int


@bounded_cache(32)
def fft_plan(length, sign, dtype):
    """Radices and twiddles of a planar FFT of ``length`` (sign -1 forward,
    +1 inverse) for ``_core``'s transforms: radix 4 while it divides, then 2,
    3 and 5; per pass with ``n`` points still to split, exp(sign 2 pi i j q / n)
    for q < n / radix and 0 < j < radix, as (cos, sin) rows. Read-only."""
    radices, rest = [], length
    for radix in (4, 2, 3, 5):
        while rest % radix == 0:
            radices.append(radix)
            rest //= radix
    if rest != 1:
        raise ValueError(f"FFT length {length} has prime factors other than 2, 3 and 5")
    angles, points = [], length
    for radix in radices:
        points //= radix
        turns = np.outer(np.arange(points), np.arange(1, radix)).ravel() % (points * radix)
        angles.append(sign * 2 * np.pi / (points * radix) * turns)
    angles = np.concatenate(angles) if angles else np.zeros(0)
    twiddles = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(dtype)
    plan = np.array(radices, dtype=np.intp), twiddles
    for array in plan:
        array.flags.writeable = False
    return plan


@bounded_cache(64)
def _twiddles(positions, length, count, dtype):
    """cos and sin of 2 pi f p / length, for frequencies f < count (rows) and
    tap positions p (columns), reduced exactly before the float division."""
    turns = np.outer(np.arange(count), positions) % length
    angles = 2 * np.pi / length * turns
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


class PhaseKernel(NamedTuple):
    """What :func:`_core.spectral_product` needs of one phase kernel: its width
    spectra (Lw/2+1, 2, Th, >= Cin * Cout) and the height DFT's cos and sin
    tables (Lh, Th), the tap rows at even positions first (``even_rows`` of
    them)."""
    width_spectra: np.ndarray
    height_cos: np.ndarray
    height_sin: np.ndarray
    even_rows: int


class PhasePlan(NamedTuple):
    """One output phase (a row phase with a column phase), as far as shapes
    decide it: the shape of its (Th, Tw) grid of kernel taps (the taps
    themselves in the plan's :class:`PhaseTable`), at even positions first,
    ``even_rows`` and ``even_cols`` of them (the DFTs sum those apart from
    the odd ones); the DFTs' cos and sin tables in that order; and where the
    phase's rows and columns land."""
    taps_shape: tuple
    even_rows: int
    even_cols: int
    width_cos: np.ndarray
    width_sin: np.ndarray
    height_cos: np.ndarray
    height_sin: np.ndarray
    rows: Placement
    cols: Placement


class TransformPlan(NamedTuple):
    """A planar 2-D real transform for ``_core``: width ``width_length``, and
    per axis the radices and twiddles of :func:`fft_plan` (forward or inverse
    by their sign)."""
    width_length: int
    width_radices: np.ndarray
    width_twiddles: np.ndarray
    height_radices: np.ndarray
    height_twiddles: np.ndarray


def transform_plan(shape, sign, dtype):
    """The :class:`TransformPlan` of a (Lh, Lw) transform."""
    return TransformPlan(shape[1], *fft_plan(shape[1], sign, dtype),
                         *fft_plan(shape[0], sign, dtype))


class PhaseTable(NamedTuple):
    """The phases of a plan as ``deconv._core.fft_phases`` reads them:
    ``fields``, a row of PHASE_FIELDS per :class:`PhasePlan` (the tap grid's
    shape, its taps at even positions, offsets into ``tap_indices`` -- kernel
    rows, kernel columns -- and into ``twiddles`` -- width cos and sin, height
    cos and sin -- and the rows' and columns' placement). Read-only."""
    fields: np.ndarray
    tap_indices: np.ndarray
    twiddles: np.ndarray


# The columns of a row of PhaseTable.fields (deconv._core's PHASE_* columns).
PHASE_FIELDS = ("tap_rows", "tap_cols", "even_rows", "even_cols", "row_taps", "col_taps",
                "width_twiddles", "height_twiddles", "row_start", "row_stop", "row_first",
                "col_start", "col_stop", "col_first")


class FFTPlan(NamedTuple):
    """What a problem's geometry and dtype decide for the FFT path: the
    transform ``shape`` (Lh, Lw), the output rows and columns nothing reaches
    (set to 0 after the transforms: the phases' inverse transforms leave
    rounding noise there, or nothing at all), the forward and inverse
    :class:`TransformPlan`, the inverse's ``scale``, the phases
    (:class:`PhasePlan`) and their :class:`PhaseTable`; none if no tap
    reaches the output."""
    shape: tuple
    unreached_rows: np.ndarray
    unreached_cols: np.ndarray
    forward: TransformPlan
    inverse: TransformPlan
    scale: np.floating
    phases: tuple
    table: PhaseTable = None


@bounded_cache(32)
def fft_conv_plan(rows, cols, dtype):
    """The :class:`FFTPlan` for the axes ``rows`` and ``cols``
    (``deconv._geometry.Axis``) at ``dtype``: computed once per geometry, so
    a call only copies taps and runs the compiled steps."""
    row_phases, col_phases = rows.phases(), cols.phases()
    unreached = (rows.unreached(), cols.unreached())
    if not row_phases or not col_phases:
        return FFTPlan(None, *unreached, None, None, None, ())
    shape = (transform_length(rows, row_phases), transform_length(cols, col_phases))
    phases = []
    for row in row_phases:
        row_order, even_rows = _even_first(row.positions)
        height_cos, height_sin = _twiddles(tuple(row.positions[row_order].tolist()),
                                           shape[0], shape[0], dtype)
        for col in col_phases:
            col_order, even_cols = _even_first(col.positions)
            width_cos, width_sin = _twiddles(tuple(col.positions[col_order].tolist()),
                                             shape[1], shape[1] // 2 + 1, dtype)
            phases.append(PhasePlan(
                (len(row.taps), len(col.taps)), even_rows, even_cols,
                width_cos, width_sin, height_cos, height_sin,
                Placement(row.start, row.stop, row.first, rows.stride),
                Placement(col.start, col.stop, col.first, cols.stride)))
    forward, inverse = transform_plan(shape, -1, dtype), transform_plan(shape, 1, dtype)
    return FFTPlan(shape, *unreached, forward, inverse,
                   dtype.type(1 / (shape[0] * shape[1])), tuple(phases),
                   phase_table(phases, row_phases, col_phases, dtype))


def phase_table(phases, row_phases, col_phases, dtype):
    """The :class:`PhaseTable` of ``phases`` (:class:`PhasePlan`, row phase by
    row phase, column phases inside), whose tap rows and columns are those
    of ``row_phases`` and ``col_phases`` (``deconv._geometry`` phases), even
    positions first."""
    indices, tables, fields = [], [], []

    def offset(parts, chunks):  # where the concatenated chunks start
        start = sum(chunk.size for chunk in parts)
        parts.extend(chunks)
        return start

    row_offsets = [offset(indices, [row.taps[_even_first(row.positions)[0]]])
                   for row in row_phases]
    col_offsets = [offset(indices, [col.taps[_even_first(col.positions)[0]]])
                   for col in col_phases]
    heights = {}
    for index, phase in enumerate(phases):
        row, col = divmod(index, len(col_phases))
        if row not in heights:
            heights[row] = offset(tables, [phase.height_cos.ravel(), phase.height_sin.ravel()])
        fields.append((*phase.taps_shape, phase.even_rows, phase.even_cols, row_offsets[row],
                       col_offsets[col],
                       offset(tables, [phase.width_cos.ravel(), phase.width_sin.ravel()]),
                       heights[row], *phase.rows[:3], *phase.cols[:3]))
    table = PhaseTable(np.array(fields, np.intp).reshape(len(phases), len(PHASE_FIELDS)),
                       np.concatenate(indices).astype(np.intp),
                       np.concatenate(tables).astype(dtype))
    for array in table:
        array.flags.writeable = False
    return table


def phase_kernel(kernel_io, plan, index, taps_buffer, width_spectra, num_threads):
    """Prepare phase ``index`` of ``plan`` (:class:`FFTPlan`) for the
    product: its taps copied into ``taps_buffer``, each tap an odd number of
    cache lines long (see :func:`padded_row`), then a DFT along the width
    over the taps only, not an FFT over padding, into ``width_spectra``
    (Lw/2+1, 2, Th, >= Cin * Cout)."""
    cin, cout = kernel_io.shape[2:]
    phase = plan.phases[index]
    rows, cols = phase.taps_shape
    row_floats = padded_row(cin * cout, kernel_io.itemsize)
    taps = taps_buffer[:rows * cols * row_floats].reshape(rows, cols, row_floats)
    _simd.core.phase_taps(kernel_io, plan.table.fields, index, plan.table.tap_indices, taps)
    _simd.core.kernel_width_spectra(taps[..., :cin * cout], phase.width_cos, phase.width_sin,
                                    phase.even_cols, plan.shape[1], width_spectra,
                                    num_threads)
    return PhaseKernel(width_spectra, phase.height_cos, phase.height_sin, phase.even_rows)


def _even_first(positions):
    """Order of the taps with those at even positions first, and how many
    those are. The taps of a phase are evenly spaced, so each half is an
    arithmetic progression."""
    even = positions % 2 == 0
    return np.concatenate([np.flatnonzero(even), np.flatnonzero(~even)]), int(even.sum())


def padded_row(count, itemsize):
    """Elements of a row that holds ``count`` values: an odd number of 64-byte
    cache lines. The kernels' DFTs stream many such rows at once, and rows a
    power of two apart (4 KB at 1024 float32 kernels) would all fall in the
    same few sets of the L1 cache: measured, that halved the height DFT's
    speed at 1024 kernels."""
    per_line = 64 // itemsize
    return (-(-count // per_line) | 1) * per_line


def transform_flops(rows_in, shape):
    """Flops of a pruned 2-D real transform with ``rows_in`` nonzero (or kept)
    rows: width transforms (2.5 L log2 L each) of those rows, then complex
    height transforms (5 L log2 L) of every column of the half spectrum."""
    lh, lw = shape
    return (rows_in * 2.5 * lw * math.log2(max(lw, 2))
            + (lw // 2 + 1) * 5 * lh * math.log2(max(lh, 2)))


def fft_conv2d_transpose(plan, x, kernel, y, num_threads):
    """Fill ``y`` (N, H, W, Cout) with the transposed convolution of ``x``
    (N, h, w, Cin) by ``kernel`` (kh, kw, Cout, Cin), following ``plan`` (an
    :class:`FFTPlan`); see the module docstring."""
    if plan.phases:
        _fill_phases(plan, x, kernel, y, num_threads)
    # Every cell no phase writes is in an unreached row or column.
    if plan.unreached_rows.size:
        y[:, plan.unreached_rows] = 0
    if plan.unreached_cols.size:
        y[:, :, plan.unreached_cols] = 0


def _fill_phases(plan, x, kernel, y, num_threads):
    """Every phase's rows and columns of y, by FFTs: the phases one per
    thread when :func:`phases_by_thread` says so, else one after the other,
    each split between the threads."""
    shape = plan.shape
    batch, _, _, cin = x.shape
    cout = y.shape[3]
    half = shape[1] // 2 + 1
    real = x.dtype
    by_thread = phases_by_thread(len(plan.phases), num_threads,
                                 spectra_bytes(shape, batch, cin, cout, x.itemsize))
    # Each thread's own product spectra, when the phases run one per thread.
    product_copies = num_threads if by_thread else 1
    per_image = spectra_bytes(shape, 1, cin, product_copies * cout, x.itemsize)
    chunk = max(1, min(batch, (MEMORY_BUDGET_BYTES // 2) // per_image))
    row_floats = padded_row(cin * cout, x.itemsize)
    taps_floats = max(math.prod(phase.taps_shape) for phase in plan.phases) * row_floats
    width_floats = max(half * 2 * phase.taps_shape[0] * row_floats for phase in plan.phases)
    kernel_io = kernel.transpose(0, 1, 3, 2)
    x_spectra, work, scratch = scratch_arrays(
        ((chunk, shape[0], 2, half, cin), real),
        ((num_threads, _simd.core.fft_work_floats(max(shape))), real),
        ((num_threads, 4 * min(GROUPS_PER_BLOCK, shape[0] // 2 + 1), 2, row_floats), real),
        slot="fft")
    if by_thread:
        y_spectra, taps, width_spectra = scratch_arrays(
            ((num_threads, chunk, shape[0], 2, half, cout), real),
            ((num_threads, taps_floats), real), ((num_threads, width_floats), real),
            slot="fft phases")
        table = plan.table
        for start in range(0, batch, chunk):
            count = min(chunk, batch - start)
            _simd.core.image_spectra(x[start:start + count], x_spectra[:count], plan.forward,
                                     work, num_threads)
            _simd.core.fft_phases(x_spectra[:count], kernel_io, table.fields, table.tap_indices,
                                  table.twiddles, plan.phases[0].rows.step,
                                  plan.phases[0].cols.step, plan.scale, plan.inverse,
                                  y[start:start + count], taps, width_spectra, scratch,
                                  y_spectra[:, :count], work, num_threads)
        return
    # With several chunks of images, each phase kernel's width spectra are
    # prepared once if they all fit in half the budget; otherwise (and with
    # one chunk, where each is used once) they take turns in one buffer,
    # which stays in cache.
    kernel_shapes = [(half, 2, phase.taps_shape[0], row_floats) for phase in plan.phases]
    keep_kernels = chunk < batch and (sum(math.prod(shape) for shape in kernel_shapes)
                                      * x.itemsize <= MEMORY_BUDGET_BYTES // 2)
    if not keep_kernels:
        kernel_shapes = [max(kernel_shapes)]
    y_spectra, taps_buffer, *kernel_buffers = scratch_arrays(
        ((chunk, shape[0], 2, half, cout), real), ((taps_floats,), real),
        *[((math.prod(shape),), real) for shape in kernel_shapes], slot="fft phases")
    kernels = {}

    for start in range(0, batch, chunk):
        count = min(chunk, batch - start)
        _simd.core.image_spectra(x[start:start + count], x_spectra[:count], plan.forward, work,
                                 num_threads)
        for index, phase in enumerate(plan.phases):
            kernel = kernels.get(index)
            if kernel is None:
                needed = (half, 2, phase.taps_shape[0], row_floats)
                buffer = kernel_buffers[index if keep_kernels else 0][:math.prod(needed)]
                kernel = phase_kernel(kernel_io, plan, index, taps_buffer,
                                      buffer.reshape(needed), num_threads)
                if keep_kernels:
                    kernels[index] = kernel
            _simd.core.spectral_product(*kernel, x_spectra[:count], y_spectra[:count],
                                        scratch, num_threads)
            _simd.core.cropped_image(y_spectra[:count], y[start:start + count], phase.rows,
                                     phase.cols, plan.scale, plan.inverse, work, num_threads)


def phases_by_thread(phases, num_threads, spectra):
    """Whether a call runs its ``phases`` one per thread, each whole
    (``deconv._core.fft_phases``), rather than one after the other, each
    split between the threads: when there are several threads, the phases
    share out evenly, or at least twice over, and the input and product
    spectra take at most BY_THREAD_BYTES (``spectra``, from
    :func:`spectra_bytes`). Stage by stage, each phase's three steps start
    and end their threads together and spend their Python between them: at
    2 threads, 1.4x the speed of one."""
    return (num_threads > 1 and (phases % num_threads == 0 or phases >= 2 * num_threads)
            and spectra <= BY_THREAD_BYTES)


def spectra_bytes(shape, batch, cin, cout, itemsize):
    """Bytes of the input and product spectra of ``batch`` images in
    transforms of ``shape`` (Lh, Lw)."""
    return batch * 2 * shape[0] * (shape[1] // 2 + 1) * (cin + cout) * itemsize


def pointwise_phases(problem):
    """Whether every output phase takes at most one kernel tap per axis
    (a kernel no larger than its stride, after dilation): each phase is then
    a plain matrix product, which a Fourier transform only adds work to, so
    ``"auto"`` does not consider this backend.

    Examples
    --------
    >>> import numpy as np, deconv
    >>> from deconv._fft import pointwise_phases
    >>> def problem(k, s):
    ...     kernel = np.zeros((k, k, 1, 1), np.float32)
    ...     return deconv.Conv2DTranspose(kernel, s).plan_for(np.zeros((1, 8, 8, 1))).problem
    >>> pointwise_phases(problem(2, 2)), pointwise_phases(problem(3, 2))
    (True, False)
    """
    return all(-(-axis.kernel_size * math.gcd(axis.dilation, axis.stride) // axis.stride) <= 1
               for axis in (problem.rows, problem.cols))


def fft_work(problem, plan, num_threads):
    """The :class:`deconv._cost.FFTWork` of ``problem``, counted on its
    :class:`FFTPlan`, on ``num_threads``."""
    if not plan.phases:
        return _cost.FFTWork(0, 0.0, 0.0)
    shape = plan.shape
    half = shape[1] // 2 + 1
    batch, _, _, cin = problem.input_shape
    cout = problem.output_shape[3]
    fft_flops = batch * (cin * transform_flops(shape[0], shape)
                         + cout * sum(transform_flops(phase.rows.stop - phase.rows.start, shape)
                                      for phase in plan.phases))
    # the DFTs' frequencies that take multiply-adds: v and Lw/2 - v share
    # them, as do u, Lh - u and Lh/2 -+ u (even lengths)
    width_frequencies = shape[1] // 4 + 1 if shape[1] % 2 == 0 else half
    height_groups = shape[0] // 4 + 1 if shape[0] % 2 == 0 else shape[0] // 2 + 1
    # The kernels' DFTs take a step of kernel_dft_lanes kernels at a time,
    # whole or not.
    lanes = _simd.core.kernel_dft_lanes(problem.dtype.itemsize)
    kernels = -(-cin * cout // lanes) * lanes
    kernel_dfts = kernels * sum(rows * (width_frequencies * cols / 2 + half * height_groups)
                                for rows, cols in (phase.taps_shape for phase in plan.phases))
    products = len(plan.phases) * batch * cin * cout * shape[0] * half + kernel_dfts
    scale = problem.dtype.itemsize / 4
    reads = len(plan.phases) * batch * cin * shape[0] * half
    return _cost.FFTWork(len(plan.phases), fft_flops * scale, products * scale,
                         batch * len(plan.phases), reads * scale,
                         math.prod(problem.output_shape) * scale,
                         phases_by_thread(len(plan.phases), num_threads,
                                          spectra_bytes(shape, batch, cin, cout,
                                                        problem.dtype.itemsize)))


class FFTBackend(Backend):
    """Frequency-domain path for large kernels (Cython FFTs and contraction)."""

    name = "fft"
    description = "FFTs per output phase, for large kernels"
    # A Fourier transform spreads a NaN or inf over the whole output.
    requires_finite = True
    strided_kernels = True

    def unsupported_reason(self, problem):
        return _simd.unavailable_reason

    def plan(self, problem, num_threads):
        plan = fft_conv_plan(problem.rows, problem.cols, problem.dtype)
        return BackendPlan("fft", None, plan, num_threads, fft_work(problem, plan, num_threads))

    def estimate_seconds(self, problem, num_threads):
        if _simd.core is None or pointwise_phases(problem):
            return None
        return _cost.fft_seconds(self.plan(problem, num_threads).work, num_threads,
                                 _profile.current_profile(), _simd.core.isa_name())

    def minimum_seconds(self, problem, num_threads):
        if _simd.core is None:
            return 0.0
        return _cost.fft_minimum_seconds(_profile.current_profile(), _simd.core.isa_name())

    def run(self, problem, plan, x, kernel, packed, y):
        fft_conv2d_transpose(plan.tables, x, kernel, y, plan.num_threads)
