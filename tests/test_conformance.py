"""Every backend against the naive oracle over an exhaustive grid of tiny cases:
kernel 1-5, stride 1-3, dilation 1-2, both paddings, EVERY valid output size,
both layouts; plus asymmetric geometry and the adjoint identity."""
import itertools

import numpy as np
import pytest

import deconv
from oracle import assert_same_non_finite, assert_close, conv2d_oracle, conv2d_transpose_oracle, valid_sizes


def run_both_layouts(x, kernel, out_hw, strides, padding, dilation, backend):
    n, _, _, _ = x.shape
    cout = kernel.shape[2]
    last = deconv.conv2d_transpose(x, kernel, (n, *out_hw, cout), strides, padding,
                                   "channels_last", dilation, backend=backend)
    first = deconv.conv2d_transpose(x.transpose(0, 3, 1, 2), kernel, (n, cout, *out_hw),
                                    strides, padding, "channels_first", dilation,
                                    backend=backend)
    return last, first.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("k,s,d,padding", list(itertools.product(
    range(1, 6), range(1, 4), (1, 2), ("same", "valid"))))
def test_grid_every_valid_output_size(k, s, d, padding, backend, rng):
    h, w = 3, 4
    x = rng.standard_normal((2, h, w, 3))
    kernel = rng.standard_normal((k, k, 2, 3))
    for out_h in valid_sizes(h, k, s, d, padding):
        for out_w in valid_sizes(w, k, s, d, padding):
            expected = conv2d_transpose_oracle(x, kernel, (out_h, out_w), (s, s), padding, (d, d))
            for y in run_both_layouts(x, kernel, (out_h, out_w), (s, s), padding, (d, d),
                                      backend):
                assert y.shape == expected.shape
                assert_close(y, expected, np.float64)


@pytest.mark.parametrize("kh,kw,sh,sw,dh,dw", [
    (3, 1, 2, 1, 1, 3), (1, 4, 1, 3, 2, 1), (5, 2, 3, 2, 2, 2), (2, 5, 4, 1, 3, 1),
    (4, 4, 2, 3, 1, 2), (7, 3, 3, 3, 1, 1), (6, 6, 5, 2, 2, 3)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_asymmetric_geometry(kh, kw, sh, sw, dh, dw, padding, backend, rng):
    x = rng.standard_normal((3, 5, 4, 4))
    kernel = rng.standard_normal((kh, kw, 3, 4))
    for out_h in valid_sizes(5, kh, sh, dh, padding):
        out_w = valid_sizes(4, kw, sw, dw, padding)[-1]
        expected = conv2d_transpose_oracle(x, kernel, (out_h, out_w), (sh, sw), padding,
                                           (dh, dw))
        for y in run_both_layouts(x, kernel, (out_h, out_w), (sh, sw), padding, (dh, dw),
                                  backend):
            assert_close(y, expected, np.float64)


@pytest.mark.parametrize("shape,kernel_shape,strides,padding", [
    ((2, 9, 11, 37), (4, 4, 41, 37), (2, 2), "same"),    # channels past one register tile
    ((1, 13, 29, 5), (3, 5, 70, 5), (1, 2), "valid"),    # N=1, long rows, several tiles
    ((5, 6, 7, 16), (3, 3, 33, 16), (3, 3), "same"),     # many images share a tile
    ((2, 3, 40, 8), (9, 9, 3, 8), (3, 3), "same"),       # few output channels, big kernel
])
def test_random_larger_cases(shape, kernel_shape, strides, padding, backend, rng):
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal(kernel_shape)
    y = deconv.conv2d_transpose(x, kernel, strides=strides, padding=padding, backend=backend)
    expected = conv2d_transpose_oracle(x, kernel, y.shape[1:3], strides, padding, (1, 1))
    assert_close(y, expected, np.float64)


def test_single_pixel_reproduces_kernel_unflipped(backend):
    x = np.zeros((1, 1, 1, 1))
    x[0, 0, 0, 0] = 1.0
    kernel = np.arange(12.0).reshape(3, 4, 1, 1)
    y = deconv.conv2d_transpose(x, kernel, backend=backend)
    np.testing.assert_allclose(y[0, :, :, 0], kernel[:, :, 0, 0], atol=1e-12)


def test_same_crop_removes_extra_row_at_bottom(backend):
    # F = 4 rows, H = 3: one row cropped, at the bottom (pad_top = 0).
    x = np.ones((1, 2, 1, 1))
    kernel = np.array([1.0, 10.0]).reshape(2, 1, 1, 1)
    y = deconv.conv2d_transpose(x, kernel, (1, 3, 2, 1), strides=(2, 2), padding="same",
                                backend=backend)
    np.testing.assert_allclose(y[0, :, 0, 0], [1.0, 10.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("k,s,d,padding", [(3, 2, 1, "same"), (4, 3, 2, "valid"),
                                           (5, 1, 2, "same"), (2, 2, 3, "valid")])
def test_adjoint_identity(k, s, d, padding, backend, rng):
    x = rng.standard_normal((2, 4, 5, 3))
    kernel = rng.standard_normal((k, k, 2, 3))
    out_hw = (valid_sizes(4, k, s, d, padding)[-1], valid_sizes(5, k, s, d, padding)[0])
    y = rng.standard_normal((2, *out_hw, 2))
    transposed = deconv.conv2d_transpose(x, kernel, (2, *out_hw, 2), s, padding,
                                         dilation_rate=d, backend=backend)
    forward = conv2d_oracle(y, kernel, (4, 5), (s, s), padding, (d, d))
    np.testing.assert_allclose(np.vdot(forward, x), np.vdot(y, transposed), rtol=1e-12)


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("cout", [1, 3, 8, 9])
def test_non_finite_kernel_reaches_exactly_the_outputs_it_should(value, cout, rng):
    # Few output channels normally take the zero-padded narrow kernel, where
    # 0 * inf would be NaN; a non-finite kernel must still be exact.
    x = rng.standard_normal((2, 5, 6, 3))
    kernel = rng.standard_normal((3, 3, cout, 3))
    kernel[1, 2, 0, 1] = value
    expected = conv2d_transpose_oracle(x, kernel, (10, 12), (2, 2), "same", (1, 1))
    for backend in ("reference", "direct", "auto"):
        y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend=backend)
        assert_same_non_finite(y, expected)
