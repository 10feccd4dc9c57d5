# The transforms of the "winograd" backend (deconv._winograd), included by
# _core.pyx. One phase of a strided transposed convolution (the output rows
# of one residue modulo the stride, likewise columns) is a stride-1
# correlation of x with a sub-kernel of the kernel's taps of that phase.
# Each is computed with minimal filtering F(T, K) on tiles of T x T' outputs:
#
#   V[xi, tile, c]  = (BT_rows . x patch . BT_cols^T)[xi]   (this file)
#   M[xi, tile, o]  = sum_c V[xi, tile, c] U[xi, o, c]       (the wide kernel)
#   y tile          = AT_rows . M[., tile, o] . AT_cols^T      (this file)
#
# with U[xi] = G_rows . g . G_cols^T per (o, c): each position's panel (one
# block of output channels, every input channel) is a weighted sum of the
# sub-kernel's taps packed as the wide kernel packs them, built as the
# products go (function calls) or once (operators), by the same routine.
# The data transforms are separable: rows first, then columns. A
# tile's channels are transformed in chunks through stack buffers (the
# widest of 64, 32 or 16 channels that the channels left fill, then a last
# partial chunk of 16, zero-padded), the channel loop innermost (contiguous,
# so it vectorizes, one broadcast coefficient per pass); zero coefficients
# are skipped. A channel's result does not depend on its chunk. Each
# tile is computed by one thread, in a fixed order: results do not depend on
# the thread count.

cdef enum:
    # Inputs per tile and axis the transforms take (deconv._toom_cook.MAX_INPUTS).
    WINOGRAD_MAX_INPUTS = 8
    # Channels transformed together: stack buffers of 8 x 8 x 64 items.
    WINOGRAD_CHANNELS = 64
    # The narrower chunks of the channels that do not fill a whole one.
    WINOGRAD_MEDIUM_CHANNELS = 32
    WINOGRAD_NARROW_CHANNELS = 16
    # The most taps per phase and axis (deconv._winograd.MAX_PHASE_TAPS).
    WINOGRAD_MAX_TAPS = 4
    # The products' taps held in cache while a group of blocks is computed.
    WINOGRAD_GROUP_BYTES = 262144


cdef extern from *:
    """
    /* One output of a transform pass over a chunk of channels: out[0:n] =
       sum of coefficients[k] * sources[index[k] * step][0:n] for k < count,
       the nonzero terms of one row of the transform (_transform_terms),
       summed in k order into one register per vector of out and stored once
       (n a multiple of the vector lanes, at most 64: chunks are 16 or 64
       items). In the dot kernel's vector types: as plain loops GCC may leave
       these scalar (it cannot tell that out and the sources never overlap)
       or make every term a load and store of out. Inlined always, so that n
       is a constant and the accumulators registers. */
    #define DECONV_COMBINE(NAME, T, V, LANES)                                        \
    static DECONV_ALWAYS_INLINE void NAME(                                           \
            T* out, const T* const* sources, Py_ssize_t step,                        \
            const Py_ssize_t* index, const T* coefficients, Py_ssize_t count,        \
            Py_ssize_t n) {                                                          \
        const V zero = {0};                                                          \
        V acc[64 / (LANES)];                                                         \
        Py_ssize_t j, k;                                                             \
        for (j = 0; j < n / (LANES); j++) acc[j] = zero;                             \
        for (k = 0; k < count; k++) {                                                \
            const T* source = sources[index[k] * step];                              \
            const T a = coefficients[k];                                             \
            for (j = 0; j < n / (LANES); j++)                                        \
                acc[j] += a * *(const V*)(source + j * (LANES));                     \
        }                                                                            \
        for (j = 0; j < n / (LANES); j++) *(V*)(out + j * (LANES)) = acc[j];         \
    }
    DECONV_COMBINE(deconv_combine_f32, float, deconv_vf32, DECONV_DOT_F32_LANES)
    DECONV_COMBINE(deconv_combine_f64, double, deconv_vf64, DECONV_DOT_F64_LANES)
    """
    void deconv_combine_f32(float* out, const float* const* sources, Py_ssize_t step,
                            const Py_ssize_t* index, const float* coefficients,
                            Py_ssize_t count, Py_ssize_t n) noexcept nogil
    void deconv_combine_f64(double* out, const double* const* sources, Py_ssize_t step,
                            const Py_ssize_t* index, const double* coefficients,
                            Py_ssize_t count, Py_ssize_t n) noexcept nogil


cdef struct TransformTerms:
    # The nonzero entries of each row of a transform matrix (rows of
    # ``width`` entries): row i has count[i], in the columns
    # index[i * width + k] (k < count[i]); their values are kept beside, in
    # an array of the compute type laid out alike.
    Py_ssize_t width
    Py_ssize_t count[WINOGRAD_MAX_INPUTS]
    Py_ssize_t index[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]


cdef void _transform_terms(const floating[:, ::1] matrix, TransformTerms* terms,
                           floating* coefficients) noexcept:
    """Fill ``terms`` and ``coefficients`` with the nonzero entries of each
    row of ``matrix`` (at most WINOGRAD_MAX_INPUTS rows and columns), in
    column order: the transforms' passes then sum exactly those terms,
    without a test of each coefficient (a branch that mispredicted often)."""
    cdef Py_ssize_t width = matrix.shape[1], i, j, n
    terms.width = width
    for i in range(matrix.shape[0]):
        n = 0
        for j in range(width):
            if matrix[i, j] != 0:
                terms.index[i * width + n] = j
                coefficients[i * width + n] = matrix[i, j]
                n += 1
        terms.count[i] = n


cdef inline void _combine(floating* out, const floating** sources, const Py_ssize_t step,
                          const TransformTerms* terms, const floating* coefficients,
                          const Py_ssize_t row, const Py_ssize_t n) noexcept nogil:
    """out = row ``row`` of a transform (``terms``, ``coefficients``: see
    :func:`_transform_terms`) applied to sources[k * step], n items (see
    DECONV_COMBINE)."""
    if floating is float:
        deconv_combine_f32(out, sources, step, &terms.index[row * terms.width],
                           &coefficients[row * terms.width], terms.count[row], n)
    else:
        deconv_combine_f64(out, sources, step, &terms.index[row * terms.width],
                           &coefficients[row * terms.width], terms.count[row], n)


# The channel chunk widths as types, so that each fused specialization
# of the transforms has its width as a compile-time constant (sizeof): its
# passes are then fixed-length vector loops whether or not the compiler
# inlines them, never loops of runtime length (scalar remainders, memset).
cdef struct NarrowChunk:
    char items[WINOGRAD_NARROW_CHANNELS]


cdef struct MediumChunk:
    char items[WINOGRAD_MEDIUM_CHANNELS]


