"""The "winograd" backend (minimal filtering per polyphase sub-kernel) and
its exact transforms: against the naive oracle over the geometry it takes,
within SPEC section 6 at each tile size it picks; bitwise thread invariance;
operators (transformed kernel packed once per tile layout); the problems it
hands to the direct kernel; and the cost model's view of it."""
import itertools
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import assert_close, conv2d_transpose_oracle, valid_sizes
from strategies import examples

import deconv
from deconv import _cost, _direct, _simd, _toom_cook, _winograd
from deconv._problem import make_problem


@pytest.mark.parametrize("outputs,taps", [(m, r) for m in range(1, 7) for r in range(1, 5)
                                          if m + r - 1 <= _toom_cook.MAX_INPUTS])
def test_minimal_filters_compute_the_correlation_exactly(outputs, taps):
    f = _toom_cook.minimal_filter(outputs, taps)
    rng = np.random.default_rng(outputs * 10 + taps)
    for _ in range(5):
        d = [Fraction(int(v)) for v in rng.integers(-9, 10, f.inputs)]
        g = [Fraction(int(v)) for v in rng.integers(-9, 10, taps)]
        transformed = [sum(b * v for b, v in zip(row, d)) * sum(w * u for w, u in zip(grow, g))
                       for row, grow in zip(f.input_transform, f.kernel_transform)]
        result = [sum(a * m for a, m in zip(row, transformed)) for row in f.output_transform]
        assert result == [sum(d[i + u] * g[u] for u in range(taps)) for i in range(outputs)]
    assert all(v.denominator == 1 for row in f.input_transform for v in row)


def test_minimal_filter_rejects_what_it_cannot_build():
    with pytest.raises(ValueError, match=r"F\(8, 2\) needs .* outputs \+ taps - 1 <= 8"):
        _toom_cook.minimal_filter(8, 2)
    with pytest.raises(ValueError, match=r"F\(0, 2\)"):
        _toom_cook.minimal_filter(0, 2)


