"""The kernels of the "direct" backend, each forced in turn: the wide
(channel-vectorized) kernel, the narrow (pixel-vectorized, per-thread row
windows) one, the dot one (input-channel-vectorized, 1-4 output channels)
and the untiled path of tiny calls, over odd geometry, both
layouts and several thread counts, at every SIMD level this CPU runs (each
level is its own compiled module, with its own register tiles). Normally the
size and the cost model pick one variant and the best level; here each must
be exact on its own."""
import itertools

import numpy as np
import pytest
from oracle import assert_close, assert_same_non_finite, conv2d_transpose_oracle

import deconv
from deconv import _direct, _simd
from deconv._geometry import Axis


def inferred(size, k, s, d, padding):
    """The output size when output_shape is None (docs, page Semantics)."""
    return size * s if padding == "same" else size * s + max((k - 1) * d + 1 - s, 0)


def force_variant(monkeypatch, name):
    """Make the direct backend plan ``name`` for every call, on every thread
    asked for; plans made before are forgotten (and again afterwards)."""
    monkeypatch.setattr(_direct, "choose_variant", lambda problem, plans: plans[name])
    monkeypatch.setattr(_direct, "SECONDS_PER_THREAD", 0)  # every requested thread works
    # "small": the untiled path that calls under TRIVIAL_MADDS take.
    monkeypatch.setattr(_direct, "TRIVIAL_MADDS", 1 << 62 if name == "small" else 0)
    deconv.clear_caches()


@pytest.fixture(params=["wide", "narrow", "small"])
def variant(request, monkeypatch):
    force_variant(monkeypatch, request.param)
    yield request.param
    monkeypatch.undo()
    deconv.clear_caches()


def both_ways(x, kernel, *args, **kwargs):
    """The function's result (kernel packed inside the call), after checking
    that an operator (kernel packed once, kept) computes the same bits."""
    result = deconv.conv2d_transpose(x, kernel, *args, **kwargs)
    output_shape, *static = args or (None,)
    operator = deconv.Conv2DTranspose(kernel, *static, **kwargs)
    assert np.array_equal(operator(x, output_shape), result, equal_nan=True)
    return result


@pytest.mark.parametrize("k,s,d,padding", list(itertools.product(
    (1, 2, 5, 9), (1, 2, 3), (1, 2), ("same", "valid"))))