cdef struct WideChunk:
    char items[WINOGRAD_CHANNELS]


ctypedef fused chunk_width:
    NarrowChunk
    MediumChunk
    WideChunk


cdef inline Py_ssize_t _chunk_channels(const Py_ssize_t remaining) noexcept nogil:
    """Channels of the next chunk of a tile with ``remaining`` channels
    left: the widest chunk they fill, or a partial narrow one. A partial
    chunk is copied into a zero-padded buffer and its padding computed for
    nothing, so it is kept to the last 15 channels at most."""
    if remaining >= WINOGRAD_CHANNELS:
        return WINOGRAD_CHANNELS
    if remaining >= WINOGRAD_MEDIUM_CHANNELS:
        return WINOGRAD_MEDIUM_CHANNELS
    return WINOGRAD_NARROW_CHANNELS


cdef inline void _winograd_input_tile(
        const char* x_image, const Py_ssize_t x_row_stride, const Py_ssize_t x_col_stride,
        const Py_ssize_t x_channel_stride, const Py_ssize_t height, const Py_ssize_t width,
        const Py_ssize_t cin, const Py_ssize_t row0, const Py_ssize_t col0,
        const TransformTerms* bt_rows, const floating* bt_row_values, const Py_ssize_t ah,
        const TransformTerms* bt_cols, const floating* bt_col_values, const Py_ssize_t aw,
        floating* v, const Py_ssize_t v_position_stride) noexcept nogil:
    """V of one tile: the ah x aw patch of x (image ``x_image``, strides in
    bytes) from row ``row0`` and column ``col0`` (zeros outside x),
    transformed by the two axes' BT (their nonzero terms and values), into
    ``v`` (position xi at ``xi * v_position_stride`` items), a chunk of
    channels at a time (:func:`_chunk_channels`)."""
    cdef Py_ssize_t c0 = 0, chunk
    while c0 < cin:
        chunk = _chunk_channels(cin - c0)
        if chunk == WINOGRAD_CHANNELS:
            _winograd_input_chunk(x_image, x_row_stride, x_col_stride, x_channel_stride,
                                  height, width, cin, c0, row0, col0, bt_rows, bt_row_values,
                                  ah, bt_cols, bt_col_values, aw, v, v_position_stride,
                                  <WideChunk*> NULL)
        elif chunk == WINOGRAD_MEDIUM_CHANNELS:
            _winograd_input_chunk(x_image, x_row_stride, x_col_stride, x_channel_stride,
                                  height, width, cin, c0, row0, col0, bt_rows, bt_row_values,
                                  ah, bt_cols, bt_col_values, aw, v, v_position_stride,
                                  <MediumChunk*> NULL)
        else:
            _winograd_input_chunk(x_image, x_row_stride, x_col_stride, x_channel_stride,
                                  height, width, cin, c0, row0, col0, bt_rows, bt_row_values,
                                  ah, bt_cols, bt_col_values, aw, v, v_position_stride,
                                  <NarrowChunk*> NULL)
        c0 += chunk


