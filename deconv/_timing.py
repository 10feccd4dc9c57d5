"""One way to time a call, for every place deconv measures itself."""
import gc
import time


def timings(call, repeats, warmup=True):
    """Seconds taken by each of ``repeats`` calls of ``call()``, after one
    untimed warm-up call (caches, plans, thread start) unless ``warmup`` is False.

    Like :mod:`timeit`, the garbage collector is paused while timing, so that a
    collection of unrelated objects is not charged to whichever call it hits."""
    if warmup:
        call()
    collecting = gc.isenabled()
    gc.disable()
    try:
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - start)
    finally:
        if collecting:
            gc.enable()
    return seconds
