"""The ``"fft"`` backend: transposed convolution in the frequency domain.

A stride-s transposed convolution splits into s_h * s_w stride-1 problems,
one per output phase (polyphase): output row ``R = s*m + p`` only receives the
kernel rows ``a`` with ``a*d = p (mod s)``, at input row ``m - (a*d - p)/s``.
Each phase is therefore a linear convolution of the input with a small
"phase kernel" holding those taps at positions ``(a*d - p)/s`` (a regular
grid, so dilation costs nothing). The input's spectrum is computed once and
shared by all phases; per phase the kernel spectra are multiplied in and
summed over input channels (Cython, OpenMP), transformed back and the
phase's rows and columns are written into the cropped output.

The images are transformed with scipy.fft (real transforms at
``next_fast_len`` sizes); the inverse transforms back along the width only
the rows that land in the output. The kernels are not: a phase kernel has a
few taps zero-padded to a transform length several times longer, and there
are Cin * Cout of them, so their spectra are direct DFTs over the taps alone,
vectorized over the kernels (``_core.kernel_width_spectra`` along the width;
the height DFT is fused with the channel contraction in
``_core.spectral_product``, one frequency at a time, so the kernel spectra
are never stored whole). For 256 15x15 kernels in 72x72 transforms that is
four times less time than pocketfft's FFTs of the padded kernels.

Everything stays channels-last -- spectra are (images, Lh, Lw/2 + 1,
channels) -- so the contraction at one frequency is a small complex
vector-matrix product over contiguous rows, and no array is transposed. The
transform length only has to keep the rows and columns that land free of
wrap-around (see :func:`transform_length`), not hold the whole linear
convolution: a 15x15 "same" convolution of 64x64 maps uses 72-point
transforms, not 80. float32 stays float32. Scratch arrays come from the
per-thread workspace (fresh pages cost more than these transforms); the
batch is processed in chunks so the spectra stay within
``MEMORY_BUDGET_BYTES``.
"""
import functools
import math
from typing import NamedTuple

import numpy as np
import scipy.fft

from . import _cost, _simd
from ._dispatch import all_finite
from ._registry import Backend
from ._workspace import scratch_arrays

MEMORY_BUDGET_BYTES = 512 * 2 ** 20


class Phase(NamedTuple):
    """One output phase of one axis that receives some tap.

    ``taps`` are the kernel taps of the phase, ``positions`` where they sit in
    the phase kernel; phase indices ``start <= m < stop`` land in the output,
    the first of them at output index ``first``.
    """
    taps: np.ndarray
    positions: np.ndarray
    start: int
    stop: int
    first: int


