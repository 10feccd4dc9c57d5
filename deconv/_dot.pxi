# The "dot" variant of the direct backend: few output channels (1-4) from
# many input channels. Each output element is a sum of dot products of an
# input pixel's channels (contiguous in a channels-last x) with a kernel
# tap's row (kh, kw, Cout, Cin: contiguous too), so vector lanes run over
# input channels and nothing is copied or transposed: the kernel reads x
# where it lies, once per tap, and the cost is that traffic and the
# multiply-adds. The wide kernel would pad Cout to its channel block (16
# times the work for Cout = 1); the narrow one lays x out planar first,
# which is most of its time when Cin is large.
#
# A tile is a few output pixels of one row that share their taps (a column
# class) times every output channel, one vector accumulator each; a tap
# adds ceil(Cin / lanes) vector multiply-adds per accumulator (the last one
# on partial vectors, masked loads where the SIMD level has them), and the
# lanes are summed at the end by halving, a fixed order: results do not
# depend on the thread count.

cdef extern from *:
    """
    /* Bytes of a vector register at this SIMD level: the dot kernel's lanes. */
    #ifndef DECONV_VECTOR_BYTES
    #define DECONV_VECTOR_BYTES 16
    #endif
    /* Vector accumulators of a dot tile (pixels x output channels). */
    #define DECONV_DOT_ACCUMULATORS 8
    #define DECONV_DOT_MAX_CHANNELS 4
    /* GCC and Clang vector types (unaligned: x and the kernel are read at
       any channel offset); other compilers get one lane, plain scalars. */
    #if defined(__GNUC__)
    typedef float deconv_vf32 __attribute__((vector_size(DECONV_VECTOR_BYTES), aligned(4)));
    typedef double deconv_vf64 __attribute__((vector_size(DECONV_VECTOR_BYTES), aligned(8)));
    #define DECONV_DOT_F32_LANES (DECONV_VECTOR_BYTES / 4)
    #define DECONV_DOT_F64_LANES (DECONV_VECTOR_BYTES / 8)
    #else
    typedef float deconv_vf32;
    typedef double deconv_vf64;
    #define DECONV_DOT_F32_LANES 1
    #define DECONV_DOT_F64_LANES 1
    #endif
    /* For helpers in these vector types that must be inlined to get their
       sizes as constants (the winograd transforms, the narrow tiles). */
    #if defined(__GNUC__)
    #define DECONV_ALWAYS_INLINE inline __attribute__((always_inline))
    #else
    #define DECONV_ALWAYS_INLINE inline
    #endif

    /* The first n (0 < n < lanes) items at p in a vector, zeros after, never
       reading past them: a masked load where the SIMD level has one. */
    #if defined(__GNUC__) && DECONV_VECTOR_BYTES == 64 && defined(__AVX512F__)
    #include <immintrin.h>
    static inline deconv_vf32 deconv_partial_f32(const float* p, Py_ssize_t n) {
        return (deconv_vf32)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
    }
    static inline deconv_vf64 deconv_partial_f64(const double* p, Py_ssize_t n) {
        return (deconv_vf64)_mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), p);
    }
    #elif defined(__GNUC__) && DECONV_VECTOR_BYTES == 32 && defined(__AVX2__)
    #include <immintrin.h>
    static const int deconv_mask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const long long deconv_mask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    static inline deconv_vf32 deconv_partial_f32(const float* p, Py_ssize_t n) {
        return (deconv_vf32)_mm256_maskload_ps(
            p, _mm256_loadu_si256((const __m256i*)(deconv_mask32 + 8 - n)));
    }
    static inline deconv_vf64 deconv_partial_f64(const double* p, Py_ssize_t n) {
        return (deconv_vf64)_mm256_maskload_pd(
            p, _mm256_loadu_si256((const __m256i*)(deconv_mask64 + 4 - n)));
    }
    #elif defined(__GNUC__)
    static inline deconv_vf32 deconv_partial_f32(const float* p, Py_ssize_t n) {
        deconv_vf32 v = {0};
        for (Py_ssize_t i = 0; i < n; i++) v[i] = p[i];
        return v;
    }
    static inline deconv_vf64 deconv_partial_f64(const double* p, Py_ssize_t n) {
        deconv_vf64 v = {0};
        for (Py_ssize_t i = 0; i < n; i++) v[i] = p[i];
        return v;
    }
    #else  /* one lane: never a partial vector */
    #define deconv_partial_f32(p, n) (*(p))
    #define deconv_partial_f64(p, n) (*(p))
    #endif

    static inline Py_ssize_t deconv_dot_pixels(Py_ssize_t cout) {
        return cout > 0 ? DECONV_DOT_ACCUMULATORS / cout : 1;
    }

    /* One tile: `pixels` output pixels of a row that share their taps
       (pixel_offset moves each within x) times all `cout` channels, one vector
       accumulator each; the first n_pixels are stored. Called with constant
       pixels and cout, so that each shape compiles to its own loop. Every
       term lands in a fixed lane and the lanes are summed by halving: a
       fixed order. */
    #define DECONV_DOT_TILE(NAME, T, V, LANES, LOAD)                                    \
    static inline void NAME(                                                            \
            const T* x_origin, const Py_ssize_t* pixel_offset, Py_ssize_t x_row_stride,  \
            Py_ssize_t x_col_stride, Py_ssize_t cin, const T* kernel, Py_ssize_t kw,      \
            Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel,                         \
            const Py_ssize_t* row_input, Py_ssize_t n_col_taps,                          \
            const Py_ssize_t* col_kernel, const Py_ssize_t* col_input, T** y_pixel,      \
            Py_ssize_t y_channel_stride, const Py_ssize_t pixels,                        \
            const Py_ssize_t n_pixels, const Py_ssize_t cout) {                          \
        V acc[DECONV_DOT_ACCUMULATORS];                                                 \
        T lane[LANES];                                                                  \
        Py_ssize_t ta, tb, c, p, o, half;                                               \
        if (n_row_taps == 0 || n_col_taps == 0) { /* no tap reaches these pixels */     \
            for (p = 0; p < n_pixels; p++)                                              \
                for (o = 0; o < cout; o++) y_pixel[p][o * y_channel_stride] = 0;        \
            return;                                                                     \
        }                                                                               \
        for (p = 0; p < pixels * cout; p++) acc[p] = (V){0};                            \
        for (ta = 0; ta < n_row_taps; ta++) {                                           \
            for (tb = 0; tb < n_col_taps; tb++) {                                       \
                const T* xp = x_origin + row_input[ta] * x_row_stride                   \
                              + col_input[tb] * x_col_stride;                           \
                const T* wp = kernel + (row_kernel[ta] * kw + col_kernel[tb]) * cout * cin; \
                for (c = 0; c + LANES <= cin; c += LANES) {                             \
                    V w[DECONV_DOT_MAX_CHANNELS];                                       \
                    for (o = 0; o < cout; o++) w[o] = *(const V*)(wp + o * cin + c);    \
                    for (p = 0; p < pixels; p++) {                                      \
                        V xv = *(const V*)(xp + pixel_offset[p] + c);                   \
                        for (o = 0; o < cout; o++) acc[p * cout + o] += xv * w[o];      \
                    }                                                                   \
                }                                                                       \
                if (c < cin) { /* the last Cin % lanes channels: partial vectors */ \
                    V w[DECONV_DOT_MAX_CHANNELS];                                       \
                    for (o = 0; o < cout; o++) w[o] = LOAD(wp + o * cin + c, cin - c);  \
                    for (p = 0; p < pixels; p++) {                                      \
                        V xv = LOAD(xp + pixel_offset[p] + c, cin - c);                 \
                        for (o = 0; o < cout; o++) acc[p * cout + o] += xv * w[o];      \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        for (p = 0; p < n_pixels; p++) {                                                \
            for (o = 0; o < cout; o++) {                                                \
                memcpy(lane, &acc[p * cout + o], sizeof lane);                          \
                for (half = LANES / 2; half > 0; half /= 2)                             \
                    for (c = 0; c < half; c++) lane[c] += lane[c + half];               \
                y_pixel[p][o * y_channel_stride] = lane[0];                             \
            }                                                                           \
        }                                                                               \
    }
    DECONV_DOT_TILE(deconv_dot_tile_f32, float, deconv_vf32, DECONV_DOT_F32_LANES,
                    deconv_partial_f32)
    DECONV_DOT_TILE(deconv_dot_tile_f64, double, deconv_vf64, DECONV_DOT_F64_LANES,
                    deconv_partial_f64)

    /* Output row r of one image (x_image and y_row its first elements): each
       column class (start, columns, shift; `classes` of them) in tiles, a
       partial last tile repeating its last pixel and storing only the real
       ones. Row taps: row_count, row_kernel, row_input of this row; column
       taps: tables of `col_width` entries per column. */
    #define DECONV_DOT_ROW(NAME, TILE, T)                                               \
    static void NAME(                                                                   \
            const T* x_image, Py_ssize_t x_row_stride, Py_ssize_t x_col_stride,          \
            Py_ssize_t cin, const T* kernel, Py_ssize_t kw, Py_ssize_t cout,              \
            Py_ssize_t row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_input, \
            const Py_ssize_t* col_count, const Py_ssize_t* col_kernel,                   \
            const Py_ssize_t* col_input, Py_ssize_t col_width,                           \
            const Py_ssize_t* class_start, const Py_ssize_t* class_columns,              \
            const Py_ssize_t* column_shift, Py_ssize_t classes,                          \
            T* y_row, Py_ssize_t y_col_stride, Py_ssize_t y_channel_stride) {            \
        Py_ssize_t pixels = deconv_dot_pixels(cout);                                    \
        Py_ssize_t pixel_offset[DECONV_DOT_ACCUMULATORS];                               \
        T* y_pixel[DECONV_DOT_ACCUMULATORS];                                            \
        Py_ssize_t cls, p;                                                              \
        if (row_taps == 0 && y_channel_stride == 1 && y_col_stride == cout) {           \
            /* A row no tap reaches, its items contiguous: one run of zeros. */         \
            memset(y_row, 0, (class_start[classes] - class_start[0]) * cout * sizeof(T)); \
            return;                                                                     \
        }                                                                               \
        for (cls = 0; cls < classes; cls++) {                                           \
            Py_ssize_t first = class_start[cls];                                        \
            Py_ssize_t n_columns = class_start[cls + 1] - first;                        \
            Py_ssize_t rep = class_columns[first], t0;                                  \
            const Py_ssize_t* ck = col_kernel + rep * col_width;                        \
            const Py_ssize_t* ci = col_input + rep * col_width;                         \
            for (t0 = 0; t0 < n_columns; t0 += pixels) {                                \
                Py_ssize_t filled = n_columns - t0 < pixels ? n_columns - t0 : pixels;  \
                for (p = 0; p < pixels; p++) {                                          \
                    Py_ssize_t q = class_columns[first + t0 + (p < filled ? p : filled - 1)]; \
                    pixel_offset[p] = column_shift[q] * x_col_stride;                   \
                    y_pixel[p] = y_row + q * y_col_stride;                              \
                }                                                                       \
                switch (cout) {                                                         \
                case 1: TILE(x_image, pixel_offset, x_row_stride, x_col_stride, cin, kernel, \
                             kw, row_taps, row_kernel, row_input, col_count[rep], ck, ci, \
                             y_pixel, y_channel_stride, DECONV_DOT_ACCUMULATORS, filled, 1); \
                        break;                                                          \
                case 2: TILE(x_image, pixel_offset, x_row_stride, x_col_stride, cin, kernel, \
                             kw, row_taps, row_kernel, row_input, col_count[rep], ck, ci, \
                             y_pixel, y_channel_stride, DECONV_DOT_ACCUMULATORS / 2, filled, 2); \
                        break;                                                          \
                case 3: TILE(x_image, pixel_offset, x_row_stride, x_col_stride, cin, kernel, \
                             kw, row_taps, row_kernel, row_input, col_count[rep], ck, ci, \
                             y_pixel, y_channel_stride, DECONV_DOT_ACCUMULATORS / 3, filled, 3); \
                        break;                                                          \
                default: TILE(x_image, pixel_offset, x_row_stride, x_col_stride, cin, kernel, \
                              kw, row_taps, row_kernel, row_input, col_count[rep], ck, ci, \
                              y_pixel, y_channel_stride, DECONV_DOT_ACCUMULATORS / 4, filled, 4); \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }
    DECONV_DOT_ROW(deconv_dot_row_f32, deconv_dot_tile_f32, float)
    DECONV_DOT_ROW(deconv_dot_row_f64, deconv_dot_tile_f64, double)
    """
    enum: DECONV_DOT_F32_LANES
    enum: DECONV_DOT_F64_LANES
    enum: DECONV_DOT_MAX_CHANNELS
    Py_ssize_t deconv_dot_pixels(Py_ssize_t cout) noexcept nogil
    void deconv_dot_row_f32(
        const float* x_image, Py_ssize_t x_row_stride, Py_ssize_t x_col_stride,
        Py_ssize_t cin, const float* kernel, Py_ssize_t kw, Py_ssize_t cout,
        Py_ssize_t row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_input,
        const Py_ssize_t* col_count, const Py_ssize_t* col_kernel,
        const Py_ssize_t* col_input, Py_ssize_t col_width,
        const Py_ssize_t* class_start, const Py_ssize_t* class_columns,
        const Py_ssize_t* column_shift, Py_ssize_t classes,
        float* y_row, Py_ssize_t y_col_stride, Py_ssize_t y_channel_stride) noexcept nogil
    void deconv_dot_row_f64(
        const double* x_image, Py_ssize_t x_row_stride, Py_ssize_t x_col_stride,
        Py_ssize_t cin, const double* kernel, Py_ssize_t kw, Py_ssize_t cout,
        Py_ssize_t row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_input,
        const Py_ssize_t* col_count, const Py_ssize_t* col_kernel,
        const Py_ssize_t* col_input, Py_ssize_t col_width,
        const Py_ssize_t* class_start, const Py_ssize_t* class_columns,
        const Py_ssize_t* column_shift, Py_ssize_t classes,
        double* y_row, Py_ssize_t y_col_stride, Py_ssize_t y_channel_stride) noexcept nogil


