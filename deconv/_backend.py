"""What a backend is: the protocol every registered backend follows.

A backend's life for one problem has three steps, as in XNNPACK's operators:
:meth:`Backend.plan` decides everything shapes decide (once per problem; the
operators keep the plan), :meth:`Backend.pack` rearranges a kernel the way
the plan's code path reads it (once per operator and packing), and
:meth:`Backend.run` computes. Estimating a cost (:meth:`Backend.estimate_seconds`)
reads a plan's work counts; it never plans as a side effect of its own.
"""
from typing import NamedTuple


class BackendPlan(NamedTuple):
    """What a backend decided for one problem.

    Attributes
    ----------
    variant : str
        The code path that will run (e.g. ``"wide"`` or ``"narrow"`` for the
        direct backend).
    packing : hashable or None
        Which packed form of the kernel the path reads (None: the kernel as
        it is). Operators pack once per packing and keep the result.
    tables : object
        Whatever the backend precomputed for the path (tap tables, FFT plans).
    num_threads : int
        Threads the path will use.
    work : object
        The counts the path's cost estimate is made from (see ``deconv._cost``).
    """
    variant: str
    packing: object = None
    tables: object = None
    num_threads: int = 1
    work: object = None


class Backend:
    """Base class for deconv backends.

    A backend is an object with a ``name`` and a :meth:`run` method that fills
    an output array. The other methods have defaults: override
    :meth:`unsupported_reason` (which calls it refuses), :meth:`estimate_seconds`
    (so that ``"auto"`` can consider it), :meth:`plan` and :meth:`pack` (work
    done once per shape, and once per kernel). Set ``requires_finite`` if it
    must not see NaN or inf: ``"auto"`` then passes over it for such inputs
    and a forced call raises.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> class Zeros(deconv.Backend):
    ...     name = "zeros"
    ...     def run(self, problem, plan, x, kernel, packed, y):
    ...         y[...] = 0
    >>> deconv.register_backend(Zeros())
    >>> deconv.conv2d_transpose(np.ones((1, 2, 2, 1)), np.ones((1, 1, 1, 1)),
    ...                         backend="zeros").sum()
    np.float64(0.0)
    >>> deconv.unregister_backend("zeros")
    """

    name = None
    description = ""
    requires_finite = False
    # Whether run() and pack() take a kernel of any strides (a transposed
    # view); if not, they are given a C-contiguous copy.
    strided_kernels = False

    def unsupported_reason(self, problem):
        """Why this backend cannot compute ``problem`` (shapes and dtypes only),
        or None if it can."""
        return None

    def estimate_seconds(self, problem, num_threads):
        """Expected run time, or None to stay out of ``"auto"``'s choice."""
        return None

    def minimum_seconds(self, problem, num_threads):
        """A quick lower bound on :meth:`estimate_seconds` (its fixed costs,
        say): ``"auto"`` skips the full estimate of a backend whose bound is
        already above the best estimate in hand. 0 by default."""
        return 0.0

    def plan(self, problem, num_threads):
        """The :class:`BackendPlan` for ``problem``: one variant, nothing precomputed."""
        return BackendPlan("default", num_threads=num_threads)

    def pack(self, problem, plan, kernel):
        """The kernel in the form ``plan.packing`` names (called only when it
        is not None); an operator keeps the result for all its calls."""
        return None

    def run(self, problem, plan, x, kernel, packed, y):
        """Fill ``y`` with the result of ``problem``.

        Parameters
        ----------
        problem : ConvTransposeProblem
        plan : BackendPlan
            What :meth:`plan` returned for ``problem``.
        x : ndarray
            (N, h, w, Cin) in ``problem.dtype``, any strides.
        kernel : ndarray
            (kh, kw, Cout, Cin) in ``problem.dtype``: C-contiguous, or any
            strides if the backend sets ``strided_kernels``.
        packed : object or None
            What :meth:`pack` returned for this kernel, or None if the caller
            did not pack it (a one-off call): then pack as needed here.
        y : ndarray
            (N, H, W, Cout) in ``problem.dtype``, any strides, uninitialized:
            every element must be written.
        """
        raise NotImplementedError(f"backend {self.name!r} does not implement run()")


def plan_of(backend, problem, num_threads):
    """``backend.plan(problem, num_threads)``, or the one-variant default for
    registered objects without the method (only ``name`` and ``run`` are
    required)."""
    hook = getattr(backend, "plan", None)
    return BackendPlan("default", num_threads=num_threads) if hook is None else \
        hook(problem, num_threads)
