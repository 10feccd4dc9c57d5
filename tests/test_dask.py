"""deconv.dask: lazy transposed convolution of Dask arrays, on the threaded
and synchronous schedulers and on a real distributed.LocalCluster of two
worker processes, compared with the in-memory call (itself checked against
the oracle elsewhere)."""
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deconv
from oracle import assert_close, valid_sizes
from strategies import examples

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
import deconv.dask as deconv_dask  # noqa: E402 (after the skips)

SETTINGS = settings(max_examples=examples(50), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def random_chunks(draw, size):
    """A partition of ``size`` into chunks: uneven, sometimes empty, often
    smaller than a kernel's halo."""
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=5)))
    bounds = [0, *cuts, size]
    return tuple(stop - start for start, stop in zip(bounds, bounds[1:]))


@st.composite
def tiled_calls(draw):
    n = draw(st.integers(0, 3))
    h, w = draw(st.integers(0, 13)), draw(st.integers(1, 13))
    cin, cout = draw(st.integers(1, 4)), draw(st.integers(1, 20))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid"]))
    out_h = draw(st.sampled_from(valid_sizes(h, kh, sh, dh, padding)))
    out_w = draw(st.sampled_from(valid_sizes(w, kw, sw, dw, padding)))
    chunks = (random_chunks(draw, n), random_chunks(draw, h), random_chunks(draw, w),
              random_chunks(draw, cin) if draw(st.booleans()) else (cin,))
    output_chunks = draw(st.sampled_from([None, None, 1, 5, ((out_h,), (out_w,))]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin))
    kernel = rng.standard_normal((kh, kw, cout, cin))
    arguments = dict(strides=(sh, sw), padding=padding, dilation_rate=(dh, dw))
    return x, kernel, chunks, (out_h, out_w), arguments, output_chunks


def in_memory_and_lazy(x, kernel, chunks, out_hw, arguments, output_chunks, channels_first,
                       backend):
    n, cout = x.shape[0], kernel.shape[2]
    if channels_first:
        x = x.transpose(0, 3, 1, 2)
        chunks = (chunks[0], chunks[3], chunks[1], chunks[2])
        output_shape = (n, cout, *out_hw)
        data_format = "channels_first"
    else:
        output_shape = (n, *out_hw, cout)
        data_format = "channels_last"
    x = np.ascontiguousarray(x)
    expected = deconv.conv2d_transpose(x, kernel, output_shape, data_format=data_format,
                                       backend=backend, **arguments)
    lazy = deconv_dask.conv2d_transpose(da.from_array(x, chunks=chunks), kernel, output_shape,
                                        data_format=data_format, backend=backend,
                                        output_chunks=output_chunks, **arguments)
    return expected, lazy


@pytest.mark.parametrize("backend", ["direct", "reference", "fft", "auto"])
@SETTINGS
@given(call=tiled_calls(), dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       channels_first=st.booleans(), scheduler=st.sampled_from(["threads", "sync"]))
def test_equals_the_in_memory_call(backend, call, dtype, channels_first, scheduler):
    x, kernel, chunks, out_hw, arguments, output_chunks = call
    expected, lazy = in_memory_and_lazy(x.astype(dtype), kernel.astype(dtype), chunks, out_hw,
                                        arguments, output_chunks, channels_first, backend)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    result = lazy.compute(scheduler=scheduler)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if backend == "direct":  # each piece adds up its terms as the whole call does
        np.testing.assert_array_equal(result, expected)
    else:
        assert_close(result, expected, dtype)


@st.composite
def tiled_adjoint_calls(draw):
    """conv2d of a y chunked at random (the output of a random transposed
    convolution)."""
    x, kernel, _, out_hw, arguments, output_chunks = draw(tiled_calls())
    n, cout = x.shape[0], kernel.shape[2]
    chunks = (random_chunks(draw, n), random_chunks(draw, out_hw[0]),
              random_chunks(draw, out_hw[1]),
              random_chunks(draw, cout) if draw(st.booleans()) else (cout,))
    y = np.random.default_rng(x.size).standard_normal((n, *out_hw, cout))
    in_hw = x.shape[1:3]
    return y, kernel, chunks, in_hw, arguments, None if output_chunks == (
        (out_hw[0],), (out_hw[1],)) else output_chunks


