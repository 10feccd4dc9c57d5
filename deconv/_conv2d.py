"""``conv2d``, the exact adjoint of the transposed convolution: its plans,
its execution and its operator, :class:`Conv2D`. The phases it is computed
with are ``_adjoint``'s."""
import numpy as np

from ._adjoint import (AdjointPlan, AdjointPlanner, adjoint_kernel, channels_last_copy,
                       run_adjoint)
from ._arguments import as_array, check_float_dtype, check_rank
from ._operator import Conv2DTranspose, KernelOperator, checked_out, kernel_for_backend
from ._problem import make_adjoint_problem, window_problem


def conv2d_plan(planner, y, kernel_shape, kernel_dtype):
    """The :class:`deconv._adjoint.AdjointPlan` of ``conv2d`` of y (an array,
    or anything with ``shape`` and ``dtype``) with a kernel of this shape and
    dtype, made once and kept by ``planner``."""
    check_rank(y.shape, "y")
    y_dtype = np.dtype(y.dtype)
    check_float_dtype(y_dtype, "y")
    arguments = planner.arguments

    def make(threads):
        problem = make_adjoint_problem(tuple(y.shape), y_dtype, kernel_shape, kernel_dtype,
                                       arguments.strides, arguments.dilation_rate,
                                       arguments.padding, arguments.data_format)
        batch, height, width, channels = problem.input_shape
        runs = planner.runs(problem.rows, problem.cols, batch, kernel_shape[2], channels,
                            problem.dtype, threads)
        shape = (batch, channels, height, width) if arguments.data_format == \
            "channels_first" else problem.input_shape
        return AdjointPlan(problem, runs, shape, threads)
    return planner.kept(("conv2d", y.shape, y_dtype, kernel_shape, kernel_dtype), make)


def execute_conv2d(plan, y, kernel_finite, kernel_for, packed_for, out, inputs):
    """Run a ``conv2d`` plan on y (caller's layout) into ``out`` or a new
    array; ``kernel_for`` and ``packed_for`` as for
    :func:`deconv._adjoint.run_adjoint`; ``inputs`` (y, and the caller's
    kernel if it has one) must not overlap ``out``."""
    problem = plan.problem
    result = np.empty(plan.output_shape, plan.result_dtype) if out is None else \
        checked_out(out, plan, inputs, names=("y", "kernel"))
    computed = np.empty(plan.output_shape, problem.dtype) if plan.casts else result
    if plan.channels_first:
        # Written through a transposed view, as the transposed convolution
        # writes its own; y is read in channels-last order (a copy: the
        # gather reads each y value once per tap, a line per value through
        # the view).
        y, target = y.transpose(0, 2, 3, 1), computed.transpose(0, 2, 3, 1)
        y = channels_last_copy(y, problem.dtype, plan.threads)
    else:
        target = computed
    run_adjoint(plan, y, kernel_finite, kernel_for, packed_for, target)
    if plan.casts:
        with np.errstate(over="ignore"):  # float16 overflows to inf, like TensorFlow
            np.copyto(result, computed, casting="same_kind")
    return result


