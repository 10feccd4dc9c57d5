"""One way to time a call, for every place deconv measures itself."""
import time


def timings(call, repeats, warmup=True):
    """Seconds taken by each of ``repeats`` calls of ``call()``, after one
    untimed warm-up call (caches, plans, thread start) unless ``warmup`` is False."""
    if warmup:
        call()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds
