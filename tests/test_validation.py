"""Every validation rule (docs, page Semantics), with the exact kind of error and its message."""
import numpy as np
import pytest

import deconv
from deconv import conv2d_transpose
from oracle import valid_sizes

X = np.ones((2, 5, 5, 3))
K = np.ones((3, 3, 4, 3))


@pytest.mark.parametrize("data_format", ["NHWC", "channels-last", 3, ""])
def test_unknown_data_format(data_format):
    with pytest.raises(ValueError, match=r"data_format must be one of \('channels_last', "
                                         r"'channels_first'\).*got"):
        conv2d_transpose(X, K, data_format=data_format)


@pytest.mark.parametrize("padding", ["full", "causal", None, 1])
def test_unknown_padding(padding):
    with pytest.raises(ValueError, match=r"padding must be 'same' or 'valid' \(any case\); "
                                         r"got " + repr(padding).replace("(", r"\(")):
        conv2d_transpose(X, K, padding=padding)


@pytest.mark.parametrize("padding", ["SAME", "Valid", "same"])
def test_padding_case_insensitive(padding):
    assert conv2d_transpose(X, K, padding=padding).shape[0] == 2


def test_checks_run_in_spec_order():
    # A bad data_format is reported before a bad padding, a bad rank, a bad dtype...
    with pytest.raises(ValueError, match="data_format"):
        conv2d_transpose(np.ones(3, dtype=int), K, padding="bad", data_format="bad")
    with pytest.raises(ValueError, match="padding"):
        conv2d_transpose(np.ones(3, dtype=int), K, padding="bad")
    with pytest.raises(ValueError, match="rank 1"):
        conv2d_transpose(np.ones(3, dtype=int), K, strides=0)
    with pytest.raises(TypeError, match="dtype int64"):
        conv2d_transpose(X.astype(np.int64), K, strides=0)
    with pytest.raises(ValueError, match="strides must be positive"):
        conv2d_transpose(X, K, strides=0, output_shape=(1, 2, 3))


@pytest.mark.parametrize("name,x,kernel,rank,shape", [
    ("x", np.ones((5, 5, 3)), K, 3, r"\(5, 5, 3\)"),
    ("x", 1.0, K, 0, r"\(\)"),
    ("kernel", X, np.ones((3, 3, 3)), 3, r"\(3, 3, 3\)"),
    ("kernel", X, np.ones((1, 3, 3, 4, 3)), 5, r"\(1, 3, 3, 4, 3\)"),
])
def test_rank_must_be_4(name, x, kernel, rank, shape):
    with pytest.raises(ValueError, match=rf"{name} must be a 4-D array .* got an array of "
                                         rf"rank {rank} with shape {shape}"):
        conv2d_transpose(x, kernel)


def test_ragged_input_is_a_value_error():
    with pytest.raises(ValueError, match="x could not be converted to an array"):
        conv2d_transpose([[[[1.0]], [[1.0, 2.0]]]], K)


@pytest.mark.parametrize("dtype,hint", [
    (np.int64, r"x.astype\(np.float32\)"), (np.int8, r"x.astype\(np.float32\)"),
    (np.uint16, r"x.astype\(np.float32\)"), (bool, r"x.astype\(np.float32\)"),
    (np.complex128, r"x.real.astype\(np.float64\)"), (object, r"x.astype\(np.float32\)"),
    (np.longdouble, r"x.astype\(np.float64\)")])
def test_non_float_dtypes_rejected_with_astype_hint(dtype, hint):
    if np.dtype(dtype) == np.dtype(np.float64):
        pytest.skip("longdouble is float64 on this platform")
    x = X.astype(dtype)
    with pytest.raises(TypeError, match=rf"x has dtype {np.dtype(dtype)}; .*real floating "
                                        rf"point only.*{hint}"):
        conv2d_transpose(x, K)


def test_string_kernel_rejected():
    with pytest.raises(TypeError, match=r"kernel has dtype <U1.*kernel.astype"):
        conv2d_transpose(X, np.full((3, 3, 4, 3), "a"))


@pytest.mark.parametrize("argument", ["strides", "dilation_rate"])
@pytest.mark.parametrize("value,error,message", [
    (0, ValueError, r"must be positive integers \(>= 1\); got \(0, 0\)"),
    ((1, -2), ValueError, r"must be positive integers \(>= 1\); got \(1, -2\)"),
    ((1, 2, 3), ValueError, r"must have 2 entries \(rows, columns\); got 3"),
    ((), ValueError, r"must have 2 entries \(rows, columns\); got 0"),
    (2.0, TypeError, r"must be an int or a pair of ints; got 2.0 \(float\)"),
    ((1.0, 2), TypeError, r"must hold integers; got 1.0 \(float\)"),
    (True, TypeError, r"must be an int or a pair of ints; got True \(bool\)"),
    ((True, 1), TypeError, r"must hold integers; got True \(bool\)"),
    ("2", TypeError, r"must be an int or a pair of ints; got '2' \(str\)"),
    (None, TypeError, r"must be an int or a pair of ints; got None"),
    (np.array([1.5, 2.0]), TypeError, r"must hold integers; got an array of dtype float64"),
])
def test_bad_strides_and_dilations(argument, value, error, message):
    with pytest.raises(error, match=rf"{argument} {message}"):
        conv2d_transpose(X, K, **{argument: value})


