# Fused F(2x2, 2x2) of the "winograd" backend (deconv._winograd), included
# at the end of _core.pyx: it uses the vector types, the square lanes and
# the streaming stores defined there.
#
# Phases of two taps on each axis (a stride-2 4x4 kernel's four, a 2x2
# kernel's one) computed tile row by tile row, each tile's transforms and
# products in registers and on the stack, for few channels: the staged
# path's transforms pass through memory, which costs more than they save
# with 16-64 channels (a 16-channel 256x256 image took 4.7x the direct
# kernel's time). The transforms are sums and differences of two terms
# (points 0, 1 and infinity):
#
#   V = BT d BT^T, BT = [[1, -1, 0], [0, 1, 0], [0, -1, 1]]
#   U = G g G^T,   G  = [[1, 0], [1, 1], [0, 1]]
#   Y = AT M AT^T, AT = [[1, 1, 0], [0, 1, 1]],   M = U . V position by position
#
# 9 multiplications per 2x2 outputs and channel pair instead of 16.

cdef enum:
    # Fields of an axis of a phase in the table winograd_fused22 takes (see
    # deconv._winograd.fused_tables): first output, output step, outputs,
    # first input, input step, inputs, and the phase input the first
    # output's first tap reads.
    FUSED_AXIS_FIELDS = 7
    # The most input and output channels (the stack holds a group's
    # transformed inputs: 8 tiles x 9 positions x 64 channels).
    FUSED_MAX_CHANNELS = 64
    # The most phases of a call (a stride of 4, or a dilation of 4).
    FUSED_MAX_PHASES = 16


