"""Every cache deconv keeps: bounded, thread-safe, and emptied by one call.

Plans (tap tables, FFT plans, backend choices) depend only on shapes, so they
are computed once and kept; :func:`clear_caches` forgets all of them, for
tests and for long-running processes that want their memory back.
"""
import functools
import threading
import weakref

_cache_clears = []
_dicts = weakref.WeakSet()
# Bumped whenever what a plan was made under changes (the cost constants in
# force, the registered backends): a kept plan from an older generation is
# made again.
generation = 0


def invalidate_plans():
    """Make every kept plan stale (they are re-made at their next use)."""
    global generation
    generation += 1


def bounded_cache(maxsize):
    """``functools.lru_cache(maxsize)`` that :func:`clear_caches` empties."""
    def decorate(function):
        cached = functools.lru_cache(maxsize=maxsize)(function)
        _cache_clears.append(cached.cache_clear)
        return cached
    return decorate


class BoundedDict(dict):
    """A dict for hot paths: reading is a plain dict lookup, :meth:`put`
    drops the oldest entry when ``maxsize`` are held. Entries are only ever
    added whole, under a lock, so concurrent readers never see a partial one.

    Examples
    --------
    >>> from deconv._caches import BoundedDict
    >>> cache = BoundedDict(2)
    >>> for key in "abc":
    ...     _ = cache.put(key, key.upper())
    >>> cache.get("a"), cache.get("c"), len(cache)
    (None, 'C', 2)
    """

    def __init__(self, maxsize):
        super().__init__()
        self.maxsize = maxsize
        self._lock = threading.Lock()
        _dicts.add(self)

    def put(self, key, value):
        with self._lock:
            if key not in self and len(self) >= self.maxsize:
                del self[next(iter(self))]
            self[key] = value
        return value

    def clear(self):
        with self._lock:
            super().clear()

    __hash__ = object.__hash__  # kept in a WeakSet


def on_clear(function):
    """Register ``function`` to be called by :func:`clear_caches`."""
    _cache_clears.append(function)
    return function


def clear_caches():
    """Forget every plan and choice deconv has cached (they are rebuilt on
    demand), and read OMP_NUM_THREADS again.

    Operators keep their packed kernels; only what was derived from shapes,
    from the cost model and from the environment is dropped.

    Examples
    --------
    >>> import deconv
    >>> deconv.clear_caches()
    """
    for clear in _cache_clears:
        clear()
    for cache in list(_dicts):
        cache.clear()
    invalidate_plans()