def test_each_variant_matches_the_oracle(k, s, d, padding, variant, simd_level, rng):
    # 3 images, Cout 9 (three narrow groups, the last one partial), 7 rows that
    # several threads split between them, columns past one 32-pixel run.
    x = rng.standard_normal((3, 7, 37, 5))
    kernel = rng.standard_normal((k, k, 9, 5))
    out_hw = (inferred(7, k, s, d, padding), inferred(37, k, s, d, padding))
    expected = conv2d_transpose_oracle(x, kernel, out_hw, (s, s), padding, (d, d))
    for threads in (1, 2, 3):
        last = both_ways(x, kernel, None, s, padding, "channels_last", d, backend="direct",
                         num_threads=threads)
        first = both_ways(x.transpose(0, 3, 1, 2), kernel, None, s, padding, "channels_first",
                          d, backend="direct", num_threads=threads)
        assert_close(last, expected, np.float64)
        assert_close(first.transpose(0, 2, 3, 1), expected, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_each_variant_is_bitwise_identical_for_any_thread_count(dtype, data_format, variant,
                                                                simd_level, rng):
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cin", [1, 6, 7])
def test_wide_kernel_panels_packed_whole_or_by_each_thread(dtype, cin, simd_level, rng,
                                                           monkeypatch):
    # Output channels spanning two and a half register blocks, so that with 2
    # or 3 threads a block is split between threads (each packs its own
    # panel of it); odd and even Cin (channels are paired on some levels).
    force_variant(monkeypatch, "wide")
    cout = 5 * _simd.core.channel_block(np.dtype(dtype).itemsize) // 2
    x = rng.standard_normal((2, 5, 9, cin)).astype(dtype)
    kernel = rng.standard_normal((3, 4, cout, cin)).astype(dtype)
    expected = conv2d_transpose_oracle(x, kernel, (10, 18), (2, 2), "same", (1, 1))
    results = []
    for whole_pack_bytes in (0, 1 << 40):  # panels by each thread, block by block / whole
        monkeypatch.setattr(_direct, "WHOLE_PACK_BYTES", whole_pack_bytes)
        monkeypatch.setattr(_direct, "PACKED_WHOLE_BYTES", whole_pack_bytes)
        for threads in (1, 2, 3, 4):
            results.append(both_ways(x, kernel, None, 2, "same", backend="direct",
                                     num_threads=threads))
    assert_close(results[0], expected, np.dtype(dtype))
    for other in results[1:]:
        assert np.array_equal(results[0], other)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cout", [1, 13, 16])
def test_narrow_kernel_every_channel_group_size(dtype, cout, simd_level, rng, monkeypatch):
    force_variant(monkeypatch, "narrow")
    x = rng.standard_normal((2, 6, 40, 5)).astype(dtype)
    kernel = rng.standard_normal((5, 3, cout, 5)).astype(dtype)
    expected = conv2d_transpose_oracle(x, kernel, (12, 80), (2, 2), "same", (1, 1))
    results = []
    for size in _simd.core.narrow_groups(np.dtype(dtype).itemsize):
        monkeypatch.setattr(_direct, "narrow_group_candidates", lambda itemsize, size=size: (size,))
        deconv.clear_caches()
        for threads in (1, 3):
            results.append(both_ways(x, kernel, None, 2, "same", backend="direct",
                                     num_threads=threads))
    assert_close(results[0], expected, np.dtype(dtype))
    for other in results[1:]:
        assert np.array_equal(results[0], other)
    deconv.clear_caches()


@pytest.mark.parametrize("cin", [16, 32, 40])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_narrow_kernel_window_rows_of_many_channels(cin, data_format, simd_level, rng,
                                                    monkeypatch):
    # The narrow kernel copies input rows into its planar windows in squares
    # of 16 columns x 16 channels (transposed in registers on AVX-512 when x
    # is channels-last and Cin a multiple of 16): rows of 37 columns (two
    # whole squares and a remainder), Cin of one, two and two and a half
    # squares, both layouts.
    force_variant(monkeypatch, "narrow")
    x = rng.standard_normal((2, 5, 37, cin)).astype(np.float32)
    kernel = rng.standard_normal((4, 3, 3, cin)).astype(np.float32)
    expected = conv2d_transpose_oracle(x, kernel, (10, 74), (2, 2), "same", (1, 1))
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    results = [both_ways(x, kernel, None, 2, "same", data_format, backend="direct",
                         num_threads=threads) for threads in (1, 2)]
    if data_format == "channels_first":
        results = [y.transpose(0, 2, 3, 1) for y in results]
    assert_close(results[0], expected, np.float32)
    assert np.array_equal(results[0], results[1])


@pytest.mark.parametrize("width, stride", [(150, 1), (70, 2), (64, 1), (32, 2)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_kernel_long_runs(width, stride, data_format, dtype, simd_level, rng,
                                 monkeypatch):
    # Groups of four take tiles of twice the run where a phase has that many
    # columns left (AVX-512): phases of 150 columns (two long tiles and a
    # short remainder), 70 (one and a short one), exactly 64, and 32 (short
    # tiles only); both layouts of y.
    check_narrow_group(4, rng.standard_normal((2, 3, width, 5)).astype(dtype),
                       rng.standard_normal((3, 5, 3, 5)).astype(dtype), stride, data_format,
                       monkeypatch)


def check_narrow_group(group, x, kernel, stride, data_format, monkeypatch):
    """The narrow kernel in groups of ``group`` channels on ``x`` (channels
    last) at ``stride``, "same", with y in ``data_format``: against the
    oracle, and the same bits at 1 and 3 threads."""
    force_variant(monkeypatch, "narrow")
    monkeypatch.setattr(_direct, "narrow_group_candidates", lambda itemsize: (group,))
    deconv.clear_caches()
    height, width = x.shape[1:3]
    expected = conv2d_transpose_oracle(x, kernel, (height * stride, width * stride),
                                       (stride, stride), "same", (1, 1))
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    results = [both_ways(x, kernel, None, stride, "same", data_format, backend="direct",
                         num_threads=threads) for threads in (1, 3)]
    if data_format == "channels_first":
        results = [y.transpose(0, 2, 3, 1) for y in results]
    assert_close(results[0], expected, x.dtype)
    assert np.array_equal(results[0], results[1])
    deconv.clear_caches()


def test_narrow_kernel_when_no_tap_reaches_any_output_column(simd_level, rng, monkeypatch):
    # A dilated kernel whose column taps all miss the one output column (found
    # by hypothesis): the column phases hold no tap at all, and y is zeros.
    force_variant(monkeypatch, "narrow")
    x = rng.standard_normal((2, 1, 1, 3)).astype(np.float32)
    kernel = rng.standard_normal((1, 2, 5, 3)).astype(np.float32)
    expected = conv2d_transpose_oracle(x, kernel, (1, 1), (1, 2), "same", (1, 2))
    for threads in (1, 3):
        y = deconv.conv2d_transpose(x, kernel, (None, 1, 1, 5), (1, 2), "same",
                                    dilation_rate=(1, 2), backend="direct", num_threads=threads)
        assert np.array_equal(y, expected)
    deconv.clear_caches()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kh, kw, cout, cin, padded", [(3, 2, 1, 5, 4), (2, 2, 13, 20, 16),
                                                       (1, 3, 3, 1, 8), (2, 1, 32, 17, 32)])
def test_narrow_kernel_packing(kh, kw, cout, cin, padded, dtype, simd_level, rng):
    # (kh, kw, Cout, Cin) -> (kh, kw, Cin, padded Cout), channels past Cout
    # zero, from a contiguous kernel and from a channels-first view of one;
    # rows mostly padding (Cout 1 of 4, 3 of 8) and mostly kernel (13 of 16,
    # 32 of 32), which are packed in two different ways.
    kernel = rng.standard_normal((kh, kw, cout, cin)).astype(dtype)
    expected = np.zeros((kh, kw, cin, padded), dtype)
    expected[..., :cout] = kernel.transpose(0, 1, 3, 2)
    view = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)).transpose(2, 3, 1, 0)
    for source, threads in [(kernel, 1), (view, 3)]:
        packed = np.full((kh, kw, cin, padded), np.nan, dtype)
        _simd.core.pack_narrow_kernel(source, packed, threads)
        assert np.array_equal(packed, expected)
    with pytest.raises(ValueError, match=r"pack_narrow_kernel: kernel \(3, 2, 1, 5\) does "
                                         r"not fit packed \(3, 2, 5, 0\)"):
        _simd.core.pack_narrow_kernel(np.zeros((3, 2, 1, 5), dtype),
                                      np.zeros((3, 2, 5, 0), dtype), 1)


