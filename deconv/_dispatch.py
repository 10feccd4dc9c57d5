"""The ``"auto"`` dispatcher: correctness guards first, then the cost model.

For one validated call it asks every registered backend how long it expects
to take (``estimate_seconds``) and whether it can compute the call
(``unsupported_reason``), and takes the fastest usable one. With
``measure=True`` it times the usable candidates on the call itself instead,
like :func:`scipy.signal.choose_conv_method`.
"""
import threading
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
    """The hot path of ``backend="auto"``: the backend with the lowest estimate
    among those that accept the call. Guards (some scan the data, like the
    FFT's NaN check) are asked in order of estimate, so only as many run as
    needed; ``estimate_seconds`` must therefore not fail on an unusable call.
    The ranking depends only on the call's shapes, so it is cached."""
    backends = registered_backends()
    key = (problem.rows, problem.cols, problem.x.shape, problem.kernel.shape,
           problem.x.dtype.str, num_threads, id(_cost.current_profile()),
           registry_generation())
    for name in _ranking(key, problem, num_threads):
        if backends[name].unsupported_reason(problem) is None:
            return name
    return choose(problem, num_threads).backend  # raises, explaining why


_RANKINGS_KEPT = 256
_rankings = {}
_rankings_lock = threading.Lock()


def _ranking(key, problem, num_threads):
    ranking = _rankings.get(key)
    if ranking is None:
        ranking = _ranking_of(problem, num_threads)
        with _rankings_lock:
            if len(_rankings) >= _RANKINGS_KEPT:
                _rankings.clear()
            _rankings[key] = ranking
    return ranking


def _ranking_of(problem, num_threads):
    ranked = []
    for name, backend in registered_backends().items():
        estimate = backend.estimate_seconds(problem, num_threads)
        if estimate is not None:
            ranked.append((float(estimate), name))
    return tuple(name for _, name in sorted(ranked))


def choose(problem, num_threads, measure=False, repeats=3):
    """Rank the registered backends for ``problem``; see :class:`BackendChoice`."""
    estimates, rejected = {}, {}
    for name, backend in registered_backends().items():
        reason = backend.unsupported_reason(problem)
        if reason is not None:
            rejected[name] = reason
            continue
        estimate = backend.estimate_seconds(problem, num_threads)
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
