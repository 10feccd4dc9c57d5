"""The retained scratch buffer behind the compiled kernels' work arrays."""
import threading

import numpy as np

import deconv
from deconv import _workspace
from oracle import assert_close, conv2d_transpose_oracle


def test_arrays_are_aligned_disjoint_and_shaped():
    a, b, c = _workspace.scratch_arrays(((3, 5), np.float32), ((0,), np.intp),
                                        ((2, 2, 2), np.float64))
    assert (a.shape, b.shape, c.shape) == ((3, 5), (0,), (2, 2, 2))
    assert (a.dtype, c.dtype) == (np.float32, np.float64)
    for array in (a, c):
        assert array.ctypes.data % 64 == 0 and array.flags.c_contiguous
    a.fill(1)
    c.fill(2)
    assert (a == 1).all() and (c == 2).all()


def test_buffer_is_reused_and_grows():
    small, = _workspace.scratch_arrays(((16,), np.float32))
    again, = _workspace.scratch_arrays(((8,), np.float32))
    assert again.ctypes.data == small.ctypes.data
    large, = _workspace.scratch_arrays(((1 << 16,), np.float32))
    reused, = _workspace.scratch_arrays(((16,), np.float32))
    assert reused.ctypes.data == large.ctypes.data


def test_oversized_requests_are_not_retained(monkeypatch):
    monkeypatch.setattr(_workspace, "RETAINED_BYTES_MAX", 1 << 12)
    kept, = _workspace.scratch_arrays(((16,), np.float32))
    _workspace.scratch_arrays(((1 << 12,), np.float32))  # 16 KB: served, not kept
    after, = _workspace.scratch_arrays(((16,), np.float32))
    assert after.ctypes.data == kept.ctypes.data


def test_each_thread_has_its_own_buffer():
    addresses = {}

    def grab(name):
        array, = _workspace.scratch_arrays(((64,), np.float32))
        addresses[name] = array.ctypes.data
        barrier.wait()  # both threads hold their arrays at the same time

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=grab, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert addresses["a"] != addresses["b"]


def test_release_then_calls_still_work(rng):
    x = rng.standard_normal((2, 5, 6, 40)).astype(np.float32)
    kernel = rng.standard_normal((4, 4, 70, 40)).astype(np.float32)
    expected = conv2d_transpose_oracle(x, kernel, (10, 12), (2, 2), "same", (1, 1))
    first = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="direct")
    _workspace.release()
    second = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="direct")
    assert_close(first, expected, np.float32)
    assert np.array_equal(first, second)


def test_concurrent_calls_from_python_threads_are_correct(rng):
    # The kernels release the GIL, so calls from several Python threads really
    # overlap; each must use its own scratch arrays.
    cases = []
    for index in range(4):
        x = rng.standard_normal((3, 6 + index, 7, 48)).astype(np.float32)
        kernel = rng.standard_normal((3, 3, 40 + 8 * index, 48)).astype(np.float32)
        cases.append((x, kernel, conv2d_transpose_oracle(
            x, kernel, (2 * (6 + index), 14), (2, 2), "same", (1, 1))))
    errors = []

    def run(x, kernel, expected):
        try:
            for _ in range(20):
                y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same",
                                            backend="direct", num_threads=2)
                assert_close(y, expected, np.float32)
        except AssertionError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=case) for case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