class Conv2D(KernelOperator):
    """A convolution with a fixed kernel, the exact adjoint of
    :class:`Conv2DTranspose` with the same kernel and geometry: plan once,
    run many times.

    The operator form of :func:`conv2d`. It keeps a read-only copy of the
    kernel, its phases' kernels (reversed and transposed, see the page
    *Gradients and adjoints*), packed once for each code path that needs
    them, and a plan per input shape.

    Parameters
    ----------
    kernel : array_like
        (kh, kw, Cout, Cin): the kernel of the transposed convolution this
        is the adjoint of, read as conv2d's (kh, kw, in, out). Copied.
    strides, padding, data_format, dilation_rate
        As for :func:`conv2d`; ``data_format=None`` is
        :func:`image_data_format` at construction.
    backend : str, optional
        A backend name or ``"auto"``; None (the default) means
        :func:`current_backend` at each call.
    num_threads : int, optional
        None (the default) means OMP_NUM_THREADS if set, else every usable
        core, at each call.

    See Also
    --------
    conv2d : the same computation as a function.
    Conv2DTranspose.adjoint : this operator, from its transposed convolution.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> rng = np.random.default_rng(0)
    >>> kernel = rng.standard_normal((4, 4, 32, 64))
    >>> down = deconv.Conv2D(kernel, strides=2, padding="same")
    >>> y = rng.standard_normal((8, 16, 16, 32))
    >>> down(y).shape
    (8, 8, 8, 64)

    It is the adjoint of the transposed convolution with the same arguments:

    >>> up = deconv.Conv2DTranspose(kernel, strides=2, padding="same")
    >>> x = rng.standard_normal((8, 8, 8, 64))
    >>> bool(np.isclose(np.vdot(down(y), x), np.vdot(y, up(x))))
    True
    """

    def _prepare(self):
        self._planner = AdjointPlanner(self._arguments)
        self._run_kernels = {}  # run key (see _run_key) -> kernel of the run

    def __call__(self, y, *, out=None):
        """Compute the convolution of ``y``.

        Parameters
        ----------
        y : array_like
            (N, H, W, Cout) or (N, Cout, H, W) as ``data_format`` says.
        out : ndarray, optional
            Where to write the result: C-contiguous, of the result's shape (in
            the caller's layout) and dtype, not overlapping y.

        Returns
        -------
        ndarray
            ``out``, or a new C-contiguous array (N, h, w, Cin) or
            (N, Cin, h, w).
        """
        if type(y) is not np.ndarray:
            y = as_array(y, "y")
        plan = conv2d_plan(self._planner, y, self._kernel.shape, self._kernel.dtype)
        return execute_conv2d(plan, y, self._kernel_finite,
                              lambda key: self._run_kernel(plan, key),
                              lambda key, call: self._packed_for(plan, key, call), out, (y,))

    def _run_window(self, y, problem, rows, cols, threads, pins=None):
        """Output windows ``rows`` and ``cols`` (``Axis.adjoint_window``) of
        conv2d for ``problem`` (the transposed convolution it is the adjoint
        of), from y holding exactly the input they read (caller's layout), on
        ``threads``; ``pins`` as for ``AdjointPlanner.runs``. What
        ``deconv.dask`` runs for each output chunk."""
        planner = self._planner
        window = window_problem(problem, y.shape[0], rows, cols)

        def make(threads):
            batch, height, width, channels = window.input_shape
            runs = planner.runs(window.rows, window.cols, batch, window.output_shape[3],
                                channels, window.dtype, threads, pins)
            shape = (batch, channels, height, width) if window.data_format == \
                "channels_first" else window.input_shape
            return AdjointPlan(window, runs, shape, threads)
        plan = planner.kept(("window", window, pins), make, threads)
        return execute_conv2d(plan, y, self._kernel_finite,
                              lambda key: self._run_kernel(plan, key),
                              lambda key, call: self._packed_for(plan, key, call), None, (y,))

    def plan_for(self, y):
        """The :class:`deconv._adjoint.AdjointPlan` a call with y (an array,
        or anything with ``shape`` and ``dtype``) takes."""
        if not hasattr(y, "shape") or not hasattr(y, "dtype"):
            y = as_array(y, "y")
        return conv2d_plan(self._planner, y, self._kernel.shape, self._kernel.dtype)

    def _run_key(self, plan, key, dtype):
        """What a run's kernel depends on: the stacked layout, or a phase's
        taps; and the dtype."""
        if key == "gather":
            return ("gather", dtype)
        if key == "stacked":
            stacked = plan.stacked
            return ("stacked", stacked.rows, stacked.cols, stacked.spacings, dtype)
        phase = plan.phases[key]
        return (tuple(phase.rows.taps.tolist()), tuple(phase.cols.taps.tolist()), dtype)

    def _run_kernel(self, plan, key):
        dtype = plan.problem.dtype
        run_key = self._run_key(plan, key, dtype)
        kernel = self._run_kernels.get(run_key)
        if kernel is None:
            kernel = adjoint_kernel(self._kernel, plan, key, dtype)
            kernel.flags.writeable = False
            self._run_kernels[run_key] = kernel
        return kernel

    def _packed_for(self, plan, key, call):
        packing = call.backend_plan.packing
        if packing is None:
            return None
        packed_key = (self._run_key(plan, key, call.problem.dtype), call.backend, packing)
        with self._lock:
            packed = self._packed.get(packed_key)
            if packed is None:
                packed = call.backend_object.pack(
                    call.problem, call.backend_plan,
                    kernel_for_backend(call.backend_object, self._run_kernel(plan, key)))
                self._packed[packed_key] = packed
        return packed

    @property
    def adjoint(self):
        """The :class:`Conv2DTranspose` of the same kernel and geometry (the
        adjoint of this operator), sharing its kernel."""
        if self._adjoint is None:
            self._adjoint = Conv2DTranspose._sharing(self._kernel, self._arguments)
        return self._adjoint

    def kernel_gradient(self, g, y):
        """The gradient with respect to the kernel of ``<g, self(y)>``:
        :func:`conv2d_transpose_kernel_gradient` of (g, y), shape (kh, kw,
        Cout, Cin)."""
        from ._api import conv2d_transpose_kernel_gradient
        arguments = self._arguments
        return conv2d_transpose_kernel_gradient(
            g, y, self._kernel.shape[:2], arguments.strides, arguments.padding,
            arguments.data_format, arguments.dilation_rate, backend=arguments.backend,
            num_threads=arguments.num_threads)
