"""What real programs do to a library: fork it, interrupt it, hand it absurd
geometry and random arguments, share its context managers between threads.
Every case here failed once (see the docs' page on guarantees)."""
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deconv
from oracle import conv2d_transpose_oracle
from strategies import examples

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["auto", "direct", "fft", "reference"]
FUZZ_EXAMPLES = examples(int(os.environ.get("DECONV_FUZZ_EXAMPLES", "150")))


def run_python(code, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_forked_children_after_a_threaded_parent_call():
    # Twenty times: a multiprocessing "fork" pool of four, and a bare
    # os.fork; libgomp's thread team does not survive fork, so without the
    # one-thread rule each child would wait forever.
    done = run_python("""
        import multiprocessing, os, numpy as np, deconv
        x = np.random.default_rng(0).standard_normal((8, 16, 16, 64)).astype(np.float32)
        k = np.random.default_rng(1).standard_normal((4, 4, 32, 64)).astype(np.float32)
        expected = deconv.conv2d_transpose(x, k, strides=2, padding="same", num_threads=2)
        def work(_):
            return bool(np.array_equal(
                deconv.conv2d_transpose(x, k, strides=2, padding="same"), expected))
        for attempt in range(20):
            with multiprocessing.get_context("fork").Pool(4) as pool:
                assert all(pool.map(work, range(8)))
            pid = os.fork()
            if pid == 0:
                os._exit(0 if work(0) else 3)
            assert os.waitpid(pid, 0)[1] == 0
        print("ok")
    """, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


INTERRUPTED = {
    # backend, x shape, kernel shape, stride: calls of several seconds here
    "direct wide": ("direct", (256, 32, 32, 256), (4, 4, 256, 256), 2, "float64"),
    "direct narrow": ("direct", (768, 64, 64, 64), (15, 15, 3, 64), 1, "float32"),
    "fft": ("fft", (512, 128, 128, 16), (31, 31, 16, 16), 1, "float32"),
    "reference": ("reference", (64, 32, 32, 256), (4, 4, 256, 256), 2, "float32"),
}


@pytest.mark.parametrize("case", sorted(INTERRUPTED))
def test_ctrl_c_interrupts_a_long_call(case):
    backend, x_shape, k_shape, stride, dtype = INTERRUPTED[case]
    done = run_python(f"""
        import os, signal, threading, time, numpy as np, deconv
        rng = np.random.default_rng(0)
        x = rng.standard_normal({x_shape}).astype("{dtype}")
        k = rng.standard_normal({k_shape}).astype("{dtype}")
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            deconv.conv2d_transpose(x, k, strides={stride}, padding="same", backend="{backend}")
            print("finished")
        except KeyboardInterrupt:
            print("interrupted")
        small = deconv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((2, 2, 1, 2)))
        print(small.shape)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["interrupted", "(1, 4, 4, 1)"]


HUGE = [1, 3, 7, 2 ** 20, 2 ** 40, 2 ** 61, 2 ** 62 - 1, 2 ** 62, 2 ** 63 - 1]


@pytest.mark.parametrize("backend", BACKENDS + ["choose_backend"])
@pytest.mark.parametrize("size", [0, 1, 3])
def test_absurd_strides_and_dilations_give_a_result_or_a_clear_error(backend, size):
    x = np.ones((1, size, 2, 2))
    kernel = np.ones((3, 2, 2, 2))
    for value in HUGE:
        for padding in ("same", "valid"):
            for arguments in (dict(strides=(value, 1)), dict(dilation_rate=(1, value)),
                              dict(strides=value, dilation_rate=value)):
                try:
                    if backend == "choose_backend":
                        deconv.choose_backend(x, kernel, padding=padding, **arguments)
                    else:
                        y = deconv.conv2d_transpose(x, kernel, padding=padding,
                                                    backend=backend, **arguments)
                        assert np.isfinite(y).all()
                except (ValueError, MemoryError) as error:
                    assert str(error)


def test_one_set_backend_object_entered_from_several_threads():
    scope = deconv.set_backend("reference")
    seen, start = [], threading.Barrier(4)

    def enter_twice():
        start.wait()
        with scope:
            with scope:
                seen.append(deconv.current_backend())
            seen.append(deconv.current_backend())
        seen.append(deconv.current_backend())

    threads = [threading.Thread(target=enter_twice) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == ["auto"] * 4 + ["reference"] * 8
    assert deconv.current_backend() == "auto"


@pytest.mark.parametrize("backend", ["direct", "reference", "auto"])
def test_float16_overflow_is_inf_without_a_warning(backend):
    # pytest turns warnings into errors here (filterwarnings = error)
    x = np.full((1, 2, 2, 4), 60000, np.float16)
    y = deconv.conv2d_transpose(x, np.ones((2, 2, 1, 4), np.float16), backend=backend)
    assert y.dtype == np.float16 and np.isinf(y).all()


def test_non_finite_inputs_on_the_reference_backend_warn_nothing():
    x = np.ones((1, 3, 3, 2))
    x[0, 1, 1, 0] = np.nan
    x[0, 0, 0, 1] = np.inf
    y = deconv.conv2d_transpose(x, np.ones((2, 2, 2, 2)), backend="reference")
    assert np.isnan(y).any() and np.isinf(y).any()


@pytest.mark.parametrize("backend", ["fft", "direct", "reference"])
def test_cells_nothing_reaches_are_exactly_zero(backend, rng):
    x = rng.standard_normal((2, 3, 4, 3))
    kernel = rng.standard_normal((3, 2, 2, 3))
    for strides, dilation, padding in (((1, 1), (5, 7), "valid"), ((3, 4), (1, 1), "valid"),
                                       ((1, 1), (4, 5), "same"), ((5, 5), (1, 1), "same")):
        y = deconv.conv2d_transpose(x, kernel, strides=strides, dilation_rate=dilation,
                                    padding=padding, backend=backend)
        expected = conv2d_transpose_oracle(x, kernel, y.shape[1:3], strides, padding, dilation)
        reached = conv2d_transpose_oracle(np.ones_like(x), np.ones_like(kernel), y.shape[1:3],
                                          strides, padding, dilation) != 0
        assert (~reached).any()
        assert (y[~reached] == 0).all()
        np.testing.assert_allclose(y, expected, atol=1e-12)


def _shapes(draw, dims, low, high):
    return tuple(draw(st.integers(low, high)) for _ in range(dims))


@st.composite
def calls(draw):
    """Any arguments, valid or not: shapes with zeros, strides and dilations
    from 0 to 2**63, odd output shapes, every dtype, odd thread counts."""
    x_shape = _shapes(draw, draw(st.sampled_from([4, 4, 4, 3])), 0, 5)
    k_shape = _shapes(draw, draw(st.sampled_from([4, 4, 4, 5])), 0, 4)
    dtype = draw(st.sampled_from(["float32", "float64", "float16", "int32", "complex64",
                                  "bool"]))
    number = st.one_of(st.integers(-1, 4), st.sampled_from([2 ** 31, 2 ** 62, 2 ** 63 - 1]))
    pair = st.one_of(number, st.tuples(number, number), st.just((1, 2, 3)),
                     st.floats(0.5, 3), st.just(None))
    output_shape = draw(st.one_of(st.none(), st.tuples(*[st.one_of(st.none(), st.integers(
        -1, 12))] * 4), st.lists(st.integers(0, 12), min_size=3, max_size=5)))
    return dict(x=np.ones(x_shape, dtype=dtype), kernel=np.ones(k_shape, dtype=dtype),
                output_shape=output_shape, strides=draw(pair), dilation_rate=draw(pair),
                padding=draw(st.sampled_from(["same", "valid", "SAME", "full", 3])),
                data_format=draw(st.sampled_from([None, "channels_last", "channels_first",
                                                  "NHWC"])),
                num_threads=draw(st.one_of(st.none(), number, st.just(True), st.just(2.0))))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(call=calls())
def test_fuzzing_the_public_api(backend, call):
    """Every call gives the oracle's values or a ValueError, TypeError or
    MemoryError -- nothing else, and no crash or hang. DECONV_FUZZ_EXAMPLES
    sets the number of calls per backend (150 in CI), DECONV_HYPOTHESIS_SCALE
    multiplies it (``strategies.examples``)."""
    try:
        y = deconv.conv2d_transpose(backend=backend, **call)
    except (ValueError, TypeError, MemoryError) as error:
        assert str(error)
        return
    x, kernel = call["x"], call["kernel"]
    if call["data_format"] == "channels_first":
        x, y = x.transpose(0, 2, 3, 1), y.transpose(0, 2, 3, 1)
    strides = call["strides"] if isinstance(call["strides"], tuple) else (call["strides"],) * 2
    dilation = call["dilation_rate"] if isinstance(call["dilation_rate"], tuple) else \
        (call["dilation_rate"],) * 2
    if y.size <= 4096:
        expected = conv2d_transpose_oracle(x, kernel, y.shape[1:3], strides,
                                           call["padding"].lower(), dilation)
        tolerance = 1e-2 if x.dtype == np.float16 else 1e-5
        np.testing.assert_allclose(y.astype(np.float64), expected, rtol=tolerance,
                                   atol=tolerance * max(1.0, np.abs(expected).max(initial=0)))


@settings(max_examples=examples(60), deadline=None)
@given(size=st.sampled_from([0, 1, 15, 64, 65535, 65536, 65537, 4 * 65536 + 3]),
       dtype=st.sampled_from([np.float32, np.float64]),
       bad=st.sampled_from([None, np.nan, np.inf, -np.inf]),
       where=st.floats(0, 1, exclude_max=True), threads=st.integers(1, 3),
       large=st.booleans())
def test_the_finiteness_check_agrees_with_numpy(size, dtype, bad, where, threads, large):
    from deconv._simd import core
    if core is None:
        pytest.skip("no compiled core")
    # Values near the dtype's largest: x * 0 stays 0 for every finite x.
    array = np.full(size, np.finfo(dtype).max if large else -1.5, dtype)
    if bad is not None and size:
        array[int(where * size)] = bad
    assert core.all_finite(array, threads) == bool(np.isfinite(array).all())


def test_the_finiteness_check_refuses_what_it_cannot_read():
    from deconv._simd import core
    if core is None:
        pytest.skip("no compiled core")
    with pytest.raises(ValueError, match="C-contiguous float32 or float64 array in native "
                                         "byte order; got float16"):
        core.all_finite(np.zeros(3, np.float16), 1)
    with pytest.raises(ValueError, match=r"got float32 with strides \(8,\)"):
        core.all_finite(np.zeros(6, np.float32)[::2], 1)
    with pytest.raises(ValueError, match="num_threads must be at least 1; got 0"):
        core.all_finite(np.zeros(3), 0)
    with pytest.raises(ValueError, match="in native byte order; got >f4"):
        core.all_finite(np.zeros(3, ">f4"), 1)
    # float16 and strided arrays are checked by NumPy instead.
    from deconv._simd import all_finite
    assert not all_finite(np.array([1, np.inf], np.float16))
    assert all_finite(np.zeros((4, 4), np.float32).T, 2)
    # A NaN read in the wrong byte order is a finite number.
    assert not all_finite(np.array([1, np.nan, 1], ">f4"), 1)
    assert not all_finite(np.array([np.inf], ">f8"), 1)
