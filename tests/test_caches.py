"""Bounded caches and clear_caches()."""
import threading

import numpy as np

import deconv
from deconv import _caches, _threads
from deconv._caches import BoundedDict


def test_bounded_dict_drops_the_oldest_entry():
    cache = BoundedDict(3)
    for key in range(5):
        cache.put(key, str(key))
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == "4"
    cache.put(4, "again")  # replacing does not evict
    assert len(cache) == 3 and cache.get(2) == "2"


def test_bounded_dict_under_concurrent_puts():
    cache = BoundedDict(16)
    threads = [threading.Thread(target=lambda base=base: [cache.put((base, k), k)
                                                         for k in range(1000)])
               for base in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 16


def test_clear_caches_drops_plans_and_rereads_the_environment(monkeypatch):
    operator = deconv.Conv2DTranspose(np.ones((3, 3, 2, 2)))
    x = np.ones((1, 4, 4, 2))
    plan = operator.plan_for(x)
    generation = _caches.generation
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    deconv.clear_caches()
    assert _caches.generation > generation
    assert _threads.default is None and _threads.default_num_threads() == 3
    assert operator.plan_for(x) is not plan
    y = operator(x)  # packed kernels were kept; results unchanged
    np.testing.assert_array_equal(y, deconv.conv2d_transpose(x, np.ones((3, 3, 2, 2))))
    monkeypatch.undo()
    deconv.clear_caches()
