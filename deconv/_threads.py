"""What ``num_threads`` means, defined once for every backend.

``None`` means OMP_NUM_THREADS when it is set to a positive integer, else every
core this process may run on; an explicit value must be an int >= 1. Like the
OpenMP runtime itself, deconv reads OMP_NUM_THREADS and the CPU affinity once,
when it first needs them (again in a forked child, and after
:func:`deconv.clear_caches`).

Either way a call uses at most the usable cores: more threads would only
share them, and asking the OpenMP runtime for thousands can abort the
process when it cannot create them. A child process forked after deconv ran
a call on several threads runs on one thread: GNU OpenMP's thread team does
not survive ``fork`` (the child would wait forever for threads that only
exist in the parent), and a fresh team cannot be had in the same process.
"""
import numbers
import os

import numpy as np

from ._caches import on_clear

# What num_threads=None stands for, once read.
default = None
# Most threads a call may use, once read (see the module docstring).
limit = None
# Whether this process has run a call on several OpenMP threads, and whether
# it is a child forked after its parent had.
team_started = False
_forked_after_team = False


def usable_cores():
    """Cores this process may run on (its CPU affinity, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _omp_num_threads():
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        threads = int(value)
    except ValueError:
        return None
    return threads if threads >= 1 else None


def default_num_threads():
    """What ``num_threads=None`` stands for (read once; see the module docstring)."""
    global default
    if default is None:
        default = _omp_num_threads() or usable_cores()
    return default


def thread_limit():
    """Most threads a call may use (read once; see the module docstring)."""
    global limit
    if limit is None:
        limit = 1 if _forked_after_team else usable_cores()
    return limit


def threads_for(num_threads):
    """The threads a call runs on: ``num_threads`` (a validated int, or None
    for the default), at most :func:`thread_limit`."""
    return min(num_threads or default or default_num_threads(), limit or thread_limit())


@on_clear
def _forget_environment():
    global default, limit
    default = limit = None


def _after_fork_in_child():
    global _forked_after_team
    _forked_after_team = _forked_after_team or team_started
    _forget_environment()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def resolve_num_threads(num_threads):
    """Turn the ``num_threads`` argument into the threads a call runs on: a
    positive count, at most :func:`thread_limit`.

    Raises
    ------
    TypeError
        If ``num_threads`` is not None or an integer.
    ValueError
        If it is an integer below 1.
    """
    return threads_for(requested_threads(num_threads))


def requested_threads(num_threads):
    """``num_threads`` validated: None, or an int >= 1 (not yet capped)."""
    if num_threads is None or (type(num_threads) is int and num_threads >= 1):
        return num_threads
    if isinstance(num_threads, (bool, np.bool_)) or not isinstance(
            num_threads, (numbers.Integral, np.integer)):
        raise TypeError(f"num_threads must be None or an int >= 1; got {num_threads!r} "
                        f"({type(num_threads).__name__})")
    if num_threads < 1:
        raise ValueError(f"num_threads must be None or an int >= 1; got {num_threads}")
    return int(num_threads)