@pytest.mark.parametrize("value", [2, (2, 2), [2, 2], np.array([2, 2]), np.int32(2),
                                   (np.int64(2), 2), np.array(2)])
def test_accepted_stride_spellings(value):
    assert conv2d_transpose(X, K, strides=value, padding="same").shape == (2, 10, 10, 4)


@pytest.mark.parametrize("output_shape,error,message", [
    ((2, 7, 7), ValueError, r"output_shape must have 4 entries; got 3"),
    ("2774", TypeError, r"output_shape must be None or a sequence of 4 ints; got '2774'"),
    (7, TypeError, r"output_shape must be None or a sequence of 4 ints; got 7"),
    ((2, None, 7, 4), ValueError, r"output_shape\[1\] is None; only the batch entry"),
    ((2, 7.0, 7, 4), TypeError, r"output_shape entries must be integers; got 7.0 \(float\) "
                                r"at position 1"),
    ((2, 7, True, 4), TypeError, r"output_shape entries must be integers; got True"),
    ((2, -7, 7, 4), ValueError, r"output_shape entries must be non-negative; got -7 at "
                                r"position 1"),
    (np.array([[2, 7], [7, 4]]), ValueError, r"output_shape must be 1-D with 4 entries"),
    (np.array([2.0, 7, 7, 4]), TypeError, r"output_shape must hold integers"),
    ((3, 7, 7, 4), ValueError, r"output_shape has batch 3 but x has batch 2"),
    ((2, 7, 7, 5), ValueError, r"output_shape has 5 channels but kernel.shape\[2\] \(output "
                               r"channels\) is 4"),
])
def test_bad_output_shape(output_shape, error, message):
    with pytest.raises(error, match=message):
        conv2d_transpose(X, K, output_shape)


def test_input_channel_mismatch_also_without_output_shape():
    message = r"x has 3 channels \(channels_last\) but kernel.shape\[3\] \(input channels\) is 2"
    with pytest.raises(ValueError, match=message):
        conv2d_transpose(X, np.ones((3, 3, 4, 2)))
    with pytest.raises(ValueError, match=message):
        conv2d_transpose(X, np.ones((3, 3, 4, 2)), (2, 7, 7, 4))


def test_empty_kernel_rows_rejected():
    with pytest.raises(ValueError, match=r"kernel must have at least one row and one column; "
                                         r"got kernel shape \(0, 3, 4, 3\)"):
        conv2d_transpose(X, np.ones((0, 3, 4, 3)))


def test_unreachable_height_names_dimension_value_and_range():
    with pytest.raises(ValueError, match=r"^output height 13 is not reachable from input "
                                         r"height 5 with kernel 3, stride 2, padding 'valid': "
                                         r"valid heights are 11..12$"):
        conv2d_transpose(X, K, (2, 13, 11, 4), strides=2)


def test_unreachable_width_mentions_dilation():
    with pytest.raises(ValueError, match=r"^output width 4 is not reachable from input width 5 "
                                         r"with kernel 3 dilated by 2 \(effective 5\), stride 1, "
                                         r"padding 'valid': valid widths are 9..9$"):
        conv2d_transpose(X, K, (2, 9, 4, 4), dilation_rate=2)


def test_rows_checked_before_columns():
    with pytest.raises(ValueError, match="output height"):
        conv2d_transpose(X, K, (2, 1, 1, 4), padding="same")


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("h,k,s,d", [(5, 3, 2, 1), (1, 4, 3, 1), (0, 3, 2, 1), (0, 5, 1, 2),
                                     (4, 2, 4, 3), (3, 1, 1, 1)])
def test_valid_output_sizes_match_brute_force(h, k, s, d, padding):
    sizes = valid_sizes(h, k, s, d, padding)
    assert deconv.valid_output_sizes(h, k, s, d, padding) == (sizes[0], sizes[-1])
    assert sizes == list(range(sizes[0], sizes[-1] + 1))
    x = np.ones((1, h, 2, 1))
    kernel = np.ones((k, 1, 1, 1))
    for out in range(0, sizes[-1] + 3):
        if out in sizes:
            assert conv2d_transpose(x, kernel, (1, out, 2, 1), (s, 1), padding,
                                    dilation_rate=(d, 1)).shape == (1, out, 2, 1)
        else:
            with pytest.raises(ValueError, match=rf"output height {out} is not reachable"):
                conv2d_transpose(x, kernel, (1, out, 2, 1), (s, 1), padding, dilation_rate=(d, 1))