def test_the_cost_model_picks_the_narrow_channel_group(monkeypatch):
    # More channels per tile load fewer pixels per multiply-add but pad
    # more: one output channel takes groups of 4; 16 channels a square of 16
    # where the build has them (float32, AVX-512); float64 stays in groups of
    # 4, which ran 16 channels 5-11% faster than groups of 8 (a whole vector).
    monkeypatch.setattr(_direct, "narrow_group_candidates",
                        lambda itemsize: (4, 8, 16) if itemsize == 4 else (4, 8))
    for cout, dtype, group in [(1, np.float32, 4), (3, np.float64, 4), (16, np.float32, 16),
                               (16, np.float64, 4), (8, np.float32, 8)]:
        kernel = np.zeros((4, 4, cout, 32), dtype)
        problem = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct").plan_for(
            np.zeros((8, 32, 32, 32), dtype)).problem
        plan = _direct._narrow_plan(problem, 2)
        assert (plan.variant, plan.packing, plan.work.group) == ("narrow", ("narrow", group),
                                                                 group), (cout, dtype)
        assert plan.num_threads == 2
    deconv.clear_caches()


@pytest.mark.parametrize("width, stride", [(40, 1), (37, 2), (16, 1)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cout", [13, 16, 32])
def test_narrow_kernel_squares_of_sixteen_channels(width, stride, data_format, cout,
                                                   simd_level, rng, monkeypatch):
    # float32 groups of 16 channels take tiles of 16 pixels (AVX-512), stored
    # through a register transpose where whole: phases of 40 columns (two
    # whole squares and a partial one), 37 (two and a partial one), exactly
    # 16; one partial group (13), one whole (16), two (32); both layouts of y.
    if 16 not in _simd.core.narrow_groups(4):
        pytest.skip("no squares of 16 channels at this SIMD level")
    check_narrow_group(16, rng.standard_normal((2, 3, width, 6)).astype(np.float32),
                       rng.standard_normal((3, 4, cout, 6)).astype(np.float32), stride,
                       data_format, monkeypatch)


def test_narrow_kernel_refuses_groups_its_build_lacks():
    core = _simd.core
    x = np.zeros((1, 2, 4, 3))
    tables = _direct.narrow_tables(*[Axis.from_padding("height", 2, 4, 3, 2, 1, "same"),
                                     Axis.from_padding("width", 4, 8, 3, 2, 1, "same")])
    packed = np.zeros((3, 3, 3, 16))
    windows = np.zeros((1, 3, tables.window_rows, tables.cols.padded_width))
    with pytest.raises(ValueError, match=r"conv2d_transpose_narrow: groups of 16 channels; "
                                         r"this build's for 8-byte items: \(4(, 8|,)\)"):
        core.conv2d_transpose_narrow(x, packed, tables, windows,
                                     np.full((1, tables.window_rows), -1, np.intp),
                                     np.zeros((1, 8), np.intp), np.zeros((1, 4, 8, 3)), 16, 1, 1)


@pytest.fixture
def dot(monkeypatch):
    """Make the direct backend plan its dot variant for every call it fits
    (up to its most output channels, either layout: a channels-first x is
    then made channels-last first), on every thread asked for."""
    monkeypatch.setattr(_direct, "_dot_fits", lambda problem: problem.output_shape[3] <= 4)
    force_variant(monkeypatch, "dot")
    yield
    monkeypatch.undo()
    deconv.clear_caches()


@pytest.mark.parametrize("k,s,d,padding", list(itertools.product(
    (1, 2, 5, 9), (1, 2, 3), (1, 2), ("same", "valid"))))
def test_dot_kernel_matches_the_oracle(k, s, d, padding, dot, simd_level, rng):
    # Every channel count it computes; input channels below one vector, one
    # and a part, and several whole vectors with a partial last one.
    for cout, cin in ((1, 37), (2, 5), (3, 16), (4, 21)):
        x = rng.standard_normal((2, 6, 23, cin))
        kernel = rng.standard_normal((k, k, cout, cin))
        out_hw = (inferred(6, k, s, d, padding), inferred(23, k, s, d, padding))
        expected = conv2d_transpose_oracle(x, kernel, out_hw, (s, s), padding, (d, d))
        for threads in (1, 3):
            last = both_ways(x, kernel, None, s, padding, "channels_last", d, backend="direct",
                             num_threads=threads)
            first = both_ways(x.transpose(0, 3, 1, 2), kernel, None, s, padding,
                              "channels_first", d, backend="direct", num_threads=threads)
            assert_close(last, expected, np.float64)
            assert_close(first.transpose(0, 2, 3, 1), expected, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cin", [3, 16, 53])
def test_dot_kernel_is_bitwise_identical_for_any_thread_count(dtype, cin, dot, simd_level, rng):
    x = rng.standard_normal((3, 9, 31, cin)).astype(dtype)
    kernel = rng.standard_normal((4, 3, 2, cin)).astype(dtype)
    expected = conv2d_transpose_oracle(x, kernel, (18, 62), (2, 2), "same", (1, 1))
    results = [deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="direct",
                                       num_threads=threads) for threads in (1, 2, 4, 7)]
    assert_close(results[0], expected, np.dtype(dtype))
    for other in results[1:]:
        assert np.array_equal(results[0], other)


@pytest.mark.parametrize("cout", [1, 3])
def test_dot_kernel_zero_rows_stay_inside_the_output(cout, dot, simd_level, rng):
    # A 1x1 kernel at stride 3: two rows of three take no tap. Channels-last,
    # a row's items are contiguous and zeroed as one run, which must end at
    # the output's last item (here followed by more of the same buffer);
    # channels-first, item by item.
    x = rng.standard_normal((2, 5, 7, 19))
    kernel = rng.standard_normal((1, 1, cout, 19))
    expected = conv2d_transpose_oracle(x, kernel, (15, 21), (3, 3), "same", (1, 1))
    buffer = np.full((3, 15, 21, cout), 7.0)
    for threads in (1, 3):
        y = deconv.conv2d_transpose(x, kernel, strides=3, padding="same", out=buffer[:2],
                                    backend="direct", num_threads=threads)
        assert_close(y, expected, np.float64)
        assert np.all(buffer[2] == 7.0)
        first = deconv.conv2d_transpose(x.transpose(0, 3, 1, 2), kernel, strides=3,
                                        padding="same", data_format="channels_first",
                                        backend="direct", num_threads=threads)
        assert_close(first.transpose(0, 2, 3, 1), expected, np.float64)


def test_dot_kernel_places_nan_and_inf_like_the_oracle(dot, rng):
    # The lanes past Cin are zeros in x and the kernel alike: they add 0 * 0,
    # never 0 * inf, whatever surrounds the data in memory.
    x = rng.standard_normal((2, 5, 7, 19))
    x[0, 2, 3, 4] = np.nan
    x[1, 0, 6, 18] = np.inf
    kernel = rng.standard_normal((3, 3, 3, 19))
    kernel[1, 2, 0, 7] = -np.inf
    expected = conv2d_transpose_oracle(x, kernel, (10, 14), (2, 2), "same", (1, 1))
    with np.errstate(invalid="ignore"):
        y = deconv.conv2d_transpose(x, kernel, strides=2, padding="same", backend="direct")
    assert_same_non_finite(y, expected)


def test_dot_kernel_rejects_what_does_not_fit(rng):
    problem = deconv.Conv2DTranspose(np.ones((3, 3, 2, 4)), 2, "same").plan_for(
        np.ones((1, 4, 4, 4))).problem
    tables = _direct.wide_tables(problem.rows, problem.cols)
    x = np.ones((1, 4, 4, 4))
    with pytest.raises(ValueError, match="conv2d_transpose_dot: x .* do not agree"):
        _simd.core.conv2d_transpose_dot(x, np.ones((3, 3, 5, 4)), tables, np.empty((1, 8, 8, 5)),
                                        1, 1)
    with pytest.raises(ValueError, match="conv2d_transpose_dot: x .* do not agree"):
        _simd.core.conv2d_transpose_dot(x.transpose(0, 2, 3, 1), np.ones((3, 3, 2, 4)),
                                        tables, np.empty((1, 8, 8, 2)), 1, 1)


@pytest.mark.parametrize("cout", [8, 32, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_kernel_every_last_tile_size(cout, dtype, simd_level, rng, monkeypatch):
    # A 1x1 kernel at stride 1 makes each row one column class of ``width``
    # pixels: widths 1-25 leave every remainder of the whole tiles (12 and 6
    # pixels on AVX-512, 4 and 2 elsewhere), which the smallest tile holding
    # it computes (thirds of a tile: 4, 8 or 12 pixels). Whole and half
    # blocks, against the oracle and against the tile counts the plan makes.
    force_variant(monkeypatch, "wide")
    kernel = rng.standard_normal((1, 1, cout, 3))
    sizes = _simd.core.tile_pixel_sizes(np.dtype(dtype).itemsize)
    for width in range(1, 26):
        x = rng.standard_normal((1, 2, width, 3))
        y = deconv.conv2d_transpose(x.astype(dtype), kernel.astype(dtype), strides=1,
                                    backend="direct", num_threads=2)
        assert_close(y, conv2d_transpose_oracle(x, kernel, (2, width), (1, 1), "same", (1, 1)),
                     dtype)
        rest = width % sizes[0]
        last = min(tile for tile in sizes if tile >= rest) if rest else 0
        tables = _direct.wide_tables(*[Axis.from_padding(name, size, size, 1, 1, 1, "same")
                                       for name, size in (("height", 2), ("width", width))])
        assert _simd.core.wide_tile_taps(tables, 1, sizes)[1] == 2 * (width - rest + last)
    deconv.clear_caches()


# A last channel block of 16 or fewer channels (1, 8, 16 past whole blocks
# of 32), which float32 on AVX-512 computes in tiles of half a block.
@pytest.mark.parametrize("cout", [8, 33, 40, 48])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_kernel_last_block_of_few_channels(cout, data_format, dtype, simd_level, rng,
                                                monkeypatch):
    force_variant(monkeypatch, "wide")
    x = rng.standard_normal((3, 7, 17, 6))
    kernel = rng.standard_normal((3, 3, cout, 6))
    # The same channels with a whole block's worth after them.
    wider = np.concatenate([kernel, rng.standard_normal((3, 3, 24, 6))], axis=2)
    expected = conv2d_transpose_oracle(x, kernel, (14, 34), (2, 2), "same", (1, 1))
    x_in = x.astype(dtype)
    if data_format == "channels_first":
        x_in = np.ascontiguousarray(x_in.transpose(0, 3, 1, 2))
    results = []
    for k, threads in ((kernel, 1), (kernel, 3), (wider, 2)):
        y = both_ways(x_in, k.astype(dtype), None, 2, "same", data_format, backend="direct",
                      num_threads=threads)
        y = y.transpose(0, 2, 3, 1) if data_format == "channels_first" else y
        results.append(y[..., :cout])
    assert_close(results[0], expected, dtype)
    # Half tiles add the same terms in the same order as whole ones.
    for other in results[1:]:
        assert np.array_equal(other, results[0])


# Kernels as wide as the column stride, tiling the output's columns: "same"
# and "valid" with the output exactly stride times as wide as x; row taps
# overlapping, one, or none past the kernel (kh 1, stride 2).
@pytest.mark.parametrize("kh,sh,kw", [(3, 3, 3), (2, 2, 2), (5, 2, 2), (1, 2, 4), (3, 1, 3)])
@pytest.mark.parametrize("cout", [1, 13, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_folded_variant_matches_the_oracle_and_the_wide_bits(kh, sh, kw, cout, dtype,
                                                             simd_level, rng, monkeypatch):
    x = rng.standard_normal((3, 5, 7, 6))
    kernel = rng.standard_normal((kh, kw, cout, 6))
    for padding in ("same", "valid"):
        out_hw = (inferred(5, kh, sh, 1, padding), 7 * kw)
        expected = conv2d_transpose_oracle(x, kernel, out_hw, (sh, kw), padding, (1, 1))
        results = {}
        for variant in ("folded", "wide"):
            force_variant(monkeypatch, variant)
            results[variant] = [
                both_ways(x.astype(dtype), kernel.astype(dtype), (3, *out_hw, cout), (sh, kw),
                          padding, backend="direct", num_threads=threads)
                for threads in (1, 3)]
            plan = deconv.Conv2DTranspose(kernel, (sh, kw), padding, backend="direct").plan_for(
                x, (3, *out_hw, cout))
            assert plan.variant == variant
        assert_close(results["folded"][0], expected, dtype)
        # The same terms in the same order, on any thread count.
        for result in results["folded"] + results["wide"][1:]:
            assert np.array_equal(result, results["wide"][0])
    deconv.clear_caches()


def test_what_folds_and_what_does_not():
    from deconv._problem import columns_folded, make_problem

    def folded(x_hw, kernel_hw, output_hw, strides, dilations=(1, 1), padding="valid",
               data_format="channels_last"):
        x_shape = (2, *x_hw, 3) if data_format == "channels_last" else (2, 3, *x_hw)
        output_shape = None if output_hw is None else (
            (2, *output_hw, 5) if data_format == "channels_last" else (2, 5, *output_hw))
        problem = make_problem(x_shape, np.float32, (*kernel_hw, 5, 3), np.float32,
                               output_shape, strides, dilations, padding, data_format)
        result = columns_folded(problem)
        return None if result is None else (result.kernel_shape, result.output_shape)

    assert folded((4, 6), (2, 2), None, (2, 2)) == ((2, 1, 10, 3), (2, 8, 6, 10))
    assert folded((4, 6), (3, 3), (12, 18), (3, 3), padding="same") == (
        (3, 1, 15, 3), (2, 12, 6, 15))
    assert folded((4, 6), (3, 1), None, (1, 1)) is None  # a stride of 1: nothing to fold
    assert folded((4, 6), (3, 3), None, (2, 2)) is None  # kernel wider than the stride
    assert folded((4, 6), (3, 2), None, (2, 3)) is None  # narrower: columns of zeros
    assert folded((4, 6), (2, 2), None, (2, 2), (1, 2)) is None  # dilated
    assert folded((4, 6), (2, 2), (8, 11), (2, 2), padding="same") is None  # cropped
    assert folded((4, 6), (2, 2), (8, 13), (2, 2)) is None  # a column past x's
    assert folded((4, 6), (2, 2), None, (2, 2), data_format="channels_first") is None


def test_folded_output_that_does_not_fold_is_written_as_it_is(rng):
    # An output whose columns and channels are not one run of items (every
    # other channel of a larger array): the wide kernel writes it in place.
    x = rng.standard_normal((2, 3, 4, 5))
    kernel = rng.standard_normal((2, 2, 3, 5))
    problem = deconv.Conv2DTranspose(kernel, 2, "valid").plan_for(x).problem
    backend = _direct.DirectBackend()
    plan = backend.plan_variant(problem, 2, "folded")
    assert plan.variant == "folded"
    base = np.full((2, 6, 8, 6), np.nan)
    backend.run(problem, plan, x, kernel, None, base[..., ::2])
    assert_close(base[..., ::2], conv2d_transpose_oracle(x, kernel, (6, 8), (2, 2), "valid",
                                                         (1, 1)), np.float64)
    assert np.isnan(base[..., 1::2]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_outputs_written_past_the_caches_hold_the_same_bits(dtype, data_format, simd_level,
                                                            rng, monkeypatch):
    # Outputs the wide kernel streams (float32 on AVX-512, whole aligned
    # lines), into a new (aligned) array, an aligned out= and one a float
    # off its line (written through the caches): the same bits as cached
    # stores; partial tiles and a half block (Cout 48) among them.
    force_variant(monkeypatch, "wide")
    x = rng.standard_normal((3, 7, 13, 6)).astype(dtype)
    kernel = rng.standard_normal((3, 3, 48, 6)).astype(dtype)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    expected = deconv.conv2d_transpose(x, kernel, None, 2, "same", data_format, backend="direct")
    monkeypatch.setattr(_simd, "streams", lambda nbytes: True)
    result = deconv.conv2d_transpose(x, kernel, None, 2, "same", data_format, backend="direct",
                                     num_threads=3)
    assert result.ctypes.data % 64 == 0 and np.array_equal(result, expected)
    raw = np.empty(expected.size + 16, dtype)
    for offset in (-raw.ctypes.data % 64 // raw.itemsize, 1):
        out = raw[offset:offset + expected.size].reshape(expected.shape)
        out.fill(np.nan)
        deconv.conv2d_transpose(x, kernel, None, 2, "same", data_format, backend="direct",
                                out=out)
        assert np.array_equal(out, expected)


def test_float16_outputs_computed_past_the_caches_hold_the_same_bits(rng, monkeypatch):
    # float16 is computed into a float32 array, then rounded: that array is
    # the one the kernels stream into.
    x = rng.standard_normal((2, 5, 6, 7)).astype(np.float16)
    kernel = rng.standard_normal((2, 2, 32, 7)).astype(np.float16)
    expected = deconv.conv2d_transpose(x, kernel, None, 2, "valid", backend="direct")
    monkeypatch.setattr(_simd, "streams", lambda nbytes: True)
    result = deconv.conv2d_transpose(x, kernel, None, 2, "valid", backend="direct")
    assert result.dtype == np.float16 and np.array_equal(result, expected)


@pytest.mark.parametrize("cout", [16, 32])
def test_narrow_squares_written_past_the_caches_hold_the_same_bits(cout, simd_level, rng,
                                                                   monkeypatch):
    # Squares of 16 channels (float32 on AVX-512) streamed into whole
    # aligned lines; partial squares and pixels among them.
    x = rng.standard_normal((2, 9, 21, 5)).astype(np.float32)
    kernel = rng.standard_normal((4, 4, cout, 5)).astype(np.float32)
    monkeypatch.setattr(_direct, "narrow_group_candidates", lambda itemsize: (
        (16,) if 16 in _simd.core.narrow_groups(itemsize) else (4,)))
    force_variant(monkeypatch, "narrow")
    expected = deconv.conv2d_transpose(x, kernel, None, 2, "same", backend="direct")
    monkeypatch.setattr(_simd, "streams", lambda nbytes: True)
    for threads in (1, 3):
        result = deconv.conv2d_transpose(x, kernel, None, 2, "same", backend="direct",
                                         num_threads=threads)
        assert result.ctypes.data % 64 == 0 and np.array_equal(result, expected)


def test_the_last_level_cache_share_from_sysfs(tmp_path):
    from deconv._simd import STREAM_CACHE_SHARE, last_level_cache_share, streams

    def cache(index, level, kind, size, cpus, tree="cache"):
        folder = tmp_path / tree / f"index{index}"
        folder.mkdir(parents=True)
        for name, value in (("level", level), ("type", kind), ("size", size),
                            ("shared_cpu_list", cpus)):
            (folder / name).write_text(f"{value}\n")

    cache(0, 1, "Data", "32K", "0")
    cache(1, 1, "Instruction", "32K", "0")
    cache(2, 2, "Unified", "1024K", "0")
    cache(3, 3, "Unified", "32768K", "0-1,4-5")
    assert last_level_cache_share(tmp_path / "cache") == 8 << 20  # 32 MB over 4 CPUs
    assert last_level_cache_share(tmp_path / "absent") is None
    cache(0, 2, "Unified", "lots", "0", tree="broken")
    assert last_level_cache_share(tmp_path / "broken") is None
    share = last_level_cache_share()
    assert streams(1 << 62) == (share is not None)
    assert not streams(0) and (share is None or not streams(int(STREAM_CACHE_SHARE * share)))
