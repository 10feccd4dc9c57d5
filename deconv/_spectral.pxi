# Compiled pieces of the "fft" backend (deconv/_fft.py), included by _core.pyx.
#
# The kernels' side, by direct summation. A phase kernel has a few
# taps and is zero-padded to a transform length several times longer, so a
# DFT over the taps alone (FMAs vectorized over the Cin * Cout kernels) does
# less work than an FFT over the zeros. Its height transform is fused with the
# channel contraction: a thread computes the kernel spectra of a few
# frequencies into its own small buffer and multiplies them into every
# image's spectrum while they are in cache, so the kernel spectra are never
# stored whole. Symmetries halve the height DFT twice over: frequencies u and
# Lh - u share their sums, and so do Lh/2 -+ u once the taps at even and at
# odd positions are summed apart.
cdef enum:
    SPECTRA_CHUNK = 32          # output channels a product step takes
    SPECTRA_FEW = 4             # output channels taken a column at a time
    FEW_JOBS = 4                # products of few columns computed at once
    MAX_WIDTH_IN_REGISTERS = 2  # width DFT: frequencies (and their mirrors) summed at once
    WIDTH_BLOCK = 8             # width DFT: frequencies (and mirrors) a thread's unit takes
    DFT_CHUNK_BYTES = 128       # kernels' DFTs: bytes of kernels a step takes (_dft_lanes)
    DFT_CHUNK_MAX = 32          # kernels' DFTs: most kernels a step takes (float32)


cdef struct PlanarLayout:
    # Strides in items of planar spectra (N, Lh, 2, V, C), channels contiguous.
    Py_ssize_t image
    Py_ssize_t frequency
    Py_ssize_t imag
    Py_ssize_t column


cdef struct Crop:
    # Where a phase's kept rows and columns of an inverse transform go (two
    # deconv._fft.Placement): row_start <= r < row_stop goes to output row
    # row_first + (r - row_start) * row_step; likewise columns.
    Py_ssize_t row_start
    Py_ssize_t row_stop
    Py_ssize_t row_first
    Py_ssize_t row_step
    Py_ssize_t col_start
    Py_ssize_t col_stop
    Py_ssize_t col_first
    Py_ssize_t col_step


cdef struct OutLayout:
    # Strides in items of an (N, H, W, C) output of any strides.
    Py_ssize_t image
    Py_ssize_t row
    Py_ssize_t col
    Py_ssize_t channel


def kernel_width_spectra(const floating[:, :, :] taps, const floating[:, ::1] width_cos,
                         const floating[:, ::1] width_sin, const Py_ssize_t even_cols,
                         const Py_ssize_t width_length, floating[:, :, :, ::1] partial,
                         int num_threads):
    """Width DFT of many small real kernels at once.

    ``taps`` (Th, Tw, M) holds M kernels' taps (contiguous along M, its
    rows and columns may have any strides); ``width_cos[v, b]`` and
    ``width_sin[v, b]`` are cos and sin of 2 pi v p_b / Lw for the position
    p_b of tap column b, even for the first ``even_cols`` columns and odd for
    the others, and Lw is ``width_length``. Writes ``partial[v, 0 or 1, a, :M]``, the real and
    imaginary parts of ``sum_b taps[a, b] exp(-2 pi i v p_b / Lw)`` for
    v <= Lw / 2 (so the height DFT at one v reads one contiguous block);
    ``partial``'s rows may be longer than M (see ``deconv._fft.padded_row``).
    """
    cdef Py_ssize_t rows = taps.shape[0], cols = taps.shape[1], count = taps.shape[2]
    cdef Py_ssize_t half = width_length // 2 + 1
    cdef Py_ssize_t unit
    if ((count > 1 and taps.strides[2] != sizeof(floating))
            or taps.strides[0] % sizeof(floating) != 0 or taps.strides[1] % sizeof(floating) != 0
            or width_cos.shape[0] != half or width_cos.shape[1] != cols
            or width_sin.shape[0] != half or width_sin.shape[1] != cols
            or not 0 <= even_cols <= cols or partial.shape[0] != half
            or partial.shape[1] != 2 or partial.shape[2] != rows or partial.shape[3] < count):
        raise ValueError(f"kernel_width_spectra: taps {tuple(taps.shape)[:3]}, twiddles "
                         f"{tuple(width_cos.shape)[:2]} of width {width_length}, even columns "
                         f"{even_cols} and partial {tuple(partial.shape)[:4]} do not agree")
    for unit in prange(rows * _width_blocks(width_length), nogil=True, schedule="static",
                       num_threads=num_threads):
        _width_spectra_units(&taps[0, 0, 0], taps.strides[0] // sizeof(floating),
                             taps.strides[1] // sizeof(floating), &width_cos[0, 0],
                             &width_sin[0, 0], rows, cols, even_cols, count, width_length,
                             &partial[0, 0, 0, 0], partial.shape[3], unit, unit + 1)


cdef inline Py_ssize_t _width_bases(const Py_ssize_t width_length) noexcept nogil:
    """Frequencies the width DFT sums: v <= Lw / 4 (with their mirrors Lw / 2
    - v) for an even Lw, else v <= Lw / 2."""
    return width_length // 4 + 1 if width_length % 2 == 0 else width_length // 2 + 1


cdef inline Py_ssize_t _width_blocks(const Py_ssize_t width_length) noexcept nogil:
    """Blocks of WIDTH_BLOCK frequencies the width DFT of one tap row takes."""
    return (_width_bases(width_length) + WIDTH_BLOCK - 1) // WIDTH_BLOCK


cdef inline void _width_spectra_units(
        const floating* taps, const Py_ssize_t row_stride, const Py_ssize_t col_stride,
        const floating* width_cos, const floating* width_sin, const Py_ssize_t rows,
        const Py_ssize_t cols, const Py_ssize_t even_cols, const Py_ssize_t count,
        const Py_ssize_t width_length, floating* partial, const Py_ssize_t partial_row,
        const Py_ssize_t first_unit, const Py_ssize_t last_unit) noexcept nogil:
    """Units ``first_unit`` to ``last_unit`` of :func:`kernel_width_spectra`,
    its arrays given by their first items and strides in items (``partial``
    by its rows' length): unit ``a * blocks + j`` is tap row a at the j-th
    block of frequencies (:func:`_width_blocks`)."""
    cdef bint halves = width_length % 2 == 0
    cdef Py_ssize_t bases = _width_bases(width_length), blocks = _width_blocks(width_length)
    cdef Py_ssize_t unit, a, first
    for unit in range(first_unit, last_unit):
        a = unit // blocks
        first = unit % blocks * WIDTH_BLOCK
        _width_dft(taps + a * row_stride, col_stride, width_cos + first * cols,
                   width_sin + first * cols, cols, even_cols, count, first,
                   min(first + WIDTH_BLOCK, bases), width_length, halves,
                   partial + a * partial_row, partial + (rows + a) * partial_row,
                   2 * rows * partial_row)


def spectral_product(const floating[:, :, :, ::1] partial, const floating[:, ::1] height_cos,
                     const floating[:, ::1] height_sin, const Py_ssize_t even_rows,
                     const floating[:, :, :, :, ::1] x_spectra,
                     floating[:, :, :, :, ::1] y_spectra, floating[:, :, :, ::1] scratch,
                     int num_threads):
    """Frequency-domain channel sum of the FFT backend, kernel spectra included.

    ``partial`` (V, 2, Th, Cin * Cout) are the kernels' width spectra (see
    :func:`kernel_width_spectra`), ``height_cos[u, a]`` and ``height_sin[u, a]``
    cos and sin of 2 pi u p_a / Lh for tap row a, whose position p_a is even
    for the first ``even_rows`` rows and odd for the others. With ``k[u, v]``
    the (Cin, Cout) kernel spectra at frequency (u, v), computes
    ``y[n, u, v] = x[n, u, v] @ k[u, v]`` for the planar spectra
    ``x_spectra`` (N, Lh, 2, V, Cin) and ``y_spectra`` (N, Lh, 2, V, Cout)
    (axis 2: real, imaginary; see :func:`image_spectra`). ``scratch``
    (threads, 4 G, 2, >= Cin * Cout) holds each thread's kernel spectra at G
    groups of four frequencies (see :func:`_height_dft_groups`), each a
    (Cin, Cout) real plane then an imaginary one; channels are summed in
    order. The rows of ``partial`` and of ``scratch`` may be longer than
    Cin * Cout (see ``deconv._fft.padded_row``).
    """
    cdef Py_ssize_t half = partial.shape[0], rows = partial.shape[2]
    cdef Py_ssize_t length = height_cos.shape[0], batch = x_spectra.shape[0]
    cdef Py_ssize_t cin = x_spectra.shape[4], cout = y_spectra.shape[4]
    cdef Py_ssize_t block = scratch.shape[1] // 4
    cdef PlanarLayout x_layout = _planar_layout(x_spectra), y_layout = _planar_layout(y_spectra)
    cdef Py_ssize_t unit, thread
    if (partial.shape[1] != 2 or partial.shape[3] < cin * cout or height_cos.shape[1] != rows
            or height_sin.shape[0] != length or height_sin.shape[1] != rows
            or not 0 <= even_rows <= rows or scratch.shape[0] < num_threads or block < 1
            or scratch.shape[1] != 4 * block or scratch.shape[2] != 2
            or scratch.shape[3] < cin * cout or batch < 1
            or x_spectra.shape[1] != length or x_spectra.shape[2] != 2
            or x_spectra.shape[3] != half or y_spectra.shape[0] != batch
            or y_spectra.shape[1] != length or y_spectra.shape[2] != 2
            or y_spectra.shape[3] != half):
        raise ValueError(f"spectral_product: partial {tuple(partial.shape)[:4]}, twiddles "
                         f"{tuple(height_cos.shape)[:2]}, even rows {even_rows}, x "
                         f"{tuple(x_spectra.shape)[:5]}, y {tuple(y_spectra.shape)[:5]} and "
                         f"scratch {tuple(scratch.shape)[:4]} do not agree")
    for unit in prange(half * _product_blocks(length, block), nogil=True, schedule="static",
                       num_threads=num_threads):
        thread = threadid()
        _product_units(&partial[0, 0, 0, 0], partial.shape[3], rows, &height_cos[0, 0],
                       &height_sin[0, 0], even_rows, length, half,
                       &x_spectra[0, 0, 0, 0, 0], x_layout, cin, &y_spectra[0, 0, 0, 0, 0],
                       y_layout, cout, batch,
                       &scratch[thread, 0, 0, 0], scratch.shape[3], block, unit, unit + 1)