@pytest.mark.parametrize("h,k,s,d,padding,expected", [
    (5, 3, 2, 1, "same", 10), (5, 3, 2, 1, "valid", 11), (5, 2, 3, 1, "valid", 15),
    (5, 3, 1, 2, "valid", 9), (0, 3, 2, 1, "valid", 1), (0, 3, 2, 1, "same", 0),
    (4, 1, 1, 1, "valid", 4)])
def test_inferred_output_size(h, k, s, d, padding, expected):
    y = conv2d_transpose(np.ones((1, h, h, 1)), np.ones((k, k, 1, 1)), strides=s,
                         padding=padding, dilation_rate=d)
    assert y.shape == (1, expected, expected, 1)


def test_absurd_sizes_rejected_before_allocation():
    with pytest.raises(MemoryError, match=r"would need .* GiB but .* GiB of memory is "
                                          r"available"):
        conv2d_transpose(np.ones((1, 100, 100, 1)), np.ones((1, 1, 1, 1)), strides=100000)
    with pytest.raises(ValueError, match=r"more than this platform can address"):
        conv2d_transpose(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)),
                         (1, 2 ** 40, 2 ** 40, 1), strides=2 ** 40, padding="same")
    with pytest.raises(ValueError, match=r"height stride 1 and dilation 4611686018427387904 "
                                         r"must stay below 2\*\*62"):
        conv2d_transpose(np.ones((1, 1, 1, 1)), np.ones((3, 1, 1, 1)), dilation_rate=(2 ** 62, 1),
                         padding="same")
    with pytest.raises(ValueError, match=r"extents must stay below 2\*\*62"):
        conv2d_transpose(np.ones((1, 1, 1, 1)), np.ones((3, 1, 1, 1)),
                         dilation_rate=(2 ** 61, 1))
    with pytest.raises(ValueError, match=r"\(its nonzero extents\), more than this platform"):
        conv2d_transpose(np.ones((0, 1, 1, 1)), np.ones((1, 1, 1, 1)),
                         (0, 2 ** 40, 2 ** 40, 1), strides=2 ** 40, padding="same")


@pytest.mark.parametrize("num_threads,error,message", [
    (0, ValueError, r"num_threads must be None or an int >= 1; got 0"),
    (-3, ValueError, r"num_threads must be None or an int >= 1; got -3"),
    (1.5, TypeError, r"num_threads must be None or an int >= 1; got 1.5 \(float\)"),
    (True, TypeError, r"got True \(bool\)"),
    ("2", TypeError, r"got '2' \(str\)")])
def test_bad_num_threads(num_threads, error, message):
    with pytest.raises(error, match=message):
        conv2d_transpose(X, K, num_threads=num_threads)


@pytest.mark.parametrize("argument,valid,invalid,error,message", [
    ("strides", 2, 2.0, TypeError, r"strides must be an int or a pair of ints; got 2.0"),
    ("strides", 1, True, TypeError, r"strides must be an int or a pair of ints; got True"),
    ("strides", (1, 2), (1.0, 2), TypeError, r"strides must hold integers; got 1.0"),
    ("dilation_rate", (1, 1), (True, 1), TypeError, r"dilation_rate must hold integers"),
    ("num_threads", 1, True, TypeError, r"num_threads must be None or an int >= 1"),
    ("num_threads", 1, 1.0, TypeError, r"num_threads must be None or an int >= 1"),
])
def test_a_repeated_call_is_validated_like_the_first(argument, valid, invalid, error,
                                                      message):
    # The planner a valid call leaves behind is found by the arguments as
    # written; values equal to them but of another type must still raise.
    conv2d_transpose(X, K, **{argument: valid})
    with pytest.raises(error, match=message):
        conv2d_transpose(X, K, **{argument: invalid})


def test_a_repeated_call_checks_x_and_the_default_layout():
    conv2d_transpose(X, K, strides=2)
    with pytest.raises(TypeError, match="x has dtype int64"):
        conv2d_transpose(X.astype(np.int64), K, strides=2)
    with pytest.raises(ValueError, match="x must be a 4-D array"):
        conv2d_transpose(X[0], K, strides=2)
    with pytest.raises(ValueError, match=r"x has 5 channels \(channels_last\)"):
        conv2d_transpose(np.ones((2, 5, 5, 5)), K, strides=2)
    deconv.set_image_data_format("channels_first")
    try:
        y = conv2d_transpose(X.transpose(0, 3, 1, 2), K, strides=2)
    finally:
        deconv.set_image_data_format("channels_last")
    assert y.shape == (2, 4, 11, 11)
    assert conv2d_transpose(X, K, strides=2).shape == (2, 11, 11, 4)
