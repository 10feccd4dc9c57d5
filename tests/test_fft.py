"""The "fft" backend's own pieces: the wrap-around-free transform length, the
kernels' direct DFTs fused with the channel contraction (every SIMD level this
CPU runs, kernel counts past one vector chunk, several threads), the images'
planar FFTs and their cropped inverse against numpy.fft (every radix), batch
chunks under a small memory budget, float32 accuracy on large kernels, and
shape checks of the compiled helpers."""
import itertools

import numpy as np
import pytest
from oracle import assert_close, conv2d_transpose_oracle

import deconv
from deconv import _fft, _simd
from deconv._fft import Placement, TransformPlan, fft_plan, transform_plan
from deconv._geometry import Axis


def fft(x, kernel, strides, padding, dilation, threads, output_hw=None):
    out = None if output_hw is None else (None, *output_hw, kernel.shape[2])
    return deconv.conv2d_transpose(x, kernel, out, strides, padding, "channels_last", dilation,
                                   backend="fft", num_threads=threads)


@pytest.mark.parametrize("k,s,d,padding", list(itertools.product(
    (3, 8), (1, 2, 3), (1, 2), ("same", "valid"))))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_level_matches_the_oracle_and_ignores_thread_count(k, s, d, padding, dtype,
                                                                 simd_level, rng):
    # Cin * Cout = 5 * 9 = 45 kernels: one whole 32-kernel chunk and a partial one.
    x = rng.standard_normal((3, 6, 11, 5)).astype(dtype)
    kernel = rng.standard_normal((k, k, 9, 5)).astype(dtype)
    one = fft(x, kernel, s, padding, d, 1)
    expected = conv2d_transpose_oracle(x.astype(np.float64), kernel.astype(np.float64),
                                       one.shape[1:3], (s, s), padding, (d, d))
    assert one.dtype == dtype
    assert_close(one, expected, dtype)
    for threads in (2, 3):
        assert np.array_equal(one, fft(x, kernel, s, padding, d, threads))


@pytest.mark.parametrize("budget", [1, 200_000])
def test_batch_chunks_under_a_small_budget(budget, monkeypatch, rng):
    # 1 byte: one image per chunk and every phase kernel prepared again per
    # chunk in one shared buffer; 200 KB: a few images per chunk.
    x = rng.standard_normal((5, 9, 7, 6))
    kernel = rng.standard_normal((7, 6, 4, 6))
    whole = fft(x, kernel, (2, 3), "same", (1, 2), 2)
    monkeypatch.setattr(_fft, "MEMORY_BUDGET_BYTES", budget)
    chunked = fft(x, kernel, (2, 3), "same", (1, 2), 2)
    expected = conv2d_transpose_oracle(x, kernel, whole.shape[1:3], (2, 3), "same", (1, 2))
    assert_close(chunked, expected, np.float64)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cout", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("strides", [(1, 1), (2, 3), (4, 4)])
def test_phases_one_per_thread_give_the_bits_of_phases_one_after_the_other(
        cout, strides, monkeypatch, rng):
    # Three images: with one to four output channels the products go four
    # at a time, and 3 * (2 or 4) frequencies of a group leave some over.
    x = rng.standard_normal((3, 9, 8, 5)).astype(np.float32)
    kernel = rng.standard_normal((9, 7, cout, 5)).astype(np.float32)
    plan = deconv.Conv2DTranspose(kernel, strides, "same", backend="fft",
                                  num_threads=2).plan_for(x)
    assert plan.backend_plan.work.phases_by_thread == (strides != (1, 1))
    by_thread = fft(x, kernel, strides, "same", 1, 2)
    expected = conv2d_transpose_oracle(x.astype(np.float64), kernel.astype(np.float64),
                                       by_thread.shape[1:3], strides, "same", (1, 1))
    assert_close(by_thread, expected, np.float32)
    assert np.array_equal(by_thread, fft(x, kernel, strides, "same", 1, 1))
    monkeypatch.setattr(_fft, "phases_by_thread", lambda *arguments: False)
    assert np.array_equal(by_thread, fft(x, kernel, strides, "same", 1, 2))