@pytest.mark.parametrize("backend", ["direct", "reference", "fft", "auto"])
@SETTINGS
@given(call=tiled_adjoint_calls(), dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       channels_first=st.booleans(), scheduler=st.sampled_from(["threads", "sync"]))
def test_conv2d_equals_the_in_memory_call(backend, call, dtype, channels_first, scheduler):
    y, kernel, chunks, in_hw, arguments, output_chunks = call
    y, kernel = y.astype(dtype), kernel.astype(dtype)
    if channels_first:
        y = np.ascontiguousarray(y.transpose(0, 3, 1, 2))
        chunks = (chunks[0], chunks[3], chunks[1], chunks[2])
    data_format = "channels_first" if channels_first else "channels_last"
    expected = deconv.conv2d(y, kernel, data_format=data_format, backend=backend, **arguments)
    lazy = deconv_dask.conv2d(da.from_array(y, chunks=chunks), kernel, data_format=data_format,
                              backend=backend, output_chunks=output_chunks, **arguments)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    result = lazy.compute(scheduler=scheduler)
    if backend == "direct":  # each piece computed the whole call's way
        np.testing.assert_array_equal(result, expected)
    else:
        assert_close(result, expected, dtype)


@pytest.mark.parametrize("strides, cin, cout, output_chunks", [
    (1, 17, 4, ((7,), (3, 16))),   # narrow kernel; a 3-column window drops dilated taps
    (2, 4, 17, ((2, 2), (10,))),   # wide kernel; a 2-row window drops them
])
def test_conv2d_windows_that_drop_dilated_taps_run_the_whole_calls_variant(
        strides, cin, cout, output_chunks, rng):
    y = rng.standard_normal((1, 7, 19, cin)).astype(np.float32)
    kernel = rng.standard_normal((5, 5, cin, cout)).astype(np.float32)
    arguments = dict(strides=strides, padding="same", dilation_rate=2, backend="direct")
    expected = deconv.conv2d(y, kernel, **arguments)
    lazy = deconv_dask.conv2d(da.from_array(y, chunks=y.shape), kernel,
                              output_chunks=output_chunks, **arguments)
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), expected)


def test_conv2d_windows_that_drop_a_tap_add_the_phases_in_the_whole_calls_order(rng):
    # 5 taps at stride 3 ("same", pad 1): phases of taps {0, 3}, {1, 4}, {2}.
    # The window of output row 0 drops tap 0 (it reads y row -1); ordered by
    # the taps that land, its phases were {1, 4}, {2}, {3} and row 0 added
    # t3 last rather than first (found by hypothesis: 10 of 96 items off by
    # an ulp or two). Ordered by residue class, as the whole call.
    y = rng.standard_normal((2, 8, 4, 11)).astype(np.float32)
    kernel = rng.standard_normal((5, 5, 11, 4)).astype(np.float32)
    arguments = dict(strides=(3, 1), padding="same", backend="direct")
    expected = deconv.conv2d(y, kernel, **arguments)
    lazy = deconv_dask.conv2d(da.from_array(y, chunks=((2,), (3, 5), (4,), (11,))), kernel,
                              **arguments)
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), expected)
    rows = deconv.Conv2D(kernel, **arguments).plan_for(y).problem.rows
    whole = {phase.order: sorted(phase.taps.tolist()) for phase in rows.adjoint_phases()}
    window = {phase.order: sorted(phase.taps.tolist())
              for phase in rows.adjoint_window(0, 1).axis.adjoint_phases()}
    assert whole == {0: [0, 3], 1: [1, 4], 2: [2]} and window == {0: [3], 1: [1, 4], 2: [2]}


