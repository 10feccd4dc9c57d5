"""The other two operations of a layer -- ``conv2d``, the exact adjoint of
the transposed convolution, and the kernel gradient -- planned and run as
sums of transposed convolutions.

Both are the same gather (the docs, page *Semantics*, sections 8-9): an
output element sums ``u[i * stride + a * dilation - pad] * k[a]`` over taps
a, the adjoint of the scatter of :class:`deconv._geometry.Axis`. Per axis,
:meth:`Axis.adjoint_phases` splits it into stride-1 transposed convolutions
of every ``stride``-th input element with some taps reversed; a 2-D adjoint
is the sum of the products of the row and column phases. Each phase is an
ordinary :class:`deconv.ConvTransposeProblem`, planned by the usual
:class:`deconv._operator.Planner` ("auto" chooses among the registered
backends per phase, with the non-finite guard) and run by the backends'
kernels. The phases are added in a fixed order, so a result is as
independent of the thread count as the kernels are.

* ``conv2d(y, kernel)`` is the adjoint of the transposed convolution of its
  problem: u is y, and the kernel's taps are the phases' kernels.
* The kernel gradient ``dk[a, b, o, c] = sum over n, i, j of x[n, i, j, c] *
  dy[n, i*s + a*d - pad, ...]`` is the same gather with the roles exchanged:
  u is dy with its batch and channel axes swapped (batch Cout, contraction
  over N), the "kernel" is x (h x w taps, dilated by the stride), the stride
  is the dilation and the output is kh x kw.
"""
import functools
import itertools
import math
from typing import NamedTuple

import numpy as np

from . import _caches, _cost, _simd
from ._caches import BoundedDict
from ._geometry import AdjointPhase, Axis
from ._direct import gather_plan
from ._operator import (PLANS_KEPT, CallPlan, Planner, backend_in_force, finite_plan,
                        run_plan)
from ._registry import AUTO, get_backend
from ._problem import ConvTransposeProblem
from ._threads import threads_for
from ._workspace import scratch_arrays


class PhaseRun(NamedTuple):
    """One phase of an adjoint: which input elements and taps (``rows`` and
    ``cols``, :class:`deconv._geometry.AdjointPhase`), and the
    :class:`deconv.CallPlan` of its transposed convolution (made by
    ``planner``, the planner of its kernel shape)."""
    rows: AdjointPhase
    cols: AdjointPhase
    planner: Planner
    plan: object


class AdjointPlan:
    """What a ``conv2d`` or kernel-gradient call does for one set of input
    shapes.

    Attributes
    ----------
    problem : ConvTransposeProblem
        For ``conv2d``: the transposed convolution it is the adjoint of
        (its output is y, its input the result). For a kernel gradient: the
        transposed convolution x -> dy.
    phases : tuple of PhaseRun
        The stride-1 transposed convolutions whose sum is the result.
    output_shape : tuple of int
        The result's shape, in the caller's layout.
    result_dtype : numpy.dtype
    threads : int
        The thread count it was planned for.
    """

    __slots__ = ("problem", "phases", "stacked", "gather", "output_shape", "result_dtype",
                 "casts", "channels_first", "threads", "stamp")

    def __init__(self, problem, runs, output_shape, threads):
        self.problem = problem
        self.threads = threads
        self.phases, self.stacked, self.gather = runs
        self.output_shape = output_shape
        self.result_dtype = problem.result_dtype
        self.casts = problem.result_dtype != problem.dtype
        self.channels_first = problem.data_format == "channels_first"
        self.stamp = _caches.generation

    @property
    def way(self):
        """How the adjoint is computed: ``"gather"``, ``"stacked"`` or
        ``"phases"``."""
        return "gather" if self.gather is not None else "stacked" if self.stacked is not None \
            else "phases"

    @property
    def backends(self):
        """(backend, variant) of each run of the plan's :attr:`way` (the
        gather, the stacked convolution, or each phase)."""
        return tuple((run.plan.backend, run.plan.variant) for run in self._way_runs())

    @property
    def pins(self):
        """The :class:`AdjointPins` that make the pieces of a tiled call
        compute as this plan does."""
        variants = {run.plan.problem.kernel_shape: (run.plan.backend, run.plan.variant)
                    for run in self._way_runs() if run.plan.backend_plan is not None}
        return AdjointPins(self.way, tuple(sorted(variants.items())))

    def _way_runs(self):
        return {"gather": (self.gather,), "stacked": (self.stacked,)}.get(self.way, self.phases)

    def __repr__(self):
        how = self.way if self.way != "phases" else f"{len(self.phases)} phase(s)"
        return (f"AdjointPlan(output {self.output_shape}, {how} on "
                f"{', '.join(f'{backend} ({variant})' for backend, variant in self.backends)})")


