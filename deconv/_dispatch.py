"""The ``"auto"`` dispatcher: correctness guards first, then the cost model.

For one validated call it asks the registered backends how long they expect
to take (``estimate_seconds``; a backend whose cheap lower bound,
``minimum_seconds``, is already above the best estimate is not asked) and
whether they can compute the call (``unsupported_reason``), and takes the
fastest usable one. With ``measure=True`` it times the usable candidates on
the call itself instead, like :func:`scipy.signal.choose_conv_method`.
"""
from dataclasses import dataclass, field

import numpy as np

from . import _cost
from ._registry import registered_backends, registry_generation
from ._timing import timings


@dataclass(frozen=True)
class BackendChoice:
    """Which backend ``"auto"`` takes for a call, and why.

    Attributes
    ----------
    backend : str
        The chosen backend's name.
    reason : str
        One sentence explaining the choice.
    estimates : dict of str to float
        Estimated seconds for each usable backend that has a cost model.
    rejected : dict of str to str
        Backends that cannot compute the call, with the reason.
    measured : dict of str to float or None
        With ``measure=True``, the best measured seconds per candidate.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> choice = deconv.choose_backend(np.ones((1, 8, 8, 4)), np.ones((3, 3, 4, 4)))
    >>> choice.backend
    'direct'
    >>> sorted(choice.estimates)
    ['direct', 'fft', 'reference']
    """

    backend: str
    reason: str
    estimates: dict = field(default_factory=dict)
    rejected: dict = field(default_factory=dict)
    measured: dict = None


def _format_seconds(seconds):
    return f"{seconds * 1e3:.3g} ms"


def fastest_usable(problem, num_threads):
    """The hot path of ``backend="auto"``: the backend with the lowest estimate,
    if it accepts the call (its guard may scan the data, like the FFT's NaN
    check); otherwise the full ranking of :func:`choose`. Which backend has
    the lowest estimate depends only on the call's shapes, so it is cached."""
    backends = registered_backends()
    key = (problem.rows, problem.cols, problem.x.shape, problem.kernel.shape,
           problem.x.dtype.str, num_threads, id(_cost.current_profile()),
           registry_generation())
    best = _best.get(key)
    if best is None:
        best = _lowest_estimate(backends, problem, num_threads)
        if len(_best) >= _BEST_KEPT:  # a racing thread may lose an entry: harmless
            _best.clear()
        _best[key] = best
    if best in backends and unsupported_reason(backends[best], problem) is None:
        return best
    return choose(problem, num_threads).backend  # the next best, or raises why not


_BEST_KEPT = 256
_best = {}


def _lowest_estimate(backends, problem, num_threads):
    """Name of the backend with the lowest estimate (None if none has one).
    Backends are visited by their cheap lower bound, and a backend whose bound
    is not below the best estimate so far is not estimated at all: a new
    shape then costs one or two estimates, not all of them."""
    bounds = sorted([(_minimum_seconds(backend, problem, num_threads), position, name)
                     for position, (name, backend) in enumerate(backends.items())])
    best, best_seconds = None, float("inf")
    for bound, _, name in bounds:
        if bound >= best_seconds:
            break
        estimate = _estimate_seconds(backends[name], problem, num_threads)
        if estimate is not None and float(estimate) < best_seconds:
            best, best_seconds = name, float(estimate)
    return best


# Registered objects need only a name and __call__; the hooks of
# deconv.Backend are optional.
def unsupported_reason(backend, problem):
    hook = getattr(backend, "unsupported_reason", None)
    return None if hook is None else hook(problem)


def _estimate_seconds(backend, problem, num_threads):
    hook = getattr(backend, "estimate_seconds", None)
    return None if hook is None else hook(problem, num_threads)


def _minimum_seconds(backend, problem, num_threads):
    hook = getattr(backend, "minimum_seconds", None)
    return 0.0 if hook is None else float(hook(problem, num_threads))


def choose(problem, num_threads, measure=False, repeats=3):
    """Rank the registered backends for ``problem``; see :class:`BackendChoice`."""
    estimates, rejected = {}, {}
    for name, backend in registered_backends().items():
        reason = unsupported_reason(backend, problem)
        if reason is not None:
            rejected[name] = reason
            continue
        estimate = _estimate_seconds(backend, problem, num_threads)
        if estimate is not None:
            estimates[name] = float(estimate)
    if not estimates:
        raise ValueError("no registered backend with a cost model can compute this call: "
                         + "; ".join(f"{name}: {why}" for name, why in rejected.items()))
    if measure:
        backends = registered_backends()
        measured = {}
        for name in estimates:
            measured[name] = min(timings(lambda: backends[name](problem, num_threads), repeats))
        best = min(measured, key=measured.get)
        others = ", ".join(f"{name} {_format_seconds(t)}" for name, t in measured.items()
                           if name != best)
        reason = (f"{best} measured fastest at {_format_seconds(measured[best])}"
                  + (f" ({others})" if others else ""))
        return BackendChoice(best, reason, estimates, rejected, measured)
    best = min(estimates, key=estimates.get)
    others = ", ".join(f"{name} {_format_seconds(t)}" for name, t in estimates.items()
                       if name != best)
    reason = f"{best} has the lowest estimated time, {_format_seconds(estimates[best])}"
    if others:
        reason += f" (vs {others})"
    if rejected:
        reason += "; not usable: " + "; ".join(f"{n}: {why}" for n, why in rejected.items())
    return BackendChoice(best, reason, estimates, rejected)


def all_finite(problem):
    """Whether x and the kernel hold only finite values (NaN/inf guard)."""
    return bool(np.isfinite(problem.x).all() and np.isfinite(problem.kernel).all())
