"""What ``num_threads`` means, defined once for every backend.

``None`` means OMP_NUM_THREADS when it is set to a positive integer, else every
core this process may run on; an explicit value must be an int >= 1.
"""
import numbers
import os

import numpy as np

_cores = None


def usable_cores():
    """Cores this process may run on (its CPU affinity, where the OS has one);
    read once, and again in a forked child."""
    global _cores
    if _cores is None:
        try:
            _cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            _cores = os.cpu_count() or 1
    return _cores


def _forget_cores():
    global _cores
    _cores = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_cores)

_parsed_environment = {}


def _omp_num_threads():
    text = os.environ.get("OMP_NUM_THREADS")
    threads = _parsed_environment.get(text)
    if threads is None:
        try:
            threads = int((text or "").split(",")[0].strip())
        except ValueError:
            threads = 0
        if len(_parsed_environment) < 64:
            _parsed_environment[text] = threads
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
    if type(num_threads) is int and num_threads >= 1:
        return num_threads
    if isinstance(num_threads, (bool, np.bool_)) or not isinstance(
            num_threads, (numbers.Integral, np.integer)):
        raise TypeError(f"num_threads must be None or an int >= 1; got {num_threads!r} "
                        f"({type(num_threads).__name__})")
    if num_threads < 1:
        raise ValueError(f"num_threads must be None or an int >= 1; got {num_threads}")
    return int(num_threads)