class AdjointPlanner:
    """Plans of the phases of adjoints, kept per input shapes, with one
    :class:`deconv._operator.Planner` per phase kernel shape (they share the
    static arguments: backend, threads)."""

    def __init__(self, arguments):
        self.arguments = arguments
        self.plans = BoundedDict(PLANS_KEPT)
        self._planners = {}

    def kept(self, key, make, threads=None):
        """The plan under ``key`` (with the backend and threads in force), or
        ``make(threads)``'s, kept; ``threads`` None means the arguments'."""
        threads = threads or threads_for(self.arguments.threads)
        key = (*key, backend_in_force(self.arguments), threads)
        plan = self.plans.get(key)
        if plan is None or plan.stamp != _caches.generation:
            plan = make(threads)
            self.plans.put(key, plan)
        return plan


    def runs(self, rows, cols, batch, contraction, channels, dtype, threads, pins=None):
        """How to compute the adjoint of ``rows`` x ``cols``
        (:class:`deconv._geometry.Axis`) on ``batch`` images of
        ``contraction`` channels giving ``channels``, in compute ``dtype``:
        the :class:`PhaseRun` s (always: the way for any data), and the
        :class:`StackedRun` or the :class:`GatherRun` when one is estimated
        faster than they are (else None). The estimates are compared at one
        thread: the choice, and with it the order of the additions, must not
        depend on the thread count. ``pins`` (an :attr:`AdjointPlan.pins`)
        imposes the choices, the way and the variant of each run's kernel
        shape: the pieces of a tiled call compute as the whole call does."""
        way, variants = pins if pins is not None else (None, ())
        variants = dict(variants)
        phases = []
        # In the order of their kernel taps' residue classes (AdjointPhase.order),
        # not of the residues of y they read nor of the taps that land: a
        # window of y starts at any residue and drops the taps that land
        # nowhere in it, and the phases' sum must be added up in the same
        # order for every window.
        for row, col in sorted(itertools.product(rows.adjoint_phases(), cols.adjoint_phases()),
                               key=lambda pair: (pair[0].order, pair[1].order)):
            plan = self._plan(row.axis, col.axis, (batch, row.count, col.count, contraction),
                              len(row.taps), len(col.taps), channels, dtype, threads, variants)
            phases.append(PhaseRun(row, col, self._planners[plan.problem.kernel_shape], plan))
        phases = tuple(phases)
        if way == "gather":
            return phases, None, self._gather(rows, cols, batch, contraction, channels, dtype,
                                              threads)
        if way is not None:
            stacked = self._stacked(rows, cols, batch, contraction, channels, dtype, threads,
                                    variants) if way == "stacked" and len(phases) > 1 else None
            return phases, stacked, None
        # Every phase past the first writes a part and adds it to the result.
        added = (len(phases) - 1) * batch * rows.in_size * cols.in_size * channels * \
            dtype.itemsize
        candidates = [(sum(_seconds(phase.plan) for phase in phases)
                       + _cost.adjoint_pass_seconds(3 * added), None, None)]
        gather = self._gather(rows, cols, batch, contraction, channels, dtype, threads)
        if gather is not None:  # y read where it lies: no copy, no parts
            candidates.append((_seconds(gather.plan), None, gather))
        elif len(phases) > 1:
            stacked = self._stacked(rows, cols, batch, contraction, channels, dtype, threads)
            copied = math.prod(stacked.plan.problem.input_shape) * dtype.itemsize
            candidates.append((_seconds(stacked.plan) + _cost.adjoint_pass_seconds(2 * copied),
                               stacked, None))
        _, stacked, gather = min(candidates, key=lambda candidate: candidate[0])
        return phases, stacked, gather

    def _stacked(self, rows, cols, batch, contraction, channels, dtype, threads, variants=None):
        row, col = rows.stacked_adjoint(), cols.stacked_adjoint()
        stacked_contraction = row.residues * col.residues * contraction
        plan = self._plan(row.axis, col.axis, (batch, row.axis.in_size, col.axis.in_size,
                                               stacked_contraction),
                          row.taps, col.taps, channels, dtype, threads, variants)
        return StackedRun(row, col, (rows.pad, cols.pad),
                          (rows.dilation if row.residues > 1 else 1,
                           cols.dilation if col.residues > 1 else 1),
                          self._planners[plan.problem.kernel_shape], plan)

    def _gather(self, rows, cols, batch, contraction, channels, dtype, threads):
        """The :class:`GatherRun` when the direct backend may run it (it is
        the backend in force, or "auto" may take it), else None."""
        backend = backend_in_force(self.arguments)
        if backend not in ("direct", AUTO) or _simd.core is None:
            return None
        direct = get_backend("direct")
        problem = ConvTransposeProblem(
            input_shape=(batch, rows.out_size, cols.out_size, contraction),
            kernel_shape=(rows.kernel_size, cols.kernel_size, channels, contraction),
            output_shape=(batch, rows.in_size, cols.in_size, channels), rows=rows, cols=cols,
            dtype=dtype, result_dtype=dtype, data_format="channels_last")
        if problem.is_empty:
            return None
        plan = CallPlan(problem, direct, gather_plan(problem, threads),
                        "the gather on the wide kernel is estimated fastest", {},
                        backend != AUTO, threads)
        return GatherRun(plan)

    def _plan(self, rows, cols, input_shape, taps_h, taps_w, channels, dtype, threads,
              variants=None):
        """The kept plan of one run; ``variants`` maps kernel shapes to the
        (backend, variant) their runs are pinned to."""
        kernel_shape = (taps_h, taps_w, channels, input_shape[3])
        planner = self._planners.get(kernel_shape)
        if planner is None:
            planner = self._planners.setdefault(kernel_shape,
                                                Planner(kernel_shape, dtype, self.arguments))
        problem = ConvTransposeProblem(
            input_shape=input_shape, kernel_shape=kernel_shape,
            output_shape=(input_shape[0], rows.out_size, cols.out_size, channels),
            rows=rows, cols=cols, dtype=dtype, result_dtype=dtype, data_format="channels_last")
        return planner.kept_plan(problem, threads, _pinned_variant(variants, kernel_shape))