cdef inline PlanarLayout _planar_layout(const floating[:, :, :, :, ::1] spectra) noexcept:
    cdef PlanarLayout layout
    layout.image = spectra.strides[0] // sizeof(floating)
    layout.frequency = spectra.strides[1] // sizeof(floating)
    layout.imag = spectra.strides[2] // sizeof(floating)
    layout.column = spectra.strides[3] // sizeof(floating)
    return layout


cdef inline Py_ssize_t _height_groups(const Py_ssize_t length) noexcept nogil:
    """Frequency groups (:func:`_height_dft_groups`) of Lh = ``length``: u <=
    Lh / 4 for an even Lh (with Lh - u, Lh / 2 -+ u), else u <= Lh / 2."""
    return length // 4 + 1 if length % 2 == 0 else length // 2 + 1


cdef inline Py_ssize_t _product_blocks(const Py_ssize_t length,
                                       const Py_ssize_t block) noexcept nogil:
    """Blocks of ``block`` frequency groups of Lh = ``length``."""
    return (_height_groups(length) + block - 1) // block


cdef inline void _product_units(
        const floating* partial, const Py_ssize_t partial_row, const Py_ssize_t rows,
        const floating* height_cos, const floating* height_sin, const Py_ssize_t even_rows,
        const Py_ssize_t length, const Py_ssize_t half, const floating* x,
        const PlanarLayout x_layout, const Py_ssize_t cin, floating* y,
        const PlanarLayout y_layout, const Py_ssize_t cout, const Py_ssize_t batch,
        floating* spectra, const Py_ssize_t plane, const Py_ssize_t block,
        const Py_ssize_t first_unit, const Py_ssize_t last_unit) noexcept nogil:
    """Units ``first_unit`` to ``last_unit`` of :func:`spectral_product`, its
    arrays given by their first items and layouts (``partial`` by its rows'
    length, the thread's scratch ``spectra`` by its planes'): unit
    ``v * blocks + j`` is width frequency v at the j-th block of ``block``
    frequency groups (:func:`_product_blocks`), so each chunk of taps is read
    from memory once for the block."""
    cdef bint quads = length % 2 == 0
    cdef Py_ssize_t groups = _height_groups(length), blocks = _product_blocks(length, block)
    cdef Py_ssize_t unit, v, first, last, g, slot, frequency, n
    cdef const floating* x_at
    cdef floating* y_at
    for unit in range(first_unit, last_unit):
        v = unit // blocks
        first = unit % blocks * block
        last = min(first + block, groups)
        _height_dft_groups(partial + 2 * v * rows * partial_row,
                           partial + (2 * v + 1) * rows * partial_row, partial_row,
                           height_cos + first * rows, height_sin + first * rows, rows,
                           even_rows, cin * cout, first, last, quads, spectra, plane)
        if cout <= SPECTRA_FEW:
            _few_columns_groups(x + v * x_layout.column, x_layout, y + v * y_layout.column,
                                y_layout, spectra, plane, first, last, length, quads, batch,
                                cin, cout)
            continue
        for g in range(first, last):
            for slot in range(4 if quads else 2):
                frequency = _group_frequency(g, slot, length)
                if _repeats_in_group(g, slot, length):
                    continue
                for n in range(batch):
                    x_at = (x + n * x_layout.image + frequency * x_layout.frequency
                            + v * x_layout.column)
                    y_at = (y + n * y_layout.image + frequency * y_layout.frequency
                            + v * y_layout.column)
                    _complex_vector_times_matrix(
                        x_at, x_at + x_layout.imag, spectra + (8 * (g - first) + 2 * slot) * plane,
                        plane, y_at, y_at + y_layout.imag, cin, cout)


