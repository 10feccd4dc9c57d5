"""deconv.Conv2DTranspose: values against the oracle, the same bits as the
function, input shapes changing between calls, out=, pickling, concurrent
calls, what it says it will do, and packing once."""
import itertools
import multiprocessing
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import deconv
from deconv import _direct, _profile
from oracle import assert_close, assert_same_non_finite, conv2d_transpose_oracle, valid_sizes


@pytest.mark.parametrize("k,s,d,padding,data_format", list(itertools.product(
    (1, 3, 4), (1, 2, 3), (1, 2), ("same", "valid"), ("channels_last", "channels_first"))))
def test_values_match_the_oracle_and_the_function(k, s, d, padding, data_format, backend, rng):
    kernel = rng.standard_normal((k, k, 5, 3))
    operator = deconv.Conv2DTranspose(kernel, s, padding, data_format, d, backend=backend)
    for h, w in ((4, 5), (1, 7)):
        x = rng.standard_normal((2, h, w, 3))
        expected = conv2d_transpose_oracle(x, kernel, (valid_sizes(h, k, s, d, padding)[0],
                                                       valid_sizes(w, k, s, d, padding)[-1]),
                                           (s, s), padding, (d, d))
        caller_x = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
        output_shape = (2, *expected.shape[1:3], 5)
        if data_format == "channels_first":
            output_shape = (2, 5, *expected.shape[1:3])
        y = operator(caller_x, output_shape)
        as_last = y if data_format == "channels_last" else y.transpose(0, 2, 3, 1)
        assert_close(as_last, expected, np.float64)
        function = deconv.conv2d_transpose(caller_x, kernel, output_shape, s, padding,
                                           data_format, d, backend=backend)
        np.testing.assert_array_equal(y, function)


def test_every_input_shape_change_is_planned_anew(rng):
    kernel = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same")
    shapes = [(1, 5, 5, 6), (3, 5, 5, 6), (3, 7, 4, 6), (1, 1, 1, 6), (0, 5, 5, 6),
              (2, 0, 3, 6), (1, 5, 5, 6)]
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        y = operator(x)
        assert y.shape == (shape[0], 2 * shape[1], 2 * shape[2], 4)
        expected = conv2d_transpose_oracle(x, kernel, y.shape[1:3], (2, 2), "same", (1, 1))
        assert_close(y, expected, np.float32)
    # A float64 input promotes, as the function does.
    x = rng.standard_normal((1, 5, 5, 6))
    assert operator(x).dtype == np.float64
    # The odd extra output row of "same" at the bottom, then the default again.
    y = operator(x.astype(np.float32), (None, 9, 10, 4))
    assert y.shape == (1, 9, 10, 4)
    assert operator(x.astype(np.float32)).shape == (1, 10, 10, 4)


def test_out_receives_the_result_without_allocating(rng):
    kernel = rng.standard_normal((4, 4, 8, 16)).astype(np.float32)
    x = rng.standard_normal((2, 6, 6, 16)).astype(np.float32)
    for data_format, x_in in (("channels_last", x), ("channels_first", x.transpose(0, 3, 1, 2))):
        operator = deconv.Conv2DTranspose(kernel, 2, "same", data_format)
        expected = operator(x_in)
        out = np.full_like(expected, np.nan)
        assert operator(x_in, out=out) is out
        np.testing.assert_array_equal(out, expected)
        out2 = np.full_like(expected, np.nan)
        assert deconv.conv2d_transpose(x_in, kernel, strides=2, padding="same",
                                       data_format=data_format, out=out2) is out2
        np.testing.assert_array_equal(out2, expected)


def test_out_of_float16_results(rng):
    kernel = rng.standard_normal((3, 3, 2, 2)).astype(np.float16)
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float16)
    operator = deconv.Conv2DTranspose(kernel, 1, "same")
    out = np.empty((1, 4, 4, 2), np.float16)
    operator(x, out=out)
    np.testing.assert_array_equal(out, operator(x))
    assert operator(x).dtype == np.float16