def _pinned_variant(variants, kernel_shape):
    """The (backend, variant) ``variants`` pins a run of ``kernel_shape`` to:
    its own shape's, else that of the smallest pinned shape holding it. A
    window of a tiled call drops the taps that land nowhere in it, so its
    phase kernel can be smaller than the whole call's phase it is part of;
    it must still run that phase's variant, which adds the same terms in the
    same order."""
    if not variants:
        return None
    if kernel_shape in variants:
        return variants[kernel_shape]
    holding = [shape for shape in variants
               if shape[2:] == kernel_shape[2:] and shape[0] >= kernel_shape[0]
               and shape[1] >= kernel_shape[1]]
    return variants[min(holding)] if holding else None


def _seconds(plan):
    """A plan's estimated seconds on one thread (infinite for a backend
    without estimates)."""
    if plan.backend_plan is None:
        return 0.0
    seconds = plan.backend_object.estimate_seconds(plan.problem, 1)
    return float("inf") if seconds is None else seconds


class AdjointPins(NamedTuple):
    """How a conv2d call computes, for its pieces to compute the same way:
    its ``way`` and, as sorted (kernel shape, (backend, variant)) pairs, the
    variant its runs of each kernel shape take."""
    way: str
    variants: tuple


class GatherRun(NamedTuple):
    """The adjoint as one run of the direct backend's wide kernel on gather
    tables (:func:`deconv._direct.gather_plan`): y read where it lies, the
    kernel as it is (transposed), no phases to add. ``plan`` is its
    :class:`deconv.CallPlan` (its problem laid out as the gather runs)."""
    plan: object