def dot_lanes(Py_ssize_t itemsize):
    """Input channels per vector of the dot kernel for items of ``itemsize`` bytes."""
    return DECONV_DOT_F32_LANES if itemsize == 4 else DECONV_DOT_F64_LANES


def dot_max_channels():
    """Most output channels the dot kernel computes."""
    return DECONV_DOT_MAX_CHANNELS


def dot_pixels(Py_ssize_t cout):
    """Output pixels per dot tile for ``cout`` output channels."""
    return deconv_dot_pixels(cout)


cdef inline void _dot_row(const floating* x_image, const Py_ssize_t x_row_stride,
                          const Py_ssize_t x_col_stride, const Py_ssize_t cin,
                          const floating* kernel, const Py_ssize_t kw, const Py_ssize_t cout,
                          const Taps* rows, const Taps* cols, const Classes* classes,
                          floating* y_row, const Py_ssize_t y_col_stride,
                          const Py_ssize_t y_channel_stride, const Py_ssize_t r) noexcept nogil:
    """Output row ``r`` of one image, by the C row function of its dtype."""
    if floating is float:
        deconv_dot_row_f32(x_image, x_row_stride, x_col_stride, cin, kernel, kw, cout,
                           rows.count[r], rows.kernel + r * rows.width,
                           rows.input + r * rows.width, cols.count, cols.kernel, cols.input,
                           cols.width, classes.start, classes.columns, classes.shift,
                           classes.count, y_row, y_col_stride, y_channel_stride)
    else:
        deconv_dot_row_f64(x_image, x_row_stride, x_col_stride, cin, kernel, kw, cout,
                           rows.count[r], rows.kernel + r * rows.width,
                           rows.input + r * rows.width, cols.count, cols.kernel, cols.input,
                           cols.width, classes.start, classes.columns, classes.shift,
                           classes.count, y_row, y_col_stride, y_channel_stride)


