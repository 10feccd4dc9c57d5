"""The ``"fft"`` backend: transposed convolution in the frequency domain.

A stride-s transposed convolution splits into s_h * s_w stride-1 problems,
one per output phase (polyphase): output row ``R = s*m + p`` only receives the
kernel rows ``a`` with ``a*d = p (mod s)``, at input row ``m - (a*d - p)/s``.
Each phase is therefore a full linear convolution of the input with a small
"phase kernel" holding those taps at positions ``(a*d - p)/s`` (a regular
grid, so dilation costs nothing). The input's spectrum is computed once and
shared by all phases; per phase the kernel spectra are multiplied in and
summed over input channels (Cython, OpenMP), transformed back and the
phase's rows and columns are written into the cropped output.

Real transforms at ``next_fast_len`` sizes, pruned: a 2-D transform of a
small array zero-padded to (Lh, Lw) transforms only its nonzero rows along the
width before transforming every column along the height, and the inverse
transforms back along the width only the rows that land in the output. For a
15x15 kernel padded to 80x80 that skips four fifths of the row transforms,
and kernel transforms (Cout * Cin of them) dominate the cost. float32 stays
float32. The batch is processed in chunks so the spectra stay within
``MEMORY_BUDGET_BYTES``.
"""
import math

import numpy as np
import scipy.fft

from . import _cost, _simd
from ._dispatch import all_finite
from ._registry import Backend

MEMORY_BUDGET_BYTES = 512 * 2 ** 20