def test_phases_run_one_per_thread_when_their_spectra_fit_a_cache():
    assert _fft.phases_by_thread(4, 2, _fft.BY_THREAD_BYTES)
    assert not _fft.phases_by_thread(4, 2, _fft.BY_THREAD_BYTES + 1)
    assert not _fft.phases_by_thread(4, 1, 0)
    assert not _fft.phases_by_thread(3, 2, 0) and _fft.phases_by_thread(9, 2, 0)
    # 64 images of 20x16 transforms with 16 + 8 channels: 2.2 MB of spectra.
    kernel = np.zeros((9, 9, 8, 16), np.float32)
    for batch, by_thread in ((1, True), (64, False)):
        work = deconv.Conv2DTranspose(kernel, 2, "same", backend="fft", num_threads=2).plan_for(
            np.zeros((batch, 16, 16, 16), np.float32)).backend_plan.work
        assert work.phases_by_thread == by_thread


def test_phases_one_per_thread_check_their_table(rng):
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    kernel = rng.standard_normal((9, 7, 2, 3)).astype(np.float32)
    tables = deconv.Conv2DTranspose(kernel, 2, "same", backend="fft").plan_for(
        x).backend_plan.tables
    y = np.zeros((2, 18, 16, 2), np.float32)
    fields = tables.table.fields.copy()
    fields[1, _fft.PHASE_FIELDS.index("row_taps")] = tables.table.tap_indices.size
    with pytest.raises(ValueError, match=r"fft_phases: phase \[.*\] does not fit kernel "
                                         r"\(9, 7, 3, 2\), out \(2, 18, 16, 2\)"):
        _fft.fft_conv2d_transpose(tables._replace(table=tables.table._replace(fields=fields)),
                                  x, kernel, y, 2)
    fields = tables.table.fields.copy()
    fields[3, _fft.PHASE_FIELDS.index("row_first")] = 17
    with pytest.raises(ValueError, match=r"fft_phases: phase .* does not fit"):
        _fft.fft_conv2d_transpose(tables._replace(table=tables.table._replace(fields=fields)),
                                  x, kernel, y, 2)
    with pytest.raises(ValueError, match=r"phase_taps: phase 1 of \(4, 14\), kernel "
                                         r"\(9, 7, 3, 2\) and taps \(5, 4, 7\) do not agree"):
        _simd.core.phase_taps(kernel.transpose(0, 1, 3, 2), tables.table.fields, 1,
                              tables.table.tap_indices, np.zeros((5, 4, 7), np.float32))
    with pytest.raises(ValueError, match=r"fft_phases: .* do not agree"):
        _fft.fft_conv2d_transpose(tables._replace(table=tables.table._replace(
            fields=np.ascontiguousarray(tables.table.fields[:, :-1]))), x, kernel, y, 2)


def test_transform_length_only_avoids_wrap_around_where_the_output_lands():
    # 64 inputs, 15 taps: the full linear convolution has 78 points, but a
    # "same" crop keeps 7..70, which a 72-point circular convolution leaves exact.
    same = Axis("rows", in_size=64, kernel_size=15, stride=1, dilation=1, pad=7, out_size=64)
    valid = Axis("rows", in_size=64, kernel_size=15, stride=1, dilation=1, pad=0, out_size=78)
    assert _fft.transform_length(same, same.phases()) == 72
    assert _fft.transform_length(valid, valid.phases()) == 80