@pytest.mark.parametrize("make_out,error,message", [
    (lambda y: y[:, :-1], ValueError, r"out has shape \(1, 7, 8, 3\) but the output of this "
                                      r"call has shape \(1, 8, 8, 3\) \(channels_last\)"),
    (lambda y: y.astype(np.float64), TypeError, r"out has dtype float64 but the result of "
                                                r"this call has dtype float32"),
    (lambda y: np.asfortranarray(y), ValueError, r"out must be C-contiguous"),
    (lambda y: np.zeros((1, 8, 8, 6), np.float32)[..., ::2], ValueError,
     r"out must be C-contiguous"),
    (lambda y: _read_only(y), ValueError, r"out is read-only"),
    (lambda y: y.tolist(), TypeError, r"out must be a numpy.ndarray; got list"),
])
def test_out_errors(make_out, error, message, rng):
    kernel = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same")
    out = make_out(operator(x))
    with pytest.raises(error, match=message):
        operator(x, out=out)
    with pytest.raises(error, match=message):
        deconv.conv2d_transpose(x, kernel, strides=2, padding="same", out=out)


def _read_only(array):
    array = array.copy()
    array.flags.writeable = False
    return array


def test_out_must_not_overlap_the_inputs(rng):
    kernel = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel)
    with pytest.raises(ValueError, match="out shares memory with x; pass a separate array"):
        operator(x, out=x)
    with pytest.raises(ValueError, match="out shares memory with x"):
        deconv.conv2d_transpose(x, kernel, out=x)
    memory = np.zeros(6, np.float32)
    shared_kernel, out = memory[:4].reshape(1, 1, 2, 2), memory[2:].reshape(1, 1, 1, 4)[..., :2]
    out = memory[2:4].reshape(1, 1, 1, 2)
    with pytest.raises(ValueError, match="out shares memory with kernel"):
        deconv.conv2d_transpose(np.ones((1, 1, 1, 2), np.float32), shared_kernel, out=out)


def test_pickling_round_trip_replans(rng):
    kernel = rng.standard_normal((4, 4, 3, 5)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel, (2, 1), "valid", "channels_first", (1, 2),
                                      backend="direct", num_threads=2)
    x = rng.standard_normal((2, 5, 6, 7)).astype(np.float32)
    expected = operator(x)
    again = pickle.loads(pickle.dumps(operator))
    assert again.strides == (2, 1) and again.dilation_rate == (1, 2)
    assert again.data_format == "channels_first" and again.backend == "direct"
    assert again.num_threads == 2
    np.testing.assert_array_equal(again(x), expected)
    assert again.plan_for(x) is not operator.plan_for(x)


def _apply(operator, x):
    return operator(x)