def test_conv2d_chunks_and_errors():
    kernel = np.ones((4, 4, 3, 2), np.float32)
    y = da.ones((6, 3, 40, 30), np.float32, chunks=(4, 3, 16, 30))
    x = deconv_dask.conv2d(y, kernel, strides=2, padding="same", data_format="channels_first")
    assert x.chunks == ((4, 2), (2,), (8, 8, 4), (15,))
    np.testing.assert_array_equal(x.compute(), deconv.conv2d(
        np.ones((6, 3, 40, 30), np.float32), kernel, 2, "same", "channels_first"))
    with pytest.raises(TypeError, match="a Conv2D operator takes no output_shape"):
        deconv_dask.apply(deconv.Conv2D(kernel), y, (6, 2, 10, 10))
    with pytest.raises(ValueError, match=r"y has 3 channels \(channels_last\) but "
                                         r"kernel.shape\[2\]"):
        deconv_dask.conv2d(da.ones((1, 8, 8, 3)), np.ones((2, 2, 4, 1)))
    huge = da.zeros((1, 200_000, 200_000, 16), np.float32, chunks=(1, 100_000, 100_000, 16))
    assert deconv_dask.conv2d(huge, np.ones((4, 4, 16, 16), np.float32), strides=2,
                              padding="same").shape == (1, 100_000, 100_000, 16)


def test_output_chunks_follow_the_rule():
    kernel = np.ones((4, 4, 3, 2), np.float32)
    x = da.ones((6, 2, 40, 30), np.float32, chunks=(4, 1, 16, 30))
    y = deconv_dask.conv2d_transpose(x, kernel, strides=2, padding="same",
                                     data_format="channels_first")
    # batch chunks kept, channels one chunk, rows cut every 2 * 16, one column chunk
    assert y.chunks == ((4, 2), (3,), (32, 32, 16), (60,))
    y = deconv_dask.conv2d_transpose(x, kernel, strides=2, padding="same",
                                     data_format="channels_first", output_chunks=(25, (50, 10)))
    assert y.chunks == ((4, 2), (3,), (25, 25, 25, 5), (50, 10))
    assert y.compute().shape == (6, 3, 80, 60)


@pytest.mark.parametrize("output_chunks, error, message", [
    ("big", TypeError, "output_chunks must be None, an int or a pair"),
    ((1, 2, 3), TypeError, "output_chunks must be None, an int or a pair"),
    (0, ValueError, "output_chunks for the height must be >= 1; got 0"),
    ((8, (5, 5)), ValueError, r"adding up to the output width 16; got \(5, 5\)"),
    ((8, (20, -4)), ValueError, r"sizes >= 0 adding up to the output width 16"),
    ((8, "ab"), TypeError, "output_chunks for the width must be an int or a tuple of ints"),
])
def test_bad_output_chunks(output_chunks, error, message):
    x = da.ones((1, 8, 8, 1), chunks=4)
    with pytest.raises(error, match=message):
        deconv_dask.conv2d_transpose(x, np.ones((2, 2, 1, 1)), strides=2,
                                     output_chunks=output_chunks)


def test_bad_arguments_raise_before_anything_runs():
    x = da.ones((1, 8, 8, 2), chunks=4)
    with pytest.raises(TypeError, match="x must be a dask.array.Array .* got ndarray"):
        deconv_dask.conv2d_transpose(np.ones((1, 8, 8, 2)), np.ones((2, 2, 1, 2)))
    with pytest.raises(TypeError, match="operator must be a deconv.Conv2DTranspose or "
                                        "deconv.Conv2D; got ndarray"):
        deconv_dask.apply(np.ones((2, 2, 1, 2)), x)
    with pytest.raises(ValueError, match=r"x has 2 channels \(channels_last\) but "
                                         r"kernel.shape\[3\]"):
        deconv_dask.conv2d_transpose(x, np.ones((2, 2, 1, 3)))
    with pytest.raises(ValueError, match="output height 30 is not reachable"):
        deconv_dask.conv2d_transpose(x, np.ones((2, 2, 1, 2)), (1, 30, 16, 1), strides=2)
    with pytest.raises(TypeError, match="x has dtype int64; deconv computes with real "
                                        "floating point only"):
        deconv_dask.conv2d_transpose(x.astype(int), np.ones((2, 2, 1, 2)))
    with pytest.raises(ValueError, match="x must be a 4-D array .* got an array of rank 3"):
        deconv_dask.conv2d_transpose(x[0], np.ones((2, 2, 1, 2)))