@pytest.mark.parametrize("shape,kernel_shape,padding", [
    ((2, 64, 64, 16), (15, 15, 16, 16), "same"),
    ((1, 40, 40, 8), (31, 31, 8, 8), "valid"),
])
def test_float32_large_kernels_within_the_spec_tolerance(shape, kernel_shape, padding, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    y = fft(x, kernel, 1, padding, 1, 2)
    exact = deconv.conv2d_transpose(x.astype(np.float64), kernel.astype(np.float64),
                                    padding=padding, backend="direct")
    assert np.abs(y - exact).max() <= 1e-5 * np.abs(exact).max()


def guarded(shape, dtype, rng):
    """A random array with sentinel elements right after it: a kernel that
    writes past its buffer changes them."""
    size = int(np.prod(shape))
    storage = np.full(size + 64, 7.0, dtype)
    storage[:size] = rng.standard_normal(size)
    return storage[:size].reshape(shape), storage[size:]


@pytest.mark.parametrize("lengths", [(1, 1), (2, 3), (6, 12), (9, 14), (10, 30), (16, 38),
                                     (20, 5)])
@pytest.mark.parametrize("cout", [1, 32, 45, 70])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_spectra_match_numpy(lengths, cout, dtype, simd_level, rng):
    """The kernels' width DFT, then their height DFT read back through
    spectral_product with one input channel of ones (its output is then the
    kernel spectra). Tap rows and columns at even positions come first, as
    the DFTs want them; the positions include negative ones. The lengths are
    odd and even, both 0 and 2 mod 4 (frequencies paired with Lh/2 - u or
    Lw/2 - v), and leave every remainder of the frequencies a unit or the
    registers take together. The kernel counts fall below, at and past
    one vector chunk; the rows are padded. Nothing is written past any
    buffer."""
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    height, width = lengths
    half = width // 2 + 1
    row_positions, even_rows = (0, 2, -1, 5), 2
    col_positions, even_cols = (2, 4, -3, 1), 2
    taps = rng.standard_normal((4, 4, cout + 7)).astype(dtype)[:, :, :cout]  # strided columns
    width_cos, width_sin = _fft._twiddles(col_positions, width, half, dtype)
    height_cos, height_sin = _fft._twiddles(row_positions, height, height, dtype)
    partial, partial_guard = guarded((half, 2, 4, cout + 5), dtype, rng)  # padded rows
    _simd.core.kernel_width_spectra(taps, width_cos, width_sin, even_cols, width, partial, 2)
    by_row = np.exp(-2j * np.pi * np.outer(np.arange(height), row_positions) / height)
    by_col = np.exp(-2j * np.pi * np.outer(np.arange(half), col_positions) / width)
    expected = np.einsum("ua,vb,abm->uvm", by_row, by_col, taps.astype(np.float64))
    ones = np.zeros((1, height, 2, half, 1), dtype)
    ones[:, :, 0] = 1
    for groups in (1, 3, _fft.GROUPS_PER_BLOCK):
        spectra, spectra_guard = guarded((1, height, 2, half, cout), dtype, rng)
        scratch, scratch_guard = guarded((2, 4 * groups, 2, cout + 3), dtype, rng)
        _simd.core.spectral_product(partial, height_cos, height_sin, even_rows, ones, spectra,
                                    scratch, 2)
        got = spectra[0, :, 0] + 1j * spectra[0, :, 1]
        assert np.abs(got - expected).max() <= tolerance * np.abs(expected).max()
        assert (spectra_guard == 7).all() and (scratch_guard == 7).all()
    assert (partial_guard == 7).all()


def test_compiled_helpers_reject_shapes_that_do_not_fit():
    f32 = np.float32
    core = _simd.core
    partial = np.zeros((5, 2, 3, 6), f32)
    cosines = np.zeros((8, 3), f32)
    x_spectra = np.zeros((1, 8, 2, 5, 2), f32)
    y_spectra = np.zeros((1, 8, 2, 5, 3), f32)
    scratch = np.zeros((1, 4, 2, 7), f32)
    core.spectral_product(partial, cosines, cosines, 1, x_spectra, y_spectra, scratch, 1)
    with pytest.raises(ValueError, match=r"spectral_product: .* do not agree"):
        core.spectral_product(partial, cosines, cosines, 1, np.zeros((1, 8, 2, 4, 2), f32),
                              y_spectra, scratch, 1)
    with pytest.raises(ValueError, match=r"spectral_product: .* do not agree"):
        core.spectral_product(partial, cosines, cosines, 1, x_spectra, y_spectra, scratch, 2)
    with pytest.raises(ValueError, match=r"spectral_product: .* even rows 4, .* do not agree"):
        core.spectral_product(partial, cosines, cosines, 4, x_spectra, y_spectra, scratch, 1)
    with pytest.raises(ValueError, match=r"spectral_product: .* do not agree"):
        core.spectral_product(partial, cosines, cosines, 1, x_spectra, y_spectra,
                              np.zeros((1, 2, 2, 6), f32), 1)
    width_cosines = np.zeros((5, 4), f32)
    core.kernel_width_spectra(np.zeros((3, 4, 6), f32), width_cosines, width_cosines, 2, 8,
                              partial, 1)
    with pytest.raises(ValueError, match=r"kernel_width_spectra: .* do not agree"):
        core.kernel_width_spectra(np.zeros((3, 4, 6), f32), np.zeros((5, 3), f32),
                                  np.zeros((5, 3), f32), 2, 8, partial, 1)
    with pytest.raises(ValueError, match=r"kernel_width_spectra: .* of width 10, .* agree"):
        core.kernel_width_spectra(np.zeros((3, 4, 6), f32), width_cosines, width_cosines, 2,
                                  10, partial, 1)
    with pytest.raises(ValueError, match=r"kernel_width_spectra: .* even columns 5 .* agree"):
        core.kernel_width_spectra(np.zeros((3, 4, 6), f32), width_cosines, width_cosines, 5,
                                  8, partial, 1)

    images = np.zeros((1, 6, 7, 2), f32)
    spectra = np.zeros((1, 8, 2, 5, 2), f32)
    plan = transform_plan((8, 8), -1, np.dtype(f32))
    work = np.zeros((1, core.fft_work_floats(8)), f32)
    core.image_spectra(images, spectra, plan, work, 1)
    with pytest.raises(ValueError, match=r"image_spectra: .* do not agree"):
        core.image_spectra(images, spectra, plan._replace(width_length=9), work, 1)
    with pytest.raises(ValueError, match=r"image_spectra: .* do not agree"):
        core.image_spectra(images, spectra, plan, work[:, :-1], 1)
    with pytest.raises(ValueError, match=r"image_spectra: twiddles \(5, 2\) do not fit"):
        core.image_spectra(images, spectra, plan._replace(
            height_twiddles=plan.height_twiddles[:5]), work, 1)
    with pytest.raises(ValueError, match=r"FFT plan: radices \[4, 2\] do not split 6"):
        core.image_spectra(np.zeros((1, 6, 7, 2), f32), np.zeros((1, 6, 2, 5, 2), f32), plan,
                           work, 1)

    out = np.zeros((1, 6, 7, 2), f32)
    inverse = transform_plan((8, 8), 1, np.dtype(f32))
    assert isinstance(inverse, TransformPlan)
    rows, cols = Placement(1, 7, 0, 1), Placement(0, 7, 0, 1)
    core.cropped_image(spectra, out, rows, cols, f32(1), inverse, work, 1)
    with pytest.raises(ValueError, match=r"cropped_image: .* do not agree"):
        core.cropped_image(spectra, out, Placement(1, 8, 0, 1), cols, f32(1), inverse, work, 1)
    with pytest.raises(ValueError, match=r"cropped_image: .* do not agree"):
        core.cropped_image(spectra, out, rows, Placement(0, 4, 1, 2), f32(1), inverse, work, 1)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 25, 30, 72, 120])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_image_spectra_and_their_inverse_match_numpy(length, dtype, rng):
    """Every radix and their mixes, odd image heights (a row pair with one
    row), channel counts that leave lanes over (3) and need two blocks (70)."""
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    core = _simd.core
    for channels in (3, 70):
        images = rng.standard_normal((2, max(1, length - 1), max(1, length - 2), channels))
        images = images.astype(dtype)
        half = length // 2 + 1
        spectra = np.zeros((2, length, 2, half, channels), dtype)
        work = np.zeros((2, core.fft_work_floats(length)), dtype)
        core.image_spectra(images, spectra, transform_plan((length, length), -1, np.dtype(dtype)),
                           work, 2)
        expected = np.fft.rfft2(images.astype(np.float64), s=(length, length), axes=(1, 2))
        got = spectra[:, :, 0] + 1j * spectra[:, :, 1]
        assert np.abs(got - expected).max() <= tolerance * np.abs(expected).max()

        out = np.full(images.shape, np.nan, dtype)
        inverse = transform_plan((length, length), 1, np.dtype(dtype))
        rows = Placement(0, images.shape[1], 0, 1)
        cols = Placement(0, images.shape[2], 0, 1)
        core.cropped_image(spectra, out, rows, cols, dtype(1 / length ** 2), inverse, work, 2)
        assert np.abs(out - images).max() <= tolerance * np.abs(images).max()


