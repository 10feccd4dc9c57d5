"""Property tests (hypothesis): random geometry, layouts and dtypes against the
oracle, the adjoint identity, and garbage arguments that must only ever raise
ValueError or TypeError."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deconv
from oracle import assert_close, conv2d_oracle, conv2d_transpose_oracle
from strategies import examples, problems

SETTINGS = settings(max_examples=examples(60), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend_name", ["reference", "direct", "fft", "auto"])
@SETTINGS
@given(case=problems(), dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       channels_first=st.booleans(), none_batch=st.booleans())
def test_matches_oracle(backend_name, case, dtype, channels_first, none_batch):
    x, kernel, out_hw, strides, padding, dilation = case
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    expected = conv2d_transpose_oracle(x, kernel, out_hw, strides, padding, dilation)
    n, cout = None if none_batch else x.shape[0], kernel.shape[2]
    if channels_first:
        y = deconv.conv2d_transpose(x.transpose(0, 3, 1, 2), kernel, [n, cout, *out_hw],
                                    strides, padding, "channels_first", dilation,
                                    backend=backend_name).transpose(0, 2, 3, 1)
    else:
        y = deconv.conv2d_transpose(x, kernel, [n, *out_hw, cout], strides, padding,
                                    "channels_last", dilation, backend=backend_name)
    assert y.dtype == dtype and y.shape == expected.shape
    assert_close(y, expected, dtype)


@pytest.mark.parametrize("backend_name", ["direct", "fft"])
@SETTINGS
@given(case=problems())
def test_adjoint_identity(backend_name, case):
    x, kernel, out_hw, strides, padding, dilation = case
    rng = np.random.default_rng(0)
    y = rng.standard_normal((x.shape[0], *out_hw, kernel.shape[2]))
    transposed = deconv.conv2d_transpose(x, kernel, (None, *out_hw, kernel.shape[2]), strides,
                                         padding, dilation_rate=dilation, backend=backend_name)
    forward = conv2d_oracle(y, kernel, x.shape[1:3], strides, padding, dilation)
    left, right = np.vdot(forward, x), np.vdot(y, transposed)
    assert abs(left - right) <= 1e-10 * max(1.0, abs(left), np.abs(forward).sum())


@SETTINGS
@given(case=problems(), threads=st.integers(2, 6))
def test_direct_thread_invariance(case, threads):
    # Small calls would otherwise use one thread, or the untiled small path.
    deconv._direct.SECONDS_PER_THREAD, deconv._direct.TRIVIAL_MADDS = 0, 0
    deconv.clear_caches()
    try:
        check_thread_invariance(case, threads)
    finally:
        deconv._direct.SECONDS_PER_THREAD, deconv._direct.TRIVIAL_MADDS = SMALL_CALL_LIMITS
        deconv.clear_caches()


SMALL_CALL_LIMITS = deconv._direct.SECONDS_PER_THREAD, deconv._direct.TRIVIAL_MADDS


def check_thread_invariance(case, threads):
    x, kernel, out_hw, strides, padding, dilation = case
    x, kernel = x.astype(np.float32), kernel.astype(np.float32)
    args = (x, kernel, (None, *out_hw, kernel.shape[2]), strides, padding, None, dilation)
    one = deconv.conv2d_transpose(*args, backend="direct", num_threads=1)
    assert np.array_equal(one, deconv.conv2d_transpose(*args, backend="direct",
                                                       num_threads=threads))


anything = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=3),
    st.lists(st.one_of(st.none(), st.integers(-2, 12), st.floats(0, 3)), max_size=5),
    st.tuples(st.integers(-1, 4), st.integers(-1, 4)))


@SETTINGS
@given(x_shape=st.lists(st.integers(0, 4), min_size=0, max_size=5),
       kernel_shape=st.lists(st.integers(0, 4), min_size=0, max_size=5),
       x_dtype=st.sampled_from(["f2", "f4", "f8", "i4", "?", "c8", "U1"]),
       output_shape=anything, strides=anything, dilation=anything,
       padding=st.one_of(st.sampled_from(["same", "VALID", "full"]), anything),
       data_format=st.sampled_from(["channels_last", "channels_first", None, "NHWC", 0]),
       num_threads=st.one_of(st.none(), st.integers(-1, 3), st.floats(0, 2)),
       backend_name=st.sampled_from([None, "auto", "direct", "fft", "reference", "nope"]))
def test_invalid_input_never_crashes(x_shape, kernel_shape, x_dtype, output_shape, strides,
                                     dilation, padding, data_format, num_threads, backend_name):
    x = np.zeros(x_shape, dtype=x_dtype)
    kernel = np.ones(kernel_shape, dtype="f4")
    try:
        y = deconv.conv2d_transpose(x, kernel, output_shape, strides, padding, data_format,
                                    dilation, backend=backend_name, num_threads=num_threads)
    except (ValueError, TypeError) as exc:
        assert str(exc)  # every refusal explains itself
    else:
        assert isinstance(y, np.ndarray) and y.flags.c_contiguous
        assert not np.any(y)


def test_a_longer_search_is_a_whole_multiple_of_the_budget(monkeypatch):
    monkeypatch.setenv("DECONV_HYPOTHESIS_SCALE", "3")
    assert examples(40) == 120
    for bad in ["0", "0.5", "ten", "-2"]:
        monkeypatch.setenv("DECONV_HYPOTHESIS_SCALE", bad)
        with pytest.raises(ValueError, match=f"DECONV_HYPOTHESIS_SCALE must be a whole number "
                                             f">= 1, got '{bad}'"):
            examples(40)