cdef inline void _winograd_input_chunk(
        const char* x_image, const Py_ssize_t x_row_stride, const Py_ssize_t x_col_stride,
        const Py_ssize_t x_channel_stride, const Py_ssize_t height, const Py_ssize_t width,
        const Py_ssize_t cin, const Py_ssize_t c0, const Py_ssize_t row0,
        const Py_ssize_t col0, const TransformTerms* bt_rows, const floating* bt_row_values,
        const Py_ssize_t ah, const TransformTerms* bt_cols, const floating* bt_col_values,
        const Py_ssize_t aw, floating* v, const Py_ssize_t v_position_stride,
        const chunk_width* chunk_tag) noexcept nogil:
    """Channels ``c0`` to ``c0 + sizeof(chunk_width)`` (those below ``cin``)
    of :func:`_winograd_input_tile` (``chunk_tag`` is not read). A whole
    chunk of contiguous channels inside x is read where it lies; a pixel
    outside x, a last partial chunk or strided channels are first copied
    into a zero-padded patch."""
    cdef floating patch[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating by_rows[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating out[WINOGRAD_CHANNELS]
    cdef const floating* source[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef const floating* rows_of[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef Py_ssize_t chunk = sizeof(chunk_width)
    cdef Py_ssize_t nc = min(chunk, cin - c0), a, b, i, j, c, xi, xj
    cdef floating* dst
    cdef const floating* pixel
    for a in range(ah):
        i = row0 + a
        for b in range(aw):
            j = col0 + b
            dst = &patch[(a * aw + b) * chunk]
            source[a * aw + b] = dst
            if 0 <= i < height and 0 <= j < width:
                pixel = <const floating*> (x_image + i * x_row_stride + j * x_col_stride
                                           + c0 * x_channel_stride)
                if x_channel_stride == sizeof(floating) and nc == chunk:
                    source[a * aw + b] = pixel
                    continue
                for c in range(nc):
                    dst[c] = (<const floating*> (<const char*> pixel
                                                 + c * x_channel_stride))[0]
                for c in range(nc, chunk):
                    dst[c] = 0
            else:
                for c in range(chunk):
                    dst[c] = 0
    for b in range(ah * aw):
        rows_of[b] = &by_rows[b * chunk]
    for xi in range(ah):
        for b in range(aw):
            _combine(&by_rows[(xi * aw + b) * chunk], &source[b], aw, bt_rows,
                     bt_row_values, xi, chunk)
    for xi in range(ah):
        for xj in range(aw):
            dst = v + (xi * aw + xj) * v_position_stride + c0
            if nc == chunk:  # straight into V
                _combine(dst, &rows_of[xi * aw], 1, bt_cols, bt_col_values, xj, chunk)
            else:
                _combine(out, &rows_of[xi * aw], 1, bt_cols, bt_col_values, xj, chunk)
                for c in range(nc):
                    dst[c] = out[c]


cdef struct PhaseTiling:
    # A phase's tiles: the transforms' nonzero terms (their values are kept
    # beside, in the compute type; a pass fills those it uses), inputs per
    # tile (ah x aw), outputs per tile, tiles per image, and the output
    # steps between outputs. Tile ``unit`` is image unit // tiles, tile row
    # (unit % tiles) // col_tiles, tile column (unit % tiles) % col_tiles.
    TransformTerms bt_rows
    TransformTerms bt_cols
    TransformTerms at_rows
    TransformTerms at_cols
    Py_ssize_t ah, aw, tile_rows, tile_cols, row_tiles, col_tiles, row_step, col_step


cdef inline void _input_unit(const floating[:, :, :, :] x, const char* x_base,
                             const PhaseTiling* tiling, const floating* row_values,
                             const floating* col_values, const Py_ssize_t row_base,
                             const Py_ssize_t col_base, const Py_ssize_t unit, floating* v,
                             const Py_ssize_t v_stride) noexcept nogil:
    """The input transform of tile ``unit`` of ``tiling``, whose first tile's
    patch starts at row ``row_base`` and column ``col_base`` of x, into
    ``v`` (its column of V; positions ``v_stride`` items apart)."""
    cdef Py_ssize_t tiles = tiling.row_tiles * tiling.col_tiles
    cdef Py_ssize_t n = unit // tiles, t = unit % tiles
    _winograd_input_tile(x_base + n * x.strides[0], x.strides[1], x.strides[2], x.strides[3],
                         x.shape[1], x.shape[2], x.shape[3],
                         row_base + (t // tiling.col_tiles) * tiling.tile_rows,
                         col_base + (t % tiling.col_tiles) * tiling.tile_cols,
                         &tiling.bt_rows, row_values, tiling.ah, &tiling.bt_cols, col_values,
                         tiling.aw, v, v_stride)


cdef inline void _output_unit(const floating* m, const Py_ssize_t m_stride,
                              const PhaseTiling* tiling, const floating* row_values,
                              const floating* col_values, const Py_ssize_t first_row,
                              const Py_ssize_t rows, const Py_ssize_t first_col,
                              const Py_ssize_t cols, const Py_ssize_t unit,
                              floating[:, :, :, :] y, char* y_base) noexcept nogil:
    """The outputs of tile ``unit`` of ``tiling`` from its products ``m``
    (positions ``m_stride`` items apart), into the phase of ``y`` whose
    ``rows`` x ``cols`` outputs start at (first_row, first_col)."""
    cdef Py_ssize_t tiles = tiling.row_tiles * tiling.col_tiles
    cdef Py_ssize_t n = unit // tiles, t = unit % tiles
    cdef Py_ssize_t i = (t // tiling.col_tiles) * tiling.tile_rows
    cdef Py_ssize_t j = (t % tiling.col_tiles) * tiling.tile_cols
    _winograd_output_tile(m, m_stride, y.shape[3], &tiling.at_rows, row_values, tiling.ah,
                          min(tiling.tile_rows, rows - i), &tiling.at_cols, col_values,
                          tiling.aw, min(tiling.tile_cols, cols - j),
                          y_base + n * y.strides[0]
                          + (first_row + i * tiling.row_step) * y.strides[1]
                          + (first_col + j * tiling.col_step) * y.strides[2],
                          tiling.row_step * y.strides[1], tiling.col_step * y.strides[2],
                          y.strides[3])


def winograd_input(const floating[:, :, :, :] x, const floating[:, ::1] bt_rows,
                   const floating[:, ::1] bt_cols, Py_ssize_t row_base, Py_ssize_t row_tile,
                   Py_ssize_t row_tiles, Py_ssize_t col_base, Py_ssize_t col_tile,
                   Py_ssize_t col_tiles, floating[:, :, :] v, int num_threads):
    """Fill ``v`` (ah * aw, N * row_tiles * col_tiles, Cin) with the input
    transform of every tile of ``x`` (N, h, w, Cin; any strides). Tile
    (n, i, j), at index ``(n * row_tiles + i) * col_tiles + j``, reads the
    ah x aw patch from row ``row_base + i * row_tile`` and column ``col_base
    + j * col_tile`` (zeros outside x); ``bt_rows`` (ah x ah) and ``bt_cols``
    (aw x aw) are the two axes' input transforms."""
    cdef Py_ssize_t ah = bt_rows.shape[0], aw = bt_cols.shape[0]
    cdef Py_ssize_t batch = x.shape[0], cin = x.shape[3], tiles = row_tiles * col_tiles
    cdef Py_ssize_t unit
    cdef const char* x_base
    cdef PhaseTiling tiling
    cdef floating row_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef floating col_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    if (row_tiles < 1 or col_tiles < 1 or bt_rows.shape[1] != ah or bt_cols.shape[1] != aw
            or not 1 <= ah <= WINOGRAD_MAX_INPUTS or not 1 <= aw <= WINOGRAD_MAX_INPUTS
            or v.shape[0] != ah * aw or v.shape[1] != batch * tiles or v.shape[2] != cin
            or not _matrices_contiguous(v)):
        raise ValueError(f"winograd_input: x {tuple(x.shape)[:4]}, transforms {ah}x{aw}, "
                         f"{row_tiles}x{col_tiles} tiles and v {tuple(v.shape)[:3]} do not "
                         f"agree")
    if batch * cin == 0:
        return
    _transform_terms(bt_rows, &tiling.bt_rows, row_values)
    _transform_terms(bt_cols, &tiling.bt_cols, col_values)
    tiling.ah, tiling.aw, tiling.tile_rows, tiling.tile_cols = ah, aw, row_tile, col_tile
    tiling.row_tiles, tiling.col_tiles = row_tiles, col_tiles
    x_base = <const char*> &x[0, 0, 0, 0] if x.shape[1] * x.shape[2] > 0 else NULL
    for unit in prange(batch * tiles, nogil=True, schedule="static", num_threads=num_threads):
        _input_unit(x, x_base, &tiling, row_values, col_values, row_base, col_base, unit,
                    &v[0, unit, 0], v.strides[0] // sizeof(floating))
    PyErr_CheckSignals()


cdef bint _matrices_contiguous(const floating[:, :, :] array) noexcept:
    """Whether each position's (columns, channels) matrix of ``array`` is
    contiguous (the positions themselves may be any stride apart: see
    ``deconv._winograd.position_stride``)."""
    return ((array.shape[2] < 2 or array.strides[2] == sizeof(floating))
            and (array.shape[1] < 2 or array.strides[1] == array.shape[2] * sizeof(floating)))


cdef inline void _winograd_output_tile(
        const floating* m, const Py_ssize_t m_position_stride, const Py_ssize_t cout,
        const TransformTerms* at_rows, const floating* at_row_values, const Py_ssize_t ah,
        const Py_ssize_t rows, const TransformTerms* at_cols, const floating* at_col_values,
        const Py_ssize_t aw, const Py_ssize_t cols,
        char* y, const Py_ssize_t y_row_step, const Py_ssize_t y_col_step,
        const Py_ssize_t y_channel_stride) noexcept nogil:
    """The first ``rows`` x ``cols`` outputs of one tile, from its products
    ``m`` (position xi at ``xi * m_position_stride`` items), into ``y``
    (output (i, j) at ``i * y_row_step + j * y_col_step`` bytes), a chunk
    of channels at a time (:func:`_chunk_channels`)."""
    cdef Py_ssize_t c0 = 0, chunk
    while c0 < cout:
        chunk = _chunk_channels(cout - c0)
        if chunk == WINOGRAD_CHANNELS:
            _winograd_output_chunk(m, m_position_stride, cout, c0, at_rows, at_row_values, ah,
                                   rows, at_cols, at_col_values, aw, cols, y, y_row_step,
                                   y_col_step, y_channel_stride, <WideChunk*> NULL)
        elif chunk == WINOGRAD_MEDIUM_CHANNELS:
            _winograd_output_chunk(m, m_position_stride, cout, c0, at_rows, at_row_values, ah,
                                   rows, at_cols, at_col_values, aw, cols, y, y_row_step,
                                   y_col_step, y_channel_stride, <MediumChunk*> NULL)
        else:
            _winograd_output_chunk(m, m_position_stride, cout, c0, at_rows, at_row_values, ah,
                                   rows, at_cols, at_col_values, aw, cols, y, y_row_step,
                                   y_col_step, y_channel_stride, <NarrowChunk*> NULL)
        c0 += chunk


cdef inline void _winograd_output_chunk(
        const floating* m, const Py_ssize_t m_position_stride, const Py_ssize_t cout,
        const Py_ssize_t c0, const TransformTerms* at_rows, const floating* at_row_values,
        const Py_ssize_t ah, const Py_ssize_t rows, const TransformTerms* at_cols,
        const floating* at_col_values, const Py_ssize_t aw, const Py_ssize_t cols,
        char* y, const Py_ssize_t y_row_step, const Py_ssize_t y_col_step,
        const Py_ssize_t y_channel_stride, const chunk_width* chunk_tag) noexcept nogil:
    """Channels ``c0`` to ``c0 + sizeof(chunk_width)`` (those below ``cout``)
    of :func:`_winograd_output_tile` (``chunk_tag`` is not read): a whole
    chunk read from ``m`` where it lies, a last partial one copied into a
    zero-padded buffer first."""
    cdef floating products[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating by_rows[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating out[WINOGRAD_CHANNELS]
    cdef const floating* source[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef const floating* rows_of[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef Py_ssize_t chunk = sizeof(chunk_width)
    cdef Py_ssize_t nc = min(chunk, cout - c0), i, j, xi, xj, c
    cdef floating* dst
    cdef const floating* src
    cdef floating* pixel
    for xi in range(ah * aw):
        src = m + xi * m_position_stride + c0
        source[xi] = src
        if nc < chunk:
            dst = &products[xi * chunk]
            for c in range(nc):
                dst[c] = src[c]
            for c in range(nc, chunk):
                dst[c] = 0
            source[xi] = dst
    for xi in range(rows * aw):
        rows_of[xi] = &by_rows[xi * chunk]
    for i in range(rows):
        for xj in range(aw):
            _combine(&by_rows[(i * aw + xj) * chunk], &source[xj], aw, at_rows,
                     at_row_values, i, chunk)
    for i in range(rows):
        for j in range(cols):
            pixel = <floating*> (y + i * y_row_step + j * y_col_step + c0 * y_channel_stride)
            if y_channel_stride == sizeof(floating) and nc == chunk:
                _combine(pixel, &rows_of[i * aw], 1, at_cols, at_col_values, j, chunk)
                continue
            _combine(out, &rows_of[i * aw], 1, at_cols, at_col_values, j, chunk)
            for c in range(nc):
                (<floating*> (<char*> pixel + c * y_channel_stride))[0] = out[c]


def winograd_output(const floating[:, :, :] m, const floating[:, ::1] at_rows,
                    const floating[:, ::1] at_cols, Py_ssize_t first_row, Py_ssize_t row_step,
                    Py_ssize_t rows, Py_ssize_t first_col, Py_ssize_t col_step,
                    Py_ssize_t cols, floating[:, :, :, :] y, int num_threads):
    """Write one phase of ``y`` (N, H, W, Cout; any strides): its ``rows``
    output rows ``first_row + k * row_step`` and ``cols`` columns likewise,
    from the products ``m`` (ah * aw, N * row_tiles * col_tiles, Cout) of
    its tiles (ordered as :func:`winograd_input`'s) by the output transforms
    ``at_rows`` (T x ah) and ``at_cols`` (T' x aw)."""
    cdef Py_ssize_t tile_rows = at_rows.shape[0], ah = at_rows.shape[1]
    cdef Py_ssize_t tile_cols = at_cols.shape[0], aw = at_cols.shape[1]
    cdef Py_ssize_t batch = y.shape[0], cout = y.shape[3]
    cdef Py_ssize_t row_tiles, col_tiles, tiles, unit
    cdef char* y_base
    cdef PhaseTiling tiling
    cdef floating row_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef floating col_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    if rows < 1 or cols < 1 or tile_rows < 1 or tile_cols < 1 or row_step < 1 or col_step < 1:
        raise ValueError(f"winograd_output: {rows} x {cols} outputs in tiles of "
                         f"{tile_rows} x {tile_cols}, steps {row_step}, {col_step}")
    row_tiles = (rows + tile_rows - 1) // tile_rows
    col_tiles = (cols + tile_cols - 1) // tile_cols
    tiles = row_tiles * col_tiles
    if (not 1 <= ah <= WINOGRAD_MAX_INPUTS or not 1 <= aw <= WINOGRAD_MAX_INPUTS
            or m.shape[0] != ah * aw or m.shape[1] != batch * tiles or m.shape[2] != cout
            or not _matrices_contiguous(m)
            or not 0 <= first_row <= first_row + (rows - 1) * row_step < y.shape[1]
            or not 0 <= first_col <= first_col + (cols - 1) * col_step < y.shape[2]):
        raise ValueError(f"winograd_output: m {tuple(m.shape)[:3]}, transforms "
                         f"{tile_rows}x{ah} and {tile_cols}x{aw}, rows {first_row}+{row_step}k "
                         f"(k < {rows}), columns {first_col}+{col_step}k (k < {cols}) and y "
                         f"{tuple(y.shape)[:4]} do not agree")
    if batch * cout == 0:
        return
    _transform_terms(at_rows, &tiling.at_rows, row_values)
    _transform_terms(at_cols, &tiling.at_cols, col_values)
    tiling.ah, tiling.aw, tiling.tile_rows, tiling.tile_cols = ah, aw, tile_rows, tile_cols
    tiling.row_tiles, tiling.col_tiles = row_tiles, col_tiles
    tiling.row_step, tiling.col_step = row_step, col_step
    y_base = <char*> &y[0, 0, 0, 0]
    for unit in prange(batch * tiles, nogil=True, schedule="static", num_threads=num_threads):
        _output_unit(&m[0, unit, 0], m.strides[0] // sizeof(floating), &tiling, row_values,
                     col_values, first_row, rows, first_col, cols, unit, y, y_base)
    PyErr_CheckSignals()


def winograd_pack(const floating[:, :, :, :, ::1] taps, const floating[:, ::1] weights,
                  floating[:, :, :, :, ::1] panels, int num_threads):
    """Fill ``panels`` (blocks, positions, 1, Cin, block) with the whole
    transformed kernel of one phase: what an operator packs once. ``taps``
    and ``weights`` as :func:`winograd_products` takes them, and each panel
    row computed by the same routine, so an operator's results equal a
    function call's bit for bit. A unit of work is one block's position."""
    cdef Py_ssize_t blocks = taps.shape[0], positions = weights.shape[0]
    cdef Py_ssize_t unit
    _check_winograd_taps(taps, weights, panels.shape[4], "winograd_pack")
    if (panels.shape[0] != blocks or panels.shape[1] != positions or panels.shape[2] != 1
            or panels.shape[3] != taps.shape[3] or num_threads < 1):
        raise ValueError(f"winograd_pack: taps {tuple(taps.shape)[:5]} and panels "
                         f"{tuple(panels.shape)[:5]} do not agree")
    for unit in prange(blocks * positions, nogil=True, schedule="static",
                       num_threads=num_threads):
        _winograd_position_panel(taps, weights, panels[unit // positions], unit // positions,
                                 unit % positions, unit % positions)


cdef int _check_winograd_taps(const floating[:, :, :, :, ::1] taps,
                              const floating[:, ::1] weights, Py_ssize_t block,
                              str where) except -1:
    """ValueError unless ``taps`` are packed in the wide kernel's blocks
    (``block``) and ``weights`` weigh each of them (at most
    WINOGRAD_MAX_TAPS per axis)."""
    if (block != _tile_channels(<const floating*> NULL) or taps.shape[4] != block
            or taps.shape[1] > WINOGRAD_MAX_TAPS or taps.shape[2] > WINOGRAD_MAX_TAPS
            or weights.shape[1] != taps.shape[1] * taps.shape[2]):
        raise ValueError(f"{where}: taps {tuple(taps.shape)[:5]} in blocks of {block} and "
                         f"weights {tuple(weights.shape)[:2]} do not agree")
    return 0


def winograd_tap_group(Py_ssize_t tap_bytes):
    """Blocks of packed taps (``tap_bytes`` each) that :func:`winograd_products`
    holds in cache at once: about half an L2 cache (256 KB), at least one."""
    return max(1, WINOGRAD_GROUP_BYTES // max(1, tap_bytes))


def winograd_products(const floating[:, :, :] v, const floating[:, :, :, :] kernel,
                      floating[:, :, :, :, ::1] taps, floating[:, :, :, :, :, ::1] tap_slots,
                      const floating[:, ::1] weights, floating[:, :, :, :, ::1] panels,
                      tables, floating[:, :, :] m, floating[:, ::1] stages,
                      Py_ssize_t positions_per_check, int num_threads):
    """M[xi] = V[xi] . U[xi] for every transform position xi of one phase
    (``v`` (positions, columns, Cin), ``m`` (positions, columns, Cout)), with
    the transformed kernel U computed as it is used, never whole in memory.

    ``kernel`` is the phase's sub-kernel (Kr, Kc, Cout, Cin; any strides),
    packed as :func:`pack_wide_panels` packs it (blocks, Kr, Kc, Cin, block),
    and ``weights[xi, u * Kc + w]`` is G_rows[i, u] * G_cols[j, w]: U[xi] of
    a block is the weighted sum of its taps, written into the one row of a
    ``panels`` slot (slots, 1, 1, Cin, block), which the wide kernel's
    products then read (``tables``: the ``deconv._winograd.product_tables``
    whose rows all read kernel row 0), so a slot is one block of one
    position, the same memory for every unit.

    The (block, position) work units are split into ``num_threads`` equal
    contiguous ranges, one per slot, in block-major or position-major order,
    whichever reads less: a thread reads every V[xi] of its blocks, or
    every block's taps for its positions. A range is run a group of blocks
    (:func:`winograd_tap_group`) at a time, their taps held in cache,
    position by position (each V[xi] read once per group, not once per
    block). Block-major, each thread packs a group's taps into its slot of
    ``tap_slots`` (threads, group, Kr, Kc, Cin, block) as it comes to it,
    so the packed sub-kernel never passes through memory; position-major,
    every block is packed into ``taps`` (blocks, Kr, Kc, Cin, block) first.
    Which slot runs a unit does not change its result: results do not
    depend on the thread count. Signals are looked at after every
    ``positions_per_check`` positions."""
    cdef Py_ssize_t positions = v.shape[0], columns = v.shape[1], cin = v.shape[2]
    cdef Py_ssize_t cout = m.shape[2], block = panels.shape[4]
    cdef Py_ssize_t blocks = taps.shape[0], count = taps.shape[1] * taps.shape[2]
    cdef Py_ssize_t first = 0, last, slot
    cdef Taps rows = _taps(tables.rows, positions), cols = _taps(tables.cols, columns)
    cdef const Py_ssize_t[::1] class_start = tables.classes.start
    cdef const Py_ssize_t[::1] class_columns = tables.classes.columns
    cdef const Py_ssize_t[::1] column_shift = tables.classes.shift
    cdef Classes classes
    cdef Py_ssize_t group, tap_bytes, v_bytes, own_groups, all_groups
    cdef bint position_major
    # The wide kernel's view: one image of ``positions`` rows.
    cdef const floating[:, :, :, :] v_image = v[None]
    cdef floating[:, :, :, :] m_image = m[None]
    _check_winograd_taps(taps, weights, block, "winograd_products")
    if (m.shape[0] != positions or m.shape[1] != columns
            or kernel.shape[0] != taps.shape[1] or kernel.shape[1] != taps.shape[2]
            or kernel.shape[2] != cout or kernel.shape[3] != cin
            or tap_slots.shape[0] < num_threads or tap_slots.shape[1] < 1
            or tap_slots.shape[2] != taps.shape[1] or tap_slots.shape[3] != taps.shape[2]
            or tap_slots.shape[4] != cin or tap_slots.shape[5] != block
            or not _matrices_contiguous(v) or not _matrices_contiguous(m)
            or blocks != (cout + block - 1) // block or taps.shape[3] != cin
            or weights.shape[0] != positions or panels.shape[0] < num_threads
            or panels.shape[1] != 1
            or panels.shape[2] != 1 or panels.shape[3] != cin or stages.shape[0] < num_threads
            or positions_per_check < 1 or num_threads < 1 or class_columns.shape[0] != columns
            or column_shift.shape[0] != columns
            or not _taps_fit(&rows, positions, 1, positions)
            or not _classes_fit(&cols, class_start, class_columns, column_shift, 1, columns)):
        raise ValueError(f"winograd_products: v {tuple(v.shape)[:3]}, kernel "
                         f"{tuple(kernel.shape)[:4]}, taps {tuple(taps.shape)[:5]}, tap slots "
                         f"{tuple(tap_slots.shape)[:6]}, weights {tuple(weights.shape)[:2]}, "
                         f"panels {tuple(panels.shape)[:5]}, m {tuple(m.shape)[:3]}, tables "
                         f"and scratch do not agree")
    if positions * columns * cout == 0:
        return
    classes.start = &class_start[0]
    classes.columns = &class_columns[0]
    classes.shift = &column_shift[0]
    classes.count = class_start.shape[0] - 1
    # Blocks whose taps fill about half an L2 cache (256 KB): reread from it
    # at every position.
    tap_bytes = count * cin * block * <Py_ssize_t> sizeof(floating)
    group = min(winograd_tap_group(tap_bytes), tap_slots.shape[1])
    # Bytes a thread reads: block-major, all of V once per group of its own
    # blocks, and the taps of its blocks; position-major, its share of V
    # once per group of all blocks, and every block's taps.
    v_bytes = positions * columns * cin * <Py_ssize_t> sizeof(floating)
    own_groups = ((blocks + num_threads - 1) // num_threads + group - 1) // group
    all_groups = (blocks + group - 1) // group
    position_major = (v_bytes // num_threads * all_groups + blocks * tap_bytes
                      < v_bytes * own_groups + blocks * tap_bytes // num_threads)
    if position_major:
        pack_wide_panels(kernel, taps, num_threads)
    while first < positions:  # stretches between looks for signals
        last = min(positions, first + positions_per_check)
        for slot in prange(num_threads, nogil=True, schedule="static", chunksize=1,
                           num_threads=num_threads):
            _winograd_products_range(v_image, kernel, taps, tap_slots[slot], weights,
                                     panels[slot], &rows, &cols, &classes, m_image,
                                     &stages[slot, 0],
                                     blocks * positions * slot // num_threads,
                                     blocks * positions * (slot + 1) // num_threads,
                                     position_major, first, last, group)
        PyErr_CheckSignals()
        first = last


cdef void _winograd_products_range(
        const floating[:, :, :, :] v, const floating[:, :, :, :] kernel,
        const floating[:, :, :, :, ::1] taps, floating[:, :, :, :, ::1] tap_slot,
        const floating[:, ::1] weights, floating[:, :, :, ::1] panel, const Taps* rows,
        const Taps* cols, const Classes* classes, floating[:, :, :, :] m, floating* stage,
        const Py_ssize_t start, const Py_ssize_t stop, const bint position_major,
        const Py_ssize_t first_position, const Py_ssize_t last_position,
        const Py_ssize_t group) noexcept nogil:
    """The work units ``start`` to ``stop`` (in block-major or position-major
    order) whose positions lie in [first_position, last_position) (see
    :func:`winograd_products`); block-major, each group's taps packed into
    ``tap_slot`` first."""
    cdef Py_ssize_t positions = v.shape[1], blocks = taps.shape[0]
    cdef Py_ssize_t count = taps.shape[1] * taps.shape[2]
    cdef Py_ssize_t low_block = 0, high_block = blocks, low = 0, high = positions
    cdef Py_ssize_t g0, g1, b, t, xi, unit
    if start >= stop:
        return
    if position_major:
        low, high = start // blocks, (stop - 1) // blocks + 1
    else:
        low_block, high_block = start // positions, (stop - 1) // positions + 1
    low, high = max(low, first_position), min(high, last_position)
    if low >= high:
        return
    g0 = low_block
    while g0 < high_block:
        g1 = min(g0 + group, high_block)
        if not position_major:
            for b in range(g0, g1):
                for t in range(count):
                    _pack_panel_tap(kernel, tap_slot[b - g0], b, t)
        for xi in range(low, high):
            for b in range(g0, g1):
                unit = xi * blocks + b if position_major else b * positions + xi
                if start <= unit < stop:
                    if position_major:
                        _winograd_position_panel(taps, weights, panel, b, xi, 0)
                    else:
                        _winograd_position_panel(tap_slot, weights, panel, b - g0, xi, 0)
                    _output_row_block(v, panel, rows, cols, classes, m, stage, xi, b, False)
        g0 += group


cdef void _winograd_position_panel(
        const floating[:, :, :, :, ::1] taps, const floating[:, ::1] weights,
        floating[:, :, :, ::1] panel, const Py_ssize_t out_block, const Py_ssize_t xi,
        const Py_ssize_t row) noexcept nogil:
    """Row ``row`` of ``panel``: U[xi] of block ``out_block``, the sum of its
    taps weighted by ``weights[xi]`` (zero weights skipped), in tap order,
    up to four taps per pass over the row (each pass reads and writes it)."""
    cdef Py_ssize_t count = weights.shape[1], length = taps.shape[3] * taps.shape[4]
    cdef Py_ssize_t t, i, n = 0, first
    cdef floating w0, w1, w2, w3
    cdef floating* dst = &panel[row, 0, 0, 0]
    cdef const floating* s0
    cdef const floating* s1
    cdef const floating* s2
    cdef const floating* s3
    cdef floating weight[WINOGRAD_MAX_TAPS * WINOGRAD_MAX_TAPS]
    cdef const floating* source[WINOGRAD_MAX_TAPS * WINOGRAD_MAX_TAPS]
    for t in range(count):
        if weights[xi, t] != 0:
            weight[n] = weights[xi, t]
            source[n] = &taps[out_block, t // taps.shape[2], t % taps.shape[2], 0, 0]
            n += 1
    if n == 0:
        for i in range(length):
            dst[i] = 0
        return
    first = 0
    while first < n:
        w0, s0 = weight[first], source[first]
        if n - first == 1:
            if first == 0:
                for i in range(length):
                    dst[i] = w0 * s0[i]
            else:
                for i in range(length):
                    dst[i] = dst[i] + w0 * s0[i]
            first += 1
        elif n - first == 2:
            w1, s1 = weight[first + 1], source[first + 1]
            if first == 0:
                for i in range(length):
                    dst[i] = w0 * s0[i] + w1 * s1[i]
            else:
                for i in range(length):
                    dst[i] = dst[i] + w0 * s0[i] + w1 * s1[i]
            first += 2
        else:
            w1, s1 = weight[first + 1], source[first + 1]
            w2, s2 = weight[first + 2], source[first + 2]
            if n - first == 3:
                if first == 0:
                    for i in range(length):
                        dst[i] = w0 * s0[i] + w1 * s1[i] + w2 * s2[i]
                else:
                    for i in range(length):
                        dst[i] = dst[i] + w0 * s0[i] + w1 * s1[i] + w2 * s2[i]
                first += 3
            else:
                w3, s3 = weight[first + 3], source[first + 3]
                if first == 0:
                    for i in range(length):
                        dst[i] = w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i]
                else:
                    for i in range(length):
                        dst[i] = dst[i] + w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i]
                first += 4


cdef enum:
    # The columns of a run in winograd_by_run's table: input row and column
    # of the first tile's patch, first output row and column, output rows and
    # columns, then the sub-kernel's kernel rows and kernel columns.
    RUN_ROW_BASE = 0
    RUN_COL_BASE = 1
    RUN_FIRST_ROW = 2
    RUN_FIRST_COL = 3
    RUN_ROWS = 4
    RUN_COLS = 5
    RUN_ROW_TAPS = 6
    RUN_COL_TAPS = 6 + WINOGRAD_MAX_TAPS
    RUN_FIELDS = 6 + 2 * WINOGRAD_MAX_TAPS


def winograd_by_run(const floating[:, :, :, :] x, const floating[:, :, :, :] kernel,
                    const Py_ssize_t[:, ::1] runs, const floating[:, ::1] bt_rows,
                    const floating[:, ::1] bt_cols, const floating[:, ::1] at_rows,
                    const floating[:, ::1] at_cols, Py_ssize_t row_step, Py_ssize_t col_step,
                    floating[:, :, :, :] v, floating[:, :, :, :] m,
                    const floating[:, :, :, :, :, ::1] packed,
                    floating[:, :, :, :, :, ::1] tap_slots, const floating[:, ::1] weights,
                    floating[:, :, :, :, ::1] panel_slots, tables, floating[:, :, :, :] y,
                    floating[:, ::1] stages, int num_threads):
    """Every product plan of one phase each (``runs``, one row per run: see
    RUN_FIELDS), all of the same shape, each run whole by one thread: its
    tiles' input transforms into the thread's slot of ``v`` (threads,
    positions, N * row tiles * column tiles, Cin), their products into its
    slot of ``m`` (threads, positions, columns, Cout), and the output
    transforms into its phase of ``y`` (N, H, W, Cout; any strides). What a
    thread writes it reads back itself, from its own caches, and the whole
    call is one parallel region.

    The products read an operator's ``packed`` transformed kernel (runs,
    blocks, positions, 1, Cin, block), with ``tables`` the
    ``deconv._winograd.product_tables`` of the positions and columns;
    or, when ``packed`` is empty (a function call), the thread packs the
    run's taps of ``kernel`` (kh, kw, Cout, Cin; any strides) into its slot
    of ``tap_slots`` (threads, blocks, Kr, Kc, Cin, block) and transforms
    them position by position into its slot of ``panel_slots`` (threads, 1,
    1, Cin, block) by ``weights`` (positions, Kr * Kc), with ``tables``
    whose rows all read kernel row 0. (The slots of an operator's call may
    be empty but one per thread.) Each run's arithmetic is that of
    :func:`winograd_input`, :func:`winograd_products` (or the wide kernel on
    packed panels) and :func:`winograd_output`: the same bits, whatever the
    thread count."""
    cdef Py_ssize_t n_runs = runs.shape[0], batch = x.shape[0], cin = x.shape[3]
    cdef Py_ssize_t cout = y.shape[3], item = sizeof(floating)
    cdef bint on_demand = packed.shape[0] == 0
    cdef Py_ssize_t block = tap_slots.shape[5] if on_demand else packed.shape[5]
    cdef Py_ssize_t blocks = (cout + block - 1) // block
    cdef Py_ssize_t positions = v.shape[1], columns = v.shape[2], r, k
    cdef PhaseTiling tiling
    cdef floating bt_row_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef floating bt_col_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef floating at_row_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef floating at_col_values[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS]
    cdef Taps rows = _taps(tables.rows, positions), cols = _taps(tables.cols, columns)
    cdef const Py_ssize_t[::1] class_start = tables.classes.start
    cdef const Py_ssize_t[::1] class_columns = tables.classes.columns
    cdef const Py_ssize_t[::1] column_shift = tables.classes.shift
    cdef Classes classes
    cdef const char* x_base
    tiling.ah, tiling.aw = bt_rows.shape[0], bt_cols.shape[0]
    tiling.tile_rows, tiling.tile_cols = at_rows.shape[0], at_cols.shape[0]
    tiling.row_step, tiling.col_step = row_step, col_step
    tiling.row_tiles = tiling.col_tiles = 0
    if n_runs > 0 and tiling.tile_rows > 0 and tiling.tile_cols > 0:
        tiling.row_tiles = (runs[0, RUN_ROWS] + tiling.tile_rows - 1) // tiling.tile_rows
        tiling.col_tiles = (runs[0, RUN_COLS] + tiling.tile_cols - 1) // tiling.tile_cols
    if (n_runs < 1 or runs.shape[1] != RUN_FIELDS or num_threads < 1
            or not 1 <= tiling.ah <= WINOGRAD_MAX_INPUTS
            or not 1 <= tiling.aw <= WINOGRAD_MAX_INPUTS
            or bt_rows.shape[1] != tiling.ah or bt_cols.shape[1] != tiling.aw
            or at_rows.shape[1] != tiling.ah or at_cols.shape[1] != tiling.aw
            or not 1 <= tiling.tile_rows <= tiling.ah or not 1 <= tiling.tile_cols <= tiling.aw
            or row_step < 1 or col_step < 1
            or v.shape[0] < num_threads or m.shape[0] < num_threads
            or positions != tiling.ah * tiling.aw or m.shape[1] != positions
            or columns != batch * tiling.row_tiles * tiling.col_tiles or m.shape[2] != columns
            or v.shape[3] != cin or m.shape[3] != cout or batch * cin * cout == 0
            or v.strides[3] != item or m.strides[3] != item
            or (columns > 1 and (v.strides[2] != cin * item or m.strides[2] != cout * item))
            or stages.shape[0] < num_threads or tap_slots.shape[0] < num_threads
            or panel_slots.shape[0] < num_threads
            or (on_demand and (tap_slots.shape[1] != blocks or tap_slots.shape[4] != cin
                               or weights.shape[0] != positions
                               or panel_slots.shape[1] != 1 or panel_slots.shape[2] != 1
                               or panel_slots.shape[3] != cin or panel_slots.shape[4] != block
                               or kernel.shape[2] != cout or kernel.shape[3] != cin))
            or (not on_demand and (packed.shape[0] != n_runs or packed.shape[1] != blocks
                                   or packed.shape[2] != positions or packed.shape[3] != 1
                                   or packed.shape[4] != cin
                                   or block != _tile_channels(<const floating*> NULL)))
            or class_columns.shape[0] != columns or column_shift.shape[0] != columns
            or not _taps_fit(&rows, positions, 1 if on_demand else positions, positions)
            or not _classes_fit(&cols, class_start, class_columns, column_shift, 1, columns)):
        raise ValueError(f"winograd_by_run: x {tuple(x.shape)[:4]}, runs "
                         f"{tuple(runs.shape)[:2]}, transforms {tiling.ah}x{tiling.aw}, v "
                         f"{tuple(v.shape)[:4]}, m {tuple(m.shape)[:4]}, packed "
                         f"{tuple(packed.shape)[:6]}, tap slots {tuple(tap_slots.shape)[:6]}, "
                         f"y {tuple(y.shape)[:4]}, tables and scratch do not agree")
    if on_demand:
        _check_winograd_taps(tap_slots[0], weights, block, "winograd_by_run")
    for r in range(n_runs):
        # The kernels trust every index: each run's tiles, outputs and taps.
        if ((runs[r, RUN_ROWS] + tiling.tile_rows - 1) // tiling.tile_rows != tiling.row_tiles
                or (runs[r, RUN_COLS] + tiling.tile_cols - 1) // tiling.tile_cols
                != tiling.col_tiles
                or not 0 <= runs[r, RUN_FIRST_ROW] <= runs[r, RUN_FIRST_ROW]
                + (runs[r, RUN_ROWS] - 1) * row_step < y.shape[1]
                or not 0 <= runs[r, RUN_FIRST_COL] <= runs[r, RUN_FIRST_COL]
                + (runs[r, RUN_COLS] - 1) * col_step < y.shape[2]):
            raise ValueError(f"winograd_by_run: run {r} {tuple(runs[r])} does not fit y "
                             f"{tuple(y.shape)[:4]} in {tiling.row_tiles}x{tiling.col_tiles} "
                             f"tiles of {tiling.tile_rows}x{tiling.tile_cols}")
        if on_demand:
            for k in range(tap_slots.shape[2]):
                if not 0 <= runs[r, RUN_ROW_TAPS + k] < kernel.shape[0]:
                    raise ValueError(f"winograd_by_run: run {r}'s kernel rows are outside "
                                     f"the kernel {tuple(kernel.shape)[:4]}")
            for k in range(tap_slots.shape[3]):
                if not 0 <= runs[r, RUN_COL_TAPS + k] < kernel.shape[1]:
                    raise ValueError(f"winograd_by_run: run {r}'s kernel columns are "
                                     f"outside the kernel {tuple(kernel.shape)[:4]}")
    _transform_terms(bt_rows, &tiling.bt_rows, bt_row_values)
    _transform_terms(bt_cols, &tiling.bt_cols, bt_col_values)
    _transform_terms(at_rows, &tiling.at_rows, at_row_values)
    _transform_terms(at_cols, &tiling.at_cols, at_col_values)
    classes.start = &class_start[0]
    classes.columns = &class_columns[0]
    classes.shift = &column_shift[0]
    classes.count = class_start.shape[0] - 1
    x_base = <const char*> &x[0, 0, 0, 0] if x.shape[1] * x.shape[2] > 0 else NULL
    for r in prange(n_runs, nogil=True, schedule="static", num_threads=num_threads):
        _winograd_run(x, x_base, kernel, &runs[r, 0], &tiling, bt_row_values, bt_col_values,
                      at_row_values, at_col_values, v, m, threadid(), r, packed,
                      tap_slots[threadid()],
                      weights, panel_slots[threadid()], &rows, &cols, &classes, y,
                      &stages[threadid(), 0], on_demand, blocks)
    PyErr_CheckSignals()


cdef void _winograd_run(
        const floating[:, :, :, :] x, const char* x_base, const floating[:, :, :, :] kernel,
        const Py_ssize_t* run, const PhaseTiling* tiling, const floating* bt_row_values,
        const floating* bt_col_values, const floating* at_row_values,
        const floating* at_col_values, floating[:, :, :, :] v, floating[:, :, :, :] m,
        const Py_ssize_t slot, const Py_ssize_t r, const floating[:, :, :, :, :, ::1] packed,
        floating[:, :, :, :, ::1] tap_slot, const floating[:, ::1] weights,
        floating[:, :, :, ::1] panel_slot, const Taps* rows, const Taps* cols,
        const Classes* classes, floating[:, :, :, :] y, floating* stage,
        const bint on_demand, const Py_ssize_t blocks) noexcept nogil:
    """Run ``r`` of :func:`winograd_by_run`, whole, on the thread of ``slot``."""
    cdef Py_ssize_t tiles = x.shape[0] * tiling.row_tiles * tiling.col_tiles
    cdef Py_ssize_t v_stride = v.strides[1] // sizeof(floating)
    cdef Py_ssize_t m_stride = m.strides[1] // sizeof(floating)
    cdef Py_ssize_t unit, b, u, w, xi
    cdef char* y_base = <char*> &y[0, 0, 0, 0]
    # The run's V and M as the wide kernel sees them: one image of
    # ``positions`` rows.
    cdef const floating[:, :, :, :] v_image = v[slot:slot + 1]
    cdef floating[:, :, :, :] m_image = m[slot:slot + 1]
    for unit in range(tiles):
        _input_unit(x, x_base, tiling, bt_row_values, bt_col_values, run[RUN_ROW_BASE],
                    run[RUN_COL_BASE], unit, &v[slot, 0, unit, 0], v_stride)
    if on_demand:
        for b in range(blocks):
            for u in range(tap_slot.shape[1]):
                for w in range(tap_slot.shape[2]):
                    _pack_kernel_tap(kernel, run[RUN_ROW_TAPS + u], run[RUN_COL_TAPS + w],
                                     tap_slot[b], u, w, b)
    # Position by position, every block: V[xi] read from the cache once.
    for xi in range(v.shape[1]):
        for b in range(blocks):
            if on_demand:
                _winograd_position_panel(tap_slot, weights, panel_slot, b, xi, 0)
                _output_row_block(v_image, panel_slot, rows, cols, classes, m_image, stage,
                                  xi, b, False)
            else:
                _output_row_block(v_image, packed[r, b], rows, cols, classes, m_image, stage,
                                  xi, b, False)
    for unit in range(tiles):
        _output_unit(&m[slot, 0, unit, 0], m_stride, tiling, at_row_values, at_col_values,
                     run[RUN_FIRST_ROW], run[RUN_ROWS], run[RUN_FIRST_COL], run[RUN_COLS], unit,
                     y, y_base)
