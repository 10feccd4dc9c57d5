"""Operators: a transposed convolution with a fixed kernel, planned once per
input shape and run many times.

The lifecycle is XNNPACK's: constructing :class:`Conv2DTranspose` validates
everything that does not depend on x and keeps a copy of the kernel; the first
call with an input shape plans it (validation against x, the backend "auto"
takes and why, the backend's own plan) and keeps the plan; the kernel is
packed once for each packed form a plan needs. A call whose plan is known
checks x's shape and dtype with one dictionary lookup and runs.
:func:`deconv.conv2d_transpose` is the same machinery without a kept kernel.
"""
import math
import threading

import numpy as np

from . import _caches, _registry, _simd, _threads
from ._arguments import (as_array, check_float_dtype, check_rank, integer_pair,
                         parse_data_format, parse_output_shape, parse_padding)
from ._backend import plan_of
from ._caches import BoundedDict
from ._dispatch import rank, rejection
from ._problem import check_kernel_shape, make_problem, window_problem
from ._registry import AUTO, check_backend_name, get_backend
from ._threads import requested_threads, threads_for
from ._workspace import aligned_empty

# Input shapes whose plans one operator keeps (a decoder sees a few; a
# fully convolutional net on images of every size, more).
PLANS_KEPT = 64


class CallPlan:
    """What an operator does for one input shape, and why.

    Attributes
    ----------
    problem : ConvTransposeProblem
        The validated call, channels-last.
    backend : str
        The backend that runs it.
    variant : str
        The backend's code path (the direct backend: ``"small"``, ``"wide"``
        or ``"narrow"``; ``"empty"`` when the output has no work).
    reason : str
        Why this backend.
    estimates : dict of str to float
        Estimated seconds per backend considered (empty for a forced backend).
    num_threads : int
        Threads the call runs on.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> op = deconv.Conv2DTranspose(np.ones((4, 4, 64, 32), np.float32), strides=2,
    ...                             padding="same", backend="direct")
    >>> plan = op.plan_for(np.ones((8, 16, 16, 32), np.float32))
    >>> plan.backend, plan.variant, plan.problem.output_shape
    ('direct', 'wide', (8, 32, 32, 64))
    """

    __slots__ = ("problem", "backend", "variant", "reason", "estimates", "num_threads",
                 "backend_object", "backend_plan", "stamp", "forced", "requires_finite",
                 "packed", "kernel", "output_shape", "result_dtype", "casts",
                 "channels_first", "streams", "threads", "_finite_fallback")

    def __init__(self, problem, backend_object, backend_plan, reason, estimates, forced,
                 threads):
        self.problem = problem
        self.backend = None if backend_object is None else backend_object.name
        self.variant = "empty" if backend_plan is None else backend_plan.variant
        self.reason = reason
        self.estimates = estimates
        self.num_threads = 1 if backend_plan is None else backend_plan.num_threads
        self.backend_object = backend_object
        self.backend_plan = backend_plan
        self.stamp = _caches.generation
        self.forced = forced
        self.requires_finite = bool(getattr(backend_object, "requires_finite", False))
        # An operator's kernel in the plan's dtype, and packed for it, once
        # it has them.
        self.kernel = self.packed = None
        # What each call needs at hand: the caller's output shape and dtype,
        # whether it is computed in another dtype (float16), the layout.
        self.output_shape = problem.caller_output_shape
        self.result_dtype = problem.result_dtype
        self.casts = problem.result_dtype != problem.dtype
        self.channels_first = problem.data_format == "channels_first"
        # Whether the kernels write the output past the caches (_new_output).
        self.streams = _simd.streams(math.prod(problem.output_shape) * problem.dtype.itemsize)
        # The thread count planned for (the backend may use fewer).
        self.threads = threads
        self._finite_fallback = None

    def __repr__(self):
        return (f"CallPlan(input {self.problem.input_shape} -> output "
                f"{self.problem.output_shape} (NHWC), backend={self.backend!r}, "
                f"variant={self.variant!r}, num_threads={self.num_threads}, "
                f"reason={self.reason!r})")


