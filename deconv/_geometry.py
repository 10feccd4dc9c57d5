"""Geometry of one spatial dimension of a transposed convolution, and the
output-size rules (docs, page *Semantics*, sections 2-4).

Input index ``i`` and kernel tap ``a`` land on output index
``r = i * stride + a * dilation - pad`` when ``0 <= r < out_size``. Every
backend, the validation and the cost model read that map from :class:`Axis`:
its landing ranges (the reference backend), its phases (the FFT backend) and
its tap tables (the direct backend, computed in C from the same fields).
"""
from typing import NamedTuple

import numpy as np

from ._caches import bounded_cache


def effective_kernel_size(kernel_size, dilation):
    """Span of a dilated kernel: (k - 1) * d + 1."""
    return (kernel_size - 1) * dilation + 1


def valid_output_sizes(in_size, kernel_size, stride, dilation, padding):
    """Inclusive range of output sizes reachable for one spatial dimension.

    Parameters
    ----------
    in_size, kernel_size, stride, dilation : int
    padding : {"same", "valid"}

    Returns
    -------
    (low, high) : tuple of int

    Examples
    --------
    >>> from deconv import valid_output_sizes
    >>> valid_output_sizes(5, 3, 2, 1, "valid")
    (11, 12)
    >>> valid_output_sizes(5, 3, 2, 1, "same")
    (9, 10)
    """
    effective = effective_kernel_size(kernel_size, dilation)
    if padding == "same":
        if in_size == 0:
            return 0, 0
        return (in_size - 1) * stride + 1, in_size * stride
    if in_size == 0:
        return max(0, effective - 2 * stride + 1), effective - 1
    low = (in_size - 1) * stride + effective
    return low, low + stride - 1


def inferred_output_size(in_size, kernel_size, stride, dilation, padding):
    """The output size used when ``output_shape`` is None (Keras 3 rule)."""
    if padding == "same":
        return in_size * stride
    effective = effective_kernel_size(kernel_size, dilation)
    return max(0, (in_size - 1) * stride + max(effective, stride))