def axis_phases(axis):
    """The phases of one axis that put something into the output."""
    phases = []
    for phase in range(axis.stride):
        taps = [a for a in range(axis.kernel_size) if (a * axis.dilation) % axis.stride == phase]
        if not taps:
            continue
        positions = [(a * axis.dilation - phase) // axis.stride for a in taps]
        start = max(positions[0], -(-(axis.pad - phase) // axis.stride))
        stop = min(axis.in_size + positions[-1],
                   -(-(axis.out_size + axis.pad - phase) // axis.stride))
        if start < stop:
            phases.append(Phase(np.array(taps), np.array(positions), start, stop,
                                start * axis.stride + phase - axis.pad))
    return phases


def transform_length(axis, phases):
    """Shortest fast FFT length that leaves every landing index of every phase
    free of wrap-around.

    A circular convolution of length L sums the linear one at indices
    ``m + j*L``. The linear convolution of a phase is zero past index
    ``in_size + positions[-1] - 1``, so indices ``start <= m < stop`` are exact
    when ``L >= stop`` and ``L >= in_size + positions[-1] - start``.
    """
    needed = max(max(p.stop, axis.in_size + int(p.positions[-1]) - p.start) for p in phases)
    return scipy.fft.next_fast_len(needed, real=True)


def input_spectra(images, padded, workers):
    """Spectra (N, Lh, Lw/2+1, Cin) of channels-last ``images`` zero-padded
    into ``padded`` (N, Lh, Lw, Cin): one real transform along the width, then
    one complex one along the height in place."""
    count, height, width, _ = images.shape
    padded[:, :height, :width] = images
    padded[:, height:] = 0
    padded[:, :height, width:] = 0
    spectra = scipy.fft.rfft(padded, axis=2, workers=workers)
    return scipy.fft.fft(spectra, axis=1, workers=workers, overwrite_x=True)


def cropped_inverse(spectra, shape, rows, cols, workers):
    """``scipy.fft.irfft2(spectra, s=shape, axes=(1, 2))[:, rows, cols]``,
    transforming back along the width only the rows kept (slices)."""
    along_height = scipy.fft.ifft(spectra, axis=1, workers=workers, overwrite_x=True)[:, rows]
    return scipy.fft.irfft(along_height, n=shape[1], axis=2, workers=workers)[:, :, cols]


@functools.lru_cache(maxsize=64)
def _twiddles(positions, length, count, dtype):
    """cos and sin of 2 pi f p / length, for frequencies f < count (rows) and
    tap positions p (columns), reduced exactly before the float division."""
    turns = np.outer(np.arange(count), positions) % length
    angles = 2 * np.pi / length * turns
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


class PhaseKernel(NamedTuple):
    """What :func:`_core.spectral_product` needs of one phase kernel: its width
    spectra (2, Th, Lw/2+1, Cin * Cout) and the height DFT's cos and sin tables
    (Lh, Th)."""
    width_spectra: np.ndarray
    height_cos: np.ndarray
    height_sin: np.ndarray


def phase_kernel(kernel_io, row, col, shape, width_spectra, num_threads):
    """Prepare one phase kernel, zero-padded to ``shape``, for the product: a
    DFT along the width over the phase's taps only, not an FFT over padding,
    into ``width_spectra`` (2, Th, Lw/2+1, Cin * Cout)."""
    taps = np.ascontiguousarray(kernel_io[row.taps[:, None], col.taps[None, :]])
    rows, cols, cin, cout = taps.shape
    width_cos, width_sin = _twiddles(tuple(col.positions.tolist()), shape[1],
                                     shape[1] // 2 + 1, taps.dtype)
    height_cos, height_sin = _twiddles(tuple(row.positions.tolist()), shape[0], shape[0],
                                       taps.dtype)
    _simd.core.kernel_width_spectra(taps.reshape(rows, cols, cin * cout), width_cos, width_sin,
                                    width_spectra, num_threads)
    return PhaseKernel(width_spectra, height_cos, height_sin)


def as_pairs(spectra):
    """A real view of complex ``spectra`` (..., C) as (real, imaginary) pairs
    (..., 2 C)."""
    return spectra.view(spectra.real.dtype)


def transform_flops(rows_in, shape):
    """Flops of a pruned 2-D real transform with ``rows_in`` nonzero (or kept)
    rows: width transforms (2.5 L log2 L each) of those rows, then complex
    height transforms (5 L log2 L) of every column of the half spectrum."""
    lh, lw = shape
    return (rows_in * 2.5 * lw * math.log2(max(lw, 2))
            + (lw // 2 + 1) * 5 * lh * math.log2(max(lh, 2)))


def _output_indices(phase, stride):
    """The output rows (or columns) a phase writes, as a slice."""
    return slice(phase.first, phase.first + (phase.stop - phase.start - 1) * stride + 1, stride)


def fft_conv2d_transpose(problem, num_threads):
    """Compute ``problem`` (NHWC) with real FFTs; see the module docstring."""
    x, rows, cols = problem.x, problem.rows, problem.cols
    row_phases, col_phases = axis_phases(rows), axis_phases(cols)
    covered = (sum(p.stop - p.start for p in row_phases) == rows.out_size
               and sum(p.stop - p.start for p in col_phases) == cols.out_size)
    y = problem.new_output(zeros=not covered)
    if not row_phases or not col_phases:
        return y
    shape = (transform_length(rows, row_phases), transform_length(cols, col_phases))
    batch, _, _, cin = x.shape
    cout = problem.output_shape[3]
    half = shape[1] // 2 + 1
    frequencies = shape[0] * half
    real, complex_ = x.dtype, np.result_type(x.dtype, np.complex64)
    phase_pairs = [(row, col) for row in row_phases for col in col_phases]
    # Each phase kernel's width spectra are prepared once when they all fit
    # in half the budget, else again for every chunk of images, in one buffer.
    # They are prepared after the images' transforms: scipy.fft's threads run
    # slower while OpenMP's threads still spin after a parallel region.
    kernel_shapes = [(2, len(row.taps), half, cin * cout) for row, _ in phase_pairs]
    keep_kernels = (sum(math.prod(shape) for shape in kernel_shapes) * x.itemsize
                    <= MEMORY_BUDGET_BYTES // 2)
    if not keep_kernels:
        kernel_shapes = [max(kernel_shapes)]
    per_image = (shape[0] * shape[1] * (cin + cout) * x.itemsize
                 + (cin + cout) * frequencies * complex_.itemsize)
    chunk = max(1, min(batch, (MEMORY_BUDGET_BYTES // 2) // per_image))
    padded, y_spectra, scratch, *kernel_buffers = scratch_arrays(
        ((chunk, *shape, cin), real), ((chunk, shape[0], half, cout), complex_),
        ((num_threads, 2, cin, 2 * cout), real),
        *[((math.prod(shape),), real) for shape in kernel_shapes])
    kernel_io = problem.kernel.transpose(0, 1, 3, 2)
    kernels = {}

    for start in range(0, batch, chunk):
        images = x[start:start + chunk]
        count = len(images)
        x_spectra = as_pairs(input_spectra(images, padded[:count], num_threads))
        for index, (row, col) in enumerate(phase_pairs):
            kernel = kernels.get(index)
            if kernel is None:
                needed = (2, len(row.taps), half, cin * cout)
                buffer = kernel_buffers[index if keep_kernels else 0][:math.prod(needed)]
                kernel = phase_kernel(kernel_io, row, col, shape, buffer.reshape(needed),
                                      num_threads)
                if keep_kernels:
                    kernels[index] = kernel
            _simd.core.spectral_product(*kernel, x_spectra,
                                        as_pairs(y_spectra[:count]),
                                        scratch, num_threads)
            y[start:start + count, _output_indices(row, rows.stride),
              _output_indices(col, cols.stride)] = cropped_inverse(
                  y_spectra[:count], shape, slice(row.start, row.stop),
                  slice(col.start, col.stop), num_threads)
    return y


def _estimate_seconds(problem, num_threads):
    """Transform flops (see :func:`transform_flops`) and complex multiply-adds
    (the channel contraction, and the kernels' DFTs counted as four real
    multiply-adds each), at fitted rates, plus fixed costs per call and phase."""
    if _simd.core is None:
        return None
    profile = _cost.current_profile()
    rows, cols = problem.rows, problem.cols
    row_phases, col_phases = axis_phases(rows), axis_phases(cols)
    if not row_phases or not col_phases:
        return profile["fft_overhead_s"]
    shape = (transform_length(rows, row_phases), transform_length(cols, col_phases))
    half = shape[1] // 2 + 1
    batch, _, _, cin = problem.x.shape
    cout = problem.output_shape[3]
    phases = len(row_phases) * len(col_phases)
    fft_flops = batch * (cin * transform_flops(shape[0], shape)
                         + cout * sum(transform_flops(row.stop - row.start, shape)
                                      for row in row_phases) * len(col_phases))
    row_taps = sum(len(row.taps) for row in row_phases)
    col_taps = sum(len(col.taps) for col in col_phases)
    kernel_dfts = cin * cout * half * row_taps * (col_taps / 2 + len(col_phases) * (shape[0] // 2 + 1))
    products = phases * batch * cin * cout * shape[0] * half + kernel_dfts
    scale = problem.x.itemsize / 4
    threads = max(1, num_threads)
    return (profile["fft_overhead_s"] + phases * profile["fft_phase_overhead_s"]
            + fft_flops * scale / (profile["fft_flops_per_thread"] * threads)
            + products * scale / (profile["fft_contraction_per_thread"] * threads))


class FFTBackend(Backend):
    """Frequency-domain path for large kernels (scipy.fft + Cython contraction)."""

    name = "fft"
    description = "real FFTs per output phase (scipy.fft), for large kernels"

    def unsupported_reason(self, problem):
        if _simd.unavailable_reason is not None:
            return _simd.unavailable_reason
        if not all_finite(problem):
            return ("x or kernel holds NaN or inf, which a Fourier transform would spread "
                    "over the whole output")
        return None

    def estimate_seconds(self, problem, num_threads):
        return _estimate_seconds(problem, num_threads)

    def minimum_seconds(self, problem, num_threads):
        profile = _cost.current_profile()
        return profile["fft_overhead_s"] + profile["fft_phase_overhead_s"]

    def __call__(self, problem, num_threads):
        return fft_conv2d_transpose(problem, num_threads)
