"""Both kernels of the "direct" backend, each forced in turn: the wide
(channel-vectorized) kernel and the narrow (pixel-vectorized, per-thread row
windows) one, over odd geometry, both layouts and several thread counts.
Normally the cost model picks one; here each must be exact on its own."""
import itertools

import numpy as np
import pytest

import deconv
from deconv import _direct
from oracle import assert_close, conv2d_transpose_oracle


def inferred(size, k, s, d, padding):
    """SPEC's output size when output_shape is None."""
    return size * s if padding == "same" else size * s + max((k - 1) * d + 1 - s, 0)


@pytest.fixture(params=["wide", "narrow"])
def variant(request, monkeypatch):
    monkeypatch.setattr(_direct, "uses_narrow_kernel",
                        lambda problem, num_threads: request.param == "narrow")
    monkeypatch.setattr(_direct, "MADDS_PER_THREAD", 1)  # every requested thread works
    return request.param


@pytest.mark.parametrize("k,s,d,padding", list(itertools.product(
    (1, 2, 5, 9), (1, 2, 3), (1, 2), ("same", "valid"))))
def test_each_variant_matches_the_oracle(k, s, d, padding, variant, rng):
    # 3 images, Cout 9 (three narrow groups, the last one partial), 7 rows that
    # several threads split between them, columns past one 32-pixel run.
    x = rng.standard_normal((3, 7, 37, 5))
    kernel = rng.standard_normal((k, k, 9, 5))
    out_hw = (inferred(7, k, s, d, padding), inferred(37, k, s, d, padding))
    expected = conv2d_transpose_oracle(x, kernel, out_hw, (s, s), padding, (d, d))
    for threads in (1, 2, 3):
        last = deconv.conv2d_transpose(x, kernel, None, s, padding, "channels_last", d,
                                       backend="direct", num_threads=threads)
        first = deconv.conv2d_transpose(x.transpose(0, 3, 1, 2), kernel, None, s, padding,
                                        "channels_first", d, backend="direct",
                                        num_threads=threads)
        assert_close(last, expected, np.float64)
        assert_close(first.transpose(0, 2, 3, 1), expected, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_each_variant_is_bitwise_identical_for_any_thread_count(dtype, data_format, variant,
                                                                rng):
    x = rng.standard_normal((2, 11, 40, 6)).astype(dtype)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    kernel = rng.standard_normal((7, 4, 6, 6)).astype(dtype)
    results = [deconv.conv2d_transpose(x, kernel, strides=(2, 3), padding="same",
                                       data_format=data_format, dilation_rate=(2, 1),
                                       backend="direct", num_threads=threads)
               for threads in (1, 2, 4, 7)]
    for other in results[1:]:
        assert np.array_equal(results[0], other)


def test_strided_views_are_read_in_place(variant, rng):
    # Inputs that are views with gaps: the front end copies them once into the
    # compute layout; the result must not depend on it.
    base = rng.standard_normal((4, 9, 30, 8))
    x = base[::2, 1::2, ::3, 1:7]
    kernel = rng.standard_normal((3, 3, 5, 6))
    expected = conv2d_transpose_oracle(x, kernel, (8, 20), (2, 2), "same", (1, 1))
    y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="direct")
    assert_close(y, expected, np.float64)