def conv2d_output_size(in_size, kernel_size, stride, dilation, padding):
    """The output size of conv2d (the adjoint) on an input of ``in_size``:
    ceil(in_size / stride) for "same"; (in_size - E) // stride + 1 for
    "valid", and 0 when in_size < E (where TensorFlow raises, an empty result
    keeps conv2d the adjoint of the transposed convolution's empty inputs)."""
    if padding == "same":
        return -(-in_size // stride)
    effective = effective_kernel_size(kernel_size, dilation)
    return (in_size - effective) // stride + 1 if in_size >= effective else 0


def check_reachable(name, out_size, in_size, kernel_size, stride, dilation, padding):
    """Raise ValueError naming the valid range unless ``out_size`` is reachable."""
    low, high = valid_output_sizes(in_size, kernel_size, stride, dilation, padding)
    if low <= out_size <= high:
        return
    kernel = f"kernel {kernel_size}"
    if dilation != 1:
        kernel += f" dilated by {dilation} (effective " \
                  f"{effective_kernel_size(kernel_size, dilation)})"
    raise ValueError(f"output {name} {out_size} is not reachable from input {name} "
                     f"{in_size} with {kernel}, stride {stride}, padding '{padding}': "
                     f"valid {name}s are {low}..{high}")


class LandingRange(NamedTuple):
    """Input indices ``first_input <= i < stop_input`` of one kernel tap land
    in the output, the first of them at ``first_output`` (then every stride)."""
    first_input: int
    stop_input: int
    first_output: int


class Phase(NamedTuple):
    """One output phase (output indices ``r`` with ``(r + pad) % stride ==
    phase``) that receives some tap, seen as a stride-1 convolution.

    ``taps`` are the kernel taps of the phase that land, ``positions`` where
    they sit in the phase kernel (``(tap * dilation - phase) / stride``,
    counted from the first tap's); phase indices ``start <= m < stop`` (on
    the same count) land in the output, the first of them at output index
    ``first``; input index ``m - position`` feeds index m.
    """
    taps: np.ndarray
    positions: np.ndarray
    start: int
    stop: int
    first: int


class Window(NamedTuple):
    """Output indices ``start <= r < stop`` of an axis computed on their own:
    they depend on input indices ``first_input <= i < stop_input`` only, and
    ``axis`` is that piece of the problem as an :class:`Axis` of its own."""
    start: int
    stop: int
    first_input: int
    stop_input: int
    axis: "Axis"


class AdjointPhase(NamedTuple):
    """One phase of the adjoint of an axis (see :meth:`Axis.adjoint_phases`):
    the input indices ``first, first + step, ...`` (``count`` of them) read
    with kernel taps ``taps`` (in the order of the stride-1 transposed
    convolution ``axis`` that computes it) fill output indices from
    ``first_output`` on. ``order`` is the smallest tap of its residue class,
    landing or not: a window of the axis drops the taps that land nowhere
    in it, but its phases keep the whole axis' order (by ``order``), so a
    tiled call adds them up as the whole call does."""
    taps: np.ndarray
    first: int
    step: int
    count: int
    first_output: int
    axis: "Axis"
    order: int


class StackedAdjoint(NamedTuple):
    """The adjoint of an axis as ONE stride-1 transposed convolution (see
    :meth:`Axis.stacked_adjoint`): y's elements ``t * residues + rho - pad``
    stacked as channels rho of element t, a kernel of ``taps`` stacked taps,
    ``axis`` the convolution. ``exact``: every stacked tap is a kernel tap
    (else some are zeros, exact only for finite data: 0 * inf is NaN)."""
    residues: int
    taps: int
    exact: bool
    axis: "Axis"


class Axis(NamedTuple):
    """Geometry of one spatial dimension: sizes, kernel, stride, dilation and
    ``pad``, how many leading indices of the full output are cropped.

    A named tuple: plans are cached on it, and a tuple hashes in C.

    Examples
    --------
    >>> from deconv._geometry import Axis
    >>> rows = Axis.from_padding("height", 3, 6, 4, 2, 1, "same")
    >>> rows.pad, rows.full_size, rows.landing_range(0)
    (1, 8, LandingRange(first_input=1, stop_input=3, first_output=1))
    """

    name: str
    in_size: int
    out_size: int
    kernel_size: int
    stride: int
    dilation: int
    pad: int

    @classmethod
    def from_padding(cls, name, in_size, out_size, kernel_size, stride, dilation, padding):
        """The axis of a call: "same" crops the full output symmetrically (the
        odd extra index at the end), "valid" crops nothing."""
        full = (in_size - 1) * stride + effective_kernel_size(kernel_size, dilation)
        pad = max(0, full - out_size) // 2 if padding == "same" else 0
        return cls(name, in_size, out_size, kernel_size, stride, dilation, pad)

    @property
    def effective_kernel(self):
        return effective_kernel_size(self.kernel_size, self.dilation)

    @property
    def full_size(self):
        """Length of the uncropped output, (in_size - 1) * stride + E."""
        return (self.in_size - 1) * self.stride + self.effective_kernel

    def landing_range(self, tap):
        """The :class:`LandingRange` of kernel tap ``tap``."""
        offset = tap * self.dilation - self.pad
        first = max(0, -(offset // self.stride))  # ceil(-offset / stride)
        stop = min(self.in_size, -(-(self.out_size - offset) // self.stride))
        return LandingRange(first, max(first, stop), first * self.stride + offset)

    @property
    def landing_pairs(self):
        """Number of (input index, kernel tap) pairs that land in the output."""
        return sum(stop - first for first, stop, _ in map(self.landing_range,
                                                          range(self.kernel_size)))

    def window(self, start, stop):
        """The :class:`Window` of output indices ``start <= r < stop``.

        Input index i reaches output indices ``i * stride - pad`` to
        ``i * stride - pad + E - 1``, so the window reads every input index
        whose span meets ``[start, stop)`` and no other. Its axis keeps the
        kernel, stride and dilation; its ``pad`` says where ``start`` sits
        in the window's own full output. Indices past the full output (a
        "valid" ``output_shape`` extra) stay zero, as in the whole axis.

        Examples
        --------
        >>> from deconv._geometry import Axis
        >>> rows = Axis.from_padding("height", 8, 16, 4, 2, 1, "same")
        >>> rows.window(4, 8)
        Window(start=4, stop=8, first_input=1, stop_input=5, axis=Axis(name='height', \
in_size=4, out_size=4, kernel_size=4, stride=2, dilation=1, pad=3))
        """
        stride = self.stride
        first = min(self.in_size, max(0, -(-(start + self.pad - self.effective_kernel + 1)
                                            // stride)))
        last = max(first, min(self.in_size, (stop - 1 + self.pad) // stride + 1)) \
            if stop > start else first
        pad = start + self.pad - first * stride
        return Window(start, stop, first, last, Axis(self.name, last - first, stop - start,
                                                     self.kernel_size, stride, self.dilation,
                                                     pad))

    def adjoint_window(self, start, stop):
        """The :class:`Window` of the adjoint (the gather) of this axis for
        its output indices ``start <= i < stop`` (this axis' input indices):
        they read the indices ``first_input <= r < stop_input`` of its
        input (this axis' output), and ``axis`` is that piece as an
        :class:`Axis` of its own (its adjoint computes the window).

        Examples
        --------
        >>> from deconv._geometry import Axis
        >>> Axis.from_padding("height", 8, 16, 4, 2, 1, "same").adjoint_window(2, 4)
        Window(start=2, stop=4, first_input=3, stop_input=9, axis=Axis(name='height', \
in_size=2, out_size=6, kernel_size=4, stride=2, dilation=1, pad=0))
        """
        first = min(self.out_size, max(0, start * self.stride - self.pad))
        last = min(self.out_size, (stop - 1) * self.stride + self.effective_kernel - self.pad)
        last = max(first, last) if stop > start else first
        return Window(start, stop, first, last, Axis(
            self.name, stop - start, last - first, self.kernel_size, self.stride,
            self.dilation, self.pad - start * self.stride + first))

    def adjoint_phases(self):
        """The adjoint of this axis (out_size indices to in_size, the gather
        ``x[i] += y[i * stride + a * dilation - pad] * k[a]``) as a sum of
        stride-1 transposed convolutions, one per :class:`AdjointPhase`.

        Tap a reads y at ``i * stride + off`` with ``off = a * dilation -
        pad``: writing ``off = stride * q + rho``, it reads every ``stride``-th
        element of y from ``rho`` on, shifted by q. The taps of one residue
        rho are evenly spaced in q, so the phase is a stride-1 correlation
        with a dilated kernel, which is a transposed convolution with the
        taps reversed. Taps that land nowhere take no part.

        Examples
        --------
        >>> from deconv._geometry import Axis
        >>> rows = Axis.from_padding("height", 4, 8, 4, 2, 1, "same")
        >>> [(phase.taps.tolist(), phase.first, phase.count, phase.axis.pad)
        ...  for phase in rows.adjoint_phases()]
        [([3, 1], 0, 4, 1), ([2, 0], 1, 4, 0)]
        """
        return _adjoint_phases(self)

    def stacked_adjoint(self):
        """The adjoint of this axis as one stride-1 transposed convolution, a
        :class:`StackedAdjoint`: every ``stride`` consecutive elements of y
        stacked as channels ("space to depth"), the dilated kernel laid out
        densely in ``ceil(E / stride)`` stacked taps of ``stride`` residues
        each. Tap a of the kernel is stacked tap ``a * d // stride``, residue
        ``a * d % stride`` (at stride 1: tap a, dilation d kept).

        Examples
        --------
        >>> from deconv._geometry import Axis
        >>> Axis.from_padding("height", 8, 16, 4, 2, 1, "same").stacked_adjoint()
        StackedAdjoint(residues=2, taps=2, exact=True, axis=Axis(name='height', in_size=9, \
out_size=8, kernel_size=2, stride=1, dilation=1, pad=1))
        >>> Axis.from_padding("height", 8, 16, 3, 2, 1, "same").stacked_adjoint().exact
        False
        """
        if self.stride == 1:
            residues, taps, dilation, exact = 1, self.kernel_size, self.dilation, True
        else:
            residues, dilation = self.stride, 1
            taps = -(-self.effective_kernel // self.stride)
            exact = self.dilation == 1 and self.kernel_size % self.stride == 0
        span = (taps - 1) * dilation
        return StackedAdjoint(residues, taps, exact, Axis(
            self.name, self.in_size + span, self.in_size, taps, 1, dilation, span))

    def phases(self):
        """The :class:`Phase` s of this axis that put something into the
        output, each with the taps that land (a dilated tap far outside the
        output is no part of any phase kernel)."""
        return _phases(self)

    def unreached(self):
        """Output indices no (input index, tap) pair lands on, as an array
        (they are 0 in the result)."""
        return _unreached(self)


@bounded_cache(256)
def _unreached(axis):
    reached = np.zeros(axis.out_size, dtype=bool)
    for tap in range(axis.kernel_size):
        first, stop, first_output = axis.landing_range(tap)
        reached[first_output:first_output + (stop - first - 1) * axis.stride + 1:
                axis.stride] = stop > first
    return np.flatnonzero(~reached)


@bounded_cache(256)
def _phases(axis):
    by_phase = {}  # only the phases a landing tap falls in, however large the stride
    for a in range(axis.kernel_size):
        first, stop, _ = axis.landing_range(a)
        if first < stop:
            by_phase.setdefault((a * axis.dilation) % axis.stride, []).append(a)
    phases = []
    for phase, taps in sorted(by_phase.items()):
        positions = [(a * axis.dilation - phase) // axis.stride for a in taps]
        start = max(positions[0], -(-(axis.pad - phase) // axis.stride))
        stop = min(axis.in_size + positions[-1],
                   -(-(axis.out_size + axis.pad - phase) // axis.stride))
        if start < stop:
            # Counted from the first tap's position: a phase kernel starts
            # at its first tap, however far the dilation puts it.
            base = positions[0]
            phases.append(Phase(np.array(taps), np.array(positions) - base, start - base,
                                stop - base, start * axis.stride + phase - axis.pad))
    return tuple(phases)


@bounded_cache(256)
def _adjoint_phases(axis):
    stride, by_residue = axis.stride, {}
    for a in range(axis.kernel_size):
        first, stop, _ = axis.landing_range(a)
        if first < stop:
            by_residue.setdefault((a * axis.dilation - axis.pad) % stride, []).append(a)
    phases = []
    for residue, taps in sorted(by_residue.items()):
        order = min(a for a in range(axis.kernel_size)
                    if (a * axis.dilation - axis.pad) % stride == residue)
        shifts = [(a * axis.dilation - axis.pad) // stride for a in taps]
        available = -(-(axis.out_size - residue) // stride)  # y indices of this residue
        first = max(0, shifts[0])
        stop = min(available, axis.in_size + shifts[-1])
        if first >= stop:
            continue
        pad = shifts[-1] - first
        first_output = max(0, -pad)
        phases.append(AdjointPhase(
            np.array(taps[::-1]), residue + stride * first, stride, stop - first, first_output,
            Axis(axis.name, stop - first, axis.in_size - first_output, len(taps), 1,
                 shifts[1] - shifts[0] if len(taps) > 1 else 1, max(0, pad)), order))
    return tuple(phases)
