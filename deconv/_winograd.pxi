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
# with U[xi] = G_rows . g . G_cols^T per (o, c) (this file, into the wide
# kernel's panels). Transforms are separable: rows first, then columns. A
# tile's channels are transformed in chunks of WINOGRAD_CHANNELS through
# stack buffers, the channel loop innermost (contiguous, so it vectorizes,
# one broadcast coefficient per pass); zero coefficients are skipped. Each
# tile is computed by one thread, in a fixed order: results do not depend on
# the thread count.

cdef enum:
    # Inputs per tile and axis the transforms take (deconv._toom_cook.MAX_INPUTS).
    WINOGRAD_MAX_INPUTS = 8
    # Channels transformed together: stack buffers of 8 x 8 x 64 items.
    WINOGRAD_CHANNELS = 64
    # The chunk of layers with few channels (one AVX-512 float32 vector).
    WINOGRAD_NARROW_CHANNELS = 16
    # The kernel transform's: input channels per unit of work, the most taps
    # per phase and axis (deconv._winograd.MAX_PHASE_TAPS), and room for the
    # widest output-channel block of the wide kernel's panels (its block is
    # the one the transform writes).
    WINOGRAD_KERNEL_CHANNELS = 8
    WINOGRAD_MAX_TAPS = 4
    WINOGRAD_MAX_BLOCK = 64


