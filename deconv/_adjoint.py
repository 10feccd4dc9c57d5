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
from typing import NamedTuple

import numpy as np

from . import _caches
from ._caches import BoundedDict
from ._geometry import AdjointPhase, Axis
from ._operator import PLANS_KEPT, Planner, backend_in_force, finite_plan, run_plan
from ._problem import ConvTransposeProblem
from ._threads import threads_for


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
    """

    __slots__ = ("problem", "phases", "output_shape", "result_dtype", "casts",
                 "channels_first", "stamp")

    def __init__(self, problem, phases, output_shape):
        self.problem = problem
        self.phases = phases
        self.output_shape = output_shape
        self.result_dtype = problem.result_dtype
        self.casts = problem.result_dtype != problem.dtype
        self.channels_first = problem.data_format == "channels_first"
        self.stamp = _caches.generation

    @property
    def backends(self):
        """(backend, variant) of each phase."""
        return tuple((phase.plan.backend, phase.plan.variant) for phase in self.phases)

    def __repr__(self):
        return (f"AdjointPlan(output {self.output_shape}, {len(self.phases)} phase(s) on "
                f"{', '.join(f'{backend} ({variant})' for backend, variant in self.backends)})")


class AdjointPlanner:
    """Plans of the phases of adjoints, kept per input shapes, with one
    :class:`deconv._operator.Planner` per phase kernel shape (they share the
    static arguments: backend, threads)."""

    def __init__(self, arguments):
        self.arguments = arguments
        self.plans = BoundedDict(PLANS_KEPT)
        self._planners = {}

    def kept(self, key, make):
        """The plan under ``key`` (with the backend and threads in force), or
        ``make(threads)``'s, kept."""
        threads = threads_for(self.arguments.threads)
        key = (*key, backend_in_force(self.arguments), threads)
        plan = self.plans.get(key)
        if plan is None or plan.stamp != _caches.generation:
            plan = make(threads)
            self.plans.put(key, plan)
        return plan


    def phase_runs(self, rows, cols, batch, contraction, channels, dtype, threads):
        """The :class:`PhaseRun` s of the adjoint of ``rows`` x ``cols``
        (:class:`deconv._geometry.Axis`) on ``batch`` images of
        ``contraction`` channels giving ``channels``, in compute ``dtype``."""
        runs = []
        for row in rows.adjoint_phases():
            for col in cols.adjoint_phases():
                kernel_shape = (len(row.taps), len(col.taps), channels, contraction)
                planner = self._planners.get(kernel_shape)
                if planner is None:
                    planner = self._planners.setdefault(
                        kernel_shape, Planner(kernel_shape, dtype, self.arguments))
                problem = ConvTransposeProblem(
                    input_shape=(batch, row.count, col.count, contraction),
                    kernel_shape=kernel_shape,
                    output_shape=(batch, row.axis.out_size, col.axis.out_size, channels),
                    rows=row.axis, cols=col.axis, dtype=dtype, result_dtype=dtype,
                    data_format="channels_last")
                runs.append(PhaseRun(row, col, planner, planner.kept_plan(problem, threads)))
        return tuple(runs)


def phase_input(phase, u, dtype):
    """The elements of u (channels-last) that ``phase`` reads, contiguous,
    in ``dtype``."""
    rows, cols = phase.rows, phase.cols
    return np.ascontiguousarray(u[:, rows.first:rows.first + rows.step * (rows.count - 1) + 1:
                                  rows.step,
                                  cols.first:cols.first + cols.step * (cols.count - 1) + 1:
                                  cols.step], dtype=dtype)


def run_phases(phases, u, phase_kernel, packed_for, kernel_finite, result, writable):
    """Fill ``result`` (channels-last, compute dtype) with the sum of the
    phases run on u (channels-last, compute dtype): ``phase_kernel(index)``
    gives a phase's kernel, ``packed_for(index, plan)`` its packed form or
    None. The first phase that covers the whole result writes into it
    directly when ``writable`` (a layout the backends write); the others add
    theirs in phase order."""
    filled = False
    for index, phase in enumerate(phases):
        x = phase_input(phase, u, result.dtype)
        plan = finite_plan(phase.planner, phase.plan, (x,), kernel_finite)
        kernel = phase_kernel(index)
        whole = phase.rows.first_output == 0 and phase.cols.first_output == 0
        if whole and writable and not filled:
            run_plan(plan, x, kernel, lambda plan: packed_for(index, plan), result)
            filled = True
            continue
        part = np.empty(plan.problem.output_shape, result.dtype)
        run_plan(plan, x, kernel, lambda plan: packed_for(index, plan), part)
        if not filled:
            result.fill(0)
            filled = True
        target = result[:, phase.rows.first_output:, phase.cols.first_output:]
        np.add(target, part, out=target)
    if not filled:
        result.fill(0)


def conv2d_phase_kernel(kernel, phase):
    """The kernel of a ``conv2d`` phase: the phase's taps of ``kernel``
    (kh, kw, Cout, Cin), reversed as the phase orders them, as a transposed
    convolution's (T_h, T_w, Cin, Cout)."""
    return np.ascontiguousarray(
        kernel[np.ix_(phase.rows.taps, phase.cols.taps)].transpose(0, 1, 3, 2))


def gradient_axis(axis, kernel_size):
    """The axis whose adjoint is the kernel gradient of ``axis`` (a
    transposed convolution's): kh kernel taps in, the output length out, x's
    length as the taps, the dilation as the stride and the stride as the
    dilation; the same crop."""
    return Axis(axis.name, kernel_size, axis.out_size, axis.in_size, axis.dilation,
                axis.stride, axis.pad)


def gradient_phase_kernel(x, phase, dtype):
    """The kernel of a kernel-gradient phase: the rows and columns of x
    (N, h, w, Cin, channels-last) the phase reads, as a transposed
    convolution's (T_h, T_w, Cin, N), in ``dtype``."""
    return np.ascontiguousarray(
        x[:, phase.rows.taps][:, :, phase.cols.taps].transpose(1, 2, 3, 0), dtype=dtype)