def test_fft_plan_rejects_lengths_with_other_prime_factors():
    with pytest.raises(ValueError, match="FFT length 14 has prime factors other than 2, 3 and 5"):
        fft_plan(14, -1, np.dtype(np.float32))


def test_work_counts_spectrum_reads_and_outputs():
    kernel = np.zeros((9, 9, 2, 3), np.float32)
    plan = deconv.Conv2DTranspose(kernel, 2, "same", backend="fft").plan_for(
        np.zeros((5, 20, 20, 3), np.float32))
    work, tables = plan.backend_plan.work, plan.backend_plan.tables
    rows, cols = tables.shape
    assert work.spectrum_reads == len(tables.phases) * 5 * 3 * rows * (cols // 2 + 1)
    assert work.output_items == 5 * 40 * 40 * 2


def test_work_counts_the_kernels_dfts_in_whole_steps():
    # One to 32 float32 kernels (Cin * Cout) take one step of the kernels'
    # DFTs, at the same cost; 33 take two.
    assert _simd.core.kernel_dft_lanes(4) == 32 and _simd.core.kernel_dft_lanes(8) == 16
    x = np.zeros((1, 20, 20, 1), np.float32)

    def kernel_dfts(cout):
        plan = deconv.Conv2DTranspose(np.zeros((9, 9, cout, 1), np.float32), 2, "same",
                                      backend="fft").plan_for(x).backend_plan
        rows, cols = plan.tables.shape
        products = len(plan.tables.phases) * cout * rows * (cols // 2 + 1)
        return plan.work.complex_madds - products

    assert kernel_dfts(1) == kernel_dfts(2) == kernel_dfts(32) > 0
    assert kernel_dfts(33) == 2 * kernel_dfts(1)


def test_auto_leaves_out_the_fft_where_every_phase_is_one_tap():
    x = np.ones((2, 16, 16, 3), np.float32)
    for kernel_size, stride, dilation, pointwise in ((2, 2, 1, True), (1, 4, 1, True),
                                                     (3, 2, 1, False), (2, 2, 2, False),
                                                     (2, 4, 2, True)):
        kernel = np.ones((kernel_size, kernel_size, 2, 3), np.float32)
        plan = deconv.Conv2DTranspose(kernel, stride, dilation_rate=dilation).plan_for(x)
        assert _fft.pointwise_phases(plan.problem) is pointwise
        assert (_fft.FFTBackend().estimate_seconds(plan.problem, 2) is None) is pointwise
    # Forced, it still computes the call.
    kernel = np.ones((2, 2, 2, 3), np.float32)
    assert_close(deconv.conv2d_transpose(x, kernel, strides=2, backend="fft"),
                 deconv.conv2d_transpose(x, kernel, strides=2, backend="reference"), np.float32)


def test_smooth_lengths_are_scipys_fast_lengths():
    # SciPy's next_fast_len (real transforms) as the independent reference:
    # every length up to 5000, and large ones.
    import scipy.fft

    from deconv._fft import smooth_length
    lengths = [*range(1, 5001), 2**20 + 1, 3**12 - 1, 5**9 + 7, 999_999_937]
    assert [smooth_length(n) for n in lengths] == [
        scipy.fft.next_fast_len(n, real=True) for n in lengths]


def test_importing_deconv_starts_no_blas_threads_of_scipy():
    # scipy.fft imports scipy.special, which loads SciPy's own OpenBLAS: its
    # threads would then spin next to deconv's after every import.
    import subprocess
    import sys
    code = ("import sys, deconv; "
            "print(any(name.startswith(('scipy.fft', 'scipy.special', 'scipy.linalg')) "
            "for name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