class StackedRun(NamedTuple):
    """The adjoint as one stride-1 transposed convolution of y's elements
    stacked as channels (:meth:`deconv._geometry.Axis.stacked_adjoint`):
    ``pads`` are the axes' crops, ``spacings`` where kernel tap a goes among
    the stacked taps (a * spacing), ``plan`` the convolution's
    :class:`deconv.CallPlan`, made by ``planner``."""
    rows: object
    cols: object
    pads: tuple
    spacings: tuple
    planner: Planner
    plan: object


def stacked_input(run, u, dtype, threads):
    """u (N, H, W, C, channels-last, any strides) stacked for ``run``:
    element (t, t') of the result holds, in channels (rho, rho', c),
    ``u[t * R + rho - pad, t' * R' + rho' - pad', c]`` (0 outside u)."""
    rows, cols = run.rows, run.cols
    (stacked,) = scratch_arrays(((u.shape[0], rows.axis.in_size, cols.axis.in_size,
                                  rows.residues, cols.residues, u.shape[3]), dtype),
                                slot="adjoint input")
    _simd.core.gather_stacked(np.asarray(u, dtype=dtype), stacked, run.pads[0], run.pads[1],
                              threads)
    return stacked.reshape(*stacked.shape[:3], rows.residues * cols.residues * u.shape[3])


def channels_last_copy(u, dtype, threads):
    """u (N, H, W, C, any strides) as a C-contiguous array of ``dtype``: the
    kernels read a channel-strided view (a transposed one) a line per value."""
    if u.flags.c_contiguous and u.dtype == dtype:
        return u
    (copy,) = scratch_arrays(((*u.shape[:3], 1, 1, u.shape[3]), dtype), slot="adjoint source")
    _simd.core.gather_stacked(np.asarray(u, dtype=dtype), copy, 0, 0, threads)
    return copy.reshape(u.shape)


def stacked_kernel(kernel, run, dtype):
    """The kernel (taps_h, taps_w, contraction, channels) of the gather laid
    out for ``run``: tap a at stacked position a * spacing (zeros between and
    after), split into stacked taps and residues, the taps reversed, as a
    transposed convolution's (T_h, T_w, channels, R_h * R_w * contraction).
    The copy moves whole (contraction, channels) blocks; the result is a
    transposed view of it."""
    rows, cols = run.rows, run.cols
    kh, kw, contraction, channels = kernel.shape
    shape = (rows.taps * rows.residues, cols.taps * cols.residues, contraction, channels)
    if shape[:2] == (kh, kw):  # every stacked tap is a kernel tap
        dense = kernel
    else:
        dense = np.zeros(shape, dtype)
        dense[::run.spacings[0], ::run.spacings[1]][:kh, :kw] = kernel
    stacked = np.ascontiguousarray(dense.reshape(
        rows.taps, rows.residues, cols.taps, cols.residues, contraction, channels)[::-1, :, ::-1]
        .transpose(0, 2, 1, 3, 4, 5), dtype=dtype)
    return stacked.reshape(rows.taps, cols.taps, -1, channels).transpose(0, 1, 3, 2)


def phase_input(phase, u, dtype):
    """The elements of u (channels-last) that ``phase`` reads, in ``dtype``:
    a strided view (backends read x through its strides) unless u must be
    converted."""
    rows, cols = phase.rows, phase.cols
    return np.asarray(u[:, rows.first:rows.first + rows.step * (rows.count - 1) + 1:rows.step,
                        cols.first:cols.first + cols.step * (cols.count - 1) + 1:cols.step],
                      dtype=dtype)


