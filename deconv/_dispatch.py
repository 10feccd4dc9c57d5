"""The ``"auto"`` dispatcher: correctness guards first, then the cost model.

For one problem it asks the registered backends whether they can compute it
(``unsupported_reason``, and ``requires_finite`` against non-finite data) and
how long they expect to take (``estimate_seconds``), and ranks the usable
ones. Ranking only estimates; planning is the chosen backend's next step.
A backend whose cheap lower bound (``minimum_seconds``) is already above the
best estimate in hand may be left unestimated, so a new shape costs one or
two estimates, not all of them. With measured timings instead of estimates it
chooses like :func:`scipy.signal.choose_conv_method` with ``measure=True``.
"""
from dataclasses import dataclass, field

from ._registry import registered_backends
from ._timing import timings

NON_FINITE_REASON = ("x or kernel holds NaN or inf, which this backend would spread "
                     "beyond the outputs they reach")


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
    ['direct', 'fft', 'reference', 'winograd']
    """

    backend: str
    reason: str
    estimates: dict = field(default_factory=dict)
    rejected: dict = field(default_factory=dict)
    measured: dict = None


def _format_seconds(seconds):
    return f"{seconds * 1e3:.3g} ms"


def rejection(backend, problem, finite=True):
    """Why ``backend`` cannot compute ``problem`` (with data that is ``finite``
    or not), or None."""
    if not finite and getattr(backend, "requires_finite", False):
        return NON_FINITE_REASON
    hook = getattr(backend, "unsupported_reason", None)
    return None if hook is None else hook(problem)


def rank(problem, num_threads, *, finite=True, prune=False):
    """The :class:`BackendChoice` of the estimates: every usable backend's, or
    with ``prune`` only those whose lower bound is below the best estimate."""
    backends = registered_backends()
    order = list(backends.items())
    if prune:
        bounds = {name: float(getattr(backend, "minimum_seconds", lambda *a: 0.0)(
            problem, num_threads)) for name, backend in order}
        order.sort(key=lambda item: bounds[item[0]])
    estimates, rejected, best_seconds = {}, {}, float("inf")
    for name, backend in order:
        if prune and bounds[name] >= best_seconds:
            break
        reason = rejection(backend, problem, finite)
        if reason is not None:
            rejected[name] = reason
            continue
        hook = getattr(backend, "estimate_seconds", None)
        estimate = None if hook is None else hook(problem, num_threads)
        if estimate is not None:
            estimates[name] = float(estimate)
            best_seconds = min(best_seconds, estimates[name])
    if not estimates:
        raise ValueError("no registered backend with a cost model can compute this call: "
                         + "; ".join(f"{name}: {why}" for name, why in rejected.items()))
    best = min(estimates, key=estimates.get)
    others = ", ".join(f"{name} {_format_seconds(t)}" for name, t in estimates.items()
                       if name != best)
    reason = f"{best} has the lowest estimated time, {_format_seconds(estimates[best])}"
    if others:
        reason += f" (vs {others})"
    if rejected:
        reason += "; not usable: " + "; ".join(f"{n}: {why}" for n, why in rejected.items())
    return BackendChoice(best, reason, estimates, rejected)


def measured_choice(choice, run, repeats=3):
    """``choice`` remade from timings: ``run(name)`` computes the call with
    each estimated backend (once to warm up, then best of ``repeats``)."""
    measured = {name: min(timings(lambda: run(name), repeats)) for name in choice.estimates}
    best = min(measured, key=measured.get)
    others = ", ".join(f"{name} {_format_seconds(t)}" for name, t in measured.items()
                       if name != best)
    reason = (f"{best} measured fastest at {_format_seconds(measured[best])}"
              + (f" ({others})" if others else ""))
    return BackendChoice(best, reason, choice.estimates, choice.rejected, measured)