class StaticArguments:
    """The arguments of a call that do not depend on x, parsed once."""

    __slots__ = ("strides", "dilation_rate", "padding", "data_format", "backend",
                 "num_threads", "threads")

    def __init__(self, strides, padding, data_format, dilation_rate, backend, num_threads):
        self.data_format = parse_data_format(data_format)
        self.padding = parse_padding(padding)
        self.strides = integer_pair(strides, "strides")
        self.dilation_rate = integer_pair(dilation_rate, "dilation_rate")
        self.backend = None if backend is None else check_backend_name(backend)
        self.num_threads = num_threads
        # The count asked for, validated (None: the default at each call).
        self.threads = requested_threads(num_threads)


class Planner:
    """Plans for one kernel shape and dtype under fixed static arguments,
    kept per input shape: what operators and the function share."""

    def __init__(self, kernel_shape, kernel_dtype, arguments):
        check_kernel_shape(kernel_shape)
        self.kernel_shape = tuple(kernel_shape)
        self.kernel_dtype = kernel_dtype
        self.arguments = arguments
        self.plans = BoundedDict(PLANS_KEPT)

    def call_plan(self, x, output_shape):
        """The :class:`CallPlan` for x (an array of the input's shape and
        dtype, or anything with ``shape`` and ``dtype``) and ``output_shape``,
        made once and kept."""
        backend = self.current_backend()
        threads = threads_for(self.arguments.threads)
        shape_key = None if output_shape is None else _shape_key(output_shape)
        key = None if shape_key is _UNCACHED else (x.shape, x.dtype, shape_key, backend, threads)
        plan = None if key is None else self.plans.get(key)
        if plan is None or plan.stamp != _caches.generation:
            plan = self.plan_problem(self.problem(x, output_shape), backend, threads)
            if key is not None:
                self.plans.put(key, plan)
        return plan

    def problem(self, x, output_shape, check_memory=True):
        """The validated problem of x (an array, or anything with ``shape``
        and ``dtype``) and ``output_shape``; ``check_memory`` False for a
        result that is never held whole (see ``make_problem``)."""
        arguments = self.arguments
        check_rank(x.shape, "x")
        check_float_dtype(np.dtype(x.dtype), "x")
        return make_problem(tuple(x.shape), np.dtype(x.dtype), self.kernel_shape,
                            self.kernel_dtype, parse_output_shape(output_shape),
                            arguments.strides, arguments.dilation_rate, arguments.padding,
                            arguments.data_format, check_memory)

    def window_plan(self, problem, batch, rows, cols, threads, pinned=None):
        """The :class:`CallPlan` of ``batch`` images of ``problem`` on the
        output windows ``rows`` and ``cols`` (see ``Axis.window``), made once
        and kept; ``pinned`` as for :meth:`plan_problem`."""
        return self.kept_plan(window_problem(problem, batch, rows, cols), threads, pinned)

    def kept_plan(self, problem, threads, pinned=None):
        """The :class:`CallPlan` of a problem built by the caller (a piece of
        a tiled call, a phase of an adjoint) on the current backend, made
        once and kept."""
        backend = self.current_backend()
        key = (problem, backend, threads, pinned)
        plan = self.plans.get(key)
        if plan is None or plan.stamp != _caches.generation:
            plan = self.plan_problem(problem, backend, threads, pinned)
            self.plans.put(key, plan)
        return plan

    def current_backend(self):
        return backend_in_force(self.arguments)

    def plan_problem(self, problem, backend, threads, pinned=None):
        """The :class:`CallPlan` of ``problem`` on ``backend`` (a name, or
        "auto") with ``threads``. ``pinned``, a (backend name, variant) pair,
        makes that backend run that variant (where it offers
        ``plan_variant``): the pieces of a tiled call then add up in the same
        order as the whole call."""
        forced = backend != AUTO
        if forced:
            chosen = get_backend(backend)
            _raise_if_refused(chosen, problem)
            reason = (f"backend {backend!r} requested" if self.arguments.backend else
                      f"backend {backend!r} is the current default (deconv.set_backend)")
            estimates = {}
        elif problem.is_empty:
            return CallPlan(problem, None, None, "the output has no work: it is all zeros",
                            {}, False, threads)
        else:
            choice = rank(problem, threads, prune=True)
            chosen, reason, estimates = get_backend(choice.backend), choice.reason, \
                choice.estimates
        if problem.is_empty:
            return CallPlan(problem, chosen, None, reason + "; the output has no work: it "
                            "is all zeros", estimates, forced, threads)
        return CallPlan(problem, chosen, _backend_plan(chosen, problem, threads, pinned),
                        reason, estimates, forced, threads)

    def finite_fallback(self, plan):
        """The plan "auto" takes instead of ``plan`` when the data hold NaN or inf."""
        if plan._finite_fallback is None:
            problem, threads = plan.problem, plan.threads
            choice = rank(problem, threads, finite=False)
            chosen = get_backend(choice.backend)
            plan._finite_fallback = CallPlan(problem, chosen, plan_of(chosen, problem, threads),
                                             choice.reason, choice.estimates, False, threads)
        return plan._finite_fallback


