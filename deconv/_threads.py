"""What ``num_threads`` means, defined once for every backend.

``None`` means OMP_NUM_THREADS when it is set to a positive integer, else every
core this process may run on; an explicit value must be an int >= 1. Like the
OpenMP runtime itself, deconv reads OMP_NUM_THREADS and the CPU affinity once,
when it first needs them (again in a forked child, and after
:func:`deconv.clear_caches`).
"""
import numbers
import os

import numpy as np

from ._caches import on_clear

# What num_threads=None stands for, once read.
default = None


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


@on_clear
def _forget_default():
    global default
    default = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default)


def resolve_num_threads(num_threads):
    """Turn the ``num_threads`` argument into a positive thread count.

    Raises
    ------
    TypeError
        If ``num_threads`` is not None or an integer.
    ValueError
        If it is an integer below 1.
    """
    if num_threads is None:
        return default or default_num_threads()
    if type(num_threads) is int and num_threads >= 1:
        return num_threads
    if isinstance(num_threads, (bool, np.bool_)) or not isinstance(
            num_threads, (numbers.Integral, np.integer)):
        raise TypeError(f"num_threads must be None or an int >= 1; got {num_threads!r} "
                        f"({type(num_threads).__name__})")
    if num_threads < 1:
        raise ValueError(f"num_threads must be None or an int >= 1; got {num_threads}")
    return int(num_threads)