cdef inline void _winograd_input_tile(
        const char* x_image, const Py_ssize_t x_row_stride, const Py_ssize_t x_col_stride,
        const Py_ssize_t x_channel_stride, const Py_ssize_t height, const Py_ssize_t width,
        const Py_ssize_t cin, const Py_ssize_t row0, const Py_ssize_t col0,
        const floating* bt_rows, const Py_ssize_t ah, const floating* bt_cols,
        const Py_ssize_t aw, floating* v, const Py_ssize_t v_position_stride,
        const Py_ssize_t chunk) noexcept nogil:
    """V of one tile: the ah x aw patch of x (image ``x_image``, strides in
    bytes) from row ``row0`` and column ``col0`` (zeros outside x),
    transformed, into ``v`` (position xi at ``xi * v_position_stride``
    items), ``chunk`` channels at a time: a constant at each call site, so
    the passes compile to fixed-length vector loops (a last partial chunk is
    computed whole on zeros and stored in part)."""
    cdef floating patch[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating by_rows[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating out[WINOGRAD_CHANNELS]
    cdef Py_ssize_t c0, nc, a, b, i, j, c, xi, xj
    cdef floating coefficient
    cdef floating* dst
    cdef const floating* src
    cdef const floating* pixel
    c0 = 0
    while c0 < cin:
        nc = min(chunk, cin - c0)
        for a in range(ah):
            i = row0 + a
            for b in range(aw):
                j = col0 + b
                dst = &patch[(a * aw + b) * chunk]
                if 0 <= i < height and 0 <= j < width:
                    pixel = <const floating*> (x_image + i * x_row_stride + j * x_col_stride
                                               + c0 * x_channel_stride)
                    if x_channel_stride == sizeof(floating):
                        for c in range(nc):
                            dst[c] = pixel[c]
                    else:
                        for c in range(nc):
                            dst[c] = (<const floating*> (<const char*> pixel
                                                         + c * x_channel_stride))[0]
                    for c in range(nc, chunk):
                        dst[c] = 0
                else:
                    for c in range(chunk):
                        dst[c] = 0
        for xi in range(ah):
            for b in range(aw):
                dst = &by_rows[(xi * aw + b) * chunk]
                for c in range(chunk):
                    dst[c] = 0
                for a in range(ah):
                    coefficient = bt_rows[xi * ah + a]
                    if coefficient != 0:
                        src = &patch[(a * aw + b) * chunk]
                        for c in range(chunk):
                            dst[c] += coefficient * src[c]
        for xi in range(ah):
            for xj in range(aw):
                for c in range(chunk):
                    out[c] = 0
                for b in range(aw):
                    coefficient = bt_cols[xj * aw + b]
                    if coefficient != 0:
                        src = &by_rows[(xi * aw + b) * chunk]
                        for c in range(chunk):
                            out[c] += coefficient * src[c]
                dst = v + (xi * aw + xj) * v_position_stride + c0
                for c in range(nc):
                    dst[c] = out[c]
        c0 += chunk


def winograd_input(const floating[:, :, :, :] x, const floating[:, ::1] bt_rows,
                   const floating[:, ::1] bt_cols, Py_ssize_t row_base, Py_ssize_t row_tile,
                   Py_ssize_t row_tiles, Py_ssize_t col_base, Py_ssize_t col_tile,
                   Py_ssize_t col_tiles, floating[:, :, ::1] v, int num_threads):
    """Fill ``v`` (ah * aw, N * row_tiles * col_tiles, Cin) with the input
    transform of every tile of ``x`` (N, h, w, Cin; any strides). Tile
    (n, i, j), at index ``(n * row_tiles + i) * col_tiles + j``, reads the
    ah x aw patch from row ``row_base + i * row_tile`` and column ``col_base
    + j * col_tile`` (zeros outside x); ``bt_rows`` (ah x ah) and ``bt_cols``
    (aw x aw) are the two axes' input transforms."""
    cdef Py_ssize_t ah = bt_rows.shape[0], aw = bt_cols.shape[0]
    cdef Py_ssize_t batch = x.shape[0], cin = x.shape[3], tiles = row_tiles * col_tiles
    cdef Py_ssize_t unit, n, t
    cdef char* x_base
    if (row_tiles < 1 or col_tiles < 1 or bt_rows.shape[1] != ah or bt_cols.shape[1] != aw
            or not 1 <= ah <= WINOGRAD_MAX_INPUTS or not 1 <= aw <= WINOGRAD_MAX_INPUTS
            or v.shape[0] != ah * aw or v.shape[1] != batch * tiles or v.shape[2] != cin):
        raise ValueError(f"winograd_input: x {tuple(x.shape)[:4]}, transforms {ah}x{aw}, "
                         f"{row_tiles}x{col_tiles} tiles and v {tuple(v.shape)[:3]} do not "
                         f"agree")
    if batch * cin == 0:
        return
    x_base = <char*> &x[0, 0, 0, 0] if x.shape[1] * x.shape[2] > 0 else NULL
    for unit in prange(batch * tiles, nogil=True, schedule="static", num_threads=num_threads):
        n = unit // tiles
        t = unit % tiles
        # The same call twice, so that each chunk width is a constant.
        if cin <= WINOGRAD_NARROW_CHANNELS:
            _winograd_input_tile(x_base + n * x.strides[0], x.strides[1], x.strides[2],
                                 x.strides[3], x.shape[1], x.shape[2], cin,
                                 row_base + (t // col_tiles) * row_tile,
                                 col_base + (t % col_tiles) * col_tile, &bt_rows[0, 0], ah,
                                 &bt_cols[0, 0], aw, &v[0, unit, 0], v.shape[1] * cin,
                                 WINOGRAD_NARROW_CHANNELS)
        else:
            _winograd_input_tile(x_base + n * x.strides[0], x.strides[1], x.strides[2],
                                 x.strides[3], x.shape[1], x.shape[2], cin,
                                 row_base + (t // col_tiles) * row_tile,
                                 col_base + (t % col_tiles) * col_tile, &bt_rows[0, 0], ah,
                                 &bt_cols[0, 0], aw, &v[0, unit, 0], v.shape[1] * cin,
                                 WINOGRAD_CHANNELS)
    PyErr_CheckSignals()


cdef inline void _winograd_output_tile(
        const floating* m, const Py_ssize_t m_position_stride, const Py_ssize_t cout,
        const floating* at_rows, const Py_ssize_t ah, const Py_ssize_t rows,
        const floating* at_cols, const Py_ssize_t aw, const Py_ssize_t cols,
        char* y, const Py_ssize_t y_row_step, const Py_ssize_t y_col_step,
        const Py_ssize_t y_channel_stride, const Py_ssize_t chunk) noexcept nogil:
    """The first ``rows`` x ``cols`` outputs of one tile, from its products
    ``m`` (position xi at ``xi * m_position_stride`` items), into ``y``
    (output (i, j) at ``i * y_row_step + j * y_col_step`` bytes), ``chunk``
    channels at a time (a constant at each call site, as for the input)."""
    cdef floating products[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating by_rows[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_INPUTS * WINOGRAD_CHANNELS]
    cdef floating out[WINOGRAD_CHANNELS]
    cdef Py_ssize_t c0, nc, i, j, xi, xj, c
    cdef floating coefficient
    cdef floating* dst
    cdef const floating* src
    cdef floating* pixel
    c0 = 0
    while c0 < cout:
        nc = min(chunk, cout - c0)
        for xi in range(ah * aw):
            src = m + xi * m_position_stride + c0
            dst = &products[xi * chunk]
            for c in range(nc):
                dst[c] = src[c]
            for c in range(nc, chunk):
                dst[c] = 0
        for i in range(rows):
            for xj in range(aw):
                dst = &by_rows[(i * aw + xj) * chunk]
                for c in range(chunk):
                    dst[c] = 0
                for xi in range(ah):
                    coefficient = at_rows[i * ah + xi]
                    if coefficient != 0:
                        src = &products[(xi * aw + xj) * chunk]
                        for c in range(chunk):
                            dst[c] += coefficient * src[c]
        for i in range(rows):
            for j in range(cols):
                for c in range(chunk):
                    out[c] = 0
                for xj in range(aw):
                    coefficient = at_cols[j * aw + xj]
                    if coefficient != 0:
                        src = &by_rows[(i * aw + xj) * chunk]
                        for c in range(chunk):
                            out[c] += coefficient * src[c]
                pixel = <floating*> (y + i * y_row_step + j * y_col_step + c0 * y_channel_stride)
                if y_channel_stride == sizeof(floating):
                    for c in range(nc):
                        pixel[c] = out[c]
                else:
                    for c in range(nc):
                        (<floating*> (<char*> pixel + c * y_channel_stride))[0] = out[c]
        c0 += chunk


def winograd_output(const floating[:, :, ::1] m, const floating[:, ::1] at_rows,
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
    cdef Py_ssize_t row_tiles, col_tiles, tiles, unit, n, t, i, j
    cdef char* y_base
    if rows < 1 or cols < 1 or tile_rows < 1 or tile_cols < 1 or row_step < 1 or col_step < 1:
        raise ValueError(f"winograd_output: {rows} x {cols} outputs in tiles of "
                         f"{tile_rows} x {tile_cols}, steps {row_step}, {col_step}")
    row_tiles = (rows + tile_rows - 1) // tile_rows
    col_tiles = (cols + tile_cols - 1) // tile_cols
    tiles = row_tiles * col_tiles
    if (not 1 <= ah <= WINOGRAD_MAX_INPUTS or not 1 <= aw <= WINOGRAD_MAX_INPUTS
            or m.shape[0] != ah * aw or m.shape[1] != batch * tiles or m.shape[2] != cout
            or not 0 <= first_row <= first_row + (rows - 1) * row_step < y.shape[1]
            or not 0 <= first_col <= first_col + (cols - 1) * col_step < y.shape[2]):
        raise ValueError(f"winograd_output: m {tuple(m.shape)[:3]}, transforms "
                         f"{tile_rows}x{ah} and {tile_cols}x{aw}, rows {first_row}+{row_step}k "
                         f"(k < {rows}), columns {first_col}+{col_step}k (k < {cols}) and y "
                         f"{tuple(y.shape)[:4]} do not agree")
    if batch * cout == 0:
        return
    y_base = <char*> &y[0, 0, 0, 0]
    for unit in prange(batch * tiles, nogil=True, schedule="static", num_threads=num_threads):
        n = unit // tiles
        t = unit % tiles
        i = (t // col_tiles) * tile_rows
        j = (t % col_tiles) * tile_cols
        if cout <= WINOGRAD_NARROW_CHANNELS:
            _winograd_output_tile(&m[0, unit, 0], m.shape[1] * cout, cout, &at_rows[0, 0], ah,
                                  min(tile_rows, rows - i), &at_cols[0, 0], aw,
                                  min(tile_cols, cols - j),
                                  y_base + n * y.strides[0]
                                  + (first_row + i * row_step) * y.strides[1]
                                  + (first_col + j * col_step) * y.strides[2],
                                  row_step * y.strides[1], col_step * y.strides[2],
                                  y.strides[3], WINOGRAD_NARROW_CHANNELS)
        else:
            _winograd_output_tile(&m[0, unit, 0], m.shape[1] * cout, cout, &at_rows[0, 0], ah,
                                  min(tile_rows, rows - i), &at_cols[0, 0], aw,
                                  min(tile_cols, cols - j),
                                  y_base + n * y.strides[0]
                                  + (first_row + i * row_step) * y.strides[1]
                                  + (first_col + j * col_step) * y.strides[2],
                                  row_step * y.strides[1], col_step * y.strides[2],
                                  y.strides[3], WINOGRAD_CHANNELS)
    PyErr_CheckSignals()


def winograd_kernel(const floating[:, :, :, :] kernel, const Py_ssize_t[::1] row_taps,
                    const Py_ssize_t[::1] col_taps, const floating[:, ::1] g_rows,
                    const floating[:, ::1] g_cols, floating[:, :, :, :, ::1] panels,
                    int num_threads):
    """Fill ``panels`` (blocks, ah * aw, 1, Cin, block) with the kernel
    transform of the sub-kernel ``kernel[row_taps][:, col_taps]`` (kernel
    (kh, kw, Cout, Cin), any strides; taps in correlation order) by
    ``g_rows`` (ah x K) and ``g_cols`` (aw x K'): the wide kernel's panels of
    a kernel of ah * aw rows and one column, output channels past Cout zero.
    A unit of work is a chunk of input channels of one block. (Without
    packed panels, the wide kernel transforms each block itself, into a
    panel of its thread: ``conv2d_transpose_wide``'s ``transform``.)"""
    cdef Py_ssize_t ah = g_rows.shape[0], aw = g_cols.shape[0]
    cdef Py_ssize_t cin = kernel.shape[3], block = panels.shape[4]
    cdef Py_ssize_t blocks = panels.shape[0]
    cdef Py_ssize_t chunks = (cin + WINOGRAD_KERNEL_CHANNELS - 1) // WINOGRAD_KERNEL_CHANNELS
    cdef Py_ssize_t unit
    _check_winograd_kernel(kernel, row_taps, col_taps, g_rows, g_cols, panels.shape[1], cin,
                           block, "winograd_kernel")
    if (panels.shape[2] != 1 or panels.shape[3] != cin
            or blocks != (kernel.shape[2] + block - 1) // block):
        raise ValueError(f"winograd_kernel: kernel {tuple(kernel.shape)[:4]} and panels "
                         f"{tuple(panels.shape)[:5]} do not agree")
    if cin == 0:
        return
    for unit in prange(blocks * chunks, nogil=True, schedule="static", num_threads=num_threads):
        _winograd_kernel_chunk(kernel, &row_taps[0], row_taps.shape[0], &col_taps[0],
                               col_taps.shape[0], &g_rows[0, 0], ah, &g_cols[0, 0], aw,
                               &panels[unit // chunks, 0, 0, 0, 0], unit // chunks,
                               (unit % chunks) * WINOGRAD_KERNEL_CHANNELS)


cdef int _check_winograd_kernel(
        const floating[:, :, :, :] kernel, const Py_ssize_t[::1] row_taps,
        const Py_ssize_t[::1] col_taps, const floating[:, ::1] g_rows,
        const floating[:, ::1] g_cols, Py_ssize_t positions, Py_ssize_t cin, Py_ssize_t block,
        str where) except -1:
    """ValueError unless a kernel transform's taps index the kernel, its
    matrices fit the transforms' buffers, and its panels have ``positions``
    rows of ``cin`` input channels in the wide kernel's blocks (``block``)."""
    cdef Py_ssize_t ah = g_rows.shape[0], aw = g_cols.shape[0]
    cdef Py_ssize_t taps_h = row_taps.shape[0], taps_w = col_taps.shape[0], u, w
    if (g_rows.shape[1] != taps_h or g_cols.shape[1] != taps_w or not 1 <= taps_h
            or not 1 <= taps_w or not 1 <= ah <= WINOGRAD_MAX_INPUTS
            or not 1 <= aw <= WINOGRAD_MAX_INPUTS or taps_h > WINOGRAD_MAX_TAPS
            or taps_w > WINOGRAD_MAX_TAPS or block != _tile_channels(&g_rows[0, 0])
            or positions != ah * aw or kernel.shape[3] != cin):
        raise ValueError(f"{where}: kernel {tuple(kernel.shape)[:4]}, {taps_h}x{taps_w} taps, "
                         f"transforms {ah}x{aw}, {positions} positions of {cin} channels in "
                         f"blocks of {block} do not agree")
    for u in range(taps_h):
        if not 0 <= row_taps[u] < kernel.shape[0]:
            raise ValueError(f"{where}: row tap {row_taps[u]} of {kernel.shape[0]}")
    for w in range(taps_w):
        if not 0 <= col_taps[w] < kernel.shape[1]:
            raise ValueError(f"{where}: column tap {col_taps[w]} of {kernel.shape[1]}")
    return 0


cdef void _winograd_kernel_block(
        const floating[:, :, :, :] kernel, const Py_ssize_t* row_taps, const Py_ssize_t taps_h,
        const Py_ssize_t* col_taps, const Py_ssize_t taps_w, const floating* g_rows,
        const Py_ssize_t ah, const floating* g_cols, const Py_ssize_t aw, floating* panels,
        const Py_ssize_t out_block) noexcept nogil:
    """Every input channel of every transform position of one block."""
    cdef Py_ssize_t c0 = 0
    while c0 < kernel.shape[3]:
        _winograd_kernel_chunk(kernel, row_taps, taps_h, col_taps, taps_w, g_rows, ah, g_cols,
                               aw, panels, out_block, c0)
        c0 += WINOGRAD_KERNEL_CHANNELS


cdef void _winograd_kernel_chunk(
        const floating[:, :, :, :] kernel, const Py_ssize_t* row_taps, const Py_ssize_t taps_h,
        const Py_ssize_t* col_taps, const Py_ssize_t taps_w, const floating* g_rows,
        const Py_ssize_t ah, const floating* g_cols, const Py_ssize_t aw, floating* panels,
        const Py_ssize_t out_block, const Py_ssize_t c0) noexcept nogil:
    """Input channels ``c0`` to ``c0 + WINOGRAD_KERNEL_CHANNELS`` of every
    transform position of one output-channel block (``panels``: positions x
    (Cin, block)). The sub-kernel's taps are first gathered with output
    channels contiguous, then transformed separably (by G_rows, then by
    G_cols) in vectors of the block, written to the panels' rows in order."""
    # The wide kernel's block is a constant per dtype: fixed-length vector loops.
    cdef Py_ssize_t width = _tile_channels(panels)
    cdef Py_ssize_t cout = kernel.shape[2], cin = kernel.shape[3]
    cdef Py_ssize_t position_stride = cin * width, channel_stride = kernel.strides[3]
    cdef Py_ssize_t nc = min(<Py_ssize_t> WINOGRAD_KERNEL_CHANNELS, cin - c0)
    cdef Py_ssize_t n_out = min(width, cout - out_block * width)
    cdef Py_ssize_t u, w, c, o, xi, xj
    cdef floating weight
    cdef floating* dst
    cdef floating* tap
    cdef const floating* src
    cdef const char* row
    cdef floating taps[WINOGRAD_MAX_TAPS * WINOGRAD_MAX_TAPS * WINOGRAD_KERNEL_CHANNELS
                       * WINOGRAD_MAX_BLOCK]
    cdef floating by_rows[WINOGRAD_MAX_INPUTS * WINOGRAD_MAX_TAPS * WINOGRAD_MAX_BLOCK]
    cdef floating out[WINOGRAD_MAX_BLOCK]
    for u in range(taps_h):
        for w in range(taps_w):
            tap = &taps[(u * taps_w + w) * WINOGRAD_KERNEL_CHANNELS * width]
            for o in range(n_out):
                row = <const char*> &kernel[row_taps[u], col_taps[w], out_block * width + o, c0]
                for c in range(nc):
                    tap[c * width + o] = (<const floating*> (row + c * channel_stride))[0]
            for c in range(nc):
                for o in range(n_out, width):
                    tap[c * width + o] = 0
    for c in range(nc):
        for xi in range(ah):
            for w in range(taps_w):
                dst = &by_rows[(xi * taps_w + w) * width]
                for o in range(width):
                    dst[o] = 0
                for u in range(taps_h):
                    weight = g_rows[xi * taps_h + u]
                    if weight != 0:
                        src = &taps[((u * taps_w + w) * WINOGRAD_KERNEL_CHANNELS + c) * width]
                        for o in range(width):
                            dst[o] += weight * src[o]
        for xi in range(ah):
            for xj in range(aw):
                for o in range(width):
                    out[o] = 0
                for w in range(taps_w):
                    weight = g_cols[xj * taps_w + w]
                    if weight != 0:
                        src = &by_rows[(xi * taps_w + w) * width]
                        for o in range(width):
                            out[o] += weight * src[o]
                dst = panels + (xi * aw + xj) * position_stride + (c0 + c) * width
                for o in range(width):
                    dst[o] = out[o]