cdef extern from *:
    """
    /* One tile row of a phase of fused F(2x2, 2x2) in float32 (see the
       top of this file). Groups of DECONV_FUSED_TILES tiles along the row:
       their inputs transformed onto the stack (zeros outside x and past
       the channels), then per block of 16 output channels and position the
       products of every tile of the group in registers -- one load of the
       transformed kernel's row of 16 channels per input channel, times each
       tile's transformed input (broadcast) -- and each tile's outputs
       transformed back and stored, past the caches when ``stream`` and the
       target is a whole aligned line. In vector types, so that the
       accumulators stay in registers. Only where vectors hold 16 floats
       (AVX-512): elsewhere deconv_fused22_available is 0. */
    #define DECONV_FUSED_TILES 8
    typedef struct {
        Py_ssize_t first_output, step, outputs, first_input, input_step, inputs, base;
    } deconv_fused_axis;
    #if DECONV_SQUARE_LANES == 16 && defined(__AVX512F__)
    #define deconv_fused22_available 1
    static inline const float* deconv_fused_input(const float* x, Py_ssize_t stride,
                                                  const deconv_fused_axis* axis,
                                                  Py_ssize_t index) {
        if (x == NULL || index < 0 || index >= axis->inputs) return NULL;
        return x + (axis->first_input + axis->input_step * index) * stride;
    }
    static inline deconv_vf32 deconv_fused_load(const float* row, Py_ssize_t col_offset,
                                               int col_valid, Py_ssize_t channels) {
        deconv_vf32 value = {0};
        if (row == NULL || !col_valid) return value;
        /* One vector load, masked for a last partial chunk (a copy of a
           variable size is a call). */
        if (channels == 16) memcpy(&value, row + col_offset, sizeof value);
        else value = (deconv_vf32)_mm512_maskz_loadu_ps(
            (__mmask16)((1u << channels) - 1), row + col_offset);
        return value;
    }
    static inline deconv_vf32 deconv_fused_load_inside(const float* source) {
        deconv_vf32 value;
        memcpy(&value, source, sizeof value);
        return value;
    }
    static inline void deconv_fused_store(float* target, deconv_vf32 value,
                                          Py_ssize_t channels, int stream) {
        if (channels < 16)
            _mm512_mask_storeu_ps(target, (__mmask16)((1u << channels) - 1), (__m512)value);
        else if (stream && ((uintptr_t)target & 63) == 0)
            deconv_stream_line_f32(target, (const float*)&value);
        else
            memcpy(target, &value, sizeof value);
    }
    /* The transformed inputs v[t][p][c] of a group of DECONV_FUSED_TILES
       tiles from input column ``first_column`` of the phase on, channels
       padded to 16 with zeros; tiles from ``tiles`` on zeros. ``inside``
       (a constant where inlined): every tile is whole and reads inside x. */
    static DECONV_ALWAYS_INLINE void deconv_fused22_inputs_f32(
            float v[DECONV_FUSED_TILES][9][64], const float* const in_rows[3],
            const deconv_fused_axis* cols, Py_ssize_t first_column, Py_ssize_t tiles,
            Py_ssize_t xs_col, Py_ssize_t cin, int inside) {
        enum { T = DECONV_FUSED_TILES };
        const Py_ssize_t padded = (cin + 15) & ~(Py_ssize_t)15;
        Py_ssize_t a, b, t, c;
        /* Not peeled (the module's peeling limit is high for the register
           tiles): peeled, this loop and the positions' (below) ran the layer
           15% slower. */
        #pragma GCC unroll 1
        for (t = 0; t < T; t++) {
            Py_ssize_t offsets[3];
            int valid[3];
            if (!inside && t >= tiles) {
                memset(v[t], 0, sizeof v[t]);
                continue;
            }
            for (b = 0; b < 3; b++) {
                const Py_ssize_t index = first_column + 2 * t + b;
                valid[b] = inside || (index >= 0 && index < cols->inputs);
                offsets[b] = valid[b] ? (cols->first_input + cols->input_step * index)
                                        * xs_col : 0;
            }
            for (c = 0; c < padded; c += 16) {
                const Py_ssize_t channels = cin - c < 16 ? cin - c : 16;
                deconv_vf32 d[3][3], e[3][3];
                for (a = 0; a < 3; a++)
                    for (b = 0; b < 3; b++)
                        d[a][b] = inside && channels == 16
                            ? deconv_fused_load_inside(in_rows[a] + offsets[b] + c)
                            : deconv_fused_load(in_rows[a], offsets[b] + c, valid[b], channels);
                for (b = 0; b < 3; b++) {
                    e[0][b] = d[0][b] - d[1][b];
                    e[1][b] = d[1][b];
                    e[2][b] = d[2][b] - d[1][b];
                }
                for (a = 0; a < 3; a++) {
                    const deconv_vf32 r0 = e[a][0] - e[a][1], r2 = e[a][2] - e[a][1];
                    memcpy(&v[t][3 * a][c], &r0, sizeof r0);
                    memcpy(&v[t][3 * a + 1][c], &e[a][1], sizeof r0);
                    memcpy(&v[t][3 * a + 2][c], &r2, sizeof r0);
                }
            }
        }
    }
    /* The tile row; ``whole_blocks``: Cout a multiple of 16. Inlined always
       into deconv_fused22_row_f32's cases, where Cin and whole_blocks are
       constants: the channel loops then have known counts (a variable
       count ran the 16-channel layer 20% slower). */
    static DECONV_ALWAYS_INLINE void deconv_fused22_tiles_f32(
            const float* x, Py_ssize_t x_image, Py_ssize_t xs_row, Py_ssize_t xs_col,
            Py_ssize_t cin, const deconv_fused_axis* rows, const deconv_fused_axis* cols,
            Py_ssize_t tile_row, const float* u, Py_ssize_t blocks, Py_ssize_t cout,
            int whole_blocks, float* y, Py_ssize_t ys_row, Py_ssize_t ys_col, int stream) {
        enum { T = DECONV_FUSED_TILES };
        /* v[t][p][c], channels padded to 16 (the products' rows of u). */
        float v[T][9][64] __attribute__((aligned(64)));
        deconv_vf32 m[T][9];
        const Py_ssize_t padded = (cin + 15) & ~(Py_ssize_t)15;
        const Py_ssize_t first = 2 * tile_row;
        const Py_ssize_t out_rows = rows->outputs - first < 2 ? rows->outputs - first : 2;
        const float* in_rows[3];
        Py_ssize_t a, b, t, p, c, q0, block;
        if (x != NULL) x += x_image;
        for (a = 0; a < 3; a++)
            in_rows[a] = deconv_fused_input(x, xs_row, rows, rows->base + first + a);
        for (q0 = 0; q0 < cols->outputs; q0 += 2 * T) {
            const Py_ssize_t tiles = (cols->outputs - q0 + 1) / 2 < T
                                     ? (cols->outputs - q0 + 1) / 2 : T;
            /* A group whose tiles all read inside x (most of them) loads
               without a check per load. */
            const Py_ssize_t first_column = cols->base + q0;
            if (tiles == T && in_rows[0] != NULL && in_rows[1] != NULL && in_rows[2] != NULL
                    && first_column >= 0 && first_column + 2 * T < cols->inputs)
                deconv_fused22_inputs_f32(v, in_rows, cols, first_column, tiles, xs_col, cin, 1);
            else
                deconv_fused22_inputs_f32(v, in_rows, cols, first_column, tiles, xs_col, cin, 0);
            for (block = 0; block < blocks; block++) {
                const float* u_block = u + block * 9 * padded * 16;
                const Py_ssize_t channels = whole_blocks || cout - 16 * block >= 16
                                            ? 16 : cout - 16 * block;
                #pragma GCC unroll 1
                for (p = 0; p < 9; p++) {
                    deconv_vf32 acc[T];
                    const float* u_row = u_block + p * padded * 16;
                    for (t = 0; t < T; t++) acc[t] = (deconv_vf32){0};
                    for (c = 0; c < cin; c++) {
                        deconv_vf32 w;
                        memcpy(&w, u_row + 16 * c, sizeof w);
                        for (t = 0; t < T; t++) acc[t] += v[t][p][c] * w;
                    }
                    for (t = 0; t < T; t++) m[t][p] = acc[t];
                }
                for (t = 0; t < tiles; t++) {
                    const Py_ssize_t q = q0 + 2 * t;
                    const Py_ssize_t out_cols = cols->outputs - q < 2 ? cols->outputs - q : 2;
                    deconv_vf32 s[2][3], out[2][2];
                    Py_ssize_t r;
                    for (b = 0; b < 3; b++) {
                        s[0][b] = m[t][b] + m[t][3 + b];
                        s[1][b] = m[t][3 + b] + m[t][6 + b];
                    }
                    for (r = 0; r < 2; r++) {
                        out[r][0] = s[r][0] + s[r][1];
                        out[r][1] = s[r][1] + s[r][2];
                    }
                    float* target = y + (rows->first_output + rows->step * first) * ys_row
                                    + (cols->first_output + cols->step * q) * ys_col
                                    + 16 * block;
                    const Py_ssize_t down = rows->step * ys_row, right = cols->step * ys_col;
                    for (r = 0; r < out_rows; r++)
                        for (b = 0; b < out_cols; b++)
                            deconv_fused_store(target + r * down + b * right, out[r][b],
                                               channels, stream);
                }
            }
        }
    }
    static void deconv_fused22_row_f32(
            const float* x, Py_ssize_t x_image, Py_ssize_t xs_row, Py_ssize_t xs_col,
            Py_ssize_t cin, const deconv_fused_axis* rows, const deconv_fused_axis* cols,
            Py_ssize_t tile_row, const float* u, Py_ssize_t blocks, Py_ssize_t cout,
            float* y, Py_ssize_t ys_row, Py_ssize_t ys_col, int stream) {
    #define DECONV_FUSED_CASE(CIN)                                                        \
        do {                                                                              \
            if (cout % 16 == 0)                                                           \
                deconv_fused22_tiles_f32(x, x_image, xs_row, xs_col, CIN, rows, cols,     \
                                         tile_row, u, blocks, cout, 1, y, ys_row, ys_col, \
                                         stream);                                         \
            else                                                                          \
                deconv_fused22_tiles_f32(x, x_image, xs_row, xs_col, CIN, rows, cols,     \
                                         tile_row, u, blocks, cout, 0, y, ys_row, ys_col, \
                                         stream);                                         \
        } while (0)
        switch (cin) {
            case 16: DECONV_FUSED_CASE(16); break;
            case 32: DECONV_FUSED_CASE(32); break;
            case 48: DECONV_FUSED_CASE(48); break;
            case 64: DECONV_FUSED_CASE(64); break;
            default: DECONV_FUSED_CASE(cin);
        }
    #undef DECONV_FUSED_CASE
    }
    #else
    #define deconv_fused22_available 0
    static void deconv_fused22_row_f32(
            const float* x, Py_ssize_t x_image, Py_ssize_t xs_row, Py_ssize_t xs_col,
            Py_ssize_t cin, const deconv_fused_axis* rows, const deconv_fused_axis* cols,
            Py_ssize_t tile_row, const float* u, Py_ssize_t blocks, Py_ssize_t cout,
            float* y, Py_ssize_t ys_row, Py_ssize_t ys_col, int stream) {
        (void)x; (void)x_image; (void)xs_row; (void)xs_col; (void)cin; (void)rows; (void)cols;
        (void)tile_row; (void)u; (void)blocks; (void)cout; (void)y; (void)ys_row;
        (void)ys_col; (void)stream;
    }
    #endif
    """
    enum: DECONV_FUSED_TILES
    enum: deconv_fused22_available
    ctypedef struct deconv_fused_axis:
        Py_ssize_t first_output, step, outputs, first_input, input_step, inputs, base
    void deconv_fused22_row_f32(
        const float* x, Py_ssize_t x_image, Py_ssize_t xs_row, Py_ssize_t xs_col, Py_ssize_t cin,
        const deconv_fused_axis* rows, const deconv_fused_axis* cols, Py_ssize_t tile_row,
        const float* u, Py_ssize_t blocks, Py_ssize_t cout, float* y, Py_ssize_t ys_row,
        Py_ssize_t ys_col, int stream) noexcept nogil