def test_an_output_larger_than_memory_is_only_planned():
    x = da.zeros((1, 100_000, 100_000, 16), np.float32, chunks=(1, 50_000, 50_000, 16))
    y = deconv_dask.conv2d_transpose(x, np.ones((4, 4, 16, 16), np.float32), strides=2,
                                     padding="same")
    assert y.shape == (1, 200_000, 200_000, 16) and y.nbytes > 2 ** 40
    with pytest.raises(MemoryError, match="would need"):
        deconv.Conv2DTranspose(np.ones((4, 4, 16, 16), np.float32), strides=2,
                               padding="same").plan_for(x)


def test_the_kernel_is_one_key_of_the_graph():
    kernel = np.random.default_rng(0).standard_normal((4, 4, 128, 128)).astype(np.float32)
    x = da.ones((2, 64, 64, 128), np.float32, chunks=(1, 16, 16, 128))
    y = deconv_dask.conv2d_transpose(x, kernel, strides=2, padding="same")
    graph = dict(y.__dask_graph__())
    sizes = {key: len(pickle.dumps(task)) for key, task in graph.items()}
    holding_kernel = [key for key, size in sizes.items() if size > kernel.nbytes]
    assert len(holding_kernel) == 1 and "Conv2DTranspose" in str(holding_kernel[0])
    tiles = [key for key in graph if "deconv-conv2d-transpose" in str(key)]
    assert len(tiles) == 2 * 4 * 4
    assert max(sizes[key] for key in tiles) < 8192


def test_nan_reaches_the_same_elements_as_in_memory():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 32, 32, 3)).astype(np.float32)
    x[0, 20, 5, 1] = np.nan
    kernel = rng.standard_normal((9, 9, 2, 3)).astype(np.float32)
    expected = deconv.conv2d_transpose(x, kernel, padding="same")
    result = deconv_dask.conv2d_transpose(da.from_array(x, chunks=(1, 8, 8, 3)), kernel,
                                          padding="same").compute()
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    assert np.isnan(expected).sum() == 81 * 2
    assert_close(np.nan_to_num(result), np.nan_to_num(expected), np.float32)


def test_task_threads_share_the_cores(monkeypatch):
    monkeypatch.setattr(deconv_dask, "threads_for", lambda requested: requested or 8)
    assert deconv_dask.task_threads(3) == 3
    assert deconv_dask.task_threads() == 8  # synchronous: one task at a time
    seen = dask.delayed(deconv_dask.task_threads)
    with dask.config.set(num_workers=4):
        assert dask.compute(seen(), scheduler="threads")[0] == 2
    with dask.config.set(num_workers=16):
        assert dask.compute(seen(), scheduler="threads")[0] == 1
    with pytest.raises(ValueError, match="num_threads must be None or an int >= 1; got 0"):
        deconv_dask.task_threads(0)


def test_zarr_to_zarr(tmp_path):
    """The out-of-core recipe of the docs, small."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 50, 40, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 4, 3)).astype(np.float32)
    da.from_array(x, chunks=(1, 16, 16, 3)).to_zarr(str(tmp_path / "x.zarr"))
    stored = da.from_zarr(str(tmp_path / "x.zarr"))
    y = deconv_dask.conv2d_transpose(stored, kernel, strides=2, padding="same",
                                     backend="direct")
    y.to_zarr(str(tmp_path / "y.zarr"))
    written = zarr.open_array(str(tmp_path / "y.zarr"), mode="r")
    assert written.chunks == (1, 32, 32, 4)
    np.testing.assert_array_equal(written[...], deconv.conv2d_transpose(
        x, kernel, strides=2, padding="same", backend="direct"))


def test_imports_without_dask():
    code = textwrap.dedent("""
        import sys
        for name in ("dask", "dask.array", "distributed", "zarr"):
            sys.modules[name] = None
        import numpy as np, deconv
        print(deconv.conv2d_transpose(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1))).shape)
        try:
            import deconv.dask
        except ImportError as error:
            print(error)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.splitlines() == ["(1, 3, 3, 1)", 'deconv.dask needs Dask: pip install '
                                '"deconv[dask]"']