def conv2d_transpose_dot(const floating[:, :, :, :] x, const floating[:, :, :, ::1] kernel,
                         tables, floating[:, :, :, :] y, Py_ssize_t units_per_check,
                         int num_threads):
    """Fill ``y`` (N, H, W, Cout) with the transposed convolution of ``x``
    (N, h, w, Cin) by the dot kernel. x may have any strides but its channel
    stride must be one item; y any strides; ``kernel`` (kh, kw, Cout, Cin)
    is C-contiguous, Cout at most :func:`dot_max_channels`. ``tables`` is a
    ``deconv._direct.WideTables``. A unit of work is one output row of one
    image; signals are looked at after every ``units_per_check`` units."""
    cdef Py_ssize_t batch = y.shape[0], height = y.shape[1], cout = y.shape[3]
    cdef Py_ssize_t kh = kernel.shape[0], kw = kernel.shape[1], cin = x.shape[3]
    cdef Py_ssize_t item = sizeof(floating)
    cdef Taps rows = _taps(tables.rows, height), cols = _taps(tables.cols, y.shape[2])
    cdef const Py_ssize_t[::1] class_start = tables.classes.start
    cdef const Py_ssize_t[::1] class_columns = tables.classes.columns
    cdef const Py_ssize_t[::1] column_shift = tables.classes.shift
    cdef Classes classes
    cdef Py_ssize_t unit, first = 0, last, n
    cdef char* x_base
    cdef char* y_base
    if (not 1 <= cout <= DECONV_DOT_MAX_CHANNELS or kernel.shape[2] != cout
            or kernel.shape[3] != cin or x.shape[0] != batch
            or (cin > 1 and x.strides[3] != item)
            or class_columns.shape[0] != y.shape[2] or column_shift.shape[0] != y.shape[2]
            or units_per_check < 1
            or not _taps_fit(&rows, height, kh, x.shape[1])
            or not _classes_fit(&cols, class_start, class_columns, column_shift, kw,
                                x.shape[2])):
        raise ValueError(f"conv2d_transpose_dot: x {tuple(x.shape)[:4]} (strides "
                         f"{tuple(x.strides)[:4]}), kernel {tuple(kernel.shape)[:4]}, y "
                         f"{tuple(y.shape)[:4]} and tables do not agree")
    if batch * height * y.shape[2] == 0:
        return
    classes.start = &class_start[0]
    classes.columns = &class_columns[0]
    classes.shift = &column_shift[0]
    classes.count = class_start.shape[0] - 1
    # Raw bases: x may have no rows or columns (every output then takes no
    # tap), where indexing x[n, 0, 0, 0] would be out of bounds.
    x_base = <char*> &x[0, 0, 0, 0] if x.shape[1] * x.shape[2] * cin > 0 else NULL
    y_base = <char*> &y[0, 0, 0, 0]
    while first < batch * height:  # stretches between looks for signals
        last = min(batch * height, first + units_per_check)
        for unit in prange(first, last, nogil=True, schedule="static",
                           num_threads=num_threads):
            n = unit // height
            _dot_row(<const floating*> (x_base + n * x.strides[0]), x.strides[1] // item,
                     x.strides[2] // item, cin, &kernel[0, 0, 0, 0], kw, cout, &rows, &cols,
                     &classes,
                     <floating*> (y_base + n * y.strides[0] + (unit % height) * y.strides[1]),
                     y.strides[2] // item, y.strides[3] // item, unit % height)
        PyErr_CheckSignals()
        first = last
