"""Thread-count invariance, concurrent calls, and what num_threads=None means."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import deconv
from conftest import USABLE_THREAD_LIMIT
from deconv._threads import resolve_num_threads, usable_cores

@pytest.fixture(autouse=True)
def every_thread_counts(monkeypatch):
    """Small calls normally stay on one thread (the tiniest skip planning);
    here every requested thread works, in the planned kernels."""
    monkeypatch.setattr(deconv._direct, "SECONDS_PER_THREAD", 0)
    monkeypatch.setattr(deconv._direct, "TRIVIAL_MADDS", 0)


# The dcgan2 layer of the shared benchmark suite, at half batch.
DCGAN2 = dict(x=(8, 8, 8, 256), kernel=(4, 4, 128, 256), strides=2, padding="same")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_direct_is_bitwise_identical_for_any_thread_count(dtype, data_format, rng):
    x = rng.standard_normal(DCGAN2["x"]).astype(dtype)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    kernel = rng.standard_normal(DCGAN2["kernel"]).astype(dtype)
    results = [deconv.conv2d_transpose(x, kernel, strides=2, padding="same",
                                       data_format=data_format, backend="direct",
                                       num_threads=threads) for threads in (1, 2, 3, 5, 8)]
    for other in results[1:]:
        assert np.array_equal(results[0], other)


def test_odd_geometry_is_bitwise_identical_for_any_thread_count(rng):
    x = rng.standard_normal((3, 7, 13, 19)).astype(np.float32)
    kernel = rng.standard_normal((5, 3, 45, 19)).astype(np.float32)
    kwargs = dict(strides=(3, 2), padding="same", dilation_rate=(1, 2), backend="direct")
    one = deconv.conv2d_transpose(x, kernel, num_threads=1, **kwargs)
    for threads in (2, 4, 7):
        assert np.array_equal(one, deconv.conv2d_transpose(x, kernel, num_threads=threads,
                                                            **kwargs))


@pytest.mark.parametrize("backend_name", ["direct", "fft", "reference", "auto"])
def test_concurrent_calls_match_serial_results(backend_name, rng):
    cases = []
    for index in range(12):
        x = rng.standard_normal((2, 6 + index % 3, 7, 8)).astype(np.float32)
        kernel = rng.standard_normal((3 + index % 2, 3, 5, 8)).astype(np.float32)
        cases.append((x, kernel, 1 + index % 3))

    def run(case):
        x, kernel, stride = case
        return deconv.conv2d_transpose(x, kernel, strides=stride, padding="same",
                                       backend=backend_name, num_threads=2)

    serial = [run(case) for case in cases]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(run, cases * 3))
    for index, result in enumerate(concurrent):
        np.testing.assert_array_equal(result, serial[index % len(cases)])


def test_none_means_omp_num_threads_then_all_cores(monkeypatch):
    # Read once, like the OpenMP runtime does; clear_caches() reads it again.
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    deconv.clear_caches()
    assert resolve_num_threads(None) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert resolve_num_threads(None) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    deconv.clear_caches()
    assert resolve_num_threads(None) == usable_cores()
    monkeypatch.delenv("OMP_NUM_THREADS")
    deconv.clear_caches()
    assert resolve_num_threads(None) == usable_cores()
    assert resolve_num_threads(np.int64(4)) == 4
    monkeypatch.undo()
    deconv.clear_caches()


def test_tiny_calls_stay_on_one_thread(monkeypatch):
    monkeypatch.undo()
    operator = deconv.Conv2DTranspose(np.ones((3, 3, 8, 8)), 2, "same", num_threads=8)
    assert operator.plan_for(np.ones((1, 4, 4, 8))).num_threads == 1


@pytest.mark.parametrize("asked", [None, 3, 5000, 2 ** 31, 2 ** 80])
def test_threads_are_capped_at_the_usable_cores(monkeypatch, asked):
    monkeypatch.setattr(deconv._threads, "thread_limit", USABLE_THREAD_LIMIT)
    monkeypatch.setenv("OMP_NUM_THREADS", "5000")
    deconv.clear_caches()
    cores = usable_cores()
    assert resolve_num_threads(asked) == min(cores, 5000 if asked is None else asked)
    x, kernel = np.ones((4, 32, 32, 16), np.float32), np.ones((4, 4, 16, 16), np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct", num_threads=asked)
    assert operator.plan_for(x).num_threads <= cores
    np.testing.assert_array_equal(operator(x), deconv.conv2d_transpose(
        x, kernel, strides=2, padding="same", backend="direct", num_threads=1))
    monkeypatch.undo()
    deconv.clear_caches()