@pytest.fixture(scope="module")
def client():
    """A real cluster: two worker processes of one thread each."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.mark.parametrize("dtype, channels_first", [(np.float32, False), (np.float64, True),
                                                   (np.float16, False)])
def test_on_a_local_cluster(client, dtype, channels_first):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 21, 18, 6)).astype(dtype)
    kernel = rng.standard_normal((4, 3, 7, 6)).astype(dtype)
    arguments = dict(strides=(2, 3), padding="valid", dilation_rate=(1, 2))
    expected, lazy = in_memory_and_lazy(x, kernel, ((2, 3), (8, 8, 5), (5, 13), (6,)),
                                        (45, 57), arguments, None, channels_first, "direct")
    np.testing.assert_array_equal(client.compute(lazy).result(), expected)


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(call=tiled_calls(), dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       channels_first=st.booleans())
def test_random_calls_on_a_local_cluster(client, call, dtype, channels_first):
    x, kernel, chunks, out_hw, arguments, output_chunks = call
    expected, lazy = in_memory_and_lazy(x.astype(dtype), kernel.astype(dtype), chunks, out_hw,
                                        arguments, output_chunks, channels_first, "direct")
    np.testing.assert_array_equal(client.compute(lazy).result(), expected)


def test_conv2d_on_a_local_cluster(client):
    rng = np.random.default_rng(4)
    y = rng.standard_normal((3, 33, 28, 6)).astype(np.float32)
    kernel = rng.standard_normal((5, 3, 6, 4)).astype(np.float32)
    arguments = dict(strides=(2, 3), padding="same", dilation_rate=(1, 2), backend="direct")
    lazy = deconv_dask.conv2d(da.from_array(y, chunks=(2, 7, 9, 6)), kernel, **arguments)
    np.testing.assert_array_equal(client.compute(lazy).result(),
                                  deconv.conv2d(y, kernel, **arguments))


def test_a_cluster_task_runs_on_its_worker_threads(client):
    # Dask's nanny sets OMP_NUM_THREADS=1 in its workers; one thread each.
    assert set(client.run(deconv_dask.task_threads).values()) == {1}
    threads = client.submit(deconv_dask.task_threads, pure=False).result()
    assert threads == 1


def _count_operator_arrivals():
    """In a worker: count the operators unpickled from now on."""
    from deconv import _operator
    original = getattr(_operator, "_original_rebuild", _operator._rebuild)

    def counting(*arguments):
        _operator.arrivals += 1
        return original(*arguments)
    _operator._original_rebuild, _operator._rebuild, _operator.arrivals = \
        original, counting, 0


def _operator_arrivals():
    from deconv import _operator
    return _operator.arrivals


def test_the_operator_reaches_each_worker_once(client):
    client.run(_count_operator_arrivals)
    kernel = np.ones((3, 3, 8, 8), np.float32)
    x = da.ones((8, 32, 32, 8), np.float32, chunks=(1, 16, 16, 8))
    y = deconv_dask.conv2d_transpose(x, kernel, strides=2)
    assert y.npartitions == 8 * 3 * 3
    np.testing.assert_array_equal(client.compute(y).result(), deconv.conv2d_transpose(
        np.ones((8, 32, 32, 8), np.float32), kernel, strides=2))
    arrivals = client.run(_operator_arrivals)
    assert set(arrivals.values()) <= {0, 1} and sum(arrivals.values()) >= 1