def test_ships_to_another_process(rng):
    kernel = rng.standard_normal((3, 3, 4, 4)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct")
    batches = [rng.standard_normal((1, 5, 5, 4)).astype(np.float32) for _ in range(2)]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        results = pool.starmap(_apply, [(operator, x) for x in batches])
    for x, result in zip(batches, results):
        np.testing.assert_array_equal(result, operator(x))


def test_concurrent_calls_from_eight_threads_equal_serial_results(rng):
    kernel = rng.standard_normal((4, 4, 24, 16)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same", num_threads=2)
    inputs = [rng.standard_normal((n, s, s + 1, 16)).astype(np.float32)
              for n, s in ((1, 3), (2, 6), (4, 9), (1, 12))]
    serial = [operator(x) for x in inputs]
    fresh = deconv.Conv2DTranspose(kernel, 2, "same", num_threads=2)  # plans made concurrently
    start = threading.Barrier(8)

    def run(index):
        start.wait()
        x = inputs[index % len(inputs)]
        out = np.empty_like(serial[index % len(inputs)])
        return [fresh(x, out=out).copy() for _ in range(20)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(8)))
    for index, repeated in enumerate(results):
        for result in repeated:
            np.testing.assert_array_equal(result, serial[index % len(inputs)])


def test_plan_says_what_it_will_do(rng):
    kernel = np.ones((31, 31, 8, 8), np.float32)
    operator = deconv.Conv2DTranspose(kernel)
    plan = operator.plan_for(np.empty((2, 64, 64, 8), np.float32))
    assert (plan.backend, plan.variant) == ("fft", "fft")
    assert "fft has the lowest estimated time" in plan.reason and set(plan.estimates) >= {"fft"}
    assert "CallPlan(input (2, 64, 64, 8) -> output (2, 94, 94, 8)" in repr(plan)
    forced = deconv.Conv2DTranspose(kernel, backend="direct").plan_for(
        np.empty((1, 8, 8, 8), np.float32))
    assert forced.reason == "backend 'direct' requested" and forced.estimates == {}
    with deconv.set_backend("reference"):
        scoped = operator.plan_for(np.empty((1, 8, 8, 8), np.float32))
    assert scoped.backend == "reference" and "current default" in scoped.reason


def test_direct_variant_does_not_depend_on_a_tuned_profile(tmp_path, monkeypatch):
    kernel = np.ones((4, 4, 3, 32), np.float32)
    x = np.empty((4, 16, 16, 32), np.float32)
    variant = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct").plan_for(x).variant
    monkeypatch.setenv("DECONV_CACHE_DIR", str(tmp_path))
    tuned = _profile.current_profile()
    for level in ("avx512", "avx2", "baseline"):  # make the others look 1000x faster
        for other, rates in tuned["direct_madds_per_thread"].items():
            if other != variant:
                rates[level]["4"] *= 1000
    _profile.save_profile(tuned)
    try:
        plan = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct").plan_for(x)
        assert plan.variant == variant
    finally:
        monkeypatch.undo()
        _profile.reload_profile()


def test_kernel_is_copied_and_packed_once(rng, monkeypatch):
    kernel = rng.standard_normal((4, 4, 40, 16)).astype(np.float32)
    packs = []
    original = _direct.DirectBackend.pack
    monkeypatch.setattr(_direct.DirectBackend, "pack",
                        lambda self, *args: packs.append(args[1].packing) or original(self, *args))
    operator = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct")
    x = rng.standard_normal((2, 8, 8, 16)).astype(np.float32)
    expected = operator(x)
    kernel[...] = 0  # the caller's array, not the operator's copy
    for shape in ((2, 8, 8, 16), (3, 8, 8, 16), (2, 9, 7, 16), (2, 8, 8, 16)):
        operator(rng.standard_normal(shape).astype(np.float32))
    np.testing.assert_array_equal(operator(x), expected)
    assert packs == [("wide", _direct._simd.core.channel_block(4))]
    assert not operator.kernel.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        operator.kernel[0, 0, 0, 0] = 1


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_non_finite_inputs_in_either_byte_order_leave_the_winograd_path(rng, byte_order):
    # Ones: their bytes swapped are finite, so only a check that reads the
    # array's own byte order sees the NaN.
    kernel = rng.standard_normal((4, 4, 64, 128)).astype(np.float32)
    x = np.ones((8, 8, 8, 128), np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same")
    assert operator.plan_for(x).backend == "winograd"
    x[0, 3, 3, 5] = np.nan
    x = x.astype(byte_order + "f4")
    expected = conv2d_transpose_oracle(x[:1], kernel, (16, 16), (2, 2), "same", (1, 1))
    for y in (operator(x), deconv.conv2d_transpose(x, kernel, strides=2, padding="same")):
        np.testing.assert_array_equal(np.isnan(y[:1]), np.isnan(expected))
        assert np.isfinite(y[1:]).all()


def test_non_finite_inputs_leave_the_fft_path(rng):
    kernel = rng.standard_normal((31, 31, 2, 2))
    x = rng.standard_normal((1, 40, 40, 2))
    operator = deconv.Conv2DTranspose(kernel)
    assert operator.plan_for(x).backend == "fft"
    x[0, 5, 7, 1] = np.nan
    y = operator(x)
    expected = conv2d_transpose_oracle(x, kernel, y.shape[1:3], (1, 1), "valid", (1, 1))
    assert_same_non_finite(y, expected)
    with pytest.raises(ValueError, match="backend 'fft' cannot compute this call: x or kernel "
                                         "holds NaN or inf"):
        deconv.Conv2DTranspose(kernel, backend="fft")(x)


@pytest.mark.parametrize("shapes,strides,backend", [
    (((8, 8, 8, 128), (4, 4, 64, 128)), 2, "winograd"),
    (((1, 40, 40, 2), (31, 31, 2, 2)), 1, "fft"),
])
def test_a_non_finite_kernel_leaves_the_path_that_needs_finite_data(rng, shapes, strides,
                                                                    backend):
    # The function checks the kernel it is given; an operator its own copy.
    x_shape, kernel_shape = shapes
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    assert deconv.choose_backend(x, kernel, strides=strides, padding="same").backend == backend
    kernel[1, 2, 0, 1] = np.inf
    expected = conv2d_transpose_oracle(x[:1], kernel, (x_shape[1] * strides,) * 2,
                                       (strides, strides), "same", (1, 1))
    for y in (deconv.conv2d_transpose(x, kernel, strides=strides, padding="same"),
              deconv.Conv2DTranspose(kernel, strides, "same")(x)):
        np.testing.assert_array_equal(np.isnan(y[:1]), np.isnan(expected))
        np.testing.assert_array_equal(np.isinf(y[:1]), np.isinf(expected))
        finite = np.isfinite(expected)
        assert_close(y[:1][finite], expected[finite], np.float32)
    with pytest.raises(ValueError, match=f"backend '{backend}' cannot compute this call: "
                                         "x or kernel holds NaN or inf"):
        deconv.conv2d_transpose(x, kernel, strides=strides, padding="same", backend=backend)


@pytest.mark.parametrize("arguments,error,message", [
    (dict(padding="full"), ValueError, "padding must be 'same' or 'valid'"),
    (dict(data_format="NHWC"), ValueError, "data_format must be one of"),
    (dict(strides=0), ValueError, r"strides must be positive integers \(>= 1\); got \(0, 0\)"),
    (dict(dilation_rate=1.5), TypeError, "dilation_rate must be an int or a pair of ints"),
    (dict(backend="gpu"), ValueError, "unknown backend 'gpu'; choose one of"),
    (dict(num_threads=0), ValueError, "num_threads must be None or an int >= 1; got 0"),
    (dict(num_threads=True), TypeError, "num_threads must be None or an int >= 1"),
])
def test_construction_validates_what_does_not_depend_on_x(arguments, error, message):
    with pytest.raises(error, match=message):
        deconv.Conv2DTranspose(np.ones((3, 3, 2, 2)), **arguments)


@pytest.mark.parametrize("kernel,error,message", [
    (np.ones((3, 3, 2)), ValueError, r"kernel must be a 4-D array \(kh, kw, Cout, Cin\)"),
    (np.ones((3, 3, 2, 2), np.int32), TypeError, "kernel has dtype int32"),
    (np.ones((0, 3, 2, 2)), ValueError, "kernel must have at least one row and one column"),
])
def test_construction_validates_the_kernel(kernel, error, message):
    with pytest.raises(error, match=message):
        deconv.Conv2DTranspose(kernel)


def test_calls_validate_x_like_the_function():
    operator = deconv.Conv2DTranspose(np.ones((3, 3, 4, 2)), 2, "same")
    with pytest.raises(ValueError, match=r"x has 3 channels \(channels_last\) but kernel.shape"):
        operator(np.ones((1, 4, 4, 3)))
    with pytest.raises(TypeError, match="x has dtype int64"):
        operator(np.ones((1, 4, 4, 2), np.int64))
    with pytest.raises(ValueError, match="x must be a 4-D array"):
        operator(np.ones((4, 4, 2)))
    with pytest.raises(ValueError, match="output height 5 is not reachable"):
        operator(np.ones((1, 4, 4, 2)), (1, 5, 8, 4))
    with pytest.raises(TypeError, match="output_shape entries must be integers; got 8.0"):
        operator(np.ones((1, 4, 4, 2)), (1, 8.0, 8, 4))
    operator(np.ones((1, 4, 4, 2)), (1, 8, 8, 4))  # a plan for exact ints...
    with pytest.raises(TypeError, match="output_shape entries must be integers; got True"):
        operator(np.ones((1, 4, 4, 2)), (True, 8, 8, 4))  # ...is not found by 1 == True