def run_adjoint(plan, u, kernel_finite, kernel_for, packed_for, result):
    """Fill ``result`` (channels-last, compute dtype, a layout the backends
    write) with the adjoint of ``plan`` applied to u (channels-last): the
    stacked convolution when the plan has one and the data make it exact (a
    finite kernel, and finite u unless every stacked tap is a kernel tap),
    else the phases. ``kernel_finite()`` says whether the kernel is finite;
    ``kernel_for(key)`` and ``packed_for(key, call_plan)``
    give the kernel of a run (``"stacked"`` or a phase index; see
    :func:`adjoint_kernel`) and its packed form or None."""
    if plan.gather is not None:
        run_plan(plan.gather.plan, np.asarray(u, dtype=result.dtype), kernel_for("gather"),
                 lambda call: packed_for("gather", call), result)
        return
    stacked = plan.stacked
    if stacked is not None and kernel_finite() and (
            (stacked.rows.exact and stacked.cols.exact) or _simd.all_finite(u)):
        run_plan(stacked.plan, stacked_input(stacked, u, result.dtype, stacked.plan.threads),
                 kernel_for("stacked"), lambda call: packed_for("stacked", call), result)
        return
    run_phases(plan.phases, u, kernel_for, packed_for, kernel_finite, result)


def not_packed(key, plan):
    """``packed_for`` of :func:`run_adjoint` for callers that keep no packed
    kernels (a function call packs in the call)."""
    return None


def adjoint_kernel(kernel, plan, key, dtype):
    """The kernel of run ``key`` of ``plan`` (``"stacked"`` or a phase index)
    from the gather's kernel (taps_h, taps_w, contraction, channels), in
    ``dtype``."""
    if key == "gather":
        return np.asarray(kernel, dtype=dtype).transpose(0, 1, 3, 2)
    if key == "stacked":
        return stacked_kernel(kernel, plan.stacked, dtype)
    return phase_kernel(kernel, plan.phases[key], dtype)


def run_phases(phases, u, kernel_for, packed_for, kernel_finite, result):
    """Fill ``result`` with the sum of the phases run on u (as
    :func:`run_adjoint`). The first phase that covers the whole result writes
    into it; the others add theirs, in phase order."""
    filled = False
    for index, phase in enumerate(phases):
        x = phase_input(phase, u, result.dtype)
        plan = finite_plan(phase.planner, phase.plan, (x,), kernel_finite)
        kernel = kernel_for(index)
        packed = functools.partial(packed_for, index)
        whole = phase.rows.first_output == 0 and phase.cols.first_output == 0
        if whole and not filled:
            run_plan(plan, x, kernel, packed, result)
            filled = True
            continue
        (part,) = scratch_arrays((plan.problem.output_shape, result.dtype), slot="adjoint part")
        run_plan(plan, x, kernel, packed, part)
        if not filled:
            result.fill(0)
            filled = True
        target = result[:, phase.rows.first_output:, phase.cols.first_output:]
        np.add(target, part, out=target)
    if not filled:
        result.fill(0)


def phase_kernel(kernel, phase, dtype):
    """The kernel of a phase: the phase's taps of ``kernel`` (taps_h, taps_w,
    contraction, channels; for conv2d its kernel, for the gradient x with
    batch and spatial axes exchanged), reversed as the phase orders them, as
    a transposed convolution's (T_h, T_w, channels, contraction), in
    ``dtype``: a strided view when no conversion is needed (a phase's taps
    are evenly spaced)."""
    return np.asarray(kernel[_taps_slice(phase.rows.taps), _taps_slice(phase.cols.taps)],
                      dtype=dtype).transpose(0, 1, 3, 2)


def _taps_slice(taps):
    """Evenly spaced taps (a phase's) as a slice."""
    step = int(taps[1] - taps[0]) if len(taps) > 1 else 1
    stop = int(taps[-1]) + step
    return slice(int(taps[0]), None if stop < 0 else stop, step)


def gradient_axis(axis, kernel_size):
    """The axis whose adjoint is the kernel gradient of ``axis`` (a
    transposed convolution's): kh kernel taps in, the output length out, x's
    length as the taps, the dilation as the stride and the stride as the
    dilation; the same crop."""
    return Axis(axis.name, kernel_size, axis.out_size, axis.in_size, axis.dilation,
                axis.stride, axis.pad)