def test_tile_sizes_compute_the_fewest_positions():
    for outputs, taps in itertools.product(range(1, 40), range(1, 5)):
        tile = _winograd.tile_size(outputs, taps)
        assert 1 <= tile and tile + taps - 1 <= _winograd.MAX_TILE_INPUTS
        cost = -(-outputs // tile) * (tile + taps - 1)
        assert cost <= outputs * taps or taps == 1


def _call(x, kernel, out_hw, s, padding, **kwargs):
    n, cout = x.shape[0], kernel.shape[2]
    return deconv.conv2d_transpose(x, kernel, (n, *out_hw, cout), strides=s, padding=padding,
                                   backend="winograd", **kwargs)


@pytest.mark.parametrize("k,s,padding", list(itertools.product((2, 3, 4, 5, 7), (1, 2, 3),
                                                                ("same", "valid"))))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_oracle_within_the_spec(k, s, padding, dtype, rng):
    # Both reachable output sizes, odd image sides, Cin past one transform
    # chunk (64), Cout past one register block.
    x = rng.standard_normal((2, 5, 7, 70))
    kernel = rng.standard_normal((k, k, 35, 70))
    for out_h, out_w in zip(valid_sizes(5, k, s, 1, padding), valid_sizes(7, k, s, 1, padding)):
        expected = conv2d_transpose_oracle(x, kernel, (out_h, out_w), (s, s), padding, (1, 1))
        result = _call(x.astype(dtype), kernel.astype(dtype), (out_h, out_w), s, padding)
        assert_close(result, expected, dtype)


# Channel counts whose transforms take every sequence of chunks: whole
# chunks of 64, 32 and 16, then a last partial one (zero-padded).
CHUNKED_CHANNELS = [(16, 5), (17, 31), (32, 33), (48, 47), (63, 64), (65, 96), (117, 112)]


@pytest.mark.parametrize("cin,cout", CHUNKED_CHANNELS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_sequence_of_channel_chunks_matches_the_oracle(cin, cout, data_format, dtype,
                                                             rng):
    x = rng.standard_normal((2, 6, 5, cin))
    kernel = rng.standard_normal((4, 3, cout, cin))
    expected = conv2d_transpose_oracle(x, kernel, (12, 5), (2, 1), "same", (1, 1))
    data = x.astype(dtype)
    if data_format == "channels_first":  # strided channels: copied into the patch
        data = np.ascontiguousarray(data.transpose(0, 3, 1, 2))
    result = deconv.conv2d_transpose(data, kernel.astype(dtype), strides=(2, 1), padding="same",
                                     data_format=data_format, backend="winograd")
    if data_format == "channels_first":
        result = result.transpose(0, 2, 3, 1)
    assert_close(result, expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_channels_transform_does_not_depend_on_its_chunk(dtype, rng):
    # 117 channels take chunks of 64, 32, 16 and a partial one; 48 of them
    # take 32 and 16; 5 a partial chunk: the first 5 and 48 channels must
    # come out with the same bits either way.
    core = _simd.core
    bt, _, at = _toom_cook.minimal_filter(4, 2).arrays(dtype)
    x = rng.standard_normal((2, 9, 9, 117)).astype(dtype)
    m = rng.standard_normal((25, 2 * 3 * 3, 117)).astype(dtype)
    v_all, y_all = np.zeros((25, 18, 117), dtype), np.zeros((2, 12, 12, 117), dtype)
    core.winograd_input(x, bt, bt, -1, 4, 3, -1, 4, 3, v_all, 2)
    core.winograd_output(m, at, at, 0, 1, 12, 0, 1, 12, y_all, 2)
    for channels in (5, 48):
        v, y = np.zeros((25, 18, channels), dtype), np.zeros((2, 12, 12, channels), dtype)
        core.winograd_input(np.ascontiguousarray(x[..., :channels]), bt, bt, -1, 4, 3, -1, 4, 3,
                            v, 2)
        core.winograd_output(np.ascontiguousarray(m[..., :channels]), at, at, 0, 1, 12, 0, 1,
                             12, y, 2)
        assert np.array_equal(v, v_all[..., :channels])
        assert np.array_equal(y, y_all[..., :channels])


@pytest.mark.parametrize("k,d,padding", list(itertools.product((2, 3, 4), (2, 3),
                                                                ("same", "valid"))))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dilated_layers_match_the_oracle(k, d, padding, dtype, rng):
    # Sub-grids of unequal sizes (odd sides), one of them empty along the
    # rows when the image is smaller than the dilation; and each way an
    # operator runs them (its transformed kernel packed once per layout).
    kernel = rng.standard_normal((k, k, 35, 70))
    operator = deconv.Conv2DTranspose(kernel.astype(dtype), padding=padding, dilation_rate=d,
                                      backend="winograd")
    for h, w in ((9, 7), (2, 11)):
        x = rng.standard_normal((2, h, w, 70))
        for out_h, out_w in zip(valid_sizes(h, k, 1, d, padding), valid_sizes(w, k, 1, d, padding)):
            expected = conv2d_transpose_oracle(x, kernel, (out_h, out_w), (1, 1), padding, (d, d))
            result = _call(x.astype(dtype), kernel.astype(dtype), (out_h, out_w), 1, padding,
                           dilation_rate=d)
            assert_close(result, expected, dtype)
            if padding == "same":
                assert operator.plan_for(x.astype(dtype)).variant == "winograd"
                assert np.array_equal(operator(x.astype(dtype)), result)


@settings(max_examples=examples(60), deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12), cin=st.integers(1, 20),
       cout=st.integers(1, 40), kh=st.integers(1, 8), kw=st.integers(1, 8),
       sh=st.integers(1, 4), sw=st.integers(1, 4), dh=st.integers(1, 3), dw=st.integers(1, 3),
       padding=st.sampled_from(["same", "valid"]), channels_first=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1), data=st.data())
def test_any_geometry_it_takes(n, h, w, cin, cout, kh, kw, sh, sw, dh, dw, padding,
                               channels_first, seed, data):
    # Minimal filtering takes a dilated axis at stride 1 (with a stride, the
    # direct kernel runs it: see below).
    sh, sw = (sh if dh == 1 else 1), (sw if dw == 1 else 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin))
    kernel = rng.standard_normal((kh, kw, cout, cin))
    out_h = data.draw(st.sampled_from(valid_sizes(h, kh, sh, dh, padding)))
    out_w = data.draw(st.sampled_from(valid_sizes(w, kw, sw, dw, padding)))
    expected = conv2d_transpose_oracle(x, kernel, (out_h, out_w), (sh, sw), padding, (dh, dw))
    x32, k32 = x.astype(np.float32), kernel.astype(np.float32)
    if channels_first:
        result = deconv.conv2d_transpose(
            np.ascontiguousarray(x32.transpose(0, 3, 1, 2)), k32, (n, cout, out_h, out_w),
            (sh, sw), padding, "channels_first", (dh, dw),
            backend="winograd").transpose(0, 2, 3, 1)
    else:
        result = _call(x32, k32, (out_h, out_w), (sh, sw), padding, dilation_rate=(dh, dw))
    assert_close(result, expected, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_any_thread_count(dtype, rng, monkeypatch):
    monkeypatch.setattr(_direct, "SECONDS_PER_THREAD", 0)  # every requested thread works
    deconv.clear_caches()
    x = rng.standard_normal((3, 9, 11, 37)).astype(dtype)
    kernel = rng.standard_normal((4, 3, 21, 37)).astype(dtype)
    results = [deconv.conv2d_transpose(x, kernel, strides=(2, 1), padding="same",
                                       backend="winograd", num_threads=threads)
               for threads in (1, 2, 3, 7)]
    for result in results[1:]:
        assert np.array_equal(result, results[0])
    deconv.clear_caches()


@pytest.mark.parametrize("x_shape", [(1, 4, 4, 200), (12, 8, 8, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_function_calls_pack_the_taps_in_either_work_order(x_shape, dtype, rng, monkeypatch):
    # One image of 200 channels (large taps, little transformed input) runs
    # block-major: each thread packs its blocks' taps, two at a time, as it
    # comes to them, and at 3 threads a block is split between two. Twelve
    # images of 8 channels (many tiles, small taps) run position-major: every
    # block packed first. Either way the bits are the operator's (whose
    # products read its whole transformed kernel) at every thread count.
    monkeypatch.setattr(_direct, "SECONDS_PER_THREAD", 0)  # every requested thread works
    deconv.clear_caches()
    x = rng.standard_normal(x_shape)
    kernel = rng.standard_normal((4, 4, 100, x_shape[3]))
    expected = conv2d_transpose_oracle(x, kernel, (2 * x_shape[1], 2 * x_shape[2]), (2, 2),
                                       "same", (1, 1))
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    for threads in (1, 2, 3):
        operator = deconv.Conv2DTranspose(kernel, strides=2, padding="same",
                                          backend="winograd", num_threads=threads)
        result = deconv.conv2d_transpose(x, kernel, strides=2, padding="same",
                                         backend="winograd", num_threads=threads)
        assert np.array_equal(result, operator(x))
        assert_close(result, expected, dtype)
    deconv.clear_caches()


# Phases of one tap per axis (pointwise plans): a k3 stride-2 layer's odd
# rows and columns, a k4 stride-3 layer's four, a k6 stride-4 layer's four;
# output sizes past what x reaches (the phase's last outputs are zeros);
# one output channel channels-first (its channels not contiguous).
POINTWISE_LAYERS = [((3, 7, 7, 40), (3, 3, 24, 40), (2, 2), "same", (14, 13)),
                    ((2, 5, 6, 9), (4, 4, 7, 9), (3, 3), "valid", (18, 20)),
                    ((2, 4, 5, 6), (6, 6, 5, 6), (4, 4), "same", (13, 20)),
                    ((2, 6, 5, 8), (3, 3, 1, 8), (2, 2), "valid", (14, 12))]


@pytest.mark.parametrize("x_shape,kernel_shape,strides,padding,out_hw", POINTWISE_LAYERS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_tap_phases_multiply_x_where_it_lies_with_the_bits_of_the_transforms(
        x_shape, kernel_shape, strides, padding, out_hw, data_format, dtype, rng,
        monkeypatch):
    # A phase of one tap per axis needs no transforms (F(1, 1) copies): the
    # wide kernel multiplies x's pixels where they lie into y's phase. The
    # bits are those of the transforms and products (run by pretending no
    # plan is pointwise), from functions and operators, at any thread count.
    monkeypatch.setattr(_direct, "SECONDS_PER_THREAD", 0)  # every requested thread works
    x = rng.standard_normal(x_shape)
    kernel = rng.standard_normal(kernel_shape)
    expected = conv2d_transpose_oracle(x, kernel, out_hw, strides, padding, (1, 1))
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    n, cout = x_shape[0], kernel_shape[2]
    if data_format == "channels_first":
        x, output_shape = np.ascontiguousarray(x.transpose(0, 3, 1, 2)), (n, cout, *out_hw)
    else:
        output_shape = (n, *out_hw, cout)
    problem = _problem(x_shape, kernel_shape, strides, padding)
    assert any(run.pointwise for run in _winograd.winograd_tables(problem).products)

    def results():
        deconv.clear_caches()
        for threads in (1, 2, 3):
            operator = deconv.Conv2DTranspose(kernel, strides=strides, padding=padding,
                                              data_format=data_format, backend="winograd",
                                              num_threads=threads)
            yield operator(x, output_shape=output_shape)
            yield deconv.conv2d_transpose(x, kernel, output_shape, strides, padding,
                                          data_format, backend="winograd",
                                          num_threads=threads)

    pointwise = list(results())
    monkeypatch.setattr(_winograd.ProductPlan, "pointwise", property(lambda run: False))
    transformed = list(results())
    deconv.clear_caches()
    for result, reference in zip(pointwise, transformed):
        assert np.array_equal(result, reference)
    if data_format == "channels_first":
        pointwise[0] = pointwise[0].transpose(0, 2, 3, 1)
    assert_close(pointwise[0], expected, dtype)


def test_pointwise_views_pair_the_pixels_a_phase_reads():
    # k3 stride 2 "valid", 7 -> 15: odd outputs 1..13 read inputs 0..6 with
    # tap 1, all of x; even outputs take two taps (not pointwise).
    problem = _problem((1, 7, 7, 2), (3, 3, 1, 2), (2, 2), "valid")
    tables = _winograd.winograd_tables(problem)
    (run,) = [run for run in tables.products if run.pointwise]
    (phase,) = run.phases
    x, y = np.zeros((1, 7, 7, 2)), np.zeros((1, 15, 15, 1))
    views = _winograd.pointwise_views(phase, x, y)
    assert views.whole and views.x.shape == (1, 7, 7, 2) and views.y.shape == (1, 7, 7, 1)
    assert np.shares_memory(views.x, x) and np.shares_memory(views.y, y)
    assert views.y.strides[1:3] == (2 * y.strides[1], 2 * y.strides[2])
    # k4 stride 3 "valid", 5 -> 18 rows (one past the 17 that x reaches):
    # the phase of rows 2, 5, .., 17 reads inputs 0..5 with tap 2 -- input 5
    # is past x, so row 17 is zeros, outside the views.
    x, y = np.zeros((1, 5, 5, 2)), np.zeros((1, 18, 18, 1))
    problem = deconv.Conv2DTranspose(np.zeros((4, 4, 1, 2)), strides=3).plan_for(
        x, output_shape=(1, 18, 18, 1)).problem
    tables = _winograd.winograd_tables(problem)
    partial = []
    for run in tables.products:
        for phase in run.phases if run.pointwise else ():
            views = _winograd.pointwise_views(phase, x, y)
            if not views.whole:
                partial.append((phase.rows.first_output, phase.rows.outputs,
                                views.x.shape[1], views.y.shape[1]))
    assert (2, 6, 5, 5) in partial


def test_pointwise_plans_transform_nothing():
    # k3 stride 2, 7 -> 14: phases of 2x2, 2x1, 1x2 and 1x1 taps. The 1x1
    # phase's 7 x 7 outputs per image are products only: no positions, no
    # scratch, its tap packed once per block.
    problem = _problem((4, 7, 7, 64), (3, 3, 32, 64), (2, 2), "same")
    tables = _winograd.winograd_tables(problem)
    assert sorted(run.positions for run in tables.products) == [1, 5, 5, 25]
    work = _winograd.winograd_work(problem, tables)
    transformed = [run for run in tables.products if not run.pointwise]
    assert work.positions == sum(run.positions * run.columns for run in transformed)
    assert tables.input_items == max(run.positions * run.input_stride for run in transformed)
    (pointwise,) = [run for run in tables.products if run.pointwise]
    # Each of the 4 images' 7 rows is a row of tiles (8 pixels for 7) in one
    # block of 32 channels: 7 units.
    sizes = _simd.core.tile_pixel_sizes(4)
    tiles = _winograd.product_tile_taps(4 * 7, 7, sizes)
    computed = _simd.core.computed_channels(32, 4)
    assert pointwise.work.units == 7 * -(-32 // _simd.core.channel_block(4))
    assert pointwise.work.padded_madds == tiles[1] * computed * 64


def _problem(x_shape, kernel_shape, strides, padding, dilation=(1, 1), dtype=np.float32):
    return deconv.Conv2DTranspose(np.zeros(kernel_shape, dtype), strides=strides,
                                  padding=padding, dilation_rate=dilation).plan_for(
        np.zeros(x_shape, dtype)).problem


def test_phases_of_one_shape_make_a_table_to_run_one_per_thread():
    table = _winograd.winograd_tables(_problem((1, 8, 8, 3), (4, 4, 5, 3), 2, "same")).by_run
    # Per phase: first tile's input row and column, first output row and
    # column, output rows and columns, kernel rows, kernel columns.
    taps = _winograd.MAX_PHASE_TAPS
    assert table.shape == (4, _winograd.RUN_FIELDS) and not table.flags.writeable
    assert table[:, :6].tolist() == [[-1, -1, 0, 0, 8, 8], [-1, 0, 0, 1, 8, 8],
                                     [0, -1, 1, 0, 8, 8], [0, 0, 1, 1, 8, 8]]
    assert table[:, 6:8].tolist() == [[3, 1], [3, 1], [2, 0], [2, 0]]
    assert table[:, 6 + taps:8 + taps].tolist() == [[3, 1], [2, 0], [3, 1], [2, 0]]
    # Phases of unlike shapes (2x2, 2x1, 1x2, 1x1 taps; 3 and 2 taps), one
    # phase (stride 1), sub-grids that share a transformed kernel
    # (dilation): none.
    for args in [((2, 7, 7, 3), (3, 3, 5, 3), 2, "same"), ((1, 9, 8, 3), (5, 5, 5, 3), 2, "valid"),
                 ((1, 8, 8, 3), (3, 3, 5, 3), 1, "same"),
                 ((1, 8, 8, 3), (3, 3, 5, 3), 1, "same", (2, 2))]:
        assert _winograd.winograd_tables(_problem(*args)).by_run is None


# Layers whose phases all have one shape: four of a 4x4 kernel at stride 2
# (odd and even sizes, "valid"), nine of 6x6 at stride 3, sixteen of 8x8 at
# stride 4; one and many images; channels past a block and a chunk.
BY_RUN_LAYERS = [((1, 8, 8, 64), (4, 4, 64, 64), 2, "same"),
                 ((2, 9, 7, 5), (4, 4, 3, 5), 2, "valid"),
                 ((3, 6, 5, 70), (4, 4, 40, 70), 2, "same"),
                 ((1, 5, 5, 3), (6, 6, 2, 3), 3, "same"),
                 ((2, 4, 6, 1), (8, 8, 33, 1), 4, "same")]


@pytest.mark.parametrize("x_shape,kernel_shape,strides,padding", BY_RUN_LAYERS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_phases_run_one_per_thread_with_the_bits_of_phase_by_phase(
        x_shape, kernel_shape, strides, padding, data_format, dtype, rng, monkeypatch):
    # One call in which each thread runs its phases whole -- transforms,
    # products, output -- when the threads share the phases out evenly;
    # otherwise the stages one after the other, phase by phase. The same
    # bits either way, for function calls and operators alike.
    monkeypatch.setattr(_direct, "SECONDS_PER_THREAD", 0)  # every requested thread works
    deconv.clear_caches()
    x = rng.standard_normal(x_shape)
    kernel = rng.standard_normal(kernel_shape)
    out_hw = [size * strides for size in x_shape[1:3]] if padding == "same" else [
        (size - 1) * strides + k for size, k in zip(x_shape[1:3], kernel_shape)]
    expected = conv2d_transpose_oracle(x, kernel, out_hw, (strides, strides), padding, (1, 1))
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    if data_format == "channels_first":
        x, expected = x.transpose(0, 3, 1, 2).copy(), expected.transpose(0, 3, 1, 2)
    tables = _winograd.winograd_tables(_problem(x_shape, kernel_shape, strides, padding,
                                                dtype=dtype))
    runs = len(tables.products)
    results = []
    for threads in (1, 2, 3, 4):
        for by_run in (True, False):
            monkeypatch.setattr(_winograd, "BY_RUN_BYTES", 1 << 40 if by_run else 0)
            assert _winograd.runs_by_thread(tables, threads, x_shape) == (
                by_run and runs % threads == 0)
            operator = deconv.Conv2DTranspose(kernel, strides=strides, padding=padding,
                                              data_format=data_format, backend="winograd",
                                              num_threads=threads)
            results += [operator(x), deconv.conv2d_transpose(
                x, kernel, strides=strides, padding=padding, data_format=data_format,
                backend="winograd", num_threads=threads)]
    assert_close(results[0], expected, dtype)
    for result in results[1:]:
        assert np.array_equal(result, results[0])
    deconv.clear_caches()


def test_running_one_phase_per_thread_takes_small_phases_only():
    # What a phase's products read and write: its transformed inputs and
    # products, and its transformed kernel.
    small = _winograd.winograd_tables(_problem((1, 32, 32, 64), (4, 4, 64, 64), 2, "same"))
    large = _winograd.winograd_tables(_problem((16, 4, 4, 512), (4, 4, 256, 512), 2, "same"))
    assert _winograd.runs_by_thread(small, 2, (1, 32, 32, 64))
    assert not _winograd.runs_by_thread(small, 3, (1, 32, 32, 64))  # 4 phases, 3 threads
    assert not _winograd.runs_by_thread(small, 2, (1, 0, 32, 64))
    assert not _winograd.runs_by_thread(large, 2, (16, 4, 4, 512))


def test_running_one_phase_per_thread_rejects_what_does_not_fit(rng):
    core = _simd.core
    problem = _problem((1, 8, 8, 3), (4, 4, 5, 3), 2, "same")
    tables = _winograd.winograd_tables(problem)
    run = tables.products[0]
    block = core.channel_block(4)
    x, kernel = np.zeros((1, 8, 8, 3), np.float32), np.zeros((4, 4, 5, 3), np.float32)
    y = np.zeros((1, 16, 16, 5), np.float32)
    bt, at = run.row_transforms.input, run.row_transforms.output

    def call(runs=tables.by_run, v_slots=2, y=y, kernel=kernel, slots=2, threads=2):
        v = np.zeros((v_slots, 25, 4, 3), np.float32)
        m = np.zeros((v_slots, 25, 4, 5), np.float32)
        core.winograd_by_run(
            x, kernel, runs, bt, bt, at, at, 2, 2, v, m, np.zeros((0,) * 5 + (block,), np.float32),
            np.zeros((slots, 1, 2, 2, 3, block), np.float32), run.tap_weights,
            np.zeros((slots, 1, 1, 3, block), np.float32),
            _winograd.product_tables(25, 4, one_kernel_row=True), y,
            np.zeros((slots, 1), np.float32), threads)

    call()
    with pytest.raises(ValueError, match=r"winograd_by_run: x \(1, 8, 8, 3\), runs \(4, 14\), "
                                         r"transforms 5x5, v \(1, 25, 4, 3\).* do not agree"):
        call(v_slots=1)  # a slot per thread
    with pytest.raises(ValueError, match=r"winograd_by_run: .* tap slots \(1, .* do not agree"):
        call(slots=1)
    with pytest.raises(ValueError, match=r"winograd_by_run: x .* y \(1, 16, 16, 4\)"):
        call(y=np.zeros((1, 16, 16, 4), np.float32))
    # Every run's outputs inside y, its tiles as many as the others', its
    # taps inside the kernel.
    with pytest.raises(ValueError, match=r"winograd_by_run: run 2 \(0, -1, 1, 0, 8, 8, .*\) "
                                         r"does not fit y \(1, 15, 16, 5\) in 2x2 tiles of 4x4"):
        call(y=np.zeros((1, 15, 16, 5), np.float32))
    shifted = tables.by_run.copy()
    shifted[1, 4] = 4  # its output rows: one tile, not two
    with pytest.raises(ValueError, match=r"winograd_by_run: run 1 .* does not fit"):
        call(runs=shifted)
    outside = tables.by_run.copy()
    outside[3, 6] = 4
    with pytest.raises(ValueError, match=r"winograd_by_run: run 3's kernel rows are outside "
                                         r"the kernel \(4, 4, 5, 3\)"):
        call(runs=outside)
    outside = tables.by_run.copy()
    outside[0, 6 + _winograd.MAX_PHASE_TAPS] = -1
    with pytest.raises(ValueError, match=r"winograd_by_run: run 0's kernel columns are outside"):
        call(runs=outside)
    with pytest.raises(ValueError, match=r"winograd_by_run: .* runs \(4, 13\)"):
        call(runs=np.ascontiguousarray(tables.by_run[:, :13]))


def plans_fused(patch, fused):
    """Make every plan that may be fused (deconv._winograd.fused_reason) fused,
    or none, whatever the cost model says."""
    patch.setitem(_cost.DEFAULT_PROFILE, "winograd_fused_madds_per_thread",
                  1e30 if fused else 1.0)
    deconv.clear_caches()


@pytest.fixture
def staged_only(monkeypatch):
    """Plans are staged (transforms through scratch arrays), never fused."""
    plans_fused(monkeypatch, False)
    yield
    deconv.clear_caches()


def test_operators_pack_once_per_tile_layout(rng, staged_only):
    kernel = rng.standard_normal((4, 4, 8, 6)).astype(np.float32)
    operator = deconv.Conv2DTranspose(kernel, strides=2, padding="same", backend="winograd")
    for size in (3, 8, 5, 8):  # tile layouts differ with the image size
        x = rng.standard_normal((2, size, size + 1, 6)).astype(np.float32)
        expected = deconv.conv2d_transpose(x, kernel, strides=2, padding="same",
                                           backend="winograd")
        assert np.array_equal(operator(x), expected)
        assert operator.plan_for(x).variant == "winograd"


def test_what_it_cannot_help_runs_on_the_direct_kernel(rng):
    x = rng.standard_normal((1, 6, 6, 3))
    for kernel_shape, kwargs, reason in [
            ((3, 3, 2, 3), {"dilation_rate": 2, "strides": (1, 2)},
             "dilated axis at stride 1 only (got dilation 2 and stride 2 for columns)"),
            ((2, 2, 2, 3), {"strides": 2}, "nothing to save"),
            ((9, 9, 2, 3), {"strides": 1}, "at most 4")]:
        kernel = rng.standard_normal(kernel_shape)
        y = deconv.conv2d_transpose(x, kernel, padding="same", backend="winograd", **kwargs)
        direct = deconv.conv2d_transpose(x, kernel, padding="same", backend="direct", **kwargs)
        assert np.array_equal(y, direct)
        operator = deconv.Conv2DTranspose(kernel, padding="same", backend="winograd", **kwargs)
        assert operator.plan_for(x).variant.startswith("direct ")
        assert np.array_equal(operator(x), direct)
        problem = operator.plan_for(x).problem
        assert reason in _winograd.winograd_reason(problem)
        assert deconv.choose_backend(x, kernel, padding="same", **kwargs).estimates.get(
            "winograd") is None


def test_a_dilated_layer_multiplies_its_sub_grids_together(rng):
    # Dilation 2 on 32 x 32 outputs: four 16 x 16 sub-grids of the same
    # taps and tiles share one transformed kernel and one product per
    # position, over all their tiles.
    x = np.zeros((4, 32, 32, 64), np.float32)
    problem = deconv.Conv2DTranspose(np.zeros((3, 3, 64, 64), np.float32), padding="same",
                                     dilation_rate=2).plan_for(x).problem
    plan = _winograd.WinogradBackend().plan(problem, 2)
    (run,) = plan.tables.products
    assert [(phase.rows.first_output, phase.cols.first_output, phase.tiles.start)
            for phase in run.phases] == [(0, 0, 0), (0, 1, 144), (1, 0, 288), (1, 1, 432)]
    assert run.columns == 4 * 4 * 6 * 6 and run.layout == ((2, 1, 0), 3, (2, 1, 0), 3)
    assert plan.work.phases == 4 and plan.work.positions == 25 * run.columns
    assert deconv.choose_backend(x, np.zeros((3, 3, 64, 64), np.float32), padding="same",
                                 dilation_rate=2).estimates["winograd"] is not None


def test_non_finite_data_is_refused_or_passed_over(rng):
    x = rng.standard_normal((1, 4, 4, 3)).astype(np.float32)
    kernel = rng.standard_normal((4, 4, 2, 3)).astype(np.float32)
    x[0, 1, 1, 0] = np.inf
    with pytest.raises(ValueError, match="backend 'winograd' cannot compute this call: .*NaN"):
        deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="winograd")
    assert "winograd" in deconv.choose_backend(x, kernel, strides=2, padding="same").rejected


@pytest.mark.parametrize("where", ["x", "kernel"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_item_anywhere_sends_auto_to_another_backend(rng, where, bad):
    # A layer "auto" takes to the winograd backend when its data are finite
    # (many runs and remainders of the check itself: the property test).
    x = rng.standard_normal((1, 32, 32, 64)).astype(np.float32)
    kernel = rng.standard_normal((4, 4, 64, 64)).astype(np.float32)
    target = x if where == "x" else kernel
    target.reshape(-1)[-1] = bad  # the last item, past every vector but the last
    choice = deconv.choose_backend(x, kernel, strides=2, padding="same", num_threads=2)
    assert "winograd" in choice.rejected and choice.backend != "winograd"
    y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", num_threads=2)
    assert np.isnan(y).any() or np.isinf(y).any()


def test_inputs_are_not_modified_and_outputs_are_written_whole(rng):
    x = rng.standard_normal((2, 5, 5, 4)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    x_copy, kernel_copy = x.copy(), kernel.copy()
    # Stride 4 with a 3x3 kernel: output phases no tap reaches must be zeros.
    out = np.full((2, 20, 20, 3), np.nan, np.float32)
    deconv.conv2d_transpose(x, kernel, out.shape, strides=4, padding="same",
                            backend="winograd", out=out)
    assert np.array_equal(x, x_copy) and np.array_equal(kernel, kernel_copy)
    assert_close(out, conv2d_transpose_oracle(x.astype(np.float64), kernel.astype(np.float64),
                                              (20, 20), (4, 4), "same", (1, 1)), np.float32)


def test_the_transforms_reject_what_does_not_fit(rng):
    from deconv import _simd
    core = _simd.core
    bt = np.eye(3, dtype=np.float32)
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="winograd_input: x .* do not agree"):
        core.winograd_input(x, bt, bt, 0, 1, 2, 0, 1, 2, np.zeros((9, 3, 2), np.float32), 1)
    with pytest.raises(ValueError, match="winograd_output: m .* do not agree"):
        core.winograd_output(np.zeros((9, 4, 2), np.float32), bt[:1], bt[:1], 0, 1, 2, 0, 1, 2,
                             np.zeros((1, 1, 2, 2), np.float32), 1)
    block = core.channel_block(4)
    taps = np.zeros((1, 2, 2, 3, block), np.float32)
    weights = np.ones((9, 4), np.float32)
    with pytest.raises(ValueError, match=r"winograd_pack: taps \(1, 2, 2, 3, \d+\) in blocks "
                                         r"of \d+ and weights \(9, 3\) do not agree"):
        core.winograd_pack(taps, np.ones((9, 3), np.float32),
                           np.zeros((1, 9, 1, 3, block), np.float32), 1)
    with pytest.raises(ValueError, match="winograd_pack: taps .* and panels .* do not agree"):
        core.winograd_pack(taps, weights, np.zeros((1, 8, 1, 3, block), np.float32), 1)
    tables = _winograd.product_tables(9, 5, one_kernel_row=True)
    v, m = np.zeros((9, 5, 3), np.float32), np.zeros((9, 5, block), np.float32)
    panels, stages = np.zeros((2, 1, 1, 3, block), np.float32), np.zeros((2, 1), np.float32)
    # The sub-kernel (Kr, Kc, Cout, Cin), and each thread's slot for a group
    # of its packed blocks.
    kernel, slots = np.zeros((2, 2, block, 3), np.float32), np.zeros((2, 1, 2, 2, 3, block),
                                                                    np.float32)
    core.winograd_products(v, kernel, taps, slots, weights, panels, tables, m, stages, 1, 2)
    with pytest.raises(ValueError, match="winograd_products: v .* do not agree"):
        core.winograd_products(v, kernel, taps, slots, weights, panels, tables, m, stages, 1, 3)
    # Every thread needs a slot of packed taps, of the sub-kernel's shape.
    with pytest.raises(ValueError, match=r"winograd_products: v .* kernel \(2, 2, \d+, 3\), "
                                         r"taps .* tap slots \(1, 1, 2, 2, 3, \d+\), .* do not"):
        core.winograd_products(v, kernel, taps, slots[:1], weights, panels, tables, m, stages,
                               1, 2)
    with pytest.raises(ValueError, match=r"winograd_products: v .* kernel \(2, 2, \d+, 4\)"):
        core.winograd_products(v, np.zeros((2, 2, block, 4), np.float32), taps, slots, weights,
                               panels, tables, m, stages, 1, 2)
    # A slot is one position's panel: not a panel of every position, not the
    # tables of packed panels (row xi reading kernel row xi).
    with pytest.raises(ValueError, match="winograd_products: v .* do not agree"):
        core.winograd_products(v, kernel, taps, slots, weights,
                               np.zeros((2, 9, 1, 3, block), np.float32), tables, m, stages, 1, 2)
    with pytest.raises(ValueError, match="winograd_products: v .* do not agree"):
        core.winograd_products(v, kernel, taps, slots, weights, panels,
                               _winograd.product_tables(9, 5), m, stages, 1, 2)
    with pytest.raises(ValueError, match="a tap table for 4 indices has arrays of shapes"):
        core.winograd_products(np.zeros((9, 4, 3), np.float32), kernel, taps, slots, weights,
                               panels, tables, np.zeros((9, 4, block), np.float32), stages, 1, 2)
    with pytest.raises(ValueError, match="winograd_products: taps .* do not agree"):
        core.winograd_products(v, kernel, np.zeros((1, 2, 2, 3, 1), np.float32), slots,
                               weights, panels, tables, m, stages, 1, 2)
    # Positions may be any stride apart, but each position's (columns,
    # channels) matrix must be contiguous.
    gappy = np.zeros((9, 5, 6), np.float32)[:, :, :3]
    with pytest.raises(ValueError, match="winograd_products: v .* do not agree"):
        core.winograd_products(gappy, kernel, taps, slots, weights, panels, tables, m, stages, 1, 2)
    with pytest.raises(ValueError, match="winograd_input: x .* do not agree"):
        core.winograd_input(x, bt, bt, 0, 1, 2, 0, 1, 2, np.zeros((9, 4, 4), np.float32)[
            :, :, :2], 1)
    with pytest.raises(ValueError, match="winograd_output: m .* do not agree"):
        core.winograd_output(np.zeros((1, 4, 4), np.float32)[:, :, :2], bt[:1], bt[:1], 0, 1,
                             2, 0, 1, 2, np.zeros((1, 2, 2, 2), np.float32), 1)


def test_positions_lie_an_odd_number_of_cache_lines_apart():
    for columns, channels, dtype in [(64, 256, "float32"), (1, 1, "float64"), (7, 48, "float32"),
                                     (16, 512, "float64")]:
        stride = _winograd.position_stride(columns, channels, dtype)
        line = 64 // np.dtype(dtype).itemsize
        assert stride >= columns * channels and stride % line == 0 and stride // line % 2 == 1
    stride = _winograd.position_stride(5, 3, "float32")
    buffer = np.zeros(9 * stride, np.float32)
    v = _winograd.by_position(buffer, 9, 5, 3, stride)
    assert v.shape == (9, 5, 3) and v.strides[1:] == (12, 4) and v.base is not None
    assert np.shares_memory(v, buffer)


def test_cost_model_counts_the_kernel_transform(staged_only):
    problem = deconv.Conv2DTranspose(np.zeros((4, 4, 64, 64), np.float32), strides=2,
                                     padding="same").plan_for(
        np.zeros((8, 8, 8, 64), np.float32)).problem
    plan = _winograd.WinogradBackend().plan(problem, 2)
    work = plan.work
    # Four phases of 2x2 taps on 8 outputs per axis: tiles of 4, 5x5 positions,
    # one per thread in one call (the fixed cost of one phase); on three
    # threads, which cannot share them out evenly, phase by phase.
    assert work.phases == 1 and work.positions == 4 * 25 * 8 * 2 * 2
    assert _winograd.WinogradBackend().plan(problem, 3).work._replace(phases=1) == work
    assert _winograd.WinogradBackend().plan(problem, 3).work.phases == 4
    # F(4, 2)'s G has 1, 2, 2, 2, 1 nonzero entries per row: 8 * 8 weighted
    # taps per phase, plus its 2 x 2 taps packed, in whole blocks of outputs.
    block = _simd.core.channel_block(4)
    assert work.kernel_items == 4 * (64 + 4) * (-(-64 // block) * block) * 64
    assert {run.layout[1::2] for run in plan.tables.products} == {(4, 4)}
    # Products into 40 channels: a half block where the build has half tiles.
    problem40 = deconv.Conv2DTranspose(np.zeros((4, 4, 40, 64), np.float32), strides=2,
                                       padding="same").plan_for(
        np.zeros((8, 8, 8, 64), np.float32)).problem
    work40 = _winograd.WinogradBackend().plan(problem40, 2).work.products
    computed = _simd.core.computed_channels(40, 4)
    half = computed % block
    assert work40.half_madds == work40.padded_madds * half // computed and half in (0, 16)


# Whole 16 x 16 squares (transposed in registers on AVX-512) each way, runs
# of pixels longer than one unit (LAYOUT_RUN) with a partial square,
# partial squares only, and empty arrays.
@pytest.mark.parametrize("shape", [(2, 32, 8, 6), (2, 4, 8, 32), (1, 48, 17, 19),
                                   (2, 3, 17, 33), (1, 1, 1, 1), (3, 2, 0, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layout_copies_match_numpy(shape, dtype, rng):
    from deconv import _simd
    source = rng.standard_normal(shape).astype(dtype)
    for view in (source, source.transpose(0, 2, 3, 1), source[:, ::-1, ::2]):
        for target in (np.empty(view.shape, dtype),
                       np.empty(view.shape[:1] + view.shape[3:] + view.shape[1:3],
                                dtype).transpose(0, 2, 3, 1)):
            _simd.core.copy_layout(view, target, 2)
            assert np.array_equal(target, view)
    with pytest.raises(ValueError, match=r"copy_layout: source \(1, 2, 3, 4\) and target "
                                         r"\(1, 2, 3, 5\) differ"):
        _simd.core.copy_layout(np.zeros((1, 2, 3, 4), np.float32),
                               np.zeros((1, 2, 3, 5), np.float32), 1)


@pytest.mark.parametrize("positions, columns", [(25, 1), (25, 30), (9, 12), (16, 13), (4, 100)])
def test_product_work_in_closed_form_matches_the_tables(positions, columns):
    from deconv import _simd
    core = _simd.core
    for sizes in (core.tile_pixel_sizes(4), core.tile_pixel_sizes(8)):
        assert _winograd.product_tile_taps(positions, columns, sizes) == \
            core.wide_tile_taps(_winograd.product_tables(positions, columns), 1, sizes)


@pytest.mark.parametrize("variant", ["winograd", _winograd.FUSED])
def test_planning_a_huge_problem_allocates_nothing_of_its_size(variant, monkeypatch):
    import tracemalloc
    if variant == _winograd.FUSED and (_simd.core is None or not _simd.core.fused22_channels()):
        pytest.skip("no fused F(2x2, 2x2) at this SIMD level")
    plans_fused(monkeypatch, variant == _winograd.FUSED)
    kernel = np.zeros((4, 4, 64, 64), np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same", backend="winograd")
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (10_000, 1000, 1000, 64),
                                        (0, 0, 0, 0))
    # As deconv.dask plans a whole array before splitting it: no output.
    problem = operator._planner.problem(x, None, check_memory=False)
    tracemalloc.start()
    try:
        plan = _winograd.WinogradBackend().plan(problem, 2)
        estimate = _winograd.WinogradBackend().estimate_seconds(problem, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert plan.variant == variant and estimate > 0 and peak < 10_000_000


# Fused F(2x2, 2x2): phases of two taps per axis, at most 64 channels, float32 on 16-lane
# vectors, each tile's transforms and products in registers.
needs_fused = pytest.mark.skipif(_simd.core is None or not _simd.core.fused22_channels(),
                                 reason="no fused F(2x2, 2x2) at this SIMD level")
# (kernel rows, kernel columns, strides, dilations): every phase two taps per axis.
FUSED_GEOMETRIES = [(4, 4, (2, 2), (1, 1)), (2, 2, (1, 1), (1, 1)), (4, 2, (2, 1), (1, 1)),
                    (6, 6, (3, 3), (1, 1)), (2, 2, (1, 1), (2, 3)), (4, 6, (2, 3), (1, 1))]


@pytest.fixture
def fused_always(monkeypatch):
    """Plans that may be fused are."""
    plans_fused(monkeypatch, True)
    yield
    deconv.clear_caches()


@needs_fused
@pytest.mark.parametrize("kh,kw,strides,dilation", FUSED_GEOMETRIES)
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("cin,cout", [(16, 16), (17, 20), (64, 64), (40, 33), (31, 16), (16, 63)])
def test_fused_plans_match_the_oracle(kh, kw, strides, dilation, padding, cin, cout, rng,
                                      fused_always):
    # Odd sides, both reachable output sizes: partial tiles at each edge,
    # inputs past x at the borders, channel tails in and out.
    x = rng.standard_normal((2, 5, 7, cin))
    kernel = rng.standard_normal((kh, kw, cout, cin))
    operator = deconv.Conv2DTranspose(kernel.astype(np.float32), strides, padding,
                                      dilation_rate=dilation, backend="winograd")
    sizes = [valid_sizes(size, k, s, d, padding)
             for size, k, s, d in zip((5, 7), (kh, kw), strides, dilation)]
    for out_hw in zip(*sizes):
        expected = conv2d_transpose_oracle(x, kernel, out_hw, strides, padding, dilation)
        shape = (2, *out_hw, cout)
        assert operator.plan_for(x.astype(np.float32), shape).variant == _winograd.FUSED
        result = _call(x.astype(np.float32), kernel.astype(np.float32), out_hw, strides,
                       padding, dilation_rate=dilation)
        assert_close(result, expected, np.float32)
        assert np.array_equal(operator(x.astype(np.float32), shape), result)


@needs_fused
@pytest.mark.parametrize("kh,kw,strides,dilation", FUSED_GEOMETRIES)
@pytest.mark.parametrize("cin", [16, 21])
def test_fused_plans_match_the_oracle_on_long_rows(kh, kw, strides, dilation, cin, rng,
                                                   fused_always):
    # Rows of several groups of tiles: groups wholly inside x (loaded without
    # checks) between groups that reach past its borders, on tile rows inside
    # x and at its top and bottom.
    x = rng.standard_normal((1, 6, 45, cin))
    kernel = rng.standard_normal((kh, kw, 16, cin))
    for padding in ("same", "valid"):
        out_hw = tuple(valid_sizes(size, k, s, d, padding)[-1]
                       for size, k, s, d in zip((6, 45), (kh, kw), strides, dilation))
        expected = conv2d_transpose_oracle(x, kernel, out_hw, strides, padding, dilation)
        operator = deconv.Conv2DTranspose(kernel.astype(np.float32), strides, padding,
                                          dilation_rate=dilation, backend="winograd")
        x32 = x.astype(np.float32)
        assert operator.plan_for(x32, (1, *out_hw, 16)).variant == _winograd.FUSED
        assert_close(operator(x32, (1, *out_hw, 16)), expected, np.float32)


@needs_fused
@settings(max_examples=examples(40), deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 20), w=st.integers(1, 20), cin=st.integers(16, 64),
       cout=st.integers(16, 64), geometry=st.sampled_from(FUSED_GEOMETRIES),
       padding=st.sampled_from(["same", "valid"]), channels_first=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1), data=st.data())
def test_fused_plans_take_any_geometry_of_two_taps_per_phase(n, h, w, cin, cout, geometry,
                                                             padding, channels_first, seed,
                                                             data):
    kh, kw, strides, dilation = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin))
    kernel = rng.standard_normal((kh, kw, cout, cin))
    out_hw = tuple(data.draw(st.sampled_from(valid_sizes(size, k, s, d, padding)))
                   for size, k, s, d in zip((h, w), (kh, kw), strides, dilation))
    expected = conv2d_transpose_oracle(x, kernel, out_hw, strides, padding, dilation)
    x32, k32 = x.astype(np.float32), kernel.astype(np.float32)
    with pytest.MonkeyPatch.context() as patch:
        plans_fused(patch, True)
        if channels_first:
            result = deconv.conv2d_transpose(
                np.ascontiguousarray(x32.transpose(0, 3, 1, 2)), k32, (n, cout, *out_hw),
                strides, padding, "channels_first", dilation,
                backend="winograd").transpose(0, 2, 3, 1)
        else:
            result = _call(x32, k32, out_hw, strides, padding, dilation_rate=dilation)
        assert deconv.Conv2DTranspose(k32, strides, padding, dilation_rate=dilation,
                                      backend="winograd").plan_for(
            x32, (n, *out_hw, cout)).variant == _winograd.FUSED
    deconv.clear_caches()
    assert_close(result, expected, np.float32)


@needs_fused
def test_fused_plans_are_bitwise_identical_for_any_thread_count(rng, monkeypatch,
                                                                fused_always):
    monkeypatch.setattr(_direct, "SECONDS_PER_THREAD", 0)  # every requested thread works
    x = rng.standard_normal((3, 9, 11, 24)).astype(np.float32)
    kernel = rng.standard_normal((4, 4, 21, 24)).astype(np.float32)
    results = [deconv.conv2d_transpose(x, kernel, strides=2, padding="same",
                                       backend="winograd", num_threads=threads)
               for threads in (1, 2, 3, 7)]
    for result in results[1:]:
        assert np.array_equal(result, results[0])
    operator = deconv.Conv2DTranspose(kernel, 2, "same", backend="winograd", num_threads=2)
    assert operator.plan_for(x).variant == _winograd.FUSED
    assert np.array_equal(operator(x), results[0])


@needs_fused
def test_auto_takes_the_fused_plan_where_it_is_fastest(rng):
    # A big 16-channel image: the direct kernel runs at the FMA peak, the
    # staged transforms cost more than they save, the fused plan does 9/16
    # of the multiplications with its transforms in registers.
    x = np.ones((1, 256, 256, 16), np.float32)
    kernel = rng.standard_normal((4, 4, 16, 16)).astype(np.float32)
    plan = deconv.Conv2DTranspose(kernel, 2, "same").plan_for(x)
    assert (plan.backend, plan.variant) == ("winograd", _winograd.FUSED)
    # NaN or inf: the transforms would spread them; "auto" passes over it.
    x[0, 100, 100, 3] = np.nan
    y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same")
    assert np.isnan(y).sum() == 16 * 16
    with pytest.raises(ValueError, match="backend 'winograd' cannot compute this call: .*NaN"):
        deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="winograd")


@pytest.mark.parametrize("arguments,message", [
    (dict(dtype=np.float64), r"takes float32 with 16 to \d+ channels in and out \(got "
                             r"float64 with 16 in, 16 out\)"),
    (dict(cin=65), r"takes float32 with 16 to \d+ channels in and out \(got float32 with 65 "
                   r"in, 16 out\)"),
    (dict(cin=15), r"with 15 in, 16 out"),
    (dict(kernel=3), "takes phases of two taps on each axis only"),
    (dict(kernel=2, strides=1, dilation=5), "takes at most 16 phases"),
    (dict(kernel=4, strides=2, dilation=2), "takes a dilated axis at stride 1 only"),
])
def test_fused_plans_say_what_they_cannot_take(arguments, message):
    if (_simd.core is None or not _simd.core.fused22_channels()) and "dilated" not in message:
        message = r"needs vectors of 16 float32 lanes \(AVX-512\)"
    dtype = arguments.get("dtype", np.float32)
    k, s, d = arguments.get("kernel", 4), arguments.get("strides", 2), arguments.get("dilation", 1)
    cin = arguments.get("cin", 16)
    problem = make_problem((1, 8, 8, cin), np.dtype(dtype), (k, k, 16, cin), np.dtype(dtype),
                           None, (s, s), (d, d), "same", "channels_last")
    assert re.search(message, _winograd.fused_reason(problem))


@needs_fused
def test_the_fused_kernel_rejects_what_does_not_fit():
    core = _simd.core
    x, y = np.zeros((1, 4, 4, 16), np.float32), np.zeros((1, 8, 8, 16), np.float32)
    problem = make_problem(x.shape, x.dtype, (4, 4, 16, 16), x.dtype, None, (2, 2), (1, 1),
                           "same", "channels_last")
    tables = _winograd.fused_tables(problem)
    u = _winograd.fused_pack(tables, np.zeros((4, 4, 16, 16), np.float32), 2)
    core.winograd_fused22(x, u, tables.axes, y, False, 1, 2)
    with pytest.raises(ValueError, match=r"winograd_fused22: x \(1, 4, 4, 16\), u \(4, 1, 9, "
                                         r"16, 16\), axes \(4, 2, 7\) and y \(1, 8, 8, 17\) do "
                                         r"not agree"):
        core.winograd_fused22(x, u, tables.axes, np.zeros((1, 8, 8, 17), np.float32), False,
                              1, 2)
    with pytest.raises(ValueError, match=r"do not agree \(channels contiguous"):
        core.winograd_fused22(x.transpose(0, 2, 1, 3)[..., ::2], u, tables.axes, y, False, 1, 2)
    with pytest.raises(ValueError, match=r"winograd_fused22: phase 2 reaches past x "
                                         r"\(1, 4, 4, 16\) or y \(1, 7, 8, 16\)"):
        core.winograd_fused22(x, u, tables.axes, np.zeros((1, 7, 8, 16), np.float32), False,
                              1, 2)


@needs_fused
@pytest.mark.parametrize("kernel_shape,strides", [((4, 4, 20, 17), 2), ((2, 2, 16, 33), 1)])
def test_the_fused_kernel_transform_is_g_u_g_transposed(kernel_shape, strides, rng):
    # U = G g G^T per phase, G = [[1, 0], [1, 1], [0, 1]], rows first, in float32.
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    cout, cin = kernel_shape[2:]
    problem = make_problem((1, 5, 5, cin), np.dtype(np.float32), kernel_shape,
                           np.dtype(np.float32), None, (strides, strides), (1, 1), "same",
                           "channels_last")
    tables = _winograd.fused_tables(problem)
    packed = _winograd.fused_pack(tables, kernel, 2)
    assert packed.shape == (len(tables.taps), -(-cout // 16), 9, -(-cin // 16) * 16, 16)
    for index, (row_taps, col_taps) in enumerate(tables.taps):
        g = kernel[np.ix_(row_taps, col_taps)]
        rows = np.stack([g[0], g[0] + g[1], g[1]])
        u = np.stack([rows[:, 0], rows[:, 0] + rows[:, 1], rows[:, 1]], axis=1)
        expected = np.zeros((packed.shape[1] * 16, 9, packed.shape[3]), np.float32)
        expected[:cout, :, :cin] = u.reshape(9, cout, cin).transpose(1, 0, 2)
        found = packed[index].transpose(0, 3, 1, 2).reshape(-1, 9, packed.shape[3])
        assert np.array_equal(found, expected)
    with pytest.raises(ValueError, match=r"winograd_fused_pack: kernel \(4, 4, 20, 17\), taps "
                                         r"\(4, 2, 2\) and u \(4, 2, 9, 32, 8\) do not agree"):
        _simd.core.winograd_fused_pack(np.zeros((4, 4, 20, 17), np.float32),
                                       np.zeros((4, 2, 2), np.intp),
                                       np.zeros((4, 2, 9, 32, 8), np.float32), 2)
    with pytest.raises(ValueError, match=r"winograd_fused_pack: phase 0's taps are outside"):
        _simd.core.winograd_fused_pack(np.zeros((4, 4, 20, 17), np.float32),
                                       np.full((1, 2, 2), 4, np.intp),
                                       np.zeros((1, 2, 9, 32, 16), np.float32), 2)