def backend_in_force(arguments):
    """The backend name a call with these :class:`StaticArguments` takes
    now: theirs, else the default (:func:`deconv.set_backend`)."""
    return arguments.backend or _registry._scoped_default.get() or _registry._global_default


def _backend_plan(backend, problem, threads, pinned):
    if pinned is not None and pinned[0] == backend.name and hasattr(backend, "plan_variant"):
        return backend.plan_variant(problem, threads, pinned[1])
    return plan_of(backend, problem, threads)


def _raise_if_refused(backend, problem, finite=True):
    reason = rejection(backend, problem, finite)
    if reason is not None:
        raise ValueError(f"backend {backend.name!r} cannot compute this call: {reason}")


def checked_out(out, plan, inputs, names=("x", "kernel")):
    """``out`` if it can receive the result of ``plan``: an ndarray of the
    output's shape (caller's layout) and dtype, C-contiguous, writeable and
    sharing no memory with the ``inputs`` (a tuple of arrays, ``names``)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out.shape != plan.output_shape:
        raise ValueError(f"out has shape {out.shape} but the output of this call has shape "
                         f"{plan.output_shape} ({plan.problem.data_format})")
    if out.dtype is not plan.result_dtype and out.dtype != plan.result_dtype:
        raise TypeError(f"out has dtype {out.dtype} but the result of this call has dtype "
                        f"{plan.result_dtype}")
    flags = out.flags
    if not flags.c_contiguous:
        raise ValueError("out must be C-contiguous (e.g. from numpy.empty); got an array with "
                         f"strides {out.strides}")
    if not flags.writeable:
        raise ValueError("out is read-only")
    for name, array in zip(names, inputs):
        if np.may_share_memory(out, array):
            raise ValueError(f"out shares memory with {name}; pass a separate array")
    return out


def execute(planner, plan, x, kernel, packed_for, kernel_finite, out, inputs):
    """Run ``plan`` on x (caller's layout) and the kernel (compute dtype,
    C-contiguous) into ``out`` or a new array; ``packed_for(plan)`` gives the
    packed kernel or None, ``kernel_finite()`` whether the kernel is finite
    (None: the kernel is checked as x is, when the plan needs it);
    ``inputs`` (x, and the caller's kernel if it has one) must not overlap
    ``out``."""
    plan = finite_plan(planner, plan, (x,) if kernel_finite else (x, kernel), kernel_finite)
    problem = plan.problem
    if x.dtype is not problem.dtype or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=problem.dtype)
    if out is None:
        result = _new_output(plan.output_shape, plan.result_dtype, plan.streams)
    elif (type(out) is np.ndarray and out.shape == plan.output_shape
          and out.dtype is plan.result_dtype and (flags := out.flags).c_contiguous
          and flags.writeable and _simd.core is not None
          and not _simd.core.may_share_memory(out, inputs)):
        result = out  # the common case of checked_out, checked quickly
    else:
        result = checked_out(out, plan, inputs)
    # float16 is computed in float32 and rounded at the end.
    y = _new_output(plan.output_shape, problem.dtype, plan.streams) if plan.casts else result
    if plan.channels_first:
        run_plan(plan, x.transpose(0, 2, 3, 1), kernel, packed_for, y.transpose(0, 2, 3, 1))
    else:
        run_plan(plan, x, kernel, packed_for, y)
    if plan.casts:
        with np.errstate(over="ignore"):  # float16 overflows to inf, like TensorFlow
            np.copyto(result, y, casting="same_kind")
    return result


def _new_output(shape, dtype, streams):
    """A new array for the kernels to write: starting on a cache line when
    they write it past the caches (``CallPlan.streams``, see
    deconv._simd.streams), which they do only from one."""
    return aligned_empty(shape, dtype) if streams else np.empty(shape, dtype)


def run_plan(plan, x, kernel, packed_for, y):
    """Fill y (channels-last, compute dtype) with ``plan`` run on x and the
    kernel (channels-last, compute dtype); non-finite data already checked."""
    if plan.num_threads > 1:
        _threads.team_started = True
    if plan.backend_plan is None:
        y.fill(0)
        return
    backend = plan.backend_object
    backend.run(plan.problem, plan.backend_plan, x, kernel_for_backend(backend, kernel),
                packed_for(plan), y)


def kernel_for_backend(backend, kernel):
    """``kernel``, or a C-contiguous copy for a backend that does not take
    strided kernels (``Backend.strided_kernels``)."""
    if getattr(backend, "strided_kernels", False) or kernel.flags.c_contiguous:
        return kernel
    return np.ascontiguousarray(kernel)


def finite_plan(planner, plan, arrays, kernel_finite=None):
    """``plan``, or the plan "auto" takes instead when ``arrays`` or the
    kernel (``kernel_finite()``, if it is not among them) hold NaN or inf; a
    forced backend that must not see them raises."""
    if plan.requires_finite and not (_arrays_finite(arrays, plan.num_threads)
                                     and (kernel_finite is None or kernel_finite())):
        if plan.forced:
            _raise_if_refused(plan.backend_object, plan.problem, finite=False)
        return planner.finite_fallback(plan)
    return plan


def _arrays_finite(arrays, num_threads):
    # A loop, not all() of a generator: a small call's time counts it.
    for array in arrays:
        if not _simd.all_finite(array, num_threads):
            return False
    return True


class KernelOperator:
    """What the operators share: construction (everything that does not
    depend on the arrays validated, a read-only copy of the kernel), the
    static arguments as properties, whether the kernel is finite, pickling.
    A subclass sets up its planner and caches in ``_prepare``."""

    def __init__(self, kernel, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), *, backend=None, num_threads=None):
        data_format = parse_data_format(data_format)
        padding = parse_padding(padding)
        kernel = as_array(kernel, "kernel")
        check_float_dtype(kernel.dtype, "kernel")
        arguments = StaticArguments(strides, padding, data_format, dilation_rate, backend,
                                    num_threads)
        check_kernel_shape(kernel.shape)
        kernel = np.array(kernel, dtype=kernel.dtype.newbyteorder("="), order="C", copy=True)
        kernel.flags.writeable = False
        self._setup(kernel, arguments)

    @classmethod
    def _sharing(cls, kernel, arguments):
        """The operator of a read-only native kernel and parsed arguments,
        without a copy (an adjoint shares its operator's kernel)."""
        operator = cls.__new__(cls)
        operator._setup(kernel, arguments)
        return operator

    def _setup(self, kernel, arguments):
        self._kernel = kernel
        self._arguments = arguments
        self._packed = {}  # packed kernels, by what they were packed for
        self._finite = None
        self._adjoint = None
        self._lock = threading.Lock()
        self._prepare()

    def _prepare(self):
        raise NotImplementedError

    def _kernel_finite(self):
        if self._finite is None:
            self._finite = _simd.all_finite(self._kernel)
        return self._finite

    @property
    def kernel(self):
        """The operator's kernel (kh, kw, Cout, Cin), read-only."""
        return self._kernel

    @property
    def strides(self):
        return self._arguments.strides

    @property
    def padding(self):
        return self._arguments.padding

    @property
    def data_format(self):
        return self._arguments.data_format

    @property
    def dilation_rate(self):
        return self._arguments.dilation_rate

    @property
    def backend(self):
        return self._arguments.backend

    @property
    def num_threads(self):
        return self._arguments.num_threads

    def __repr__(self):
        kernel = self._kernel
        return (f"{type(self).__name__}(kernel {kernel.shape} {kernel.dtype}, "
                f"strides={self.strides}, padding={self.padding!r}, "
                f"data_format={self.data_format!r}, dilation_rate={self.dilation_rate}, "
                f"backend={self.backend!r}, num_threads={self.num_threads!r})")

    def __reduce__(self):
        return (_rebuild, (type(self), self._kernel, self.strides, self.padding,
                           self.data_format, self.dilation_rate, self.backend,
                           self.num_threads))


def _rebuild(cls, kernel, strides, padding, data_format, dilation_rate, backend, num_threads):
    return cls(kernel, strides, padding, data_format, dilation_rate, backend=backend,
               num_threads=num_threads)


class Conv2DTranspose(KernelOperator):
    """A transposed convolution with a fixed kernel: plan once, run many times.

    The operator form of :func:`conv2d_transpose`, as Keras pairs its
    ``Conv2DTranspose`` layer with its backend function -- but it holds no
    trainable state: it keeps a read-only copy of the kernel, packed once for
    each code path that needs it, and a plan per input shape (the
    validation, the backend ``"auto"`` takes, the backend's tables). Calls
    with a shape seen before only check x and run.

    Parameters
    ----------
    kernel : array_like
        (kh, kw, Cout, Cin), float16, float32 or float64. Copied.
    strides, padding, data_format, dilation_rate
        As for :func:`conv2d_transpose`; ``data_format=None`` is
        :func:`image_data_format` at construction.
    backend : str, optional
        A backend name or ``"auto"``; None (the default) means
        :func:`current_backend` at each call.
    num_threads : int, optional
        None (the default) means OMP_NUM_THREADS if set, else every usable
        core, at each call.

    Raises
    ------
    ValueError, TypeError
        As :func:`conv2d_transpose` for the arguments given here.

    See Also
    --------
    conv2d_transpose : the same computation as a function.

    Notes
    -----
    Calls from several Python threads at once are safe. The operator pickles
    with its kernel and re-plans in the process that unpickles it, so it can
    be an argument of a Dask or multiprocessing task.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> rng = np.random.default_rng(0)
    >>> kernel = rng.standard_normal((4, 4, 32, 64), dtype=np.float32)
    >>> up = deconv.Conv2DTranspose(kernel, strides=2, padding="same")
    >>> x = rng.standard_normal((8, 4, 4, 64), dtype=np.float32)
    >>> y = up(x)
    >>> y.shape
    (8, 8, 8, 32)
    >>> bool(np.array_equal(y, deconv.conv2d_transpose(x, kernel, strides=2, padding="same")))
    True

    With a preallocated output, a call allocates nothing:

    >>> out = np.empty_like(y)
    >>> up(x, out=out) is out
    True
    """

    def _prepare(self):
        kernel = self._kernel
        self._planner = Planner(kernel.shape, kernel.dtype, self._arguments)
        self._kernels = {}  # compute dtype -> the kernel in it

    def __call__(self, x, output_shape=None, *, out=None):
        """Compute the transposed convolution of ``x``.

        Parameters
        ----------
        x : array_like
            (N, h, w, Cin) or (N, Cin, h, w) as ``data_format`` says; any
            batch and spatial size.
        output_shape : sequence of 4 ints, optional
            As for :func:`conv2d_transpose`.
        out : ndarray, optional
            Where to write the result: C-contiguous, of the output's shape (in
            the caller's layout) and dtype, not overlapping x.

        Returns
        -------
        ndarray
            ``out``, or a new C-contiguous array.
        """
        if type(x) is not np.ndarray:
            x = as_array(x, "x")
        plan = self._planner.call_plan(x, output_shape)
        kernel = plan.kernel
        if kernel is None:
            kernel = plan.kernel = self._kernel_in(plan.problem.dtype)
        return execute(self._planner, plan, x, kernel, self._packed_for, self._kernel_finite,
                       out, (x,))

    def _run_window(self, x, problem, rows, cols, threads, pinned=None):
        """Output windows ``rows`` and ``cols`` (``Axis.window``) of
        ``problem``, from x holding exactly the input they read (caller's
        layout), on ``threads``; ``pinned`` as for ``Planner.plan_problem``.
        What ``deconv.dask`` runs for each output chunk."""
        plan = self._planner.window_plan(problem, x.shape[0], rows, cols, threads, pinned)
        expected = plan.problem.input_shape
        if plan.channels_first:
            expected = (expected[0], expected[3], expected[1], expected[2])
        if x.shape != expected:
            raise ValueError(f"a window of input shape {expected} was expected; got {x.shape}")
        kernel = plan.kernel
        if kernel is None:
            kernel = plan.kernel = self._kernel_in(plan.problem.dtype)
        return execute(self._planner, plan, x, kernel, self._packed_for, self._kernel_finite,
                       None, (x,))

    def plan_for(self, x, output_shape=None):
        """The :class:`CallPlan` a call with x (an array, or anything with
        ``shape`` and ``dtype``) and ``output_shape`` takes: backend, variant
        and why."""
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            x = as_array(x, "x")
        return self._planner.call_plan(x, output_shape)

    def _kernel_in(self, dtype):
        kernel = self._kernels.get(dtype)
        if kernel is None:
            kernel = np.ascontiguousarray(self._kernel, dtype=dtype)
            kernel.flags.writeable = False
            self._kernels[dtype] = kernel
        return kernel

    def _packed_for(self, plan):
        packed = plan.packed
        if packed is not None:
            return packed
        packing = plan.backend_plan.packing
        if packing is None:
            return None
        key = (plan.backend, plan.problem.dtype, packing)
        with self._lock:
            packed = self._packed.get(key)
            if packed is None:
                packed = plan.backend_object.pack(plan.problem, plan.backend_plan,
                                                  self._kernel_in(plan.problem.dtype))
                self._packed[key] = packed
        plan.packed = packed
        return packed

    @property
    def adjoint(self):
        """The :class:`Conv2D` of the same kernel and geometry, this
        operator's exact adjoint (``op.adjoint(y)`` is :func:`conv2d` of y),
        sharing its kernel."""
        if self._adjoint is None:
            from ._conv2d import Conv2D
            self._adjoint = Conv2D._sharing(self._kernel, self._arguments)
        return self._adjoint

    def kernel_gradient(self, x, dy):
        """The gradient with respect to the kernel of ``<dy, self(x,
        dy.shape)>``: :func:`conv2d_transpose_kernel_gradient` of (x, dy),
        shape (kh, kw, Cout, Cin)."""
        from ._api import conv2d_transpose_kernel_gradient
        arguments = self._arguments
        return conv2d_transpose_kernel_gradient(
            x, dy, self._kernel.shape[:2], arguments.strides, arguments.padding,
            arguments.data_format, arguments.dilation_rate, backend=arguments.backend,
            num_threads=arguments.num_threads)


_UNCACHED = object()


def _shape_key(output_shape):
    """``output_shape`` as part of a plan-cache key, or ``_UNCACHED`` for
    forms that must be validated at every call (an entry of 8.0 or True
    compares equal to 8 or 1, so only exact ints are keyed)."""
    if output_shape is None:
        return None
    if type(output_shape) in (tuple, list):
        if len(output_shape) == 4 and all(type(entry) is int or entry is None
                                          for entry in output_shape):
            return tuple(output_shape)
        return _UNCACHED
    if isinstance(output_shape, np.ndarray) and output_shape.ndim == 1 \
            and output_shape.dtype.kind in "iu":
        return tuple(output_shape.tolist())
    return _UNCACHED
