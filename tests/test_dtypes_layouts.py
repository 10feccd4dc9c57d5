"""dtype promotion, memory layouts, empty inputs, and inputs left untouched."""
import numpy as np
import pytest

import deconv
from oracle import assert_same_non_finite, assert_close, conv2d_transpose_oracle


@pytest.mark.parametrize("x_dtype,k_dtype,result", [
    (np.float16, np.float16, np.float16), (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64), (np.float32, np.float64, np.float64),
    (np.float16, np.float32, np.float32), (np.float64, np.float16, np.float64)])
def test_dtype_promotion_and_accuracy(x_dtype, k_dtype, result, backend, rng):
    x = rng.standard_normal((2, 5, 6, 8)).astype(x_dtype)
    kernel = rng.standard_normal((3, 3, 5, 8)).astype(k_dtype)
    y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend=backend)
    assert y.dtype == np.dtype(result)
    assert_close(y, conv2d_transpose_oracle(x, kernel, y.shape[1:3], (2, 2), "same", (1, 1)),
                 result)


def _variants(array):
    """The same values in awkward memory layouts."""
    yield "fortran", np.asfortranarray(array)
    yield "byteswapped", array.astype(array.dtype.newbyteorder(">"))
    readonly = array.copy()
    readonly.flags.writeable = False
    yield "readonly", readonly
    padded = np.zeros(tuple(2 * s for s in array.shape), array.dtype)
    padded[::2, ::2, ::2, ::2] = array
    yield "strided", padded[::2, ::2, ::2, ::2]
    yield "negative", array[::-1, ::-1, ::-1, ::-1].copy()[::-1, ::-1, ::-1, ::-1]


@pytest.mark.parametrize("which", ["x", "kernel"])
def test_awkward_layouts_give_identical_values(which, backend, rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 2, 4, 3)).astype(np.float32)
    expected = deconv.conv2d_transpose(x, kernel, strides=(2, 1), backend=backend)
    for label, variant in _variants(x if which == "x" else kernel):
        args = (variant, kernel) if which == "x" else (x, variant)
        y = deconv.conv2d_transpose(*args, strides=(2, 1), backend=backend)
        assert y.flags.c_contiguous, label
        np.testing.assert_array_equal(y, expected, err_msg=label)


def test_channels_first_layout(backend, rng):
    x = rng.standard_normal((2, 3, 4, 5))  # (N, Cin, h, w)
    kernel = rng.standard_normal((3, 3, 6, 3))
    y = deconv.conv2d_transpose(x, kernel, (None, 6, 8, 10), 2, "same", "channels_first",
                                backend=backend)
    assert y.shape == (2, 6, 8, 10) and y.flags.c_contiguous
    expected = conv2d_transpose_oracle(x.transpose(0, 2, 3, 1), kernel, (8, 10), (2, 2), "same",
                                       (1, 1))
    assert_close(y.transpose(0, 2, 3, 1), expected, np.float64)


def test_default_data_format_is_settable(rng):
    x = rng.standard_normal((1, 2, 3, 3))
    kernel = rng.standard_normal((1, 1, 2, 2))
    assert deconv.image_data_format() == "channels_last"
    deconv.set_image_data_format("channels_first")
    try:
        assert deconv.conv2d_transpose(x, kernel).shape == (1, 2, 3, 3)
    finally:
        deconv.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="data_format must be one of"):
        deconv.set_image_data_format("NCHW")


@pytest.mark.parametrize("output_shape", [[None, 9, 11, 4], (2, 9, 11, 4),
                                          np.array([2, 9, 11, 4]), [np.int64(2), 9, 11, 4],
                                          np.array([None, 9, 11, 4], dtype=object)])
def test_output_shape_spellings(output_shape, rng):
    x = rng.standard_normal((2, 4, 5, 3))
    kernel = rng.standard_normal((3, 3, 4, 3))
    assert deconv.conv2d_transpose(x, kernel, output_shape, 2).shape == (2, 9, 11, 4)


def test_lists_are_accepted_as_arrays():
    y = deconv.conv2d_transpose([[[[1.0]]]], [[[[2.0]]]])
    np.testing.assert_array_equal(y, [[[[2.0]]]])


@pytest.mark.parametrize("x_shape,kernel_shape,kwargs,out_shape", [
    ((0, 4, 4, 3), (3, 3, 2, 3), {}, (0, 6, 6, 2)),                         # N == 0
    ((2, 4, 4, 0), (3, 3, 2, 0), {}, (2, 6, 6, 2)),                         # Cin == 0
    ((2, 0, 4, 3), (3, 3, 2, 3), {"strides": 2}, (2, 1, 9, 2)),             # h == 0, valid
    ((2, 0, 4, 3), (3, 3, 2, 3), {"padding": "same"}, (2, 0, 4, 2)),        # h == 0, same
    ((2, 4, 4, 3), (3, 3, 0, 3), {}, (2, 6, 6, 0)),                         # Cout == 0
])
def test_empty_cases_give_zeros(x_shape, kernel_shape, kwargs, out_shape, backend):
    y = deconv.conv2d_transpose(np.ones(x_shape), np.ones(kernel_shape), backend=backend, **kwargs)
    assert y.shape == out_shape
    assert not y.any()


def test_inputs_are_never_modified(backend, rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float16)
    kernel = rng.standard_normal((3, 3, 4, 3))
    x_copy, kernel_copy = x.copy(), kernel.copy()
    deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend=backend)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(kernel, kernel_copy)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_propagate_exactly_where_they_land(value):
    x = np.ones((1, 6, 6, 2))
    x[0, 2, 3, 1] = value
    kernel = np.ones((3, 3, 2, 2))
    expected = conv2d_transpose_oracle(x, kernel, (12, 12), (2, 2), "same", (1, 1))
    for backend in ("reference", "direct", "auto"):
        y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend=backend)
        assert_same_non_finite(y, expected)