def phase_taps(axis):
    """Per output phase: (phase, kernel taps, their positions in the phase kernel)."""
    phases = []
    for phase in range(axis.stride):
        taps = [a for a in range(axis.kernel_size) if (a * axis.dilation) % axis.stride == phase]
        if taps:
            positions = [(a * axis.dilation - phase) // axis.stride for a in taps]
            phases.append((phase, np.array(taps), np.array(positions)))
    return phases


def transform_length(axis, phases):
    """FFT length that holds every phase's full linear convolution without wrap-around."""
    longest = max(int(positions[-1]) for _, _, positions in phases)
    return scipy.fft.next_fast_len(axis.in_size + longest, real=True)


def _landing(axis, phase, positions):
    """Phase indices m that land in the output and receive some tap:
    returns (first m, stop m, first output index)."""
    low = max(int(positions[0]), -(-(axis.pad - phase) // axis.stride))
    high = min(axis.in_size + int(positions[-1]),
               -(-(axis.out_size + axis.pad - phase) // axis.stride))
    return low, max(low, high), low * axis.stride + phase - axis.pad


def padded_rfft2(maps, shape, workers):
    """``scipy.fft.rfft2(maps, s=shape)`` over the last two axes, skipping the
    width transforms of the all-zero padding rows."""
    along_width = scipy.fft.rfft(maps, n=shape[1], axis=-1, workers=workers)
    return scipy.fft.fft(along_width, n=shape[0], axis=-2, workers=workers)


def cropped_irfft2(spectra, shape, rows, cols, workers):
    """``scipy.fft.irfft2(spectra, s=shape)[..., rows, cols]``, transforming back
    along the width only the rows kept (``rows`` and ``cols`` are slices)."""
    along_height = scipy.fft.ifft(spectra, axis=-2, workers=workers)[..., rows, :]
    return scipy.fft.irfft(along_height, n=shape[1], axis=-1, workers=workers)[..., cols]


def transform_flops(rows_in, shape):
    """Flops of a pruned 2-D real transform with ``rows_in`` nonzero (or kept)
    rows: width transforms (2.5 L log2 L each) of those rows, then complex
    height transforms (5 L log2 L) of every column of the half spectrum."""
    lh, lw = shape
    return (rows_in * 2.5 * lw * math.log2(max(lw, 2))
            + (lw // 2 + 1) * 5 * lh * math.log2(max(lh, 2)))


def _interleaved(spectra):
    """Complex (a, b, Lh, Lwh) -> real view (a, b, 2 * Lh * Lwh)."""
    spectra = np.ascontiguousarray(spectra)
    return spectra.view(spectra.real.dtype).reshape(spectra.shape[0], spectra.shape[1], -1)


def fft_conv2d_transpose(problem, num_threads):
    """Compute ``problem`` (NHWC) with real FFTs; see the module docstring."""
    x, kernel = problem.x, problem.kernel
    rows, cols = problem.rows, problem.cols
    batch, _, _, cin = x.shape
    cout = kernel.shape[2]
    row_phases, col_phases = phase_taps(rows), phase_taps(cols)
    shape = (transform_length(rows, row_phases), transform_length(cols, col_phases))
    half = shape[1] // 2 + 1
    complex_size = 2 * x.itemsize
    per_image = (cin + cout) * shape[0] * half * complex_size + cout * shape[0] * shape[1] * x.itemsize
    chunk = max(1, min(batch, MEMORY_BUDGET_BYTES // max(1, per_image)))
    kernel_oc = kernel.transpose(2, 3, 0, 1)  # (Cout, Cin, kh, kw) view
    y = problem.new_output(zeros=True)

    for start in range(0, batch, chunk):
        images = np.ascontiguousarray(x[start:start + chunk].transpose(0, 3, 1, 2))
        x_spectra = _interleaved(padded_rfft2(images, shape, num_threads))
        y_spectra = np.empty((images.shape[0], cout, shape[0], half), dtype=np.result_type(
            x.dtype, np.complex64))
        y_view = _interleaved(y_spectra)
        for row_phase, row_taps, row_positions in row_phases:
            m0, m1, r0 = _landing(rows, row_phase, row_positions)
            if m0 == m1:
                continue
            for col_phase, col_taps, col_positions in col_phases:
                n0, n1, q0 = _landing(cols, col_phase, col_positions)
                if n0 == n1:
                    continue
                phase_kernel = np.zeros((cout, cin, row_positions[-1] + 1, col_positions[-1] + 1),
                                        dtype=x.dtype)
                phase_kernel[:, :, row_positions[:, None], col_positions[None, :]] = \
                    kernel_oc[:, :, row_taps[:, None], col_taps[None, :]]
                k_spectra = _interleaved(padded_rfft2(phase_kernel, shape, num_threads))
                _simd.core.spectral_channel_contraction(x_spectra, k_spectra, y_view,
                                                        num_threads)
                phase_out = cropped_irfft2(y_spectra, shape, slice(m0, m1), slice(n0, n1),
                                           num_threads)
                y[start:start + chunk,
                  r0:r0 + (m1 - m0 - 1) * rows.stride + 1:rows.stride,
                  q0:q0 + (n1 - n0 - 1) * cols.stride + 1:cols.stride, :] = \
                    phase_out.transpose(0, 2, 3, 1)
    return y


def _axis_counts(axis):
    """(phases, phase kernel length) of one axis without building the tap
    lists: tap ``a`` lands in phase ``a*d mod s``, which takes s/gcd(d, s)
    values, at position ``floor(a*d/s)``, largest for the last tap."""
    phases = min(axis.kernel_size, axis.stride // math.gcd(axis.dilation, axis.stride))
    return phases, (axis.kernel_size - 1) * axis.dilation // axis.stride + 1


def _estimate_seconds(problem, num_threads):
    """Pruned transforms (see :func:`transform_flops`) plus the complex channel
    contraction, at fitted rates, plus a fixed cost per phase."""
    if _simd.core is None:
        return None
    profile = _cost.current_profile()
    rows, cols = problem.rows, problem.cols
    row_phases, kernel_rows = _axis_counts(rows)
    col_phases, kernel_cols = _axis_counts(cols)
    shape = (scipy.fft.next_fast_len(rows.in_size + kernel_rows - 1, real=True),
             scipy.fft.next_fast_len(cols.in_size + kernel_cols - 1, real=True))
    batch, _, _, cin = problem.x.shape
    cout = problem.output_shape[3]
    phases = row_phases * col_phases
    kept_rows = -(-rows.out_size // rows.stride)
    fft_flops = (batch * cin * transform_flops(rows.in_size, shape)
                 + phases * (cout * cin * transform_flops(kernel_rows, shape)
                             + batch * cout * transform_flops(kept_rows, shape)))
    contraction = phases * batch * cout * cin * shape[0] * (shape[1] // 2 + 1)
    scale = problem.x.itemsize / 4
    threads = max(1, num_threads)
    return (profile["fft_overhead_s"] + phases * profile["fft_phase_overhead_s"]
            + fft_flops * scale / (profile["fft_flops_per_thread"] * threads)
            + contraction * scale / (profile["fft_contraction_per_thread"] * threads))


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
        phases = _axis_counts(problem.rows)[0] * _axis_counts(problem.cols)[0]
        return profile["fft_overhead_s"] + phases * profile["fft_phase_overhead_s"]

    def __call__(self, problem, num_threads):
        return fft_conv2d_transpose(problem, num_threads)
