"""conv2d (the exact adjoint) and the kernel gradient, on every backend,
against the naive oracle: the exhaustive tiny grid, random geometry in every
layout and dtype, the adjoint identity, central finite differences, bitwise
thread invariance, non-finite values, the operators and every error."""
import functools
import itertools
import pickle
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deconv
from oracle import (assert_close, assert_same_non_finite, conv2d_oracle, landing_pairs,
                    valid_sizes)
from strategies import examples, problems

SETTINGS = settings(max_examples=examples(40), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def kernel_gradient_oracle(x, dy, kernel_hw, strides, padding, dilation):
    """dkernel[a, b, o, c] = sum over n, i, j of x[n, i, j, c] * dy[n, r, q, o], float64."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    gradient = np.zeros((*kernel_hw, dy.shape[3], x.shape[3]))
    for i, j, a, b, r, q in landing_pairs(x.shape[1:3], dy.shape[1:3], kernel_hw, strides,
                                          padding, dilation):
        gradient[a, b] += dy[:, r, q, :].T @ x[:, i, j, :]
    return gradient


def both_layouts(function, first, second, *arguments, **keywords):
    """``function`` on channels-last arrays and on their channels-first
    copies, both results channels-last (a kernel-shaped result as it is)."""
    last = function(first, second, *arguments, data_format="channels_last", **keywords)
    first = function(first.transpose(0, 3, 1, 2), second if second.ndim == 4 and
                     function is deconv.conv2d else second.transpose(0, 3, 1, 2),
                     *arguments, data_format="channels_first", **keywords)
    return last, first.transpose(0, 2, 3, 1) if function is deconv.conv2d else first


@pytest.mark.parametrize("k,s,d,padding", list(itertools.product(
    range(1, 6), range(1, 4), (1, 2), ("same", "valid"))))
def test_grid_every_valid_output_size(k, s, d, padding, backend, rng):
    h, w = 3, 4
    kernel = rng.standard_normal((k, k, 2, 3))
    x = rng.standard_normal((2, h, w, 3))
    for out_h in valid_sizes(h, k, s, d, padding):
        for out_w in valid_sizes(w, k, s, d, padding):
            y = rng.standard_normal((2, out_h, out_w, 2))
            expected = conv2d_oracle(y, kernel, (h, w), (s, s), padding, (d, d))
            for result in both_layouts(deconv.conv2d, y, kernel, s, padding,
                                       dilation_rate=d, backend=backend):
                assert result.shape == expected.shape
                assert_close(result, expected, np.float64)
            expected = kernel_gradient_oracle(x, y, (k, k), (s, s), padding, (d, d))
            for result in both_layouts(deconv.conv2d_transpose_kernel_gradient, x, y, k, s,
                                       padding, dilation_rate=d, backend=backend):
                assert result.shape == expected.shape
                assert_close(result, expected, np.float64)


def with_output(case):
    """A case of ``strategies.problems`` with a random y of its output shape."""
    x, kernel, out_hw, strides, padding, dilation = case
    y = np.random.default_rng(x.size + kernel.size).standard_normal(
        (x.shape[0], *out_hw, kernel.shape[2]))
    return x, y, kernel, strides, padding, dilation


@pytest.mark.parametrize("backend_name", ["reference", "direct", "fft", "auto"])
@SETTINGS
@given(case=problems(), dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       channels_first=st.booleans())
def test_random_geometry_layouts_and_dtypes(backend_name, case, dtype, channels_first):
    x, y, kernel, strides, padding, dilation = with_output(case)
    x, y, kernel = x.astype(dtype), y.astype(dtype), kernel.astype(dtype)
    to_caller = (lambda array: array.transpose(0, 3, 1, 2)) if channels_first else \
        (lambda array: array)
    data_format = "channels_first" if channels_first else "channels_last"
    result = deconv.conv2d(to_caller(y), kernel, strides, padding, data_format, dilation,
                           backend=backend_name)
    expected = conv2d_oracle(y, kernel, x.shape[1:3], strides, padding, dilation)
    assert result.dtype == dtype and result.shape == to_caller(expected).shape
    assert_close(result, to_caller(expected), dtype)
    gradient = deconv.conv2d_transpose_kernel_gradient(
        to_caller(x), to_caller(y), kernel.shape[:2], strides, padding, data_format, dilation,
        backend=backend_name)
    expected = kernel_gradient_oracle(x, y, kernel.shape[:2], strides, padding, dilation)
    assert gradient.dtype == dtype and gradient.shape == kernel.shape
    assert_close(gradient, expected, dtype)


@pytest.mark.parametrize("backend_name", ["direct", "fft", "reference"])
@SETTINGS
@given(case=problems())
def test_adjoint_identity(backend_name, case):
    x, y, kernel, strides, padding, dilation = with_output(case)
    forward = deconv.conv2d_transpose(x, kernel, y.shape, strides, padding,
                                      dilation_rate=dilation, backend=backend_name)
    adjoint = deconv.conv2d(y, kernel, strides, padding, dilation_rate=dilation,
                            backend=backend_name)
    assert adjoint.shape == x.shape
    lhs, rhs = np.vdot(adjoint, x), np.vdot(y, forward)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs), np.abs(x).sum() * np.abs(y).max(initial=0))
    # The kernel gradient is the derivative of <y, conv2d_transpose(x, kernel)>,
    # which is linear in the kernel, and the kernel gradient of conv2d.
    gradient = deconv.conv2d_transpose_kernel_gradient(x, y, kernel.shape[:2], strides, padding,
                                                       dilation_rate=dilation,
                                                       backend=backend_name)
    assert abs(np.vdot(gradient, kernel) - rhs) <= 1e-10 * max(1.0, abs(rhs)) * kernel.size
    via_conv2d = deconv.Conv2D(kernel, strides, padding, dilation_rate=dilation,
                               backend=backend_name).kernel_gradient(x, y)
    np.testing.assert_array_equal(via_conv2d, gradient)


@pytest.mark.parametrize("strides,padding,dilation", [
    ((2, 2), "same", (1, 1)), ((1, 3), "valid", (2, 1)), ((3, 2), "same", (2, 2))])
def test_gradients_against_central_differences(strides, padding, dilation, rng):
    """loss = sum(w * tanh(conv2d_transpose(x, kernel))): its derivatives by
    the chain rule (conv2d for x, the kernel gradient for the kernel) against
    central finite differences, float64."""
    x = rng.standard_normal((2, 4, 5, 3))
    kernel = rng.standard_normal((3, 4, 2, 3)) * 0.3
    out_hw = (valid_sizes(4, 3, strides[0], dilation[0], padding)[-1],
              valid_sizes(5, 4, strides[1], dilation[1], padding)[0])
    weights = rng.standard_normal((2, *out_hw, 2))

    def loss(x, kernel):
        y = deconv.conv2d_transpose(x, kernel, (2, *out_hw, 2), strides, padding,
                                    dilation_rate=dilation)
        return float(np.sum(weights * np.tanh(y)))

    y = deconv.conv2d_transpose(x, kernel, (2, *out_hw, 2), strides, padding,
                                dilation_rate=dilation)
    dy = weights * (1 - np.tanh(y) ** 2)
    dx = deconv.conv2d(dy, kernel, strides, padding, dilation_rate=dilation)
    dkernel = deconv.conv2d_transpose_kernel_gradient(x, dy, kernel.shape[:2], strides, padding,
                                                      dilation_rate=dilation)
    step = 1e-6
    for array, gradient, which in ((x, dx, 0), (kernel, dkernel, 1)):
        for index in map(tuple, rng.integers(0, array.shape, size=(12, 4))):
            plus, minus = array.copy(), array.copy()
            plus[index] += step
            minus[index] -= step
            arguments_plus = (plus, kernel) if which == 0 else (x, plus)
            arguments_minus = (minus, kernel) if which == 0 else (x, minus)
            numeric = (loss(*arguments_plus) - loss(*arguments_minus)) / (2 * step)
            assert abs(numeric - gradient[index]) <= 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_direct_is_bitwise_identical_for_any_thread_count(dtype, data_format, rng):
    y = rng.standard_normal((4, 33, 30, 48)).astype(dtype)
    x = rng.standard_normal((4, 17, 15, 40)).astype(dtype)
    kernel = rng.standard_normal((4, 3, 48, 40)).astype(dtype)
    if data_format == "channels_first":
        x, y = x.transpose(0, 3, 1, 2).copy(), y.transpose(0, 3, 1, 2).copy()
    arguments = dict(strides=2, padding="same", data_format=data_format, backend="direct")
    results = [(deconv.conv2d(y, kernel, num_threads=threads, **arguments),
                deconv.conv2d_transpose_kernel_gradient(x, y, (4, 3), num_threads=threads,
                                                        **arguments))
               for threads in (1, 2, 3, 8)]
    for conv, gradient in results[1:]:
        np.testing.assert_array_equal(conv, results[0][0])
        np.testing.assert_array_equal(gradient, results[0][1])


@pytest.mark.parametrize("backend_name", ["direct", "auto", "reference"])
def test_non_finite_values_reach_exactly_where_they_land(backend_name, rng):
    y = rng.standard_normal((1, 23, 21, 3))
    y[0, 5, 7, 1], y[0, 15, 2, 0], y[0, 0, 0, 2] = np.nan, np.inf, -np.inf
    kernel = rng.standard_normal((9, 9, 3, 2))
    result = deconv.conv2d(y, kernel, 2, "same", backend=backend_name)
    assert_same_non_finite(result, conv2d_oracle(y, kernel, (12, 11), (2, 2), "same", (1, 1)))
    x = rng.standard_normal((1, 12, 11, 2))
    x[0, 3, 3, 0] = np.nan
    dy = rng.standard_normal(y.shape)
    gradient = deconv.conv2d_transpose_kernel_gradient(x, dy, 9, 2, "same",
                                                       backend=backend_name)
    expected = kernel_gradient_oracle(x, dy, (9, 9), (2, 2), "same", (1, 1))
    assert_same_non_finite(gradient, expected)


def test_fft_refuses_non_finite_when_forced(rng):
    y = rng.standard_normal((1, 20, 20, 2))
    y[0, 3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="backend 'fft' cannot compute this call: .*NaN"):
        deconv.conv2d(y, np.ones((9, 9, 2, 2)), backend="fft")


def test_operators(rng):
    kernel = rng.standard_normal((4, 4, 6, 5)).astype(np.float32)
    up = deconv.Conv2DTranspose(kernel, strides=2, padding="same", backend="direct")
    down = up.adjoint
    assert isinstance(down, deconv.Conv2D) and down is up.adjoint
    assert down.kernel is up.kernel and down.adjoint.kernel is up.kernel
    y = rng.standard_normal((3, 10, 12, 6)).astype(np.float32)
    x = rng.standard_normal((3, 5, 6, 5)).astype(np.float32)
    expected = deconv.conv2d(y, kernel, 2, "same", backend="direct")
    np.testing.assert_array_equal(down(y), expected)
    out = np.empty_like(expected)
    assert down(y, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(down))(y), expected)
    np.testing.assert_array_equal(up.kernel_gradient(x, y),
                                  deconv.conv2d_transpose_kernel_gradient(
                                      x, y, 4, 2, "same", backend="direct"))
    # The strategy and the kernel variant depend on the SIMD level's costs.
    assert re.fullmatch(r"AdjointPlan\(output \(3, 5, 6, 5\), (gather|4 phase\(s\)) on "
                        r"direct \(\w+\)(, direct \(\w+\))*\)", repr(down.plan_for(y)))
    assert repr(down).startswith("Conv2D(kernel (4, 4, 6, 5) float32, strides=(2, 2)")


def test_kernel_gradient_out(rng):
    x, dy = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((2, 6, 6, 4))
    out = np.empty((3, 3, 4, 2))
    assert deconv.conv2d_transpose_kernel_gradient(x, dy, 3, 2, "same", out=out) is out
    np.testing.assert_allclose(out, kernel_gradient_oracle(x, dy, (3, 3), (2, 2), "same",
                                                           (1, 1)), atol=1e-12)
    with pytest.raises(ValueError, match=r"out has shape \(3, 3, 2, 4\) but the output of "
                                         r"this call has shape \(3, 3, 4, 2\)"):
        deconv.conv2d_transpose_kernel_gradient(x, dy, 3, 2, "same", out=np.empty((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="out shares memory with dy"):
        deconv.conv2d_transpose_kernel_gradient(x, dy, 3, 2, "same",
                                                out=dy.reshape(-1)[:72].reshape(3, 3, 4, 2))


@pytest.mark.parametrize("call, error, message", [
    (lambda: deconv.conv2d(np.ones((1, 4, 4)), np.ones((2, 2, 1, 1))), ValueError,
     r"y must be a 4-D array \(N, H, W, Cout\) or \(N, Cout, H, W\); got an array of rank 3"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2), int), np.ones((2, 2, 2, 1))), TypeError,
     "y has dtype int64; deconv computes with real floating point only"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 3, 1))), ValueError,
     r"y has 2 channels \(channels_last\) but kernel.shape\[2\] \(the channels of "
     r"conv2d_transpose's output\) is 3"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((0, 2, 2, 1))), ValueError,
     "kernel must have at least one row and one column"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)), strides=0),
     ValueError, r"strides must be positive integers \(>= 1\); got \(0, 0\)"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)), padding="full"),
     ValueError, "padding must be 'same' or 'valid'"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)), backend="nope"),
     ValueError, "unknown backend 'nope'"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)), num_threads=0),
     ValueError, "num_threads must be None or an int >= 1; got 0"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)),
                           out=np.empty((1, 3, 3, 2))), ValueError,
     r"out has shape \(1, 3, 3, 2\) but the output of this call has shape \(1, 3, 3, 1\)"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)),
                           out=np.empty((1, 3, 3, 1), np.float32)), TypeError,
     "out has dtype float32 but the result of this call has dtype float64"),
    (lambda: deconv.conv2d(np.ones((1, 4, 4, 2)), np.ones((2, 2, 2, 1)),
                           dilation_rate=2 ** 62), ValueError,
     "the height stride 1 and dilation 4611686018427387904 must stay below 2"),
    (lambda: deconv.conv2d_transpose_kernel_gradient(np.ones((2, 3, 3, 1)),
                                                     np.ones((3, 6, 6, 1)), 2, 2), ValueError,
     "dy has batch 3 but x has batch 2; they must match"),
    (lambda: deconv.conv2d_transpose_kernel_gradient(np.ones((2, 3, 3, 1)),
                                                     np.ones((2, 9, 6, 1)), 2, 2), ValueError,
     "output height 9 is not reachable from input height 3 with kernel 2, stride 2, "
     "padding 'valid': valid heights are 6..7"),
    (lambda: deconv.conv2d_transpose_kernel_gradient(np.ones((2, 3, 3, 1)),
                                                     np.ones((2, 6, 6, 1)), 0, 2), ValueError,
     r"kernel_size must be positive integers \(>= 1\); got \(0, 0\)"),
    (lambda: deconv.conv2d_transpose_kernel_gradient(np.ones((2, 3, 3, 1)),
                                                     np.ones((2, 6, 6, 1)), 2.5, 2), TypeError,
     "kernel_size must be an int or a pair of ints; got 2.5"),
    (lambda: deconv.conv2d_transpose_kernel_gradient(np.ones((2, 3, 3)),
                                                     np.ones((2, 6, 6, 1)), 2, 2), ValueError,
     "x must be a 4-D array"),
    (lambda: deconv.conv2d_transpose_kernel_gradient(np.ones((2, 3, 3, 1)),
                                                     np.ones((2, 6, 6, 1), complex), 2, 2),
     TypeError, "dy has dtype complex128"),
    (lambda: deconv.Conv2D(np.ones((2, 2, 1))), ValueError, "kernel must be a 4-D array"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_inputs_are_never_modified(rng):
    y, kernel = rng.standard_normal((2, 9, 9, 3)), rng.standard_normal((3, 3, 3, 2))
    x = rng.standard_normal((2, 5, 5, 2))
    copies = y.copy(), kernel.copy(), x.copy()
    for backend_name in ("reference", "direct", "fft"):
        deconv.conv2d(y, kernel, 2, "same", backend=backend_name)
        deconv.conv2d_transpose_kernel_gradient(x, y, 3, 2, "same", backend=backend_name)
    for array, copy in zip((y, kernel, x), copies):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("kernel_hw,strides,padding,dilation", [
    ((4, 4), (2, 2), "same", (1, 1)), ((3, 3), (2, 2), "same", (1, 1)),
    ((2, 2), (2, 2), "valid", (1, 1)), ((5, 3), (3, 2), "valid", (2, 1)),
    ((3, 4), (1, 3), "same", (2, 1)), ((9, 9), (3, 3), "same", (1, 1))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_every_way_of_computing_the_adjoint(kernel_hw, strides, padding, dilation, data_format,
                                            rng):
    """Phases, the stacked convolution and the gather each match the oracle,
    whichever the cost model picks (finite data; non-finite data take the
    phases or the gather, see the test above)."""
    from deconv._adjoint import AdjointPlan, adjoint_kernel
    from deconv._api import _adjoint_planner
    from deconv._conv2d import conv2d_plan, execute_conv2d
    kernel = rng.standard_normal((*kernel_hw, 5, 3))
    out_hw = (valid_sizes(6, kernel_hw[0], strides[0], dilation[0], padding)[-1],
              valid_sizes(7, kernel_hw[1], strides[1], dilation[1], padding)[0])
    y = rng.standard_normal((2, *out_hw, 5))
    expected = conv2d_oracle(y, kernel, (6, 7), strides, padding, dilation)
    caller_y = y.transpose(0, 3, 1, 2).copy() if data_format == "channels_first" else y
    planner = _adjoint_planner(strides, padding, data_format, dilation, "direct", None)
    plan = conv2d_plan(planner, caller_y, kernel.shape, kernel.dtype)
    problem = plan.problem
    arguments = (problem.rows, problem.cols, 2, 5, 3, problem.dtype, 2)
    ways = {"phases": (plan.phases, None, None),
            "gather": (plan.phases, None, planner._gather(*arguments)),
            "stacked": (plan.phases, planner._stacked(*arguments), None)}
    for runs in ways.values():
        way = AdjointPlan(problem, runs, plan.output_shape, 2)
        result = execute_conv2d(way, caller_y, lambda: True,
                                functools.partial(adjoint_kernel, kernel, way,
                                                  dtype=problem.dtype),
                                lambda key, call: None, None, (caller_y,))
        if data_format == "channels_first":
            result = result.transpose(0, 2, 3, 1)
        assert_close(result, expected, np.float64)
