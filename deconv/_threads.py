"""What ``num_threads`` means, defined once for every backend.

``None`` means OMP_NUM_THREADS when it is set to a positive integer, else every
core this process may run on; an explicit value must be an int >= 1.
"""
import numbers
import os

import numpy as np


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
        return _omp_num_threads() or usable_cores()
    if isinstance(num_threads, (bool, np.bool_)) or not isinstance(
            num_threads, (numbers.Integral, np.integer)):
        raise TypeError(f"num_threads must be None or an int >= 1; got {num_threads!r} "
                        f"({type(num_threads).__name__})")
    if num_threads < 1:
        raise ValueError(f"num_threads must be None or an int >= 1; got {num_threads}")
    return int(num_threads)