def fused22_max_phases():
    """The most phases :func:`winograd_fused22` takes in one call."""
    return FUSED_MAX_PHASES


def fused22_group_tiles():
    """Tiles :func:`winograd_fused22` computes together along a tile row (a
    row's last group is computed whole, its tiles past the row as zeros)."""
    return DECONV_FUSED_TILES


def fused22_channels():
    """The most input and output channels :func:`winograd_fused22` takes
    here: 0 where it does not compute (float32 vectors of fewer than 16 lanes)."""
    return FUSED_MAX_CHANNELS if deconv_fused22_available else 0


def winograd_fused22(const float[:, :, :, :] x, const float[:, :, :, :, ::1] u,
                     const Py_ssize_t[:, :, ::1] axes, float[:, :, :, :] y, bint stream,
                     Py_ssize_t units_per_check, int num_threads):
    """Fill the outputs of every phase in ``axes`` (phases, 2, FUSED_AXIS_FIELDS:
    rows, then columns; see deconv._winograd.fused_tables) of ``y`` (N, H, W,
    Cout) from ``x`` (N, h, w, Cin), both channels-contiguous, with fused
    F(2x2, 2x2) and the transformed kernel ``u`` (phases, blocks, 9, Cin
    padded to 16, 16). Each tile row of a phase of an image is one unit, on
    one thread: results do not depend on the thread count. ``stream``
    writes whole aligned lines past the caches."""
    cdef Py_ssize_t phases = axes.shape[0], batch = x.shape[0], cin = x.shape[3]
    cdef Py_ssize_t cout = y.shape[3], blocks = u.shape[1], padded = (cin + 15) // 16 * 16
    cdef Py_ssize_t phase, unit, first, last, total = 0, n, rest, tile_row
    cdef Py_ssize_t starts[FUSED_MAX_PHASES + 1]
    cdef deconv_fused_axis table[FUSED_MAX_PHASES][2]
    if (not deconv_fused22_available or not 1 <= phases <= FUSED_MAX_PHASES
            or axes.shape[1] != 2
            or axes.shape[2] != FUSED_AXIS_FIELDS or y.shape[0] != batch
            or not 1 <= cin <= FUSED_MAX_CHANNELS or not 1 <= cout <= FUSED_MAX_CHANNELS
            or u.shape[0] != phases or blocks != (cout + 15) // 16 or u.shape[2] != 9
            or u.shape[3] != padded or u.shape[4] != 16
            or (x.strides[3] != sizeof(float) and cin > 1)
            or (y.strides[3] != sizeof(float) and cout > 1)):
        raise ValueError(f"winograd_fused22: x {tuple(x.shape)[:4]}, u {tuple(u.shape)[:5]}, "
                         f"axes {tuple(axes.shape)[:3]} and y {tuple(y.shape)[:4]} do not "
                         f"agree (channels contiguous, at most {FUSED_MAX_CHANNELS}, on "
                         f"AVX-512)")
    for phase in range(phases):
        for n in range(2):
            table[phase][n].first_output = axes[phase, n, 0]
            table[phase][n].step = axes[phase, n, 1]
            table[phase][n].outputs = axes[phase, n, 2]
            table[phase][n].first_input = axes[phase, n, 3]
            table[phase][n].input_step = axes[phase, n, 4]
            table[phase][n].inputs = axes[phase, n, 5]
            table[phase][n].base = axes[phase, n, 6]
            if (table[phase][n].outputs < 0 or table[phase][n].step < 1
                    or table[phase][n].inputs < 0 or table[phase][n].input_step < 1
                    or table[phase][n].outputs and (
                        table[phase][n].first_output < 0
                        or table[phase][n].first_output + table[phase][n].step
                        * (table[phase][n].outputs - 1) >= y.shape[1 + n])
                    or table[phase][n].inputs and (
                        table[phase][n].first_input < 0
                        or table[phase][n].first_input + table[phase][n].input_step
                        * (table[phase][n].inputs - 1) >= x.shape[1 + n])):
                raise ValueError(f"winograd_fused22: phase {phase} reaches past x "
                                 f"{tuple(x.shape)[:4]} or y {tuple(y.shape)[:4]}")
        starts[phase] = total
        total += batch * ((table[phase][0].outputs + 1) // 2)
    starts[phases] = total
    if total == 0 or table[0][1].outputs == 0:
        return
    cdef const float* x_base = &x[0, 0, 0, 0] if x.shape[1] * x.shape[2] > 0 else NULL
    cdef Py_ssize_t xs_image = x.strides[0] // sizeof(float)
    cdef Py_ssize_t xs_row = x.strides[1] // sizeof(float), xs_col = x.strides[2] // sizeof(float)
    cdef Py_ssize_t ys_image = y.strides[0] // sizeof(float)
    cdef Py_ssize_t ys_row = y.strides[1] // sizeof(float), ys_col = y.strides[2] // sizeof(float)
    cdef float* y_base = &y[0, 0, 0, 0]
    first = 0
    while first < total:  # stretches between looks for signals
        last = min(total, first + max(1, units_per_check))
        for unit in prange(first, last, nogil=True, schedule="static",
                           num_threads=num_threads):
            phase = 0
            while starts[phase + 1] <= unit:
                phase = phase + 1
            rest = unit - starts[phase]
            tile_row = (table[phase][0].outputs + 1) // 2
            n = rest // tile_row
            tile_row = rest - n * tile_row
            deconv_fused22_row_f32(
                x_base, n * xs_image, xs_row, xs_col, cin,
                &table[phase][0], &table[phase][1], tile_row, &u[phase, 0, 0, 0, 0], blocks,
                cout, y_base + n * ys_image, ys_row, ys_col, stream)
            if stream:
                deconv_store_fence()
        PyErr_CheckSignals()
        first = last


cdef extern from *:
    """
    /* One block of 16 output channels of a phase's transformed kernel, U =
       G g G^T (see winograd_fused_pack): tap (a, b) of the phase is
       kernel[taps[a], taps[2 + b]], item (ka, kb, o, c) at the strides
       (in items). Input channel by input channel: the 16 lanes' rows of
       G g (strided reads of the kernel, 2 x 2 taps), then the nine
       positions' rows, each a line of u written once (zeros past Cin and
       Cout). */
    static void deconv_fused22_pack_block_f32(
            const float* kernel, const Py_ssize_t* strides, const Py_ssize_t* taps,
            Py_ssize_t cin, Py_ssize_t cout, Py_ssize_t block, Py_ssize_t padded, float* u) {
        const float* g[2][2];
        const Py_ssize_t o_stride = strides[2], c_stride = strides[3];
        Py_ssize_t c, lane, i, a, b;
        for (a = 0; a < 2; a++)
            for (b = 0; b < 2; b++)
                g[a][b] = kernel + taps[a] * strides[0] + taps[2 + b] * strides[1];
        for (c = 0; c < padded; c++) {
            float rows[3][2][16];
            for (lane = 0; lane < 16; lane++) {
                const Py_ssize_t o = 16 * block + lane;
                const int inside = c < cin && o < cout;
                for (b = 0; b < 2; b++) {
                    const float g0 = inside ? g[0][b][o * o_stride + c * c_stride] : 0.0f;
                    const float g1 = inside ? g[1][b][o * o_stride + c * c_stride] : 0.0f;
                    rows[0][b][lane] = g0;
                    rows[1][b][lane] = g0 + g1;
                    rows[2][b][lane] = g1;
                }
            }
            for (i = 0; i < 3; i++)
                for (lane = 0; lane < 16; lane++) {
                    u[((3 * i) * padded + c) * 16 + lane] = rows[i][0][lane];
                    u[((3 * i + 1) * padded + c) * 16 + lane] = rows[i][0][lane]
                                                               + rows[i][1][lane];
                    u[((3 * i + 2) * padded + c) * 16 + lane] = rows[i][1][lane];
                }
        }
    }
    """
    void deconv_fused22_pack_block_f32(
        const float* kernel, const Py_ssize_t* strides, const Py_ssize_t* taps, Py_ssize_t cin,
        Py_ssize_t cout, Py_ssize_t block, Py_ssize_t padded, float* u) noexcept nogil


def winograd_fused_pack(const float[:, :, :, :] kernel, const Py_ssize_t[:, :, ::1] taps,
                        float[:, :, :, :, ::1] u, int num_threads):
    """Fill ``u`` (phases, blocks, 9, Cin padded to 16, 16) with the
    transformed kernel of fused F(2x2, 2x2): for phase p, whose sub-kernel
    is g[a][b] = kernel[taps[p, 0, a], taps[p, 1, b]] (taps: phases x 2 axes
    x 2, in correlation order), U = G g G^T with G = [[1, 0], [1, 1], [0,
    1]], rows first, in float32; position (i, j) at 3 * i + j, output
    channel o at block o // 16, lane o % 16; zeros past Cin and Cout. Each
    block of a phase by one thread."""
    cdef Py_ssize_t kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t cout = kernel.shape[2], cin = kernel.shape[3], phases = taps.shape[0]
    cdef Py_ssize_t blocks = (cout + 15) // 16, padded = (cin + 15) // 16 * 16
    cdef Py_ssize_t p, unit, d
    cdef Py_ssize_t strides[4]
    if (taps.shape[1] != 2 or taps.shape[2] != 2 or u.shape[0] != phases
            or u.shape[1] != blocks or u.shape[2] != 9 or u.shape[3] != padded
            or u.shape[4] != 16):
        raise ValueError(f"winograd_fused_pack: kernel {tuple(kernel.shape)[:4]}, taps "
                         f"{tuple(taps.shape)[:3]} and u {tuple(u.shape)[:5]} do not agree")
    for p in range(phases):
        if not (0 <= taps[p, 0, 0] < kh and 0 <= taps[p, 0, 1] < kh
                and 0 <= taps[p, 1, 0] < kw and 0 <= taps[p, 1, 1] < kw):
            raise ValueError(f"winograd_fused_pack: phase {p}'s taps are outside the kernel "
                             f"{tuple(kernel.shape)[:4]}")
    if cin == 0 or cout == 0:
        return
    for d in range(4):
        strides[d] = kernel.strides[d] // <Py_ssize_t> sizeof(float)
    for unit in prange(phases * blocks, nogil=True, schedule="static", num_threads=num_threads):
        p = unit // blocks
        deconv_fused22_pack_block_f32(&kernel[0, 0, 0, 0], strides, &taps[p, 0, 0], cin, cout,
                                      unit - p * blocks, padded,
                                      &u[p, unit - p * blocks, 0, 0, 0])