cdef inline Py_ssize_t _group_frequency(const Py_ssize_t group, const Py_ssize_t slot,
                                        const Py_ssize_t length) noexcept nogil:
    """Frequency ``slot`` of a group of :func:`_height_dft_groups`: u, Lh - u,
    Lh / 2 - u, Lh / 2 + u (mod Lh) for u = ``group``."""
    if slot == 0:
        return group
    if slot == 1:
        return (length - group) % length
    if slot == 2:
        return length // 2 - group
    return (length // 2 + group) % length


cdef inline bint _repeats_in_group(const Py_ssize_t group, const Py_ssize_t slot,
                                   const Py_ssize_t length) noexcept nogil:
    """Whether frequency ``slot`` of a group is one of its earlier slots (at
    u = 0 and u = Lh / 4)."""
    cdef Py_ssize_t earlier
    for earlier in range(slot):
        if _group_frequency(group, earlier, length) == _group_frequency(group, slot, length):
            return True
    return False


cdef inline void _complex_vector_times_matrix(
        const floating* vector_real, const floating* vector_imag, const floating* matrix,
        const Py_ssize_t imag_offset, floating* out_real, floating* out_imag,
        const Py_ssize_t rows, const Py_ssize_t width) noexcept nogil:
    """``out = vector @ matrix`` for complex numbers held as real and
    imaginary parts: ``vector`` (rows), ``out`` (width > SPECTRA_FEW),
    ``matrix`` (rows, width) a row-major real plane with its imaginary plane
    ``imag_offset`` further on; rows are summed in order."""
    cdef Py_ssize_t chunk, start, count
    for chunk in range((width + SPECTRA_CHUNK - 1) // SPECTRA_CHUNK):
        start = chunk * SPECTRA_CHUNK
        count = min(SPECTRA_CHUNK, width - start)
        if count == SPECTRA_CHUNK:  # a constant trip count: the sums stay in registers
            _vector_times_matrix_chunk(vector_real, vector_imag, matrix + start, imag_offset,
                                       width, rows, SPECTRA_CHUNK, out_real + start,
                                       out_imag + start)
        else:
            _vector_times_matrix_chunk(vector_real, vector_imag, matrix + start, imag_offset,
                                       width, rows, count, out_real + start, out_imag + start)


cdef inline void _few_columns_groups(
        const floating* x, const PlanarLayout x_layout, floating* y,
        const PlanarLayout y_layout, const floating* spectra,
        const Py_ssize_t plane, const Py_ssize_t first, const Py_ssize_t last,
        const Py_ssize_t length, const bint quads, const Py_ssize_t batch,
        const Py_ssize_t rows, const Py_ssize_t width) noexcept nogil:
    """:func:`spectral_product`'s products at one width frequency for the
    frequency groups ``first`` to ``last`` (kernel spectra in ``spectra``, as
    there) when there are up to SPECTRA_FEW output channels: every (frequency,
    image) product is a job, and jobs go FEW_JOBS at a time to
    :func:`_few_columns_jobs`. ``x`` and ``y`` point at image 0, frequency 0,
    real part, of the planar spectra at the width frequency."""
    cdef const floating* x_at[FEW_JOBS]
    cdef const floating* matrix_at[FEW_JOBS]
    cdef floating* y_at[FEW_JOBS]
    cdef Py_ssize_t jobs = 0, g, slot, frequency, n
    for g in range(first, last):
        for slot in range(4 if quads else 2):
            if _repeats_in_group(g, slot, length):
                continue
            frequency = _group_frequency(g, slot, length)
            for n in range(batch):
                x_at[jobs] = x + n * x_layout.image + frequency * x_layout.frequency
                y_at[jobs] = y + n * y_layout.image + frequency * y_layout.frequency
                matrix_at[jobs] = spectra + (8 * (g - first) + 2 * slot) * plane
                jobs += 1
                if jobs == FEW_JOBS:
                    _few_columns_jobs(x_at, x_layout.imag, matrix_at, plane, y_at,
                                      y_layout.imag, rows, width)
                    jobs = 0
    if jobs:
        # The last jobs again in the free places: the same sums stored twice.
        for n in range(jobs, FEW_JOBS):
            x_at[n], matrix_at[n], y_at[n] = x_at[jobs - 1], matrix_at[jobs - 1], y_at[jobs - 1]
        _few_columns_jobs(x_at, x_layout.imag, matrix_at, plane, y_at, y_layout.imag, rows,
                          width)


cdef inline void _few_columns_jobs(
        const floating** x, const Py_ssize_t x_imag, const floating** matrix,
        const Py_ssize_t imag_offset, floating** y, const Py_ssize_t y_imag,
        const Py_ssize_t rows, const Py_ssize_t width) noexcept nogil:
    """``y[j] = x[j] @ matrix[j]`` for FEW_JOBS (four) jobs j at once, each
    as in :func:`_complex_vector_times_matrix` (real parts at ``x[j]``,
    imaginary ones ``x_imag`` items further on; likewise ``y[j]``) with up
    to SPECTRA_FEW columns: a column at a time, rows summed in order. One
    job's four sums are four chains of rows dependent multiply-adds, which
    leave the FMA units idle most of the time; four jobs' sixteen keep them
    busy (each sum is the same, so the bits are too)."""
    cdef const floating* x0 = x[0]
    cdef const floating* x1 = x[1]
    cdef const floating* x2 = x[2]
    cdef const floating* x3 = x[3]
    cdef const floating* m0 = matrix[0]
    cdef const floating* m1 = matrix[1]
    cdef const floating* m2 = matrix[2]
    cdef const floating* m3 = matrix[3]
    cdef floating rr0, ii0, ri0, ir0, rr1, ii1, ri1, ir1
    cdef floating rr2, ii2, ri2, ir2, rr3, ii3, ri3, ir3
    cdef floating a0, b0, a1, b1, a2, b2, a3, b3
    cdef Py_ssize_t r, m, at
    for m in range(width):
        rr0 = ii0 = ri0 = ir0 = rr1 = ii1 = ri1 = ir1 = 0
        rr2 = ii2 = ri2 = ir2 = rr3 = ii3 = ri3 = ir3 = 0
        for r in range(rows):
            at = r * width + m
            a0 = m0[at]
            b0 = m0[imag_offset + at]
            a1 = m1[at]
            b1 = m1[imag_offset + at]
            a2 = m2[at]
            b2 = m2[imag_offset + at]
            a3 = m3[at]
            b3 = m3[imag_offset + at]
            rr0 = rr0 + x0[r] * a0
            ii0 = ii0 + x0[x_imag + r] * b0
            ri0 = ri0 + x0[r] * b0
            ir0 = ir0 + x0[x_imag + r] * a0
            rr1 = rr1 + x1[r] * a1
            ii1 = ii1 + x1[x_imag + r] * b1
            ri1 = ri1 + x1[r] * b1
            ir1 = ir1 + x1[x_imag + r] * a1
            rr2 = rr2 + x2[r] * a2
            ii2 = ii2 + x2[x_imag + r] * b2
            ri2 = ri2 + x2[r] * b2
            ir2 = ir2 + x2[x_imag + r] * a2
            rr3 = rr3 + x3[r] * a3
            ii3 = ii3 + x3[x_imag + r] * b3
            ri3 = ri3 + x3[r] * b3
            ir3 = ir3 + x3[x_imag + r] * a3
        y[0][m] = rr0 - ii0
        y[0][y_imag + m] = ri0 + ir0
        y[1][m] = rr1 - ii1
        y[1][y_imag + m] = ri1 + ir1
        y[2][m] = rr2 - ii2
        y[2][y_imag + m] = ri2 + ir2
        y[3][m] = rr3 - ii3
        y[3][y_imag + m] = ri3 + ir3


cdef inline void _vector_times_matrix_chunk(
        const floating* vector_real, const floating* vector_imag, const floating* matrix,
        const Py_ssize_t imag_offset, const Py_ssize_t row_stride, const Py_ssize_t rows,
        const Py_ssize_t width, floating* out_real, floating* out_imag) noexcept nogil:
    """:func:`_complex_vector_times_matrix` for up to SPECTRA_CHUNK columns.
    The four products go to four sums, so the FMAs do not wait on each other."""
    cdef floating real_real[SPECTRA_CHUNK]
    cdef floating imag_imag[SPECTRA_CHUNK]
    cdef floating real_imag[SPECTRA_CHUNK]
    cdef floating imag_real[SPECTRA_CHUNK]
    cdef floating x_real, x_imag
    cdef const floating* row
    cdef Py_ssize_t r, m
    for m in range(width):
        real_real[m] = 0
        imag_imag[m] = 0
        real_imag[m] = 0
        imag_real[m] = 0
    for r in range(rows):
        x_real = vector_real[r]
        x_imag = vector_imag[r]
        row = matrix + r * row_stride
        for m in range(width):
            real_real[m] += x_real * row[m]
            imag_imag[m] += x_imag * row[imag_offset + m]
            real_imag[m] += x_real * row[imag_offset + m]
            imag_real[m] += x_imag * row[m]
    for m in range(width):
        out_real[m] = real_real[m] - imag_imag[m]
    for m in range(width):
        out_imag[m] = real_imag[m] + imag_real[m]


def kernel_dft_lanes(Py_ssize_t itemsize):
    """Kernels a step of the kernels' DFTs takes at once for items of
    ``itemsize`` bytes (:func:`_dft_lanes`): fewer kernels cost as much."""
    return DFT_CHUNK_BYTES // itemsize


cdef inline Py_ssize_t _dft_lanes(const floating* data) noexcept nogil:
    """Kernels a step of the kernels' DFTs takes: 128 bytes of them, so a
    step's eight sums (two frequencies of the width DFT, a group of the
    height DFT) fill 16 AVX-512 registers. With narrower vectors the sums
    spill, yet measured faster than smaller steps (AVX2, 1024 kernels: height
    DFT 2.0 ms with 32 floats, 4.0 and 4.4 ms with 8 and 16). A constant for
    each dtype, so the steps' loops are unrolled."""
    return DFT_CHUNK_BYTES // sizeof(floating)


cdef inline void _width_dft(const floating* taps, const Py_ssize_t col_stride,
                            const floating* cosines, const floating* sines,
                            const Py_ssize_t cols, const Py_ssize_t even_cols,
                            const Py_ssize_t count, const Py_ssize_t first,
                            const Py_ssize_t last, const Py_ssize_t length,
                            const bint halves, floating* real, floating* imag,
                            const Py_ssize_t frequency_stride) noexcept nogil:
    """Width DFT of one tap row of ``count`` real kernels (tap columns
    ``col_stride`` apart) at the frequencies v for ``first <= v < last`` and,
    if ``halves`` (Lw even), Lw / 2 - v: with c and s the columns' cos and
    sin at v (``cosines`` and ``sines`` from v = ``first`` on, ``cols``
    apart), v is sum taps (c - i s); at Lw / 2 - v a tap at position p turns
    to (-1)^p (c + i s), so summing the columns of even positions (the first
    ``even_cols``) apart from the odd ones gives both. Frequency f goes to
    ``real`` and ``imag`` plus f ``frequency_stride``. The frequencies run
    inside the chunks of kernels, so a chunk's taps are read from memory once
    for all of them."""
    cdef Py_ssize_t lanes = _dft_lanes(taps)
    cdef Py_ssize_t chunk, start, width, v, step
    for chunk in range((count + lanes - 1) // lanes):
        start = chunk * lanes
        width = min(lanes, count - start)
        v = first
        while v < last:
            step = min(MAX_WIDTH_IN_REGISTERS, last - v)
            # constant trip counts: the sums stay in registers
            if width == lanes and step == 1:
                _width_dft_chunk(taps + start, col_stride, cosines + (v - first) * cols,
                                 sines + (v - first) * cols, cols, even_cols, lanes, 1,
                                 v, length, halves, real + start, imag + start,
                                 frequency_stride)
            elif width == lanes and step == MAX_WIDTH_IN_REGISTERS:
                _width_dft_chunk(taps + start, col_stride, cosines + (v - first) * cols,
                                 sines + (v - first) * cols, cols, even_cols, lanes,
                                 MAX_WIDTH_IN_REGISTERS, v, length, halves, real + start,
                                 imag + start, frequency_stride)
            else:
                _width_dft_chunk(taps + start, col_stride, cosines + (v - first) * cols,
                                 sines + (v - first) * cols, cols, even_cols, width, step,
                                 v, length, halves, real + start, imag + start,
                                 frequency_stride)
            v += step


cdef inline void _width_dft_chunk(const floating* taps, const Py_ssize_t col_stride,
                                  const floating* cosines, const floating* sines,
                                  const Py_ssize_t cols, const Py_ssize_t even_cols,
                                  const Py_ssize_t width, const Py_ssize_t frequencies,
                                  const Py_ssize_t first, const Py_ssize_t length,
                                  const bint halves, floating* real, floating* imag,
                                  const Py_ssize_t frequency_stride) noexcept nogil:
    """:func:`_width_dft` for up to DFT_CHUNK_MAX kernels and up to
    MAX_WIDTH_IN_REGISTERS frequencies from ``first`` on: each tap is loaded
    once for all."""
    cdef floating cos_even[MAX_WIDTH_IN_REGISTERS * DFT_CHUNK_MAX]
    cdef floating sin_even[MAX_WIDTH_IN_REGISTERS * DFT_CHUNK_MAX]
    cdef floating cos_odd[MAX_WIDTH_IN_REGISTERS * DFT_CHUNK_MAX]
    cdef floating sin_odd[MAX_WIDTH_IN_REGISTERS * DFT_CHUNK_MAX]
    cdef floating c, s
    cdef floating* target
    cdef Py_ssize_t b, m, j, k
    for m in range(frequencies * DFT_CHUNK_MAX):
        cos_even[m] = 0
        sin_even[m] = 0
        cos_odd[m] = 0
        sin_odd[m] = 0
    for b in range(even_cols):
        for j in range(frequencies):
            c = cosines[j * cols + b]
            s = sines[j * cols + b]
            for m in range(width):
                cos_even[j * DFT_CHUNK_MAX + m] += c * taps[b * col_stride + m]
                sin_even[j * DFT_CHUNK_MAX + m] += s * taps[b * col_stride + m]
    for b in range(even_cols, cols):
        for j in range(frequencies):
            c = cosines[j * cols + b]
            s = sines[j * cols + b]
            for m in range(width):
                cos_odd[j * DFT_CHUNK_MAX + m] += c * taps[b * col_stride + m]
                sin_odd[j * DFT_CHUNK_MAX + m] += s * taps[b * col_stride + m]
    for j in range(frequencies):
        k = j * DFT_CHUNK_MAX
        target = real + (first + j) * frequency_stride
        for m in range(width):
            target[m] = cos_even[k + m] + cos_odd[k + m]
        target = imag + (first + j) * frequency_stride
        for m in range(width):
            target[m] = -(sin_even[k + m] + sin_odd[k + m])
        if halves and 2 * (first + j) != length // 2:  # Lw / 2 - v, where it is another
            target = real + (length // 2 - first - j) * frequency_stride
            for m in range(width):
                target[m] = cos_even[k + m] - cos_odd[k + m]
            target = imag + (length // 2 - first - j) * frequency_stride
            for m in range(width):
                target[m] = sin_even[k + m] - sin_odd[k + m]


cdef inline void _height_dft_groups(const floating* real, const floating* imag,
                                    const Py_ssize_t row_stride, const floating* cosines,
                                    const floating* sines, const Py_ssize_t rows,
                                    const Py_ssize_t even_rows, const Py_ssize_t count,
                                    const Py_ssize_t first, const Py_ssize_t last,
                                    const bint quads, floating* out,
                                    const Py_ssize_t plane) noexcept nogil:
    """Height DFT of ``count`` kernels, T = real + i imag (tap rows
    ``row_stride`` apart), at the frequency groups ``first <= u < last``:
    u and Lh - u, and if ``quads`` (Lh even) Lh / 2 - u and Lh / 2 + u.

    With c and s the tap rows' cos and sin at u (``cosines`` and ``sines``
    from u = ``first`` on, ``rows`` apart), frequency u is sum T (c - i s)
    and Lh - u is sum T (c + i s); at Lh / 2 -+ u a tap at position p turns
    by (-1)^p (pi p more), so summing the rows of even positions (the first
    ``even_rows``) apart from the odd ones gives all four frequencies for the
    multiply-adds of one. Group j is written from ``out + 8 j plane``, its
    four frequencies 2 ``plane`` apart, each ``count`` real parts then,
    ``plane`` on, ``count`` imaginary parts (slots a group repeats are
    written too). The
    groups run inside the chunks of kernels, so a chunk's taps are read from
    memory once for all of them."""
    cdef Py_ssize_t lanes = _dft_lanes(real)
    cdef Py_ssize_t chunk, start, width, u
    for chunk in range((count + lanes - 1) // lanes):
        start = chunk * lanes
        width = min(lanes, count - start)
        for u in range(first, last):
            if width == lanes:  # a constant trip count: the sums stay in registers
                _height_dft_chunk(real + start, imag + start, row_stride,
                                  cosines + (u - first) * rows, sines + (u - first) * rows,
                                  rows, even_rows, lanes, quads,
                                  out + 8 * (u - first) * plane + start, plane)
            else:
                _height_dft_chunk(real + start, imag + start, row_stride,
                                  cosines + (u - first) * rows, sines + (u - first) * rows,
                                  rows, even_rows, width, quads,
                                  out + 8 * (u - first) * plane + start, plane)


cdef inline void _height_dft_chunk(const floating* real, const floating* imag,
                                   const Py_ssize_t row_stride, const floating* cosines,
                                   const floating* sines, const Py_ssize_t rows,
                                   const Py_ssize_t even_rows, const Py_ssize_t width,
                                   const bint quads, floating* out,
                                   const Py_ssize_t plane) noexcept nogil:
    """:func:`_height_dft_groups` at one group, for up to DFT_CHUNK_MAX
    kernels: sums of c and s times the real and imaginary parts, over the
    even rows and over the odd rows."""
    cdef floating cos_real_even[DFT_CHUNK_MAX]
    cdef floating cos_imag_even[DFT_CHUNK_MAX]
    cdef floating sin_real_even[DFT_CHUNK_MAX]
    cdef floating sin_imag_even[DFT_CHUNK_MAX]
    cdef floating cos_real_odd[DFT_CHUNK_MAX]
    cdef floating cos_imag_odd[DFT_CHUNK_MAX]
    cdef floating sin_real_odd[DFT_CHUNK_MAX]
    cdef floating sin_imag_odd[DFT_CHUNK_MAX]
    cdef floating c, s
    cdef Py_ssize_t a, m
    for m in range(width):
        cos_real_even[m] = 0
        cos_imag_even[m] = 0
        sin_real_even[m] = 0
        sin_imag_even[m] = 0
        cos_real_odd[m] = 0
        cos_imag_odd[m] = 0
        sin_real_odd[m] = 0
        sin_imag_odd[m] = 0
    for a in range(even_rows):
        c = cosines[a]
        s = sines[a]
        for m in range(width):
            cos_real_even[m] += c * real[a * row_stride + m]
            cos_imag_even[m] += c * imag[a * row_stride + m]
            sin_real_even[m] += s * real[a * row_stride + m]
            sin_imag_even[m] += s * imag[a * row_stride + m]
    for a in range(even_rows, rows):
        c = cosines[a]
        s = sines[a]
        for m in range(width):
            cos_real_odd[m] += c * real[a * row_stride + m]
            cos_imag_odd[m] += c * imag[a * row_stride + m]
            sin_real_odd[m] += s * real[a * row_stride + m]
            sin_imag_odd[m] += s * imag[a * row_stride + m]
    # one store stream per loop, so each vectorizes without aliasing checks
    for m in range(width):  # u
        out[m] = (cos_real_even[m] + cos_real_odd[m]) + (sin_imag_even[m] + sin_imag_odd[m])
    for m in range(width):
        out[plane + m] = ((cos_imag_even[m] + cos_imag_odd[m])
                          - (sin_real_even[m] + sin_real_odd[m]))
    for m in range(width):  # Lh - u
        out[2 * plane + m] = ((cos_real_even[m] + cos_real_odd[m])
                              - (sin_imag_even[m] + sin_imag_odd[m]))
    for m in range(width):
        out[3 * plane + m] = ((cos_imag_even[m] + cos_imag_odd[m])
                              + (sin_real_even[m] + sin_real_odd[m]))
    if not quads:
        return
    for m in range(width):  # Lh / 2 - u
        out[4 * plane + m] = ((cos_real_even[m] - cos_real_odd[m])
                              - (sin_imag_even[m] - sin_imag_odd[m]))
    for m in range(width):
        out[5 * plane + m] = ((cos_imag_even[m] - cos_imag_odd[m])
                              + (sin_real_even[m] - sin_real_odd[m]))
    for m in range(width):  # Lh / 2 + u
        out[6 * plane + m] = ((cos_real_even[m] - cos_real_odd[m])
                              + (sin_imag_even[m] - sin_imag_odd[m]))
    for m in range(width):
        out[7 * plane + m] = ((cos_imag_even[m] - cos_imag_odd[m])
                              - (sin_real_even[m] - sin_real_odd[m]))




# The images' side: complex FFTs of many sequences at once, Stockham
# autosort (each pass reads one buffer and writes the other, so no bit
# reversal), radices 4, 2, 3 and 5 (every 5-smooth length, which is what
# deconv._fft.smooth_length returns). The data are planar: a buffer holds a real
# plane (length, run) and then an imaginary plane, and the ``run`` columns are
# transformed together, FFT_CHUNK at a time in local arrays: so every load and
# store is a whole vector and GCC needs no run-time aliasing checks. Real
# transforms take two real sequences as one complex one -- image rows h and
# h + 1 are the real and imaginary parts -- and split the result by symmetry;
# the inverse builds the one complex spectrum from two half spectra.
cdef enum:
    FFT_CHUNK = 16      # floats of a butterfly step (whole vectors at every SIMD level)
    FFT_RUN = 64        # columns a transform takes at once (a multiple of FFT_CHUNK)
    FFT_MAX_RADIX = 5


def fft_work_floats(Py_ssize_t length):
    """Floats of per-thread work space the transforms of length ``length`` use."""
    return 4 * length * FFT_RUN


cdef inline void _butterfly(const floating* source, const Py_ssize_t in_stride,
                            floating* target, const Py_ssize_t out_stride,
                            const Py_ssize_t plane, const Py_ssize_t radix,
                            const floating* twiddles, const floating sign) noexcept nogil:
    """One Stockham butterfly on FFT_CHUNK columns: the radix-point DFT (sign
    -1 forward, +1 inverse) of the elements ``source + j * in_stride``, times
    ``twiddles[j - 1]`` (complex pairs), stored at ``target + j * out_stride``;
    imaginary parts are ``plane`` further on."""
    cdef floating real[FFT_MAX_RADIX * FFT_CHUNK]
    cdef floating imag[FFT_MAX_RADIX * FFT_CHUNK]
    cdef Py_ssize_t j, t
    cdef floating a, w_real, w_imag
    for j in range(radix):
        for t in range(FFT_CHUNK):
            real[j * FFT_CHUNK + t] = source[j * in_stride + t]
        for t in range(FFT_CHUNK):
            imag[j * FFT_CHUNK + t] = source[j * in_stride + plane + t]
    if radix == 2:
        _dft2(real, imag)
    elif radix == 3:
        _dft3(real, imag, sign)
    elif radix == 4:
        _dft4(real, imag, sign)
    else:
        _dft5(real, imag, sign)
    for j in range(1, radix):
        w_real = twiddles[2 * j - 2]
        w_imag = twiddles[2 * j - 1]
        for t in range(FFT_CHUNK):
            a = real[j * FFT_CHUNK + t]
            real[j * FFT_CHUNK + t] = a * w_real - imag[j * FFT_CHUNK + t] * w_imag
            imag[j * FFT_CHUNK + t] = a * w_imag + imag[j * FFT_CHUNK + t] * w_real
    for j in range(radix):
        for t in range(FFT_CHUNK):
            target[j * out_stride + t] = real[j * FFT_CHUNK + t]
        for t in range(FFT_CHUNK):
            target[j * out_stride + plane + t] = imag[j * FFT_CHUNK + t]


cdef inline void _dft2(floating* real, floating* imag) noexcept nogil:
    cdef Py_ssize_t t
    cdef floating a, b
    for t in range(FFT_CHUNK):
        a = real[t]
        b = real[FFT_CHUNK + t]
        real[t] = a + b
        real[FFT_CHUNK + t] = a - b
        a = imag[t]
        b = imag[FFT_CHUNK + t]
        imag[t] = a + b
        imag[FFT_CHUNK + t] = a - b


cdef inline void _dft3(floating* real, floating* imag, const floating sign) noexcept nogil:
    """y0 = x0 + x1 + x2, y1,2 = x0 - (x1 + x2)/2 +- i sign sqrt(3)/2 (x1 - x2)."""
    cdef Py_ssize_t t
    cdef floating sum_real, sum_imag, mid_real, mid_imag, rot_real, rot_imag
    cdef floating s = sign * <floating>0.86602540378443864676
    for t in range(FFT_CHUNK):
        sum_real = real[FFT_CHUNK + t] + real[2 * FFT_CHUNK + t]
        sum_imag = imag[FFT_CHUNK + t] + imag[2 * FFT_CHUNK + t]
        mid_real = real[t] - <floating>0.5 * sum_real
        mid_imag = imag[t] - <floating>0.5 * sum_imag
        rot_real = -s * (imag[FFT_CHUNK + t] - imag[2 * FFT_CHUNK + t])
        rot_imag = s * (real[FFT_CHUNK + t] - real[2 * FFT_CHUNK + t])
        real[t] = real[t] + sum_real
        imag[t] = imag[t] + sum_imag
        real[FFT_CHUNK + t] = mid_real + rot_real
        imag[FFT_CHUNK + t] = mid_imag + rot_imag
        real[2 * FFT_CHUNK + t] = mid_real - rot_real
        imag[2 * FFT_CHUNK + t] = mid_imag - rot_imag


cdef inline void _dft4(floating* real, floating* imag, const floating sign) noexcept nogil:
    """y0,2 = (x0 + x2) +- (x1 + x3), y1,3 = (x0 - x2) +- i sign (x1 - x3)."""
    cdef Py_ssize_t t
    cdef floating s0r, s0i, d0r, d0i, s1r, s1i, rot_real, rot_imag
    for t in range(FFT_CHUNK):
        s0r = real[t] + real[2 * FFT_CHUNK + t]
        s0i = imag[t] + imag[2 * FFT_CHUNK + t]
        d0r = real[t] - real[2 * FFT_CHUNK + t]
        d0i = imag[t] - imag[2 * FFT_CHUNK + t]
        s1r = real[FFT_CHUNK + t] + real[3 * FFT_CHUNK + t]
        s1i = imag[FFT_CHUNK + t] + imag[3 * FFT_CHUNK + t]
        rot_real = -sign * (imag[FFT_CHUNK + t] - imag[3 * FFT_CHUNK + t])
        rot_imag = sign * (real[FFT_CHUNK + t] - real[3 * FFT_CHUNK + t])
        real[t] = s0r + s1r
        imag[t] = s0i + s1i
        real[2 * FFT_CHUNK + t] = s0r - s1r
        imag[2 * FFT_CHUNK + t] = s0i - s1i
        real[FFT_CHUNK + t] = d0r + rot_real
        imag[FFT_CHUNK + t] = d0i + rot_imag
        real[3 * FFT_CHUNK + t] = d0r - rot_real
        imag[3 * FFT_CHUNK + t] = d0i - rot_imag


cdef inline void _dft5(floating* real, floating* imag, const floating sign) noexcept nogil:
    """With a1,2 = x1,2 + x4,3 and b1,2 = x1,2 - x4,3:
    y1,4 = x0 + c1 a1 + c2 a2 +- i sign (s1 b1 + s2 b2) and
    y2,3 = x0 + c2 a1 + c1 a2 +- i sign (s2 b1 - s1 b2), where ck, sk are the
    cos and sin of 2 pi k / 5."""
    cdef Py_ssize_t t
    cdef floating c1 = <floating>0.30901699437494742410, c2 = <floating>-0.80901699437494742410
    cdef floating s1 = sign * <floating>0.95105651629515357212
    cdef floating s2 = sign * <floating>0.58778525229247312917
    cdef floating a1r, a1i, a2r, a2i, b1r, b1i, b2r, b2i, x0r, x0i
    cdef floating m1r, m1i, m2r, m2i, r1r, r1i, r2r, r2i
    for t in range(FFT_CHUNK):
        x0r = real[t]
        x0i = imag[t]
        a1r = real[FFT_CHUNK + t] + real[4 * FFT_CHUNK + t]
        a1i = imag[FFT_CHUNK + t] + imag[4 * FFT_CHUNK + t]
        b1r = real[FFT_CHUNK + t] - real[4 * FFT_CHUNK + t]
        b1i = imag[FFT_CHUNK + t] - imag[4 * FFT_CHUNK + t]
        a2r = real[2 * FFT_CHUNK + t] + real[3 * FFT_CHUNK + t]
        a2i = imag[2 * FFT_CHUNK + t] + imag[3 * FFT_CHUNK + t]
        b2r = real[2 * FFT_CHUNK + t] - real[3 * FFT_CHUNK + t]
        b2i = imag[2 * FFT_CHUNK + t] - imag[3 * FFT_CHUNK + t]
        m1r = x0r + c1 * a1r + c2 * a2r
        m1i = x0i + c1 * a1i + c2 * a2i
        m2r = x0r + c2 * a1r + c1 * a2r
        m2i = x0i + c2 * a1i + c1 * a2i
        # i * (s b) = (-s b_imag, s b_real)
        r1r = -(s1 * b1i + s2 * b2i)
        r1i = s1 * b1r + s2 * b2r
        r2r = -(s2 * b1i - s1 * b2i)
        r2i = s2 * b1r - s1 * b2r
        real[t] = x0r + a1r + a2r
        imag[t] = x0i + a1i + a2i
        real[FFT_CHUNK + t] = m1r + r1r
        imag[FFT_CHUNK + t] = m1i + r1i
        real[4 * FFT_CHUNK + t] = m1r - r1r
        imag[4 * FFT_CHUNK + t] = m1i - r1i
        real[2 * FFT_CHUNK + t] = m2r + r2r
        imag[2 * FFT_CHUNK + t] = m2i + r2i
        real[3 * FFT_CHUNK + t] = m2r - r2r
        imag[3 * FFT_CHUNK + t] = m2i - r2i


cdef floating* _fft_planar(floating* data, floating* work, const Py_ssize_t length,
                           const Py_ssize_t run, const Py_ssize_t* radices,
                           const floating* twiddles, const floating sign) noexcept nogil:
    """FFT along the rows of the planar buffer ``data`` (a real plane (length,
    run) then an imaginary one; ``run`` a multiple of FFT_CHUNK), with ``work``
    of the same size; returns whichever of the two holds the result.
    ``radices`` multiply to ``length``; ``twiddles`` hold, pass after pass,
    exp(sign 2 pi i j q / n) for q < n / radix, 0 < j < radix (complex pairs),
    where n is the length still to split."""
    cdef Py_ssize_t n = length, stride = 1, radix, rest, q, chunk, block, k = 0
    cdef Py_ssize_t plane = length * run
    cdef floating* source = data
    cdef floating* target = work
    cdef floating* swap
    while n > 1:
        radix = radices[k]
        rest = n // radix
        block = stride * run  # consecutive elements that share a twiddle
        for q in range(rest):
            for chunk in range(block // FFT_CHUNK):
                # constant radices: each call is compiled for its radix
                if radix == 4:
                    _butterfly(source + q * block + chunk * FFT_CHUNK, rest * block,
                               target + 4 * q * block + chunk * FFT_CHUNK, block, plane, 4,
                               twiddles + 2 * 3 * q, sign)
                elif radix == 2:
                    _butterfly(source + q * block + chunk * FFT_CHUNK, rest * block,
                               target + 2 * q * block + chunk * FFT_CHUNK, block, plane, 2,
                               twiddles + 2 * q, sign)
                elif radix == 3:
                    _butterfly(source + q * block + chunk * FFT_CHUNK, rest * block,
                               target + 3 * q * block + chunk * FFT_CHUNK, block, plane, 3,
                               twiddles + 2 * 2 * q, sign)
                else:
                    _butterfly(source + q * block + chunk * FFT_CHUNK, rest * block,
                               target + 5 * q * block + chunk * FFT_CHUNK, block, plane, 5,
                               twiddles + 2 * 4 * q, sign)
        twiddles += 2 * rest * (radix - 1)
        n = rest
        stride *= radix
        k += 1
        swap = source
        source = target
        target = swap
    return source


cdef Py_ssize_t _plan_twiddles(const Py_ssize_t[::1] radices, Py_ssize_t length) except -1:
    """Twiddle pairs a plan of ``length`` needs; ValueError if its radices do
    not multiply to ``length`` or are not 2, 3, 4 or 5."""
    cdef Py_ssize_t k, n = length, total = 0
    for k in range(radices.shape[0]):
        if radices[k] < 2 or radices[k] > FFT_MAX_RADIX or n % radices[k] != 0:
            raise ValueError(f"FFT plan: radices {list(radices)} do not split {length}")
        n //= radices[k]
        total += n * (radices[k] - 1)
    if n != 1:
        raise ValueError(f"FFT plan: radices {list(radices)} do not split {length}")
    return total


cdef void _check_plan(const Py_ssize_t[::1] radices, const floating[:, ::1] twiddles,
                      Py_ssize_t length, str name) except *:
    if twiddles.shape[0] != _plan_twiddles(radices, length) or twiddles.shape[1] != 2:
        raise ValueError(f"{name}: twiddles {tuple(twiddles.shape)[:2]} do not fit radices "
                         f"{list(radices)} of length {length}")


cdef inline Py_ssize_t _round_up(Py_ssize_t value, Py_ssize_t step) noexcept nogil:
    return (value + step - 1) // step * step


def image_spectra(const floating[:, :, :, :] images, floating[:, :, :, :, ::1] spectra,
                  transform, floating[:, ::1] work, int num_threads):
    """Half spectra of real channels-last ``images`` (N, H, W, C; any strides)
    zero-padded to (Lh, Lw): ``spectra`` (N, Lh, 2, Lw // 2 + 1, C), axis 2 holding the
    real and the imaginary parts. ``transform`` is a forward
    ``deconv._fft.TransformPlan`` (radices and twiddles, see :func:`_fft_planar`)
    of width Lw; ``work`` holds :func:`fft_work_floats` per thread.
    """
    cdef Py_ssize_t width_length = transform.width_length
    cdef const Py_ssize_t[::1] width_radices = transform.width_radices
    cdef const floating[:, ::1] width_twiddles = transform.width_twiddles
    cdef const Py_ssize_t[::1] height_radices = transform.height_radices
    cdef const floating[:, ::1] height_twiddles = transform.height_twiddles
    cdef Py_ssize_t count = images.shape[0], height = images.shape[1]
    cdef Py_ssize_t width = images.shape[2], channels = images.shape[3]
    cdef Py_ssize_t length = spectra.shape[1], half = spectra.shape[3]
    cdef Py_ssize_t block = min(channels, FFT_RUN), group = max(1, FFT_RUN // block)
    cdef Py_ssize_t pairs = (height + 1) // 2, groups = (pairs + group - 1) // group
    cdef Py_ssize_t blocks = (channels + block - 1) // block
    cdef Py_ssize_t unit, n, first, start, thread
    if (spectra.shape[0] != count or spectra.shape[2] != 2 or half != width_length // 2 + 1
            or spectra.shape[4] != channels or height > length or width > width_length
            or work.shape[0] < num_threads
            or work.shape[1] < fft_work_floats(max(length, width_length))):
        raise ValueError(f"image_spectra: images {tuple(images.shape)[:4]}, spectra "
                         f"{tuple(spectra.shape)[:5]} of width {width_length} and work "
                         f"{tuple(work.shape)[:2]} do not agree")
    _check_plan(width_radices, width_twiddles, width_length, "image_spectra")
    _check_plan(height_radices, height_twiddles, length, "image_spectra")
    for unit in prange(count * groups * blocks, nogil=True, schedule="static",
                       num_threads=num_threads):
        thread = threadid()
        n = unit // (groups * blocks)
        first = (unit // blocks) % groups * group
        start = unit % blocks * block
        _rows_to_half_spectra(&images[n, 0, 0, 0], height, width, channels,
                              images.strides[1] // sizeof(floating),
                              images.strides[2] // sizeof(floating),
                              images.strides[3] // sizeof(floating), start,
                              min(block, channels - start), block, first,
                              min(group, pairs - first), width_length, half,
                              &spectra[n, 0, 0, 0, 0], &work[thread, 0], &width_radices[0],
                              &width_twiddles[0, 0])
    _height_ffts(spectra, height, 0, length, height_radices, height_twiddles, -1, work,
                 num_threads)


def cropped_image(floating[:, :, :, :, ::1] spectra, floating[:, :, :, :] out, rows, cols,
                  const floating scale, transform, floating[:, ::1] work, int num_threads):
    """Inverse of :func:`image_spectra` (given an inverse ``transform``), cropped and
    strided: row ``rows.start + i`` and column ``cols.start + j`` of the
    ``scale``-d inverse transform go to
    ``out[n, rows.first + i * rows.step, cols.first + j * cols.step]`` (``out``
    may have any strides) for
    ``rows.start <= rows.start + i < rows.stop`` (likewise columns); ``rows``
    and ``cols`` are ``deconv._fft.Placement``. ``spectra`` is overwritten.
    """
    cdef Py_ssize_t width_length = transform.width_length
    cdef const Py_ssize_t[::1] width_radices = transform.width_radices
    cdef const floating[:, ::1] width_twiddles = transform.width_twiddles
    cdef const Py_ssize_t[::1] height_radices = transform.height_radices
    cdef const floating[:, ::1] height_twiddles = transform.height_twiddles
    cdef Py_ssize_t count = spectra.shape[0], length = spectra.shape[1]
    cdef Py_ssize_t half = spectra.shape[3], channels = spectra.shape[4]
    cdef Crop crop = _crop(rows, cols)
    cdef OutLayout out_layout = _out_layout(out)
    cdef Py_ssize_t unit, thread
    if (out.shape[0] != count or spectra.shape[2] != 2 or half != width_length // 2 + 1
            or out.shape[3] != channels or work.shape[0] < num_threads
            or work.shape[1] < fft_work_floats(max(length, width_length))
            or not _crop_fits(crop, length, width_length, out.shape[1], out.shape[2])):
        raise ValueError(f"cropped_image: spectra {tuple(spectra.shape)[:5]} of width "
                         f"{width_length}, out {tuple(out.shape)[:4]}, rows {rows}, cols "
                         f"{cols} and work {tuple(work.shape)[:2]} do not agree")
    _check_plan(width_radices, width_twiddles, width_length, "cropped_image")
    _check_plan(height_radices, height_twiddles, length, "cropped_image")
    _height_ffts(spectra, length, crop.row_start, crop.row_stop, height_radices, height_twiddles,
                 1, work, num_threads)
    for unit in prange(count * _cropped_units(channels, crop), nogil=True, schedule="static",
                       num_threads=num_threads):
        thread = threadid()
        _cropped_rows_units(&spectra[0, 0, 0, 0, 0], spectra.strides[0] // sizeof(floating),
                            channels, half, &out[0, 0, 0, 0], out_layout, crop, scale,
                            width_length, &work[thread, 0], &width_radices[0],
                            &width_twiddles[0, 0], unit, unit + 1)


cdef Crop _crop(rows, cols):
    cdef Crop crop
    crop.row_start, crop.row_stop, crop.row_first, crop.row_step = rows
    crop.col_start, crop.col_stop, crop.col_first, crop.col_step = cols
    return crop


cdef bint _crop_fits(const Crop crop, const Py_ssize_t length, const Py_ssize_t width_length,
                     const Py_ssize_t out_rows, const Py_ssize_t out_cols) noexcept:
    """Whether ``crop`` keeps rows and columns of an (Lh = ``length``, Lw =
    ``width_length``) inverse transform and places them within an output of
    ``out_rows`` x ``out_cols``."""
    return (0 <= crop.row_start < crop.row_stop <= length and crop.row_step >= 1
            and 0 <= crop.row_first
            and crop.row_first + (crop.row_stop - crop.row_start - 1) * crop.row_step < out_rows
            and 0 <= crop.col_start < crop.col_stop <= width_length and crop.col_step >= 1
            and 0 <= crop.col_first
            and crop.col_first + (crop.col_stop - crop.col_start - 1) * crop.col_step < out_cols)


cdef inline OutLayout _out_layout(floating[:, :, :, :] out) noexcept:
    cdef OutLayout layout
    layout.image = out.strides[0] // sizeof(floating)
    layout.row = out.strides[1] // sizeof(floating)
    layout.col = out.strides[2] // sizeof(floating)
    layout.channel = out.strides[3] // sizeof(floating)
    return layout


cdef inline Py_ssize_t _cropped_units(const Py_ssize_t channels, const Crop crop) noexcept nogil:
    """Units of :func:`_cropped_rows_units` per image: groups of row pairs
    times blocks of channels (FFT_RUN columns a transform)."""
    cdef Py_ssize_t block = min(channels, FFT_RUN), group = max(1, FFT_RUN // block)
    cdef Py_ssize_t pairs = (crop.row_stop - crop.row_start + 1) // 2
    return (pairs + group - 1) // group * ((channels + block - 1) // block)


cdef inline void _cropped_rows_units(
        const floating* spectra, const Py_ssize_t image_stride, const Py_ssize_t channels,
        const Py_ssize_t half, floating* out, const OutLayout out_layout, const Crop crop,
        const floating scale, const Py_ssize_t width_length, floating* work,
        const Py_ssize_t* radices, const floating* twiddles, const Py_ssize_t first_unit,
        const Py_ssize_t last_unit) noexcept nogil:
    """Units ``first_unit`` to ``last_unit`` of :func:`cropped_image`'s
    inverse width transforms (after the height ones), its arrays given by
    their first items and strides in items: unit ``(n * groups + i) * blocks
    + j`` is image n's i-th group of row pairs at the j-th block of channels."""
    cdef Py_ssize_t block = min(channels, FFT_RUN), group = max(1, FFT_RUN // block)
    cdef Py_ssize_t pairs = (crop.row_stop - crop.row_start + 1) // 2
    cdef Py_ssize_t groups = (pairs + group - 1) // group
    cdef Py_ssize_t blocks = (channels + block - 1) // block
    cdef Py_ssize_t unit, n, first, start
    for unit in range(first_unit, last_unit):
        n = unit // (groups * blocks)
        first = (unit // blocks) % groups * group
        start = unit % blocks * block
        _half_spectra_to_rows(spectra + n * image_stride, channels, start,
                              min(block, channels - start), block, crop.row_start + 2 * first,
                              min(group, pairs - first), crop.row_stop, width_length, half,
                              out + n * out_layout.image, out_layout.row, out_layout.col,
                              out_layout.channel, crop.row_first + 2 * first * crop.row_step,
                              crop.row_step, crop.col_start, crop.col_stop, crop.col_first,
                              crop.col_step, scale, work, radices, twiddles)


cdef void _height_ffts(floating[:, :, :, :, ::1] spectra, const Py_ssize_t rows_in,
                       const Py_ssize_t first_out, const Py_ssize_t stop_out,
                       const Py_ssize_t[::1] radices, const floating[:, ::1] twiddles,
                       const floating sign, floating[:, ::1] work, int num_threads):
    """:func:`_columns_fft` of every image's spectra (N, Lh, 2, V, C), in
    column blocks of FFT_RUN shared out over the threads."""
    cdef Py_ssize_t columns = spectra.shape[3] * spectra.shape[4]
    cdef Py_ssize_t unit, thread
    for unit in prange(spectra.shape[0] * _round_up(columns, FFT_RUN) // FFT_RUN, nogil=True,
                       schedule="static", num_threads=num_threads):
        thread = threadid()
        _height_fft_units(&spectra[0, 0, 0, 0, 0], spectra.strides[0] // sizeof(floating),
                          spectra.shape[1], columns, rows_in, first_out, stop_out,
                          &work[thread, 0], &radices[0], &twiddles[0, 0], sign, unit, unit + 1)


cdef inline void _height_fft_units(
        floating* spectra, const Py_ssize_t image_stride, const Py_ssize_t length,
        const Py_ssize_t columns, const Py_ssize_t rows_in, const Py_ssize_t first_out,
        const Py_ssize_t stop_out, floating* work, const Py_ssize_t* radices,
        const floating* twiddles, const floating sign, const Py_ssize_t first_unit,
        const Py_ssize_t last_unit) noexcept nogil:
    """Units ``first_unit`` to ``last_unit`` of :func:`_height_ffts`: unit
    ``n * blocks + j`` is image n's j-th block of FFT_RUN columns."""
    cdef Py_ssize_t column_blocks = _round_up(columns, FFT_RUN) // FFT_RUN, unit, start
    for unit in range(first_unit, last_unit):
        start = unit % column_blocks * FFT_RUN
        _columns_fft(spectra + unit // column_blocks * image_stride, length, columns, start,
                     min(FFT_RUN, columns - start), rows_in, first_out, stop_out, work,
                     radices, twiddles, sign)


cdef void _columns_fft(floating* spectra, const Py_ssize_t length, const Py_ssize_t columns,
                       const Py_ssize_t start, const Py_ssize_t width, const Py_ssize_t rows_in,
                       const Py_ssize_t first_out, const Py_ssize_t stop_out, floating* buffer,
                       const Py_ssize_t* radices, const floating* twiddles,
                       const floating sign) noexcept nogil:
    """FFT along the height of columns ``start:start + width`` of one image's
    planar spectra (Lh, 2, columns), in place; input rows from ``rows_in`` on
    count as zero, and only rows ``first_out:stop_out`` are written back."""
    cdef Py_ssize_t run = _round_up(width, FFT_CHUNK), plane = length * run, u, t
    cdef floating* result
    for u in range(length):
        for t in range(run):
            if u < rows_in and t < width:
                buffer[u * run + t] = spectra[2 * u * columns + start + t]
                buffer[plane + u * run + t] = spectra[(2 * u + 1) * columns + start + t]
            else:
                buffer[u * run + t] = 0
                buffer[plane + u * run + t] = 0
    result = _fft_planar(buffer, buffer + 2 * plane, length, run, radices, twiddles, sign)
    for u in range(first_out, stop_out):
        for t in range(width):
            spectra[2 * u * columns + start + t] = result[u * run + t]
            spectra[(2 * u + 1) * columns + start + t] = result[plane + u * run + t]


cdef void _rows_to_half_spectra(const floating* image, const Py_ssize_t height,
                                const Py_ssize_t width, const Py_ssize_t channels,
                                const Py_ssize_t row_stride, const Py_ssize_t col_stride,
                                const Py_ssize_t channel_stride,
                                const Py_ssize_t start, const Py_ssize_t block,
                                const Py_ssize_t lanes, const Py_ssize_t first,
                                const Py_ssize_t pairs, const Py_ssize_t length,
                                const Py_ssize_t half, floating* spectra, floating* buffer,
                                const Py_ssize_t* radices,
                                const floating* twiddles) noexcept nogil:
    """Width half spectra of image rows 2 * (first + g) and the next, g <
    ``pairs``, channels ``start:start + block``, zero-padded to ``length``:
    one complex FFT per row pair (the rows as real and imaginary parts), split
    by symmetry: X = (Z[v] + conj Z[-v]) / 2, X' = (Z[v] - conj Z[-v]) / 2i.
    A pair's channels sit in ``lanes`` consecutive columns; the image's
    strides are in elements."""
    cdef Py_ssize_t run = _round_up(pairs * lanes, FFT_CHUNK), plane = length * run
    cdef Py_ssize_t g, h, w, c, v, mirror, lane, row_floats = half * channels
    cdef floating z_real, z_imag, m_real, m_imag
    cdef floating* result
    for w in range(2 * plane):
        buffer[w] = 0
    for g in range(pairs):
        h = 2 * (first + g)
        for w in range(width):
            for c in range(block):
                buffer[w * run + g * lanes + c] = \
                    image[h * row_stride + w * col_stride + (start + c) * channel_stride]
            if h + 1 < height:
                for c in range(block):
                    buffer[plane + w * run + g * lanes + c] = \
                        image[(h + 1) * row_stride + w * col_stride
                              + (start + c) * channel_stride]
    result = _fft_planar(buffer, buffer + 2 * plane, length, run, radices, twiddles, -1)
    for g in range(pairs):
        h = 2 * (first + g)
        for v in range(half):
            mirror = (length - v) % length
            for c in range(block):
                lane = g * lanes + c
                z_real = result[v * run + lane]
                z_imag = result[plane + v * run + lane]
                m_real = result[mirror * run + lane]
                m_imag = result[plane + mirror * run + lane]
                spectra[2 * h * row_floats + v * channels + start + c] = \
                    <floating>0.5 * (z_real + m_real)
                spectra[(2 * h + 1) * row_floats + v * channels + start + c] = \
                    <floating>0.5 * (z_imag - m_imag)
                if h + 1 < height:
                    spectra[(2 * h + 2) * row_floats + v * channels + start + c] = \
                        <floating>0.5 * (z_imag + m_imag)
                    spectra[(2 * h + 3) * row_floats + v * channels + start + c] = \
                        <floating>0.5 * (m_real - z_real)


cdef void _half_spectra_to_rows(const floating* spectra, const Py_ssize_t channels,
                                const Py_ssize_t start, const Py_ssize_t block,
                                const Py_ssize_t lanes, const Py_ssize_t first_row,
                                const Py_ssize_t pairs, const Py_ssize_t row_stop,
                                const Py_ssize_t length, const Py_ssize_t half, floating* out,
                                const Py_ssize_t out_row_stride,
                                const Py_ssize_t out_col_stride,
                                const Py_ssize_t out_channel_stride, const Py_ssize_t out_row,
                                const Py_ssize_t row_step, const Py_ssize_t col_start,
                                const Py_ssize_t col_stop, const Py_ssize_t col_first,
                                const Py_ssize_t col_step, const floating scale,
                                floating* buffer, const Py_ssize_t* radices,
                                const floating* twiddles) noexcept nogil:
    """Inverse width transforms of rows r = first_row + 2 g and r + 1 (if
    below ``row_stop``), g < ``pairs``, channels ``start:start + block``: with
    Y, Y' their half spectra, Z = Y + i Y' (extended by Y[-v] = conj Y[v])
    transforms back to y + i y'. Columns ``col_start:col_stop`` of the
    ``scale``-d rows go to ``out`` from row ``out_row`` and column
    ``col_first`` on, ``row_step`` and ``col_step`` apart (``out``'s strides in
    elements). The imaginary parts
    at v = 0 and Lw / 2 are taken as zero, as a real transform's are."""
    cdef Py_ssize_t run = _round_up(pairs * lanes, FFT_CHUNK), plane = length * run
    cdef Py_ssize_t g, r, v, w, c, lane, row_floats = half * channels, target, offset
    cdef floating a, b, c_real, d
    cdef bint has_next, edge
    cdef floating* result
    for w in range(2 * plane):
        buffer[w] = 0
    for g in range(pairs):
        r = first_row + 2 * g
        has_next = r + 1 < row_stop
        for v in range(half):
            edge = v == 0 or 2 * v == length
            for c in range(block):
                lane = g * lanes + c
                offset = v * channels + start + c
                a = spectra[2 * r * row_floats + offset]
                b = 0 if edge else spectra[(2 * r + 1) * row_floats + offset]
                c_real = spectra[(2 * r + 2) * row_floats + offset] if has_next else 0
                d = 0 if edge or not has_next else spectra[(2 * r + 3) * row_floats + offset]
                buffer[v * run + lane] = a - d
                buffer[plane + v * run + lane] = b + c_real
                if not edge:
                    buffer[(length - v) * run + lane] = a + d
                    buffer[plane + (length - v) * run + lane] = c_real - b
    result = _fft_planar(buffer, buffer + 2 * plane, length, run, radices, twiddles, 1)
    for g in range(pairs):
        r = first_row + 2 * g
        has_next = r + 1 < row_stop
        for w in range(col_start, col_stop):
            target = ((out_row + 2 * g * row_step) * out_row_stride
                      + (col_first + (w - col_start) * col_step) * out_col_stride
                      + start * out_channel_stride)
            for c in range(block):
                out[target + c * out_channel_stride] = scale * result[w * run + g * lanes + c]
            if has_next:
                target = target + row_step * out_row_stride
                for c in range(block):
                    out[target + c * out_channel_stride] = \
                        scale * result[plane + w * run + g * lanes + c]


# The phases of a strided layer whole on one thread each: fft_phases.
cdef enum:
    # Columns of fft_phases' phase table (deconv._fft.PhaseTable).
    PHASE_TAP_ROWS, PHASE_TAP_COLS, PHASE_EVEN_ROWS, PHASE_EVEN_COLS
    PHASE_ROW_TAPS, PHASE_COL_TAPS, PHASE_WIDTH_TWIDDLES, PHASE_HEIGHT_TWIDDLES
    PHASE_ROW_START, PHASE_ROW_STOP, PHASE_ROW_FIRST
    PHASE_COL_START, PHASE_COL_STOP, PHASE_COL_FIRST
    PHASE_FIELDS


def fft_phases(const floating[:, :, :, :, ::1] x_spectra, const floating[:, :, :, :] kernel_io,
               const Py_ssize_t[:, ::1] phases, const Py_ssize_t[::1] tap_indices,
               const floating[::1] twiddles, const Py_ssize_t row_step,
               const Py_ssize_t col_step, const floating scale, transform,
               floating[:, :, :, :] out, floating[:, ::1] taps, floating[:, ::1] partial,
               floating[:, :, :, ::1] scratch, floating[:, :, :, :, :, ::1] y_spectra,
               floating[:, ::1] work, int num_threads):
    """Every phase of the FFT backend for the images of ``x_spectra`` (see
    :func:`image_spectra`), each whole on one thread, the phases shared out in
    contiguous runs: its taps copied from ``kernel_io`` (kh, kw, Cin, Cout;
    any strides), :func:`kernel_width_spectra`, :func:`spectral_product` and
    :func:`cropped_image` into ``out`` (N, H, W, Cout; any strides), one
    after the other on the thread's own buffers (row t of ``taps``,
    ``partial``, ``work``; ``scratch[t]``, ``y_spectra[t]``), to the same
    bits as those calls.

    Row p of ``phases`` describes phase p in the columns PHASE_*: the shape
    of its tap grid and its taps at even positions, where ``tap_indices``
    holds its kernel rows and columns (even positions first), where
    ``twiddles`` holds its width DFT's cos then sin tables (Lw / 2 + 1, Tw)
    and its height DFT's (Lh, Th), and its rows' and columns' placement
    (``row_step`` and ``col_step`` apart). ``transform`` is the inverse
    ``deconv._fft.TransformPlan``; each tap grid row is ``scratch.shape[3]``
    items long (see ``deconv._fft.padded_row``).
    """
    cdef Py_ssize_t width_length = transform.width_length
    cdef const Py_ssize_t[::1] width_radices = transform.width_radices
    cdef const floating[:, ::1] width_twiddles = transform.width_twiddles
    cdef const Py_ssize_t[::1] height_radices = transform.height_radices
    cdef const floating[:, ::1] height_twiddles = transform.height_twiddles
    cdef Py_ssize_t batch = x_spectra.shape[0], length = x_spectra.shape[1]
    cdef Py_ssize_t half = x_spectra.shape[3], cin = x_spectra.shape[4]
    cdef Py_ssize_t cout = y_spectra.shape[5], row_floats = scratch.shape[3]
    cdef Py_ssize_t block = scratch.shape[1] // 4
    cdef PlanarLayout x_layout = _planar_layout(x_spectra), y_layout
    cdef OutLayout out_layout = _out_layout(out)
    cdef Py_ssize_t p, thread
    if (kernel_io.shape[2] != cin or kernel_io.shape[3] != cout or phases.shape[1] != PHASE_FIELDS
            or batch < 1 or x_spectra.shape[2] != 2 or half != width_length // 2 + 1
            or out.shape[0] != batch or out.shape[3] != cout or row_step < 1 or col_step < 1
            or row_floats < cin * cout or block < 1 or scratch.shape[1] != 4 * block
            or scratch.shape[2] != 2 or y_spectra.shape[1] != batch
            or y_spectra.shape[2] != length or y_spectra.shape[3] != 2
            or y_spectra.shape[4] != half
            or work.shape[1] < fft_work_floats(max(length, width_length))
            or min(taps.shape[0], partial.shape[0], scratch.shape[0], y_spectra.shape[0],
                   work.shape[0]) < num_threads):
        raise ValueError(f"fft_phases: x spectra {tuple(x_spectra.shape)[:5]} of width "
                         f"{width_length}, kernel {tuple(kernel_io.shape)[:4]}, out "
                         f"{tuple(out.shape)[:4]}, steps {row_step}, {col_step} and buffers "
                         f"{tuple(taps.shape)[:2]}, {tuple(partial.shape)[:2]}, "
                         f"{tuple(scratch.shape)[:4]}, {tuple(y_spectra.shape)[:6]}, "
                         f"{tuple(work.shape)[:2]} do not agree")
    _check_plan(width_radices, width_twiddles, width_length, "fft_phases")
    _check_plan(height_radices, height_twiddles, length, "fft_phases")
    for p in range(phases.shape[0]):
        _check_phase(phases[p], tap_indices, twiddles, kernel_io, length, width_length, out,
                     row_step, col_step, row_floats, taps.shape[1], partial.shape[1])
    # Each thread's product spectra (N, Lh, 2, V, Cout), contiguous.
    y_layout.image = y_spectra.strides[1] // sizeof(floating)
    y_layout.frequency = y_spectra.strides[2] // sizeof(floating)
    y_layout.imag = y_spectra.strides[3] // sizeof(floating)
    y_layout.column = y_spectra.strides[4] // sizeof(floating)
    for p in prange(phases.shape[0], nogil=True, schedule="static", num_threads=num_threads):
        thread = threadid()
        _run_phase(&phases[p, 0], &tap_indices[0], &twiddles[0], &kernel_io[0, 0, 0, 0],
                   kernel_io.strides[0] // sizeof(floating),
                   kernel_io.strides[1] // sizeof(floating),
                   kernel_io.strides[2] // sizeof(floating),
                   kernel_io.strides[3] // sizeof(floating), &x_spectra[0, 0, 0, 0, 0],
                   x_layout, cin, batch, length, width_length, row_step, col_step, scale,
                   &height_radices[0], &height_twiddles[0, 0], &width_radices[0],
                   &width_twiddles[0, 0], &out[0, 0, 0, 0], out_layout, &taps[thread, 0],
                   &partial[thread, 0], &scratch[thread, 0, 0, 0], row_floats, block,
                   &y_spectra[thread, 0, 0, 0, 0, 0], y_layout, cout, &work[thread, 0])


def phase_taps(const floating[:, :, :, :] kernel_io, const Py_ssize_t[:, ::1] phases,
               const Py_ssize_t p, const Py_ssize_t[::1] tap_indices, floating[:, :, ::1] taps):
    """Copy the taps of phase ``p`` of :func:`fft_phases`' phase table from
    ``kernel_io`` (kh, kw, Cin, Cout; any strides) into ``taps`` (Th, Tw, >=
    Cin * Cout), each tap's (Cin, Cout) kernels a row, even positions first."""
    cdef Py_ssize_t cin = kernel_io.shape[2], cout = kernel_io.shape[3]
    if (not 0 <= p < phases.shape[0] or phases.shape[1] != PHASE_FIELDS
            or not _phase_taps_fit(phases[p], tap_indices, kernel_io)
            or taps.shape[0] != phases[p, PHASE_TAP_ROWS]
            or taps.shape[1] != phases[p, PHASE_TAP_COLS] or taps.shape[2] < cin * cout):
        raise ValueError(f"phase_taps: phase {p} of {tuple(phases.shape)[:2]}, kernel "
                         f"{tuple(kernel_io.shape)[:4]} and taps {tuple(taps.shape)[:3]} do "
                         f"not agree")
    _copy_phase_taps(&phases[p, 0], &tap_indices[0], &kernel_io[0, 0, 0, 0],
                     kernel_io.strides[0] // sizeof(floating),
                     kernel_io.strides[1] // sizeof(floating),
                     kernel_io.strides[2] // sizeof(floating),
                     kernel_io.strides[3] // sizeof(floating), cin, cout, &taps[0, 0, 0],
                     taps.shape[2])


cdef bint _phase_taps_fit(const Py_ssize_t[::1] phase, const Py_ssize_t[::1] tap_indices,
                          const floating[:, :, :, :] kernel_io):
    """Whether a row of :func:`fft_phases`' phase table names kernel rows and
    columns within ``tap_indices`` and ``kernel_io``."""
    cdef Py_ssize_t rows = phase[PHASE_TAP_ROWS], cols = phase[PHASE_TAP_COLS]
    cdef Py_ssize_t row_taps = phase[PHASE_ROW_TAPS], col_taps = phase[PHASE_COL_TAPS], i
    if not (rows >= 1 and cols >= 1
            and 0 <= row_taps and row_taps + rows <= tap_indices.shape[0]
            and 0 <= col_taps and col_taps + cols <= tap_indices.shape[0]):
        return False
    for i in range(rows):
        if not 0 <= tap_indices[row_taps + i] < kernel_io.shape[0]:
            return False
    for i in range(cols):
        if not 0 <= tap_indices[col_taps + i] < kernel_io.shape[1]:
            return False
    return True


cdef void _copy_phase_taps(const Py_ssize_t* phase, const Py_ssize_t* tap_indices,
                           const floating* kernel_io, const Py_ssize_t kernel_row,
                           const Py_ssize_t kernel_col, const Py_ssize_t kernel_in,
                           const Py_ssize_t kernel_out, const Py_ssize_t cin,
                           const Py_ssize_t cout, floating* taps,
                           const Py_ssize_t row_floats) noexcept nogil:
    """The phase kernel's taps, each a (Cin, Cout) row of ``row_floats``
    items of ``taps`` (Th, Tw, row_floats), from ``kernel_io`` (strides in
    items)."""
    cdef Py_ssize_t rows = phase[PHASE_TAP_ROWS], cols = phase[PHASE_TAP_COLS]
    cdef const floating* source
    cdef floating* row
    cdef Py_ssize_t a, b, c, o
    for a in range(rows):
        for b in range(cols):
            source = (kernel_io + tap_indices[phase[PHASE_ROW_TAPS] + a] * kernel_row
                      + tap_indices[phase[PHASE_COL_TAPS] + b] * kernel_col)
            row = taps + (a * cols + b) * row_floats
            for c in range(cin):
                for o in range(cout):
                    row[c * cout + o] = source[c * kernel_in + o * kernel_out]


cdef Crop _phase_crop(const Py_ssize_t* phase, const Py_ssize_t row_step,
                      const Py_ssize_t col_step) noexcept nogil:
    """The :class:`Crop` of a row of :func:`fft_phases`' phase table."""
    cdef Crop crop
    crop.row_start, crop.row_stop = phase[PHASE_ROW_START], phase[PHASE_ROW_STOP]
    crop.row_first, crop.row_step = phase[PHASE_ROW_FIRST], row_step
    crop.col_start, crop.col_stop = phase[PHASE_COL_START], phase[PHASE_COL_STOP]
    crop.col_first, crop.col_step = phase[PHASE_COL_FIRST], col_step
    return crop


cdef void _check_phase(const Py_ssize_t[::1] phase, const Py_ssize_t[::1] tap_indices,
                       const floating[::1] twiddles, const floating[:, :, :, :] kernel_io,
                       const Py_ssize_t length, const Py_ssize_t width_length,
                       floating[:, :, :, :] out, const Py_ssize_t row_step,
                       const Py_ssize_t col_step, const Py_ssize_t row_floats,
                       const Py_ssize_t taps_items, const Py_ssize_t partial_items) except *:
    """Raise ValueError unless one row of :func:`fft_phases`' phase table
    stays within its arrays (the phase kernel in ``kernel_io``, the tables
    in theirs, the placement in ``out``, the buffers of one thread)."""
    cdef Py_ssize_t rows = phase[PHASE_TAP_ROWS], cols = phase[PHASE_TAP_COLS]
    cdef Py_ssize_t width = phase[PHASE_WIDTH_TWIDDLES], height = phase[PHASE_HEIGHT_TWIDDLES]
    cdef Py_ssize_t half = width_length // 2 + 1
    cdef bint fits = (
        _phase_taps_fit(phase, tap_indices, kernel_io) and 0 <= phase[PHASE_EVEN_ROWS] <= rows
        and 0 <= phase[PHASE_EVEN_COLS] <= cols
        and 0 <= width and width + 2 * half * cols <= twiddles.shape[0]
        and 0 <= height and height + 2 * length * rows <= twiddles.shape[0]
        and rows * cols * row_floats <= taps_items and 2 * half * rows * row_floats <= partial_items
        and _crop_fits(_phase_crop(&phase[0], row_step, col_step), length, width_length,
                       out.shape[1], out.shape[2]))
    if not fits:
        raise ValueError(f"fft_phases: phase {list(phase)} does not fit kernel "
                         f"{tuple(kernel_io.shape)[:4]}, out {tuple(out.shape)[:4]} or "
                         f"the tables and buffers")


cdef void _run_phase(const Py_ssize_t* phase, const Py_ssize_t* tap_indices,
                     const floating* twiddles, const floating* kernel_io,
                     const Py_ssize_t kernel_row, const Py_ssize_t kernel_col,
                     const Py_ssize_t kernel_in, const Py_ssize_t kernel_out,
                     const floating* x, const PlanarLayout x_layout, const Py_ssize_t cin,
                     const Py_ssize_t batch, const Py_ssize_t length,
                     const Py_ssize_t width_length, const Py_ssize_t row_step,
                     const Py_ssize_t col_step, const floating scale,
                     const Py_ssize_t* height_radices, const floating* height_twiddles,
                     const Py_ssize_t* width_radices, const floating* width_twiddles,
                     floating* out, const OutLayout out_layout, floating* taps,
                     floating* partial, floating* scratch, const Py_ssize_t row_floats,
                     const Py_ssize_t block, floating* y, const PlanarLayout y_layout,
                     const Py_ssize_t cout, floating* work) noexcept nogil:
    """One phase of :func:`fft_phases` on the calling thread."""
    cdef Py_ssize_t rows = phase[PHASE_TAP_ROWS], cols = phase[PHASE_TAP_COLS]
    cdef Py_ssize_t half = width_length // 2 + 1
    cdef const floating* width_cos = twiddles + phase[PHASE_WIDTH_TWIDDLES]
    cdef const floating* height_cos = twiddles + phase[PHASE_HEIGHT_TWIDDLES]
    cdef Crop crop = _phase_crop(phase, row_step, col_step)
    _copy_phase_taps(phase, tap_indices, kernel_io, kernel_row, kernel_col, kernel_in,
                     kernel_out, cin, cout, taps, row_floats)
    _width_spectra_units(taps, cols * row_floats, row_floats, width_cos, width_cos + half * cols,
                         rows, cols, phase[PHASE_EVEN_COLS], cin * cout, width_length, partial,
                         row_floats, 0, rows * _width_blocks(width_length))
    _product_units(partial, row_floats, rows, height_cos, height_cos + length * rows,
                   phase[PHASE_EVEN_ROWS], length, half, x, x_layout, cin, y, y_layout, cout,
                   batch, scratch, row_floats, block, 0, half * _product_blocks(length, block))
    _height_fft_units(y, y_layout.image, length, half * cout, length, crop.row_start,
                      crop.row_stop, work, height_radices, height_twiddles, 1, 0,
                      batch * (_round_up(half * cout, FFT_RUN) // FFT_RUN))
    _cropped_rows_units(y, y_layout.image, cout, half, out, out_layout, crop, scale,
                        width_length, work, width_radices, width_twiddles, 0,
                        batch * _cropped_units(cout, crop))
