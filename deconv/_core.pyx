"""Cython kernels of the ``"direct"`` backend.

This one source is compiled several times, once per x86-64 instruction-set
level (see ``setup.py``): ``_core`` (baseline, any CPU), ``_core_avx2`` and
``_core_avx512`` merely ``include`` it with other compiler flags and other
``DECONV_*`` macros. ``deconv._simd`` picks the best one the CPU runs.

The algorithm is a polyphase, output-stationary gather. For an output row
``r`` the kernel rows that reach it, and the input rows they read, depend only
on ``(r + pad_top) mod stride``; the same holds for columns. The caller
precomputes those tap tables (``deconv._direct``), so the kernel only ever
visits useful (tap, input pixel) pairs: no zero insertion, no column buffer,
no bounds test in the hot loop. Every output element is accumulated by one
thread, in registers, in a fixed order (kernel row, kernel column, input
channel) and written once, so results are bitwise identical whatever the
thread count.

Output pixels that use the same taps (same row; columns of one phase class;
any image of the batch) are computed together in a register tile of
pixels times a block of output channels (``DECONV_F32_*``/``DECONV_F64_*``).
"""
from cpython.exc cimport PyErr_CheckSignals
from libc.string cimport memcpy, memset
from cython cimport floating
from cython.parallel cimport prange, threadid

from deconv._openmp cimport DECONV_OPENMP_ENABLED, omp_get_max_threads

include "_plan.pxi"
include "_spectral.pxi"
include "_dot.pxi"
include "_winograd.pxi"

cdef extern from *:
    """
    /* Register-tile shapes (pixels x output channels) per dtype; setup.py sets
       them per SIMD level to shapes GCC compiles into pure broadcast+FMA loops
       with the whole tile in registers (too short a channel loop gets unrolled
       and vectorized across pixels instead, with shuffles). */
    #ifndef DECONV_F32_PIXELS
    #define DECONV_F32_PIXELS 4
    #define DECONV_F32_CHANNELS 16
    #define DECONV_F32_PAIRS 0
    #define DECONV_F64_PIXELS 4
    #define DECONV_F64_CHANNELS 12
    #define DECONV_F64_PAIRS 0
    #endif
    #ifndef DECONV_ISA_NAME
    #define DECONV_ISA_NAME "baseline"
    #endif
    /* Largest channel group of the narrow kernel's tiles: 8 where 32 vector
       registers hold its 16 accumulators, else 4. */
    #ifndef DECONV_NARROW_MAX_GROUP
    #define DECONV_NARROW_MAX_GROUP 4
    #endif
    #define DECONV_MAX(a, b) ((a) > (b) ? (a) : (b))
    /* Ask for a cache line about to be written (a hint; no-op elsewhere). */
    #if defined(__GNUC__)
    #define deconv_prefetch_for_write(p) __builtin_prefetch((p), 1, 3)
    #else
    #define deconv_prefetch_for_write(p) ((void)(p))
    #endif
    #define DECONV_MAX_PIXELS DECONV_MAX(DECONV_F32_PIXELS, DECONV_F64_PIXELS)
    #define DECONV_MAX_TILE DECONV_MAX(DECONV_F32_PIXELS * DECONV_F32_CHANNELS, \
                                       DECONV_F64_PIXELS * DECONV_F64_CHANNELS)

    /* 0: baseline x86-64 (or not x86), 1: AVX2 + FMA, 2: AVX-512 F/DQ/BW/VL.
       __builtin_cpu_supports also checks that the OS saves the wide registers. */
    static int deconv_cpu_level(void) {
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
                && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
            return 2;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return 1;
    #endif
        return 0;
    }
    """
    enum: DECONV_F32_PIXELS
    enum: DECONV_F32_CHANNELS
    enum: DECONV_F64_PIXELS
    enum: DECONV_F64_CHANNELS
    enum: DECONV_F32_PAIRS
    enum: DECONV_F64_PAIRS
    enum: DECONV_NARROW_MAX_GROUP
    enum: DECONV_MAX_PIXELS
    enum: DECONV_MAX_TILE
    const char* DECONV_ISA_NAME
    int deconv_cpu_level() noexcept nogil
    void deconv_prefetch_for_write(const void* address) noexcept nogil


def isa_name():
    """Instruction-set level this module was compiled for."""
    return DECONV_ISA_NAME.decode("ascii")


def cpu_level():
    """Highest level the running CPU supports: 0 baseline, 1 AVX2, 2 AVX-512."""
    return deconv_cpu_level()


def openmp_enabled():
    """Whether this module was compiled with OpenMP."""
    return bool(DECONV_OPENMP_ENABLED)


def openmp_max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS); 1 in serial builds."""
    return omp_get_max_threads()


cdef void _byte_range(cnp.ndarray array, char** low, char** high) noexcept:
    """The first and one-past-the-last byte an array's elements occupy."""
    cdef char* start = <char*> cnp.PyArray_DATA(array)
    cdef Py_ssize_t d, extent
    low[0] = start
    high[0] = start
    if cnp.PyArray_SIZE(array) == 0:
        return
    for d in range(cnp.PyArray_NDIM(array)):
        extent = (cnp.PyArray_DIM(array, d) - 1) * cnp.PyArray_STRIDE(array, d)
        if extent < 0:
            low[0] += extent
        else:
            high[0] += extent
    high[0] += cnp.PyArray_ITEMSIZE(array)


def may_share_memory(cnp.ndarray a, tuple others):
    """Whether the byte range of ``a`` intersects that of any array in
    ``others``: ``numpy.may_share_memory`` without the cost of its dispatch
    (a sixth of a tiny call)."""
    cdef char* a_low
    cdef char* a_high
    cdef char* b_low
    cdef char* b_high
    cdef cnp.ndarray b
    _byte_range(a, &a_low, &a_high)
    for b in others:
        _byte_range(b, &b_low, &b_high)
        if a_low < b_high and b_low < a_high and a_low < a_high and b_low < b_high:
            return True
    return False


cdef extern from *:
    """
    /* Whether n items from p are all finite: x * 0 is 0 for a finite x and
       NaN for an inf or a NaN, and a NaN stays in a sum. Summed in vector
       accumulators: a plain loop of float additions does not vectorize
       (they do not reassociate), and numpy.isfinite(a).all() writes a
       boolean array and reads it again. */
    #if defined(__GNUC__)
    #define DECONV_ALL_FINITE(NAME, T, V, LANES)                                    \
    static int NAME(const T* p, Py_ssize_t n) {                                   \
        V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, v0, v1, v2, v3;                 \
        T sum = 0;                                                                \
        Py_ssize_t i = 0;                                                         \
        int lane;                                                                 \
        for (; i + 4 * (LANES) <= n; i += 4 * (LANES)) {                          \
            memcpy(&v0, p + i, sizeof v0);                                        \
            memcpy(&v1, p + i + (LANES), sizeof v1);                              \
            memcpy(&v2, p + i + 2 * (LANES), sizeof v2);                          \
            memcpy(&v3, p + i + 3 * (LANES), sizeof v3);                          \
            a0 += v0 * (T)0;                                                      \
            a1 += v1 * (T)0;                                                      \
            a2 += v2 * (T)0;                                                      \
            a3 += v3 * (T)0;                                                      \
        }                                                                         \
        for (; i < n; i++) sum += p[i] * (T)0;                                    \
        a0 += a1 + a2 + a3;                                                       \
        for (lane = 0; lane < (LANES); lane++) sum += a0[lane];                   \
        return sum == 0;                                                          \
    }
    DECONV_ALL_FINITE(deconv_all_finite_f32, float, deconv_vf32, DECONV_DOT_F32_LANES)
    DECONV_ALL_FINITE(deconv_all_finite_f64, double, deconv_vf64, DECONV_DOT_F64_LANES)
    #else
    #define DECONV_ALL_FINITE(NAME, T)                                              \
    static int NAME(const T* p, Py_ssize_t n) {                                   \
        T sum = 0;                                                                \
        Py_ssize_t i;                                                             \
        for (i = 0; i < n; i++) sum += p[i] * (T)0;                               \
        return sum == 0;                                                          \
    }
    DECONV_ALL_FINITE(deconv_all_finite_f32, float)
    DECONV_ALL_FINITE(deconv_all_finite_f64, double)
    #endif
    """
    bint deconv_all_finite_f32(const float* p, Py_ssize_t n) noexcept nogil
    bint deconv_all_finite_f64(const double* p, Py_ssize_t n) noexcept nogil


cdef enum:
    # Items a thread checks per unit of all_finite: 256 KB of float32.
    FINITE_RUN = 65536


def all_finite(cnp.ndarray array, int num_threads):
    """Whether every item of ``array`` (C-contiguous, float32 or float64 in
    native byte order) is finite: ``numpy.isfinite(array).all()`` in one
    pass without a temporary, on up to ``num_threads`` threads (one below a
    few runs of FINITE_RUN items).

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._simd import core
    >>> core.all_finite(np.ones(5, np.float32), 1), core.all_finite(np.array([1, np.inf]), 1)
    (True, False)
    """
    cdef Py_ssize_t n = cnp.PyArray_SIZE(array), runs, unit, bad = 0
    cdef int type_number = cnp.PyArray_TYPE(array)
    cdef const char* data
    if not (cnp.PyArray_IS_C_CONTIGUOUS(array) and cnp.PyArray_ISNOTSWAPPED(array)
            and (type_number == cnp.NPY_FLOAT32 or type_number == cnp.NPY_FLOAT64)):
        raise ValueError(f"all_finite takes a C-contiguous float32 or float64 array in native "
                         f"byte order; got {array.dtype} with strides "
                         f"{(<object> array).strides}")
    if num_threads < 1:
        raise ValueError(f"all_finite: num_threads must be at least 1; got {num_threads}")
    data = <const char*> cnp.PyArray_DATA(array)
    if n <= FINITE_RUN:
        # One run: no parallel region, whose entry costs more than a small check.
        if type_number == cnp.NPY_FLOAT32:
            return deconv_all_finite_f32(<const float*> data, n)
        return deconv_all_finite_f64(<const double*> data, n)
    runs = (n + FINITE_RUN - 1) // FINITE_RUN
    for unit in prange(runs, nogil=True, schedule="static",
                       num_threads=num_threads if runs >= 4 else 1):
        if type_number == cnp.NPY_FLOAT32:
            bad += not deconv_all_finite_f32(<const float*> data + unit * FINITE_RUN,
                                             min(FINITE_RUN, n - unit * FINITE_RUN))
        else:
            bad += not deconv_all_finite_f64(<const double*> data + unit * FINITE_RUN,
                                             min(FINITE_RUN, n - unit * FINITE_RUN))
    return bad == 0


def tile_pixel_sizes(Py_ssize_t itemsize):
    """The pixels of the wide kernel's register tiles for items of
    ``itemsize`` bytes, largest first: its whole tile, then the smaller ones
    (:func:`_middle_pixels`, :func:`_short_pixels`); a class's last few
    pixels take the smallest tile that holds them."""
    cdef Py_ssize_t pixels = DECONV_F32_PIXELS if itemsize == 4 else DECONV_F64_PIXELS
    return tuple(sorted({pixels, _middle_pixels(pixels), _short_pixels(pixels)}, reverse=True))


def channel_block(Py_ssize_t itemsize):
    """Output channels per register tile for items of ``itemsize`` bytes."""
    return DECONV_F32_CHANNELS if itemsize == 4 else DECONV_F64_CHANNELS


def computed_channels(Py_ssize_t channels, Py_ssize_t itemsize):
    """Output channels the wide kernel computes for ``channels``: whole
    blocks (:func:`channel_block`), but a last block of 16 or fewer in half
    tiles where there are (float32 on AVX-512)."""
    cdef Py_ssize_t block = channel_block(itemsize)
    cdef Py_ssize_t whole = (channels + block - 1) // block * block
    if itemsize == 4 and DECONV_WIDE_HALF == 16 and 0 < channels % block <= 16:
        return whole - 16
    return whole


cdef enum:
    # Input channels a panel tap is packed by at a time (a cache line of
    # floats), and room for the widest output-channel block (setup.py's).
    PACK_CHANNELS = 16
    PACK_MAX_BLOCK = 64


cdef enum:
    CACHE_LINE = 64  # bytes


cdef inline Py_ssize_t _tile_pixels(const floating* unused) noexcept nogil:
    if floating is float:
        return DECONV_F32_PIXELS
    else:
        return DECONV_F64_PIXELS


cdef inline Py_ssize_t _short_pixels(const Py_ssize_t pixels) noexcept nogil:
    """A third of a tile of 6 or more pixels (a tile of its own): border
    classes of one or two columns, and the few pixels a class leaves after
    its whole tiles, are computed in the smallest tile that holds them
    rather than padded out to a whole one. Small tiles have no shorter
    versions."""
    return pixels // 3 if pixels >= 6 else pixels


cdef inline Py_ssize_t _middle_pixels(const Py_ssize_t pixels) noexcept nogil:
    """Two thirds of a tile of 6 or more pixels: a class's last 5-8 pixels
    of 12 run in it, not in a whole tile (on unet_up1, 128 pixels a class,
    its last 8 made the layer 3% slower in a whole tile)."""
    return pixels - pixels // 3 if pixels >= 6 else pixels


cdef inline bint _pair_channels(const floating* unused) noexcept nogil:
    if floating is float:
        return DECONV_F32_PAIRS
    else:
        return DECONV_F64_PAIRS


cdef inline Py_ssize_t _tile_channels(const floating* unused) noexcept nogil:
    if floating is float:
        return DECONV_F32_CHANNELS
    else:
        return DECONV_F64_CHANNELS


cdef inline void _output_tile(
        const floating* x_origin, const Py_ssize_t* pixel_offset,
        const Py_ssize_t x_row_stride, const Py_ssize_t x_col_stride,
        const Py_ssize_t x_channel_stride, const Py_ssize_t cin,
        const floating* w_block, const Py_ssize_t kw,
        const Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_input,
        const Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel, const Py_ssize_t* col_input,
        floating** y_pixel, const Py_ssize_t pixels, const Py_ssize_t n_pixels,
        const Py_ssize_t n_out, const bint half, const bint stream) noexcept nogil:
    """Accumulate one register tile: ``pixels`` output pixels that share their
    taps (``pixel_offset`` moves each one within ``x``; a constant at each call
    site, so each tile size compiles to its own loop) times one block of
    output channels; store the first ``n_pixels`` pixels and ``n_out`` channels
    (channels contiguous at each ``y_pixel``). x strides are in items, so x may
    be channels-last or channels-first. With ``half`` (a constant too), a
    float32 block of ``n_out`` <= 16 channels on AVX-512
    (DECONV_WIDE_HALF): half the multiply-adds, in vector types. With
    ``stream`` (float32, every pixel's block whole aligned lines), whole
    tiles are stored past the caches and their lines not prefetched. Whole
    float32 blocks run in the vector tiles of DECONV_WIDE_FULL where there
    are (AVX-512), the same multiply-adds in the same order."""
    cdef floating acc[DECONV_MAX_TILE]
    cdef float half_acc[16 * DECONV_MAX_PIXELS]
    cdef Py_ssize_t block = _tile_channels(x_origin)
    cdef Py_ssize_t ta, tb, c, p, o
    cdef const floating* xp
    cdef const floating* xp_next
    cdef const floating* wp
    cdef floating xv, xv_next

    # The output lines are fetched while the tile is computed: stores that
    # miss the cache would otherwise stall the loop at the end.
    for p in range(0 if stream else n_pixels):
        o = 0
        while o < n_out:
            deconv_prefetch_for_write(y_pixel[p] + o)
            o += CACHE_LINE // sizeof(floating)
        deconv_prefetch_for_write(y_pixel[p] + n_out - 1)
    if floating is float and half:
        deconv_wide_half_tile_f32(pixels, x_origin, pixel_offset, x_row_stride, x_col_stride,
                                  x_channel_stride, cin, w_block, kw, block, n_row_taps,
                                  row_kernel, row_input, n_col_taps, col_kernel, col_input,
                                  &half_acc[0])
        for p in range(n_pixels):
            for o in range(n_out):
                y_pixel[p][o] = half_acc[16 * p + o]
        return
    if floating is float:
        if deconv_wide_full_tile_f32(pixels, x_origin, pixel_offset, x_row_stride,
                                     x_col_stride, x_channel_stride, cin, w_block, kw,
                                     n_row_taps, row_kernel, row_input, n_col_taps, col_kernel,
                                     col_input, y_pixel, n_pixels, n_out,
                                     stream and n_pixels == pixels and n_out == block):
            return
    for p in range(pixels * block):
        acc[p] = 0
    for ta in range(n_row_taps):
        for tb in range(n_col_taps):
            xp = x_origin + row_input[ta] * x_row_stride + col_input[tb] * x_col_stride
            wp = w_block + (row_kernel[ta] * kw + col_kernel[tb]) * cin * block
            c = 0
            if _pair_channels(x_origin):
                # Two input channels per step: each pixel's offset is then
                # read once for two broadcasts (with many pixels per tile the
                # offsets do not all fit in registers, and their reloads would
                # compete with the broadcasts for the load ports).
                xp_next = xp + x_channel_stride
                while c + 1 < cin:
                    for p in range(pixels):
                        xv = xp[pixel_offset[p]]
                        xv_next = xp_next[pixel_offset[p]]
                        for o in range(block):
                            acc[p * block + o] += xv * wp[o]
                            acc[p * block + o] += xv_next * wp[block + o]
                    xp += 2 * x_channel_stride
                    xp_next += 2 * x_channel_stride
                    wp += 2 * block
                    c += 2
            while c < cin:
                for p in range(pixels):
                    xv = xp[pixel_offset[p]]
                    for o in range(block):
                        acc[p * block + o] += xv * wp[o]
                xp += x_channel_stride
                wp += block
                c += 1
    if floating is float and stream and n_pixels == pixels and n_out == block:
        for p in range(pixels):
            for o in range(0, block, 16):
                deconv_stream_line_f32(<float*> (y_pixel[p] + o),
                                       <const float*> &acc[p * block + o])
    elif n_pixels == pixels and n_out == block:  # whole tile: whole-vector stores
        for p in range(pixels):
            for o in range(block):
                y_pixel[p][o] = acc[p * block + o]
    else:
        for p in range(n_pixels):
            for o in range(n_out):
                y_pixel[p][o] = acc[p * block + o]


cdef extern from *:
    """
    /* Stores that bypass the caches (non-temporal), for outputs too large
       to stay in them: a store that misses reads the line it writes first
       (read for ownership), so an output written once would cross the
       memory bus twice. Whole, aligned 64-byte lines of float32, on
       AVX-512; a fence makes them visible before the thread's work ends.
       Elsewhere DECONV_STREAM_STORES is 0 and nothing streams. */
    #if defined(__GNUC__) && defined(__AVX512F__) && !defined(__clang__)
    #include <immintrin.h>
    #define DECONV_STREAM_STORES 1
    static DECONV_ALWAYS_INLINE void deconv_stream_line_f32(float* target,
                                                            const float* source) {
        _mm512_stream_ps(target, _mm512_loadu_ps(source));
    }
    static inline void deconv_store_fence(void) { _mm_sfence(); }
    #else
    #define DECONV_STREAM_STORES 0
    static DECONV_ALWAYS_INLINE void deconv_stream_line_f32(float* target,
                                                            const float* source) {
        memcpy(target, source, 64);
    }
    static inline void deconv_store_fence(void) {}
    #endif
    """
    enum: DECONV_STREAM_STORES
    void deconv_stream_line_f32(float* target, const float* source) noexcept nogil
    void deconv_store_fence() noexcept nogil


cdef extern from *:
    """
    /* A float32 wide tile of half a channel block on AVX-512: PIXELS pixels
       x 16 channels, one vector accumulator per pixel, for a last block
       with 16 or fewer channels left (Cout 40 = 32 + 8 pays 32 + 16
       channels' multiply-adds instead of 64). In vector types: the plain
       loops of a 16-channel block come out scalar or shuffled (see
       setup.py). The same multiply-adds in the same order as the whole
       tile's lanes 0-15: the same bits. Weights are read from the block's
       panel rows of ``block`` items. Elsewhere DECONV_WIDE_HALF is 0. */
    #if defined(__GNUC__) && DECONV_VECTOR_BYTES == 64 && !defined(__clang__) \
        && DECONV_F32_CHANNELS == 32
    #define DECONV_WIDE_HALF 16
    #define DECONV_WIDE_HALF_TILE(NAME, PIXELS)                                     \
    static inline void NAME(                                                      \
            const float* x_origin, const Py_ssize_t* pixel_offset,                \
            Py_ssize_t x_row_stride, Py_ssize_t x_col_stride,                     \
            Py_ssize_t x_channel_stride, Py_ssize_t cin, const float* w_block,    \
            Py_ssize_t kw, Py_ssize_t block, Py_ssize_t n_row_taps,               \
            const Py_ssize_t* row_kernel, const Py_ssize_t* row_input,            \
            Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel,                  \
            const Py_ssize_t* col_input, float* acc) {                            \
        deconv_vf32 a[PIXELS];                                                    \
        Py_ssize_t ta, tb, c;                                                     \
        int p;                                                                    \
        for (p = 0; p < (PIXELS); p++) a[p] = (deconv_vf32){0};                   \
        for (ta = 0; ta < n_row_taps; ta++)                                       \
            for (tb = 0; tb < n_col_taps; tb++) {                                 \
                const float* xp = x_origin + row_input[ta] * x_row_stride         \
                                  + col_input[tb] * x_col_stride;                 \
                const float* wp = w_block + (row_kernel[ta] * kw + col_kernel[tb]) \
                                  * cin * block;                                  \
                for (c = 0; c < cin; c++) {                                       \
                    deconv_vf32 w;                                                \
                    memcpy(&w, wp, sizeof w);                                     \
                    for (p = 0; p < (PIXELS); p++) a[p] += xp[pixel_offset[p]] * w; \
                    xp += x_channel_stride;                                       \
                    wp += block;                                                  \
                }                                                                 \
            }                                                                     \
        for (p = 0; p < (PIXELS); p++) memcpy(acc + 16 * p, &a[p], sizeof a[p]);  \
    }
    DECONV_WIDE_HALF_TILE(deconv_wide_half_12_f32, 12)
    DECONV_WIDE_HALF_TILE(deconv_wide_half_8_f32, 8)
    DECONV_WIDE_HALF_TILE(deconv_wide_half_4_f32, 4)
    #else
    #define DECONV_WIDE_HALF 0
    #endif
    /* The half tile of ``pixels`` (a constant at each call site: the choice
       folds away); returns 0 if there is none of that size. */
    static DECONV_ALWAYS_INLINE int deconv_wide_half_tile_f32(
            Py_ssize_t pixels, const float* x_origin, const Py_ssize_t* pixel_offset,
            Py_ssize_t x_row_stride, Py_ssize_t x_col_stride, Py_ssize_t x_channel_stride,
            Py_ssize_t cin, const float* w_block, Py_ssize_t kw, Py_ssize_t block,
            Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_input,
            Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel, const Py_ssize_t* col_input,
            float* acc) {
    #define DECONV_WIDE_HALF_CALL(NAME)                                               \
        NAME(x_origin, pixel_offset, x_row_stride, x_col_stride, x_channel_stride, cin, \
             w_block, kw, block, n_row_taps, row_kernel, row_input, n_col_taps,         \
             col_kernel, col_input, acc)
    #if DECONV_WIDE_HALF
        if (pixels == 12) DECONV_WIDE_HALF_CALL(deconv_wide_half_12_f32);
        else if (pixels == 8) DECONV_WIDE_HALF_CALL(deconv_wide_half_8_f32);
        else if (pixels == 4) DECONV_WIDE_HALF_CALL(deconv_wide_half_4_f32);
        else return 0;
        return 1;
    #else
        (void)pixels; (void)x_origin; (void)pixel_offset; (void)x_row_stride;
        (void)x_col_stride; (void)x_channel_stride; (void)cin; (void)w_block; (void)kw;
        (void)block; (void)n_row_taps; (void)row_kernel; (void)row_input; (void)n_col_taps;
        (void)col_kernel; (void)col_input; (void)acc;
        return 0;
    #endif
    #undef DECONV_WIDE_HALF_CALL
    }
    """
    enum: DECONV_WIDE_HALF
    bint deconv_wide_half_tile_f32(
        Py_ssize_t pixels, const float* x_origin, const Py_ssize_t* pixel_offset,
        Py_ssize_t x_row_stride, Py_ssize_t x_col_stride, Py_ssize_t x_channel_stride,
        Py_ssize_t cin, const float* w_block, Py_ssize_t kw, Py_ssize_t block,
        Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_input,
        Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel, const Py_ssize_t* col_input,
        float* acc) noexcept nogil


cdef extern from *:
    """
    /* A whole-block float32 wide tile on AVX-512 in vector types: PIXELS
       pixels x the block's output channels. The same multiply-adds in the
       same order as the plain loops of _output_tile (pairs of input channels
       where DECONV_F32_PAIRS): the same bits. Two differences:
       - the accumulators live in registers only: the plain loops keep an
         array on the stack around the loop (zeroed by rep stos, stored and
         reloaded at the end), which costs small layers of many short tiles
         (odd_k3s2 0.89x, odd_valid_k3s3 0.92x the time);
       - the next tile's inputs are fetched while this one computes
         (unet_up2 0.90x the time; see ``ahead`` below).
       Stores the first n_pixels pixels and n_out channels at y_pixel[p];
       whole tiles past the caches with ``stream``. Elsewhere the plain
       loops run: float64 (its 6-pixel tiles measured 0.97-1.05x the plain
       loops' time), other SIMD levels (GCC splits these vector loads through
       the stack at AVX2: 4-5x slower) and other compilers
       (DECONV_WIDE_FULL is 0). */
    #if defined(__GNUC__) && DECONV_VECTOR_BYTES == 64 && !defined(__clang__)
    #define DECONV_WIDE_FULL 1
    /* Loops over a tile's pixels and vectors, unrolled whole so that the
       accumulators stay in registers. */
    #define DECONV_UNROLL _Pragma("GCC unroll 64")
    #define DECONV_WIDE_FULL_TILE(NAME, PIXELS)                                       \\
    static inline void NAME(                                                          \\
            const float* x_origin, const Py_ssize_t* pixel_offset,                    \\
            Py_ssize_t x_row_stride, Py_ssize_t x_col_stride,                         \\
            Py_ssize_t x_channel_stride, Py_ssize_t cin, const float* w_block,        \\
            Py_ssize_t kw, Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel,       \\
            const Py_ssize_t* row_input, Py_ssize_t n_col_taps,                       \\
            const Py_ssize_t* col_kernel, const Py_ssize_t* col_input,                \\
            float* const* y_pixel, Py_ssize_t n_pixels, Py_ssize_t n_out, int stream) { \\
        enum { LANES = DECONV_VECTOR_BYTES / 4, VECTORS = DECONV_F32_CHANNELS / LANES, \\
               BLOCK = DECONV_F32_CHANNELS };                                         \\
        deconv_vf32 a[PIXELS][VECTORS];                                               \\
        Py_ssize_t ta, tb, c;                                                         \\
        int p, v;                                                                     \\
        DECONV_UNROLL for (p = 0; p < (PIXELS); p++)                                  \\
            DECONV_UNROLL for (v = 0; v < (VECTORS); v++) a[p][v] = (deconv_vf32){0}; \\
        for (ta = 0; ta < n_row_taps; ta++)                                           \\
            for (tb = 0; tb < n_col_taps; tb++) {                                     \\
                const float* xp = x_origin + row_input[ta] * x_row_stride             \\
                              + col_input[tb] * x_col_stride;                         \\
                const float* wp = w_block + (row_kernel[ta] * kw + col_kernel[tb])    \\
                              * cin * BLOCK;                                          \\
                /* The next tile's inputs (its PIXELS columns follow these,           \\
                   channels contiguous: a run of PIXELS * cin items), a line          \\
                   per input channel of the first tap: x is read in runs too          \\
                   short for the hardware prefetchers (6 KB on unet_up2). */          \\
                const char* ahead = (const char*)(xp + pixel_offset[0]                \\
                                                  + (PIXELS) * x_col_stride);         \\
                const Py_ssize_t ahead_bytes =                                        \\
                    (ta == 0 && tb == 0 && x_channel_stride == 1 && x_col_stride == cin) \\
                    ? (PIXELS) * cin * (Py_ssize_t)sizeof(float) : 0;                 \\
                c = 0;                                                                \\
                if (DECONV_F32_PAIRS)                                                 \\
                    for (; c + 1 < cin; c += 2) {                                     \\
                        deconv_vf32 w[VECTORS], w_next[VECTORS];                      \\
                        if (64 * c < ahead_bytes) {                                   \\
                            __builtin_prefetch(ahead + 64 * c);                       \\
                            __builtin_prefetch(ahead + 64 * c + 64);                  \\
                        }                                                             \\
                        DECONV_UNROLL for (v = 0; v < (VECTORS); v++) {               \\
                            memcpy(&w[v], wp + v * LANES, sizeof w[v]);               \\
                            memcpy(&w_next[v], wp + BLOCK + v * LANES, sizeof w[v]);  \\
                        }                                                             \\
                        DECONV_UNROLL for (p = 0; p < (PIXELS); p++) {                \\
                            const float xv = xp[pixel_offset[p]];                     \\
                            const float xv_next = xp[pixel_offset[p] + x_channel_stride]; \\
                            DECONV_UNROLL for (v = 0; v < (VECTORS); v++) {           \\
                                a[p][v] += xv * w[v];                                 \\
                                a[p][v] += xv_next * w_next[v];                       \\
                            }                                                         \\
                        }                                                             \\
                        xp += 2 * x_channel_stride;                                   \\
                        wp += 2 * BLOCK;                                              \\
                    }                                                                 \\
                for (; c < cin; c++) {                                                \\
                    deconv_vf32 w[VECTORS];                                           \\
                    if (64 * c < ahead_bytes) __builtin_prefetch(ahead + 64 * c);     \\
                    DECONV_UNROLL for (v = 0; v < (VECTORS); v++)                     \\
                        memcpy(&w[v], wp + v * LANES, sizeof w[v]);                   \\
                    DECONV_UNROLL for (p = 0; p < (PIXELS); p++) {                    \\
                        const float xv = xp[pixel_offset[p]];                         \\
                        DECONV_UNROLL for (v = 0; v < (VECTORS); v++) a[p][v] += xv * w[v]; \\
                    }                                                                 \\
                    xp += x_channel_stride;                                           \\
                    wp += BLOCK;                                                      \\
                }                                                                     \\
            }                                                                         \\
        if (n_pixels == (PIXELS) && n_out == BLOCK) {                                 \\
            DECONV_UNROLL for (p = 0; p < (PIXELS); p++)                              \\
                DECONV_UNROLL for (v = 0; v < (VECTORS); v++) {                       \\
                    if (stream) deconv_stream_line_f32(y_pixel[p] + v * LANES,        \\
                                                    (const float*)&a[p][v]);          \\
                    else memcpy(y_pixel[p] + v * LANES, &a[p][v], sizeof a[p][v]);    \\
                }                                                                     \\
            return;                                                                   \\
        }                                                                             \\
        DECONV_UNROLL for (p = 0; p < (PIXELS); p++)                                  \\
            DECONV_UNROLL for (v = 0; v < (VECTORS); v++) {                           \\
                const Py_ssize_t left = n_out - v * LANES;                            \\
                if (p < n_pixels && left > 0)                                         \\
                    memcpy(y_pixel[p] + v * LANES, &a[p][v],                          \\
                           (left < LANES ? left : LANES) * sizeof(float));            \\
            }                                                                         \\
    }
    /* The tile sizes of tile_pixel_sizes: whole, two thirds and a third of
       a tile of 6 or more pixels (the same pixels, three times, below 6). */
    #define DECONV_MIDDLE(P) ((P) >= 6 ? (P) - (P) / 3 : (P))
    #define DECONV_SHORT(P) ((P) >= 6 ? (P) / 3 : (P))
    DECONV_WIDE_FULL_TILE(deconv_wide_full_f32, DECONV_F32_PIXELS)
    DECONV_WIDE_FULL_TILE(deconv_wide_middle_f32, DECONV_MIDDLE(DECONV_F32_PIXELS))
    DECONV_WIDE_FULL_TILE(deconv_wide_short_f32, DECONV_SHORT(DECONV_F32_PIXELS))
    #else
    #define DECONV_WIDE_FULL 0
    #endif
    /* The whole-block float32 tile of ``pixels`` (a constant at each call
       site: the choice folds away); returns 0 where there is none. */
    static DECONV_ALWAYS_INLINE int deconv_wide_full_tile_f32(
            Py_ssize_t pixels, const float* x_origin, const Py_ssize_t* pixel_offset,
            Py_ssize_t x_row_stride, Py_ssize_t x_col_stride, Py_ssize_t x_channel_stride,
            Py_ssize_t cin, const float* w_block, Py_ssize_t kw, Py_ssize_t n_row_taps,
            const Py_ssize_t* row_kernel, const Py_ssize_t* row_input, Py_ssize_t n_col_taps,
            const Py_ssize_t* col_kernel, const Py_ssize_t* col_input, float* const* y_pixel,
            Py_ssize_t n_pixels, Py_ssize_t n_out, int stream) {
    #define DECONV_WIDE_FULL_CALL(NAME)                                               \\
        NAME(x_origin, pixel_offset, x_row_stride, x_col_stride, x_channel_stride,    \\
             cin, w_block, kw, n_row_taps, row_kernel, row_input, n_col_taps,         \\
             col_kernel, col_input, y_pixel, n_pixels, n_out, stream)
    #if DECONV_WIDE_FULL
        if (pixels == DECONV_F32_PIXELS) DECONV_WIDE_FULL_CALL(deconv_wide_full_f32);
        else if (pixels == DECONV_MIDDLE(DECONV_F32_PIXELS))
            DECONV_WIDE_FULL_CALL(deconv_wide_middle_f32);
        else if (pixels == DECONV_SHORT(DECONV_F32_PIXELS))
            DECONV_WIDE_FULL_CALL(deconv_wide_short_f32);
        else return 0;
        return 1;
    #else
        (void)pixels; (void)x_origin; (void)pixel_offset; (void)x_row_stride;
        (void)x_col_stride; (void)x_channel_stride; (void)cin; (void)w_block; (void)kw;
        (void)n_row_taps; (void)row_kernel; (void)row_input; (void)n_col_taps;
        (void)col_kernel; (void)col_input; (void)y_pixel; (void)n_pixels; (void)n_out;
        (void)stream;
        return 0;
    #endif
    #undef DECONV_WIDE_FULL_CALL
    }
    """
    bint deconv_wide_full_tile_f32(
        Py_ssize_t pixels, const float* x_origin, const Py_ssize_t* pixel_offset,
        Py_ssize_t x_row_stride, Py_ssize_t x_col_stride, Py_ssize_t x_channel_stride,
        Py_ssize_t cin, const float* w_block, Py_ssize_t kw, Py_ssize_t n_row_taps,
        const Py_ssize_t* row_kernel, const Py_ssize_t* row_input, Py_ssize_t n_col_taps,
        const Py_ssize_t* col_kernel, const Py_ssize_t* col_input, float** y_pixel,
        Py_ssize_t n_pixels, Py_ssize_t n_out, bint stream) noexcept nogil


cdef void _output_row_block(
        const floating[:, :, :, :] x, const floating[:, :, :, ::1] panel,
        const Taps* rows, const Taps* cols, const Classes* classes,
        floating[:, :, :, :] y, floating* stage, const Py_ssize_t r,
        const Py_ssize_t out_block, const bint stream) noexcept nogil:
    """Output row ``r`` of every image, for output-channel block ``out_block``,
    whose weights ``panel`` (kh, kw, Cin, block) holds; whole tiles stored
    past the caches with ``stream`` (see :func:`_output_tile`).

    Columns are grouped in classes that use the same kernel columns (one class
    per column phase for the interior, small ones at the borders). The pixels
    of a class in every image form full register tiles; a partial last
    tile (the smallest that holds it: :func:`tile_pixel_sizes`) repeats
    its last pixel and stores only the real ones. When y's
    channels are not contiguous (channels-first), tiles are stored in
    ``stage`` (N, W, block) and the row is copied out channel by channel,
    along y's contiguous rows, at the end."""
    cdef Py_ssize_t batch = y.shape[0], cout = y.shape[3], cin = x.shape[3]
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t x_image_stride = x.strides[0] // item, x_row_stride = x.strides[1] // item
    cdef Py_ssize_t x_col_stride = x.strides[2] // item, x_channel_stride = x.strides[3] // item
    cdef Py_ssize_t kw = panel.shape[1], block = panel.shape[3]
    cdef Py_ssize_t o0 = out_block * block
    cdef Py_ssize_t n_out = min(block, cout - o0)
    cdef Py_ssize_t cls, first, n_columns, rep, t, t_pad, n, column, q, o, filled
    cdef Py_ssize_t classes_count
    cdef Py_ssize_t out_width = y.shape[2], y_col_stride = y.strides[2] // item
    cdef bint staged = y.strides[3] != item
    cdef floating* y_row
    cdef floating* y_image
    cdef Py_ssize_t x_image
    cdef Py_ssize_t y_pixel_step = block if staged else y_col_stride
    cdef Py_ssize_t y_image_step = out_width * block if staged else y.strides[0] // item
    cdef Py_ssize_t pixels = _tile_pixels(&x[0, 0, 0, 0])
    cdef Py_ssize_t short = _short_pixels(pixels), middle = _middle_pixels(pixels)
    cdef Py_ssize_t pixel_offset[DECONV_MAX_PIXELS]
    cdef floating* y_pixel[DECONV_MAX_PIXELS]
    cdef const floating* w_block = &panel[0, 0, 0, 0]
    cdef const floating* x_origin = &x[0, 0, 0, 0]
    cdef Py_ssize_t row_taps = rows.count[r]
    # A last block of 16 channels or fewer takes half tiles where there are.
    cdef bint half = (floating is float and DECONV_WIDE_HALF == 16 and n_out <= 16
                      and (pixels == 12 and middle == 8 and short == 4))
    cdef const Py_ssize_t* row_kernels = rows.kernel + r * rows.width
    cdef const Py_ssize_t* row_inputs = rows.input + r * rows.width

    if row_taps == 0:
        # No tap reaches this row (a kernel smaller than its stride): zeros,
        # stored as runs rather than as register tiles of zero taps.
        for n in range(batch):
            if staged:
                for q in range(out_width * block):
                    stage[n * out_width * block + q] = 0
            else:
                for q in range(out_width):
                    y_row = &y[n, r, q, o0]
                    for o in range(n_out):
                        y_row[o] = 0
        classes_count = 0
    else:
        classes_count = classes.count
    for cls in range(classes_count):
        first = classes.start[cls]
        n_columns = classes.start[cls + 1] - first
        rep = classes.columns[first]
        filled = 0
        n = 0
        column = 0
        # Image n's x and its output row, moved image by image (the pixel
        # setup is a share of a short tile's time).
        x_image = 0
        y_image = stage if staged else &y[0, r, 0, o0]
        for t in range(batch * n_columns):  # the class's columns, image by image
            q = classes.columns[first + column]
            column += 1
            pixel_offset[filled] = x_image + classes.shift[q] * x_col_stride
            y_pixel[filled] = y_image + q * y_pixel_step
            filled += 1
            if filled == pixels or t == batch * n_columns - 1:
                for t_pad in range(filled, pixels):
                    pixel_offset[t_pad] = pixel_offset[filled - 1]
                # The same call six times, so that each tile size (and
                # whether it is half a block) is a constant.
                if half and filled <= short:
                    _output_tile(x_origin, pixel_offset, x_row_stride, x_col_stride,
                                 x_channel_stride, cin, w_block, kw, row_taps, row_kernels,
                                 row_inputs, cols.count[rep], cols.kernel + rep * cols.width,
                                 cols.input + rep * cols.width, y_pixel, short, filled, n_out,
                                 True, stream)
                elif half and filled <= middle:
                    _output_tile(x_origin, pixel_offset, x_row_stride, x_col_stride,
                                 x_channel_stride, cin, w_block, kw, row_taps, row_kernels,
                                 row_inputs, cols.count[rep], cols.kernel + rep * cols.width,
                                 cols.input + rep * cols.width, y_pixel, middle, filled, n_out,
                                 True, stream)
                elif half:
                    _output_tile(x_origin, pixel_offset, x_row_stride, x_col_stride,
                                 x_channel_stride, cin, w_block, kw, row_taps, row_kernels,
                                 row_inputs, cols.count[rep], cols.kernel + rep * cols.width,
                                 cols.input + rep * cols.width, y_pixel, pixels, filled, n_out,
                                 True, stream)
                elif filled <= short:
                    _output_tile(x_origin, pixel_offset, x_row_stride, x_col_stride,
                                 x_channel_stride, cin, w_block, kw, row_taps, row_kernels,
                                 row_inputs, cols.count[rep], cols.kernel + rep * cols.width,
                                 cols.input + rep * cols.width, y_pixel, short, filled, n_out,
                                 False, stream)
                elif filled <= middle:
                    _output_tile(x_origin, pixel_offset, x_row_stride, x_col_stride,
                                 x_channel_stride, cin, w_block, kw, row_taps, row_kernels,
                                 row_inputs, cols.count[rep], cols.kernel + rep * cols.width,
                                 cols.input + rep * cols.width, y_pixel, middle, filled, n_out,
                                 False, stream)
                else:
                    _output_tile(x_origin, pixel_offset, x_row_stride, x_col_stride,
                                 x_channel_stride, cin, w_block, kw, row_taps, row_kernels,
                                 row_inputs, cols.count[rep], cols.kernel + rep * cols.width,
                                 cols.input + rep * cols.width, y_pixel, pixels, filled, n_out,
                                 False, stream)
                filled = 0
            if column == n_columns:
                column = 0
                n += 1
                if n < batch:
                    x_image += x_image_stride
                    y_image += y_image_step
    if staged:
        for n in range(batch):
            for o in range(n_out):
                y_row = &y[n, r, 0, o0 + o]
                for q in range(out_width):
                    y_row[q * y_col_stride] = stage[(n * out_width + q) * block + o]
    if stream:
        deconv_store_fence()


cdef enum:
    # Pixels a unit of a plane copy takes (:func:`copy_layout`): runs of
    # 1 KB per channel-first plane, sequential reads the prefetchers follow.
    LAYOUT_RUN = 256


def copy_layout(const floating[:, :, :, :] source, floating[:, :, :, :] target,
                int num_threads):
    """``target[...] = source`` for two (N, H, W, C) arrays of any strides,
    e.g. a channels-first array's NHWC view and a channels-last one, in
    squares of 16 x 16 items, so that both arrays are read and written a
    cache line at a time whichever of their axes is contiguous (NumPy
    copies such a transposition on one thread, item by item).

    When each array's rows follow one another (H and W merge into one axis
    of pixels), a unit of work is a run of ``LAYOUT_RUN`` pixels of one
    image, and full float32 squares between a channels-first and a
    channels-last array are transposed in registers (AVX-512); otherwise a
    unit is one row."""
    cdef Py_ssize_t rows = source.shape[0] * source.shape[1], unit, runs
    cdef Py_ssize_t pixels = source.shape[1] * source.shape[2]
    if tuple(source.shape)[:4] != tuple(target.shape)[:4]:
        raise ValueError(f"copy_layout: source {tuple(source.shape)[:4]} and target "
                         f"{tuple(target.shape)[:4]} differ")
    if rows * source.shape[2] * source.shape[3] == 0:
        return
    if (source.strides[1] == source.shape[2] * source.strides[2]
            and target.strides[1] == target.shape[2] * target.strides[2]):
        runs = (pixels + LAYOUT_RUN - 1) // LAYOUT_RUN
        for unit in prange(source.shape[0] * runs, nogil=True, schedule="static",
                           num_threads=num_threads):
            _copy_pixels(<const char*> &source[unit // runs, 0, 0, 0], source.strides[2],
                         source.strides[3], <char*> &target[unit // runs, 0, 0, 0],
                         target.strides[2], target.strides[3], (unit % runs) * LAYOUT_RUN,
                         min(pixels, (unit % runs + 1) * LAYOUT_RUN), source.shape[3],
                         &target[0, 0, 0, 0])
        return
    for unit in prange(rows, nogil=True, schedule="static", num_threads=num_threads):
        _copy_pixels(<const char*> &source[unit // source.shape[1], unit % source.shape[1], 0, 0],
                     source.strides[2], source.strides[3],
                     <char*> &target[unit // source.shape[1], unit % source.shape[1], 0, 0],
                     target.strides[2], target.strides[3], 0, source.shape[2],
                     source.shape[3], &target[0, 0, 0, 0])


cdef void _copy_pixels(const char* source, const Py_ssize_t sp, const Py_ssize_t sc,
                       char* target, const Py_ssize_t tp, const Py_ssize_t tc,
                       const Py_ssize_t first, const Py_ssize_t last,
                       const Py_ssize_t channels, const floating* item_tag) noexcept nogil:
    """Pixels ``first`` to ``last`` (every channel) of :func:`copy_layout`,
    pixel p's channel c at ``p * sp + c * sc`` bytes from ``source`` (``tp``,
    ``tc`` in ``target``), in 16 x 16 squares, channel block by channel
    block (``item_tag`` only picks the item type). Each square goes along
    the target's contiguous axis (a 4 KB stride between the lines it writes
    would keep them all in one set of the cache), or through registers where
    a float32 square is whole and one array is channels-first, the other
    channels-last: the source's contiguous axis then becomes the target's
    strided one."""
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t p0, c0, p1, c1, p, c
    cdef bint along_pixels = (tc if tc >= 0 else -tc) > (tp if tp >= 0 else -tp)
    cdef bint in_registers = (floating is float and DECONV_SQUARE_LANES == PACK_CHANNELS
                              and ((sp == item and tc == item) or (sc == item and tp == item)))
    # Items between the rows of a square: along the source's strided axis,
    # then the target's.
    cdef Py_ssize_t source_rows = (sc if sp == item else sp) // item
    cdef Py_ssize_t target_rows = (tp if tc == item else tc) // item
    c0 = 0
    while c0 < channels:
        c1 = min(channels, c0 + PACK_CHANNELS)
        p0 = first
        while p0 < last:
            p1 = min(last, p0 + PACK_CHANNELS)
            if in_registers and p1 - p0 == PACK_CHANNELS and c1 - c0 == PACK_CHANNELS:
                deconv_transpose_square_f32(<const float*> (source + p0 * sp + c0 * sc),
                                            source_rows, <float*> (target + p0 * tp + c0 * tc),
                                            target_rows, False)
                p0 = p1
                continue
            if along_pixels:
                for c in range(c0, c1):
                    for p in range(p0, p1):
                        (<floating*> (target + p * tp + c * tc))[0] = \
                            (<const floating*> (source + p * sp + c * sc))[0]
            else:
                for p in range(p0, p1):
                    for c in range(c0, c1):
                        (<floating*> (target + p * tp + c * tc))[0] = \
                            (<const floating*> (source + p * sp + c * sc))[0]
            p0 = p1
        c0 = c1


def pack_wide_panels(const floating[:, :, :, :] kernel, floating[:, :, :, :, ::1] panels,
                     int num_threads):
    """Pack every output-channel block of ``kernel`` (kh, kw, Cout, Cin; any
    strides, e.g. a transposed view) into ``panels`` (blocks, kh, kw, Cin,
    block): output channels contiguous, those past Cout zero. What the wide
    kernel reads when its panels come packed."""
    cdef Py_ssize_t taps = kernel.shape[0] * kernel.shape[1]
    cdef Py_ssize_t block = panels.shape[4], unit
    cdef Py_ssize_t n_blocks = (kernel.shape[2] + block - 1) // block
    if (panels.shape[0] != n_blocks or panels.shape[1] != kernel.shape[0]
            or panels.shape[2] != kernel.shape[1] or panels.shape[3] != kernel.shape[3]):
        raise ValueError(f"pack_wide_panels: kernel {tuple(kernel.shape)[:4]} does not fit "
                         f"panels {tuple(panels.shape)[:5]}")
    for unit in prange(n_blocks * taps, nogil=True, schedule="static", num_threads=num_threads):
        _pack_panel_tap(kernel, panels[unit // taps], unit // taps, unit % taps)


cdef bint _lines_whole(floating[:, :, :, :] y) noexcept:
    """Whether y starts on a cache line and each of its strides is whole
    lines: every run of 64 bytes the kernels store from a line's start is
    then one whole line (what stores past the caches need)."""
    return ((<size_t> &y[0, 0, 0, 0]) % CACHE_LINE == 0 and y.strides[0] % CACHE_LINE == 0
            and y.strides[1] % CACHE_LINE == 0 and y.strides[2] % CACHE_LINE == 0)


def conv2d_transpose_wide(
        const floating[:, :, :, :] x, const floating[:, :, :, :] kernel,
        floating[:, :, :, :, ::1] panels, Py_ssize_t[::1] panel_blocks, tables,
        floating[:, :, :, :] y, floating[:, ::1] stages, bint block_major,
        Py_ssize_t units_per_check, int num_threads, bint stream=False):
    """Fill ``y`` (N, H, W, Cout) with the transposed convolution of ``x`` (N, h, w, Cin).

    ``x`` and ``y`` are indexed NHWC but may have any strides (a channels-first
    array seen through a transposed view is read and written in place). When
    y's channel stride is not 1, ``stages`` holds one (N * W * block) row per
    thread (otherwise it is not used). ``tables`` is a
    ``deconv._direct.WideTables`` (row and column tap tables, column classes).

    ``panels`` (slots, kh, kw, Cin, block) holds the kernel's output-channel
    blocks, output channels contiguous (those past Cout zero), in one of two
    ways:

    * packed beforehand by :func:`pack_wide_panels`, one slot per block
      (``panel_blocks`` empty; ``kernel`` is not read);
    * one slot per thread, filled here on demand from ``kernel``:
      ``panel_blocks[t]`` is the block thread t's panel holds (-1 at first),
      so the workspace stays ``threads`` panels however large the kernel.

    ``block_major`` orders the work units block by block, so a thread's
    static chunk sweeps the rows one block at a time (about ``blocks /
    threads`` panels, each hot in its cache while in use; required for
    on-demand panels); otherwise row by row, so a thread computes every block
    of its rows and each input row is read from memory once, not once per
    block (for kernels small enough to stay in cache whole).

    Signals are looked at (a pending KeyboardInterrupt raised) after every
    ``units_per_check`` work units (an output row of one block).

    ``stream`` asks for stores that bypass the caches (for an output too
    large to stay in them): honoured for float32 on AVX-512 where every
    channel block of every pixel of y is whole aligned 64-byte lines, the
    same results either way.
    """
    cdef Py_ssize_t height = y.shape[1]
    cdef Py_ssize_t block = panels.shape[4]
    cdef Py_ssize_t cout = y.shape[3], kh = panels.shape[1], kw = panels.shape[2]
    cdef Py_ssize_t n_blocks = (cout + block - 1) // block
    cdef bint on_demand = panel_blocks.shape[0] > 0
    cdef Py_ssize_t taps = kh * kw
    cdef Py_ssize_t unit, out_block, r, thread, slot, tap, first = 0, last
    cdef Taps rows = _taps(tables.rows, height), cols = _taps(tables.cols, y.shape[2])
    cdef const Py_ssize_t[::1] class_start = tables.classes.start
    cdef const Py_ssize_t[::1] class_columns = tables.classes.columns
    cdef const Py_ssize_t[::1] column_shift = tables.classes.shift
    cdef Classes classes
    if (class_columns.shape[0] != y.shape[2] or column_shift.shape[0] != y.shape[2]
            or panels.shape[3] != x.shape[3]
            or (on_demand and (panel_blocks.shape[0] < num_threads or not block_major
                               or panels.shape[0] < num_threads
                               or kernel.shape[2] != cout or kernel.shape[3] != x.shape[3]
                               or tuple(kernel.shape)[:2] != (kh, kw)))
            or (not on_demand and panels.shape[0] != n_blocks)
            or stages.shape[0] < num_threads or units_per_check < 1
            or not _taps_fit(&rows, height, kh, x.shape[1])
            or not _classes_fit(&cols, class_start, class_columns, column_shift, kw,
                                x.shape[2])
            or (y.strides[3] != sizeof(floating)
                and stages.shape[1] < y.shape[0] * y.shape[2] * block)):
        raise ValueError(f"conv2d_transpose_wide: x {tuple(x.shape)[:4]}, panels "
                         f"{tuple(panels.shape)[:5]}, y {tuple(y.shape)[:4]}, tables and "
                         f"scratch do not agree")
    classes.start = &class_start[0]
    classes.columns = &class_columns[0]
    classes.shift = &column_shift[0]
    classes.count = class_start.shape[0] - 1
    # Every block of every pixel whole aligned lines: y aligned, its strides
    # and blocks whole lines (an unaligned y is written through the caches).
    stream = (stream and floating is float and DECONV_STREAM_STORES
              and y.strides[3] == sizeof(floating) and block * sizeof(floating) % CACHE_LINE == 0
              and _lines_whole(y))
    # The units in stretches of units_per_check, with a look for signals
    # (Ctrl-C) between stretches: a long call stays interruptible.
    while first < n_blocks * height:
        last = min(n_blocks * height, first + units_per_check)
        for unit in prange(first, last, nogil=True, schedule="static",
                           num_threads=num_threads):
            thread = threadid()
            if block_major:
                out_block = unit // height
                r = unit % height
            else:
                out_block = unit % n_blocks
                r = unit // n_blocks
            slot = out_block
            if on_demand:
                slot = thread
                if panel_blocks[thread] != out_block:
                    for tap in range(taps):
                        _pack_panel_tap(kernel, panels[thread], out_block, tap)
                    panel_blocks[thread] = out_block
            _output_row_block(x, panels[slot], &rows, &cols, &classes, y, &stages[thread, 0],
                              r, out_block, stream)
        PyErr_CheckSignals()
        first = last


cdef void _pack_panel_tap(const floating[:, :, :, :] kernel, floating[:, :, :, ::1] panel,
                          const Py_ssize_t out_block, const Py_ssize_t tap) noexcept nogil:
    """Copy one tap of one output-channel block of ``kernel`` (kh, kw, Cout, Cin)
    into ``panel`` (kh, kw, Cin, block) (see :func:`_pack_kernel_tap`)."""
    cdef Py_ssize_t kw = kernel.shape[1]
    _pack_kernel_tap(kernel, tap // kw, tap % kw, panel, tap // kw, tap % kw, out_block)


cdef void _pack_kernel_tap(const floating[:, :, :, :] kernel, const Py_ssize_t ka,
                           const Py_ssize_t kb, floating[:, :, :, ::1] panel,
                           const Py_ssize_t a, const Py_ssize_t b,
                           const Py_ssize_t out_block) noexcept nogil:
    """Copy tap (ka, kb) of one output-channel block of ``kernel`` (kh, kw,
    Cout, Cin) into tap (a, b) of ``panel`` (taps, taps, Cin, block): output
    channels contiguous, those past Cout written as zeros. The panel is
    written in order (it may be fresh memory, so this also touches its pages
    in order)."""
    cdef Py_ssize_t cout = kernel.shape[2], cin = kernel.shape[3]
    cdef Py_ssize_t block = panel.shape[3], item = sizeof(floating)
    cdef Py_ssize_t c, c0, nc, lane, o
    cdef Py_ssize_t n_out = max(0, min(block, cout - out_block * block))
    cdef Py_ssize_t channel_stride = kernel.strides[3] // item
    cdef const floating* src
    cdef floating* dst
    # 16 input channels (a cache line of each kernel row) at a time, read
    # row by row into a square in L1 and written out transposed, so that the
    # reads and the writes both stay within a few lines.
    cdef floating square[PACK_CHANNELS * PACK_MAX_BLOCK]
    cdef Py_ssize_t out_stride = kernel.strides[2] // item
    c0 = 0
    while c0 < cin:
        nc = min(<Py_ssize_t> PACK_CHANNELS, cin - c0)
        if (floating is float and DECONV_SQUARE_LANES == PACK_CHANNELS and channel_stride == 1
                and nc == PACK_CHANNELS and n_out == block and block % PACK_CHANNELS == 0):
            # Whole float32 squares of 16 output x 16 input channels:
            # transposed in registers (AVX-512), straight into the panel.
            lane = 0
            while lane < block:
                deconv_transpose_square_f32(
                    <const float*> &kernel[ka, kb, out_block * block + lane, c0], out_stride,
                    <float*> &panel[a, b, c0, lane], block, False)
                lane += PACK_CHANNELS
            c0 += PACK_CHANNELS
            continue
        for lane in range(n_out):
            o = out_block * block + lane
            src = &kernel[ka, kb, o, c0]
            # A whole line's copy has a constant length: vector moves, not
            # a call of memmove.
            if channel_stride == 1 and nc == PACK_CHANNELS:
                for c in range(PACK_CHANNELS):
                    square[lane * PACK_CHANNELS + c] = src[c]
            elif channel_stride == 1:
                for c in range(nc):
                    square[lane * PACK_CHANNELS + c] = src[c]
            else:
                for c in range(nc):
                    square[lane * PACK_CHANNELS + c] = src[c * channel_stride]
        for lane in range(n_out, block):
            for c in range(nc):
                square[lane * PACK_CHANNELS + c] = 0
        dst = &panel[a, b, c0, 0]
        for c in range(nc):
            for lane in range(block):
                dst[c * block + lane] = square[lane * PACK_CHANNELS + c]
        c0 += PACK_CHANNELS


cdef enum:
    # The small variant's packed kernel pads its rows to a multiple of this
    # (two AVX-512 vectors of float32), so its vector loops have no remainder.
    SMALL_LANES = 32
    # Most tap values (kh * kw * Cout, padded) the small variant takes, and
    # most values of a kernel it packs itself: they live on the stack.
    SMALL_TAP_VALUES = 2048
    SMALL_PACKED = 8192


def small_lanes():
    """(lanes, most values, most packed): the small variant's packed kernel
    pads its rows to a multiple of ``lanes``; rows of at most ``most``
    values; at most ``most packed`` values when it packs the kernel itself."""
    return SMALL_LANES, SMALL_TAP_VALUES, SMALL_PACKED


def conv2d_transpose_small(cnp.ndarray x, cnp.ndarray kernel, packed, geometry,
                           cnp.ndarray y):
    """Fill ``y`` (N, H, W, Cout) with the transposed convolution of ``x``
    (N, h, w, Cin), both indexed NHWC with any strides, for calls too small
    to be worth tiling (a few thousand multiply-adds), on one thread, as the
    definition reads: each input pixel's contribution to every tap (kernel
    row a, column b, output channel o, at ``(a * kw + b) * Cout + o``) is one
    vector-matrix product with ``packed`` (Cin, kh * kw * Cout padded to a
    multiple of SMALL_LANES and at most SMALL_TAP_VALUES: the kernel with its
    taps and output channels along the rows), then added to the output
    pixels the taps land on. ``packed`` may be None: the kernel (kh, kw,
    Cout, Cin, C-contiguous) is then packed here, into at most SMALL_PACKED
    values on the stack. ``geometry`` is a ``deconv._direct.SmallGeometry``.
    Output elements sum their contributions in input-pixel order.

    The arrays are taken as ndarrays, not typed memoryviews: at a few
    microseconds a call, acquiring four buffers costs a tenth of it.
    """
    cdef int dtype = cnp.PyArray_TYPE(x)
    cdef Py_ssize_t kh = geometry.kernel_height, kw = geometry.kernel_width, d
    cdef SmallCall call
    call.stride_h, call.stride_w = geometry.stride_height, geometry.stride_width
    call.dilation_h, call.dilation_w = geometry.dilation_height, geometry.dilation_width
    call.pad_top, call.pad_left = geometry.pad_top, geometry.pad_left
    call.kh, call.kw = kh, kw
    if (cnp.PyArray_NDIM(x) != 4 or cnp.PyArray_NDIM(y) != 4 or cnp.PyArray_NDIM(kernel) != 4
            or dtype not in (cnp.NPY_FLOAT, cnp.NPY_DOUBLE)
            or cnp.PyArray_TYPE(y) != dtype or cnp.PyArray_TYPE(kernel) != dtype
            or not cnp.PyArray_ISWRITEABLE(y) or not cnp.PyArray_IS_C_CONTIGUOUS(kernel)
            or y.shape[0] != x.shape[0] or kh < 1 or kw < 1 or kernel.shape[0] != kh
            or kernel.shape[1] != kw or kernel.shape[2] != y.shape[3]
            or kernel.shape[3] != x.shape[3]):
        raise ValueError(f"conv2d_transpose_small: x {np.shape(x)}, kernel {np.shape(kernel)}, "
                         f"y {np.shape(y)} (of one float dtype, y writeable, the kernel "
                         f"C-contiguous) and the geometry do not agree")
    for d in range(4):
        if x.strides[d] % cnp.PyArray_ITEMSIZE(x) or y.strides[d] % cnp.PyArray_ITEMSIZE(y):
            raise ValueError(f"conv2d_transpose_small: strides {(<object> x).strides} and "
                             f"{(<object> y).strides} "
                             f"must be whole elements")
    call.length = _padded(kh * kw * y.shape[3], SMALL_LANES)
    call.packed = NULL
    if packed is not None:
        if (not isinstance(packed, np.ndarray) or cnp.PyArray_TYPE(<cnp.ndarray> packed) != dtype
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> packed)
                or cnp.PyArray_NDIM(<cnp.ndarray> packed) != 2
                or (<cnp.ndarray> packed).shape[0] != x.shape[3]
                or (<cnp.ndarray> packed).shape[1] != call.length):
            raise ValueError(f"conv2d_transpose_small: packed {np.shape(packed)} does not fit "
                             f"the kernel {np.shape(kernel)}")
        call.packed = cnp.PyArray_DATA(<cnp.ndarray> packed)
    if call.length > SMALL_TAP_VALUES or (
            call.packed == NULL and x.shape[3] * call.length > SMALL_PACKED):
        raise ValueError(f"conv2d_transpose_small: a kernel of {np.shape(kernel)} is too large")
    if dtype == cnp.NPY_FLOAT:
        with nogil:
            _small(<const float*> cnp.PyArray_DATA(x), <const float*> cnp.PyArray_DATA(kernel),
                   <float*> cnp.PyArray_DATA(y), x.shape, x.strides, y.shape, y.strides, &call)
    else:
        with nogil:
            _small(<const double*> cnp.PyArray_DATA(x), <const double*> cnp.PyArray_DATA(kernel),
                   <double*> cnp.PyArray_DATA(y), x.shape, x.strides, y.shape, y.strides, &call)


cdef struct SmallCall:
    Py_ssize_t kh, kw, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, length
    const void* packed


cdef void _small(const floating* x, const floating* kernel, floating* y,
                 const cnp.npy_intp* x_shape, const cnp.npy_intp* x_strides,
                 const cnp.npy_intp* y_shape, const cnp.npy_intp* y_strides,
                 const SmallCall* call) noexcept nogil:
    """The loops of :func:`conv2d_transpose_small` (strides in bytes)."""
    cdef Py_ssize_t batch = x_shape[0], in_h = x_shape[1], in_w = x_shape[2], cin = x_shape[3]
    cdef Py_ssize_t out_h = y_shape[1], out_w = y_shape[2], cout = y_shape[3]
    cdef Py_ssize_t item = sizeof(floating), length = call.length, kw = call.kw
    cdef Py_ssize_t xs0 = x_strides[0] // item, xs1 = x_strides[1] // item
    cdef Py_ssize_t xs2 = x_strides[2] // item, x_channel = x_strides[3] // item
    cdef Py_ssize_t ys0 = y_strides[0] // item, ys1 = y_strides[1] // item
    cdef Py_ssize_t ys2 = y_strides[2] // item, y_channel = y_strides[3] // item
    cdef Py_ssize_t n, i, j, a, b, r, q, o, c, l0
    cdef bint wide
    cdef floating tap_values[SMALL_TAP_VALUES]
    cdef floating first_sums[SMALL_LANES]
    cdef floating second_sums[SMALL_LANES]
    cdef floating stack_packed[SMALL_PACKED]
    cdef const floating* rows_of = <const floating*> call.packed
    cdef floating xv
    cdef const floating* xp
    cdef const floating* wp
    cdef const floating* vp
    cdef floating* yp
    if rows_of == NULL:
        _pack_small(kernel, call.kh, call.kw, cout, cin, stack_packed, length)
        rows_of = stack_packed
    for n in range(batch):
        for r in range(out_h):
            yp = y + n * ys0 + r * ys1
            if y_channel == 1 and ys2 == cout:
                # A contiguous row is zeroed in one run: per pixel, a loop
                # of Cout (often 1) stores cost several times the stores.
                for o in range(out_w * cout):
                    yp[o] = 0
                continue
            for q in range(out_w):
                yp = y + n * ys0 + r * ys1 + q * ys2
                if y_channel == 1:
                    for o in range(cout):
                        yp[o] = 0
                else:
                    for o in range(cout):
                        yp[o * y_channel] = 0
        for i in range(in_h):
            for j in range(in_w):
                xp = x + n * xs0 + i * xs1 + j * xs2
                l0 = 0
                while l0 < length:
                    # Two blocks of sums in registers where the row has
                    # them, so that two chains of multiply-adds overlap.
                    wide = l0 + 2 * SMALL_LANES <= length
                    for o in range(SMALL_LANES):
                        first_sums[o] = 0
                        second_sums[o] = 0
                    wp = rows_of + l0
                    for c in range(cin):
                        xv = xp[c * x_channel]
                        for o in range(SMALL_LANES):
                            first_sums[o] += xv * wp[o]
                            second_sums[o] += xv * wp[(SMALL_LANES if wide else 0) + o]
                        wp += length
                    for o in range(SMALL_LANES):
                        tap_values[l0 + o] = first_sums[o]
                    l0 += SMALL_LANES
                    if wide:
                        for o in range(SMALL_LANES):
                            tap_values[l0 + o] = second_sums[o]
                        l0 += SMALL_LANES
                for a in range(call.kh):
                    r = i * call.stride_h + a * call.dilation_h - call.pad_top
                    if r < 0 or r >= out_h:
                        continue
                    for b in range(kw):
                        q = j * call.stride_w + b * call.dilation_w - call.pad_left
                        if q < 0 or q >= out_w:
                            continue
                        yp = y + n * ys0 + r * ys1 + q * ys2
                        vp = &tap_values[(a * kw + b) * cout]
                        if y_channel == 1:
                            for o in range(cout):
                                yp[o] += vp[o]
                        else:
                            for o in range(cout):
                                yp[o * y_channel] += vp[o]


cdef inline Py_ssize_t _padded(Py_ssize_t count, Py_ssize_t step) noexcept nogil:
    return (count + step - 1) // step * step


cdef void _pack_small(const floating* kernel, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t cout,
                      Py_ssize_t cin, floating* packed, Py_ssize_t length) noexcept nogil:
    """Rows of ``length``: ``packed[c * length + (a * kw + b) * Cout + o] =
    kernel[a, b, o, c]`` (a C-contiguous kernel), zeros after kh * kw * Cout."""
    cdef Py_ssize_t t, c, o, l
    for c in range(cin):
        for l in range(kh * kw * cout, length):
            packed[c * length + l] = 0
        for t in range(kh * kw):
            for o in range(cout):
                packed[c * length + t * cout + o] = kernel[(t * cout + o) * cin + c]


cdef bint _classes_fit(const Taps* cols, const Py_ssize_t[::1] class_start,
                       const Py_ssize_t[::1] class_columns, const Py_ssize_t[::1] column_shift,
                       Py_ssize_t kernel_size, Py_ssize_t in_size) noexcept:
    """Whether every column of every class, through its representative's taps
    and its shift, reads inside the kernel and the input."""
    cdef Py_ssize_t cls, k, q, rep, t, out_size = class_columns.shape[0]
    if class_start.shape[0] < 1 or class_start[0] != 0 \
            or class_start[class_start.shape[0] - 1] != out_size:
        return False
    if not _taps_fit(cols, out_size, kernel_size, in_size):
        return False
    for cls in range(class_start.shape[0] - 1):
        if not class_start[cls] < class_start[cls + 1]:
            return False
        rep = class_columns[class_start[cls]]
        for k in range(class_start[cls], class_start[cls + 1]):
            q = class_columns[k]
            if not (0 <= q < out_size and 0 <= rep < out_size):
                return False
            for t in range(cols.count[rep]):
                if not 0 <= cols.input[rep * cols.width + t] + column_shift[q] < in_size:
                    return False
    return True


def pack_small_kernel(const floating[:, :, :, ::1] kernel, floating[:, ::1] packed):
    """The kernel (kh, kw, Cout, Cin) as :func:`conv2d_transpose_small` reads
    it: (Cin, kh * kw * Cout padded to a multiple of :func:`small_lanes`)."""
    cdef Py_ssize_t kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t cout = kernel.shape[2], cin = kernel.shape[3]
    cdef Py_ssize_t length = _padded(kh * kw * cout, SMALL_LANES)
    if packed.shape[0] != cin or packed.shape[1] != length or cin * cout * kh * kw == 0:
        raise ValueError(f"pack_small_kernel: kernel {tuple(kernel.shape)[:4]} does not fit "
                         f"packed {tuple(packed.shape)[:2]}")
    with nogil:
        _pack_small(&kernel[0, 0, 0, 0], kh, kw, cout, cin, &packed[0, 0], length)


# Narrow-output variant (Cout of a few channels): the wide tile above would
# leave most of its 32-channel lanes idle, so here the vector lanes run over
# pixels instead. A tile is a group of output channels (NARROW_GROUP, or
# DECONV_NARROW_MAX_GROUP where there are registers for it: twice the
# accumulators, so the FMAs no longer wait on each other) times NARROW_RUN
# consecutive pixels of one column phase (NARROW_LONG_RUN for a group of
# NARROW_GROUP where there are those registers and the phase has that many
# columns left), and reads runs of consecutive input
# columns of one channel. Each thread therefore keeps a small planar copy of
# the input rows it is using -- a window of (Cin, rows, padded width), zero
# on the left and right so every run is in bounds -- and reloads a row only
# when it is not already there (a thread's static chunk walks down the rows,
# so each input row is loaded about once per chunk).
cdef enum:
    NARROW_GROUP = 4
    NARROW_RUN = 32
    NARROW_LONG_RUN = 64
    # float32 on AVX-512: a tile of 16 channels x 16 pixels (a square: one
    # vector of pixels per channel, stored through a register transpose).
    NARROW_SQUARE = 16
    LOAD_COLUMNS = 16


# The two tile lengths as types, so that each fused specialization of the
# tile has its length as a compile-time constant (sizeof) whether or not the
# compiler inlines it: as a parameter, three call sites left GCC calling one
# out-of-line copy whose loops ran to a variable length (1.5x slower).
cdef struct NarrowRun:
    char items[NARROW_RUN]


cdef struct NarrowLongRun:
    char items[NARROW_LONG_RUN]


cdef struct NarrowSquareRun:
    char items[NARROW_SQUARE]


ctypedef fused run_width:
    NarrowRun
    NarrowLongRun
    NarrowSquareRun


def pack_narrow_kernel(const floating[:, :, :, :] kernel, floating[:, :, :, ::1] packed,
                       int num_threads):
    """Pack ``kernel`` (kh, kw, Cout, Cin; any strides) into ``packed`` (kh,
    kw, Cin, padded Cout), output channels contiguous and those past Cout
    zero: what the narrow kernel reads (the wide panels' 16 x 16 squares
    would write its few channels one item at a time). Where at least half
    of each packed row is kernel, row by row, each written once; where most
    of it is padding (Cout 1 of 4), each tap zeroed whole, then filled one
    output channel at a time, in loops over Cin rather than over 1-2 items."""
    cdef Py_ssize_t kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t cout = kernel.shape[2], cin = kernel.shape[3], padded = packed.shape[3]
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t out_stride = kernel.strides[2] // item
    cdef Py_ssize_t channel_stride = kernel.strides[3] // item
    cdef Py_ssize_t tap, c, o
    cdef const floating* src
    cdef floating* row
    if (packed.shape[0] != kh or packed.shape[1] != kw or packed.shape[2] != cin
            or padded < cout):
        raise ValueError(f"pack_narrow_kernel: kernel {tuple(kernel.shape)[:4]} does not fit "
                         f"packed {tuple(packed.shape)[:4]}")
    for tap in prange(kh * kw, nogil=True, schedule="static", num_threads=num_threads):
        if cin == 0 or cout == 0:
            continue
        src = &kernel[tap // kw, tap % kw, 0, 0]
        row = &packed[tap // kw, tap % kw, 0, 0]
        if 2 * cout >= padded:
            for c in range(cin):
                for o in range(cout):
                    row[c * padded + o] = src[o * out_stride + c * channel_stride]
                for o in range(cout, padded):
                    row[c * padded + o] = 0
        else:
            memset(row, 0, cin * padded * item)
            for o in range(cout):
                for c in range(cin):
                    row[c * padded + o] = src[o * out_stride + c * channel_stride]


def narrow_groups(Py_ssize_t itemsize):
    """Channel-group sizes the narrow-output kernel's tiles can have here,
    for items of ``itemsize`` bytes."""
    sizes = [NARROW_GROUP]
    if DECONV_NARROW_MAX_GROUP != NARROW_GROUP:
        sizes.append(DECONV_NARROW_MAX_GROUP)
    if itemsize == sizeof(float) and DECONV_SQUARE_LANES == NARROW_SQUARE:
        sizes.append(NARROW_SQUARE)
    return tuple(sizes)


def narrow_run():
    """Pixels per tile of the narrow-output kernel, the unit its windows are
    padded to (a group's tiles: :func:`narrow_runs`)."""
    return NARROW_RUN


cdef inline Py_ssize_t _narrow_short_run(const Py_ssize_t group_size) noexcept nogil:
    """Pixels per tile of a group of ``group_size`` channels: a square's
    NARROW_SQUARE, else NARROW_RUN."""
    return NARROW_SQUARE if group_size == NARROW_SQUARE else NARROW_RUN


cdef inline Py_ssize_t _narrow_long_run(const Py_ssize_t group_size) noexcept nogil:
    """Pixels per long tile of a group of ``group_size`` channels, taken
    where a phase has that many columns left: NARROW_LONG_RUN for a group of
    NARROW_GROUP where there are registers for its accumulators (those of
    the larger group), else its usual tile (no long tiles)."""
    if (group_size == NARROW_GROUP
            and NARROW_GROUP * NARROW_LONG_RUN <= DECONV_NARROW_MAX_GROUP * NARROW_RUN):
        return NARROW_LONG_RUN
    return _narrow_short_run(group_size)


def narrow_runs(Py_ssize_t group_size):
    """(pixels per tile, pixels per long tile) of the narrow-output kernel
    for a group of ``group_size`` channels: the long tiles are taken while
    a phase has that many columns left (the same length where there are
    none)."""
    return _narrow_short_run(group_size), _narrow_long_run(group_size)


cdef extern from *:
    """
    /* The narrow kernel's float32 transposes in registers: its window rows
       (16 channels of 16 pixels at a time become 16 planar runs) and its
       stores (8 channels of 16 pixels become each pixel's 8 channels).
       Butterfly stages, each a two-vector permute per row (a vpermt2ps): a
       quarter of the scalar moves' instructions. Only where vectors hold 16
       floats (AVX-512); elsewhere DECONV_SQUARE_LANES is 0. */
    #if defined(__GNUC__) && DECONV_VECTOR_BYTES == 64 && !defined(__clang__)
    #define DECONV_SQUARE_LANES 16
    typedef int deconv_vi32 __attribute__((vector_size(64)));
    /* The butterfly stages of an in-register transpose, s = 1, 2, 4, 8: row
       i (bit s clear) and row i + s become, lane by lane, "low" (lanes with
       bit s set take row i + s's lane e - s, the others row i's lane e) and
       "high" (lanes with bit s set take row i + s's lane e, the others row
       i's lane e + s). */
    static const deconv_vi32 deconv_butterfly_low[4] = {
        {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
        {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
        {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
        {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}};
    static const deconv_vi32 deconv_butterfly_high[4] = {
        {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31},
        {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31},
        {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31},
        {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}};
    /* Stage ``stage`` (s = 1 << stage) on rows i and i + s of ``r``. */
    #define DECONV_BUTTERFLY(r, stage, i)                                            \
        do {                                                                         \
            const deconv_vf32 a_ = (r)[i], b_ = (r)[(i) + (1 << (stage))];           \
            (r)[i] = __builtin_shuffle(a_, b_, deconv_butterfly_low[stage]);         \
            (r)[(i) + (1 << (stage))] = __builtin_shuffle(a_, b_,                    \
                                                          deconv_butterfly_high[stage]); \
        } while (0)
    /* A 16 x 16 square: row j of the source becomes column j of the target. */
    static inline void deconv_transpose_square_f32(
            const float* source, Py_ssize_t source_stride, float* target,
            Py_ssize_t target_stride, int stream) {
        deconv_vf32 r[16];
        int i;
        for (i = 0; i < 16; i++)
            memcpy(&r[i], source + i * source_stride, sizeof r[i]);
        /* Each stage spelled out (constant rows and masks): written as a
           loop over the stages, GCC kept the rows in memory (20% slower). */
        for (i = 0; i < 16; i++) if (!(i & 1)) DECONV_BUTTERFLY(r, 0, i);
        for (i = 0; i < 16; i++) if (!(i & 2)) DECONV_BUTTERFLY(r, 1, i);
        for (i = 0; i < 16; i++) if (!(i & 4)) DECONV_BUTTERFLY(r, 2, i);
        for (i = 0; i < 8; i++) DECONV_BUTTERFLY(r, 3, i);
        for (i = 0; i < 16; i++) {
            if (stream)  /* past the caches: whole aligned lines (the caller's word) */
                deconv_stream_line_f32(target + i * target_stride, (const float*)&r[i]);
            else
                memcpy(target + i * target_stride, &r[i], sizeof r[i]);
        }
    }
    /* 8 rows of 16 (a narrow tile's 8 channels of 16 pixels, source_stride
       apart) stored as 16 target rows of 8 (each pixel's 8 channels,
       target_stride apart): three stages leave row i holding pixel i's
       channels in its low half and pixel i + 8's in its high. */
    static inline void deconv_store_columns8_f32(
            const float* source, Py_ssize_t source_stride, float* target,
            Py_ssize_t target_stride) {
        deconv_vf32 r[8];
        int i;
        for (i = 0; i < 8; i++)
            memcpy(&r[i], source + i * source_stride, sizeof r[i]);
        for (i = 0; i < 8; i++) if (!(i & 1)) DECONV_BUTTERFLY(r, 0, i);
        for (i = 0; i < 8; i++) if (!(i & 2)) DECONV_BUTTERFLY(r, 1, i);
        for (i = 0; i < 4; i++) DECONV_BUTTERFLY(r, 2, i);
        for (i = 0; i < 8; i++) {
            memcpy(target + i * target_stride, &r[i], 8 * sizeof(float));
            memcpy(target + (i + 8) * target_stride, (const float*)&r[i] + 8,
                   8 * sizeof(float));
        }
    }
    #undef DECONV_BUTTERFLY
    #else
    #define DECONV_SQUARE_LANES 0
    static inline void deconv_transpose_square_f32(
            const float* source, Py_ssize_t source_stride, float* target,
            Py_ssize_t target_stride, int stream) {
        (void)source; (void)source_stride; (void)target; (void)target_stride; (void)stream;
    }
    static inline void deconv_store_columns8_f32(
            const float* source, Py_ssize_t source_stride, float* target,
            Py_ssize_t target_stride) {
        (void)source; (void)source_stride; (void)target; (void)target_stride;
    }
    #endif
    """
    enum: DECONV_SQUARE_LANES
    void deconv_transpose_square_f32(const float* source, Py_ssize_t source_stride,
                                     float* target, Py_ssize_t target_stride,
                                     bint stream) noexcept nogil
    void deconv_store_columns8_f32(const float* source, Py_ssize_t source_stride,
                                   float* target, Py_ssize_t target_stride) noexcept nogil


cdef extern from *:
    """
    /* The multiply-adds of a float32 narrow tile on AVX-512: GROUP channels
       x VECTORS vectors of 16 pixels. Per input channel and tap, the
       pixel vectors times each channel's weight (broadcast) into its
       accumulators; stored to acc (channel o's pixels at acc + 16 * VECTORS
       * o). In vector types, so that the accumulators stay in registers
       and the weights are embedded broadcasts: as plain loops GCC
       vectorized squares of 16 channels across the channels, with a
       transpose every step (8x slower), and ran the others 0-25% slower.
       Only on AVX-512 (elsewhere deconv_narrow_tile_f32 finds no tile). */
    #if DECONV_SQUARE_LANES == 16
    #if DECONV_NARROW_MAX_GROUP < 8
    #error "the narrow tile's accumulators hold fewer than 16 x 16 items"
    #endif
    #define DECONV_NARROW_TILE(NAME, GROUP, VECTORS)                                \
    static inline void NAME(                                                      \
            const float* x_rows, Py_ssize_t plane, Py_ssize_t padded_width,       \
            Py_ssize_t cin, const float* w_group, Py_ssize_t kw,                  \
            Py_ssize_t packed_row, Py_ssize_t n_row_taps,                         \
            const Py_ssize_t* row_kernel, const Py_ssize_t* row_slot,             \
            Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel,                  \
            const Py_ssize_t* col_input, Py_ssize_t first_pixel, float* acc) {    \
        deconv_vf32 a[GROUP][VECTORS];                                            \
        Py_ssize_t ta, tb, c;                                                     \
        int o, v;                                                                 \
        for (o = 0; o < (GROUP); o++)                                             \
            for (v = 0; v < (VECTORS); v++) a[o][v] = (deconv_vf32){0};          \
        for (ta = 0; ta < n_row_taps; ta++)                                       \
            for (tb = 0; tb < n_col_taps; tb++) {                                 \
                const float* xp = x_rows + row_slot[ta] * padded_width            \
                                  + col_input[tb] + first_pixel;                  \
                const float* wp = w_group + (row_kernel[ta] * kw + col_kernel[tb]) \
                                  * cin * packed_row;                             \
                for (c = 0; c < cin; c++) {                                       \
                    deconv_vf32 x[VECTORS];                                       \
                    for (v = 0; v < (VECTORS); v++)                               \
                        memcpy(&x[v], xp + 16 * v, sizeof x[v]);                  \
                    for (o = 0; o < (GROUP); o++)                                 \
                        for (v = 0; v < (VECTORS); v++) a[o][v] += wp[o] * x[v];  \
                    xp += plane;                                                  \
                    wp += packed_row;                                             \
                }                                                                 \
            }                                                                     \
        for (o = 0; o < (GROUP); o++)                                             \
            for (v = 0; v < (VECTORS); v++)                                       \
                memcpy(acc + 16 * ((VECTORS) * o + v), &a[o][v], sizeof a[o][v]); \
    }
    DECONV_NARROW_TILE(deconv_narrow_16x16_f32, 16, 1)
    DECONV_NARROW_TILE(deconv_narrow_8x32_f32, 8, 2)
    DECONV_NARROW_TILE(deconv_narrow_4x32_f32, 4, 2)
    DECONV_NARROW_TILE(deconv_narrow_4x64_f32, 4, 4)
    #endif
    /* The tile of ``group`` channels x ``run`` pixels; returns 0 if there
       is none of that shape. Inlined always: called with constants, the
       choice folds away and the tile is inlined at the call site (through
       a function pointer it ran 5-10% slower). */
    static DECONV_ALWAYS_INLINE int deconv_narrow_tile_f32(
            Py_ssize_t group, Py_ssize_t run, const float* x_rows, Py_ssize_t plane,
            Py_ssize_t padded_width, Py_ssize_t cin, const float* w_group, Py_ssize_t kw,
            Py_ssize_t packed_row, Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel,
            const Py_ssize_t* row_slot, Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel,
            const Py_ssize_t* col_input, Py_ssize_t first_pixel, float* acc) {
    #define DECONV_NARROW_CALL(NAME)                                                  \
        NAME(x_rows, plane, padded_width, cin, w_group, kw, packed_row, n_row_taps,   \
             row_kernel, row_slot, n_col_taps, col_kernel, col_input, first_pixel, acc)
    #if DECONV_SQUARE_LANES == 16
        if (group == 16 && run == 16) DECONV_NARROW_CALL(deconv_narrow_16x16_f32);
        else if (group == 8 && run == 32) DECONV_NARROW_CALL(deconv_narrow_8x32_f32);
        else if (group == 4 && run == 32) DECONV_NARROW_CALL(deconv_narrow_4x32_f32);
        else if (group == 4 && run == 64) DECONV_NARROW_CALL(deconv_narrow_4x64_f32);
        else return 0;
        return 1;
    #else
        (void)group; (void)run; (void)x_rows; (void)plane; (void)padded_width; (void)cin;
        (void)w_group; (void)kw; (void)packed_row; (void)n_row_taps; (void)row_kernel;
        (void)row_slot; (void)n_col_taps; (void)col_kernel; (void)col_input;
        (void)first_pixel; (void)acc;
        return 0;
    #endif
    #undef DECONV_NARROW_CALL
    }
    """
    bint deconv_narrow_tile_f32(
        Py_ssize_t group, Py_ssize_t run, const float* x_rows, Py_ssize_t plane,
        Py_ssize_t padded_width, Py_ssize_t cin, const float* w_group, Py_ssize_t kw,
        Py_ssize_t packed_row, Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel,
        const Py_ssize_t* row_slot, Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel,
        const Py_ssize_t* col_input, Py_ssize_t first_pixel, float* acc) noexcept nogil


cdef inline void _narrow_tile(
        const floating* x_rows, const Py_ssize_t plane, const Py_ssize_t padded_width,
        const Py_ssize_t cin, const floating* w_group, const Py_ssize_t kw,
        const Py_ssize_t packed_row,
        const Py_ssize_t n_row_taps, const Py_ssize_t* row_kernel, const Py_ssize_t* row_slot,
        const Py_ssize_t n_col_taps, const Py_ssize_t* col_kernel, const Py_ssize_t* col_input,
        const Py_ssize_t first_pixel, floating* y, const Py_ssize_t y_pixel_stride,
        const Py_ssize_t y_channel_stride, const Py_ssize_t group,
        const Py_ssize_t n_pixels, const Py_ssize_t n_out, const run_width* run_tag,
        const bint stream) noexcept nogil:
    """``sizeof(run_width)`` pixels (from ``first_pixel`` of a phase) x
    ``group`` channels (a constant at each call site, so each size compiles
    to its own loop; ``run_tag`` is not read; ``group`` times the run at
    most DECONV_NARROW_MAX_GROUP * NARROW_RUN); stores ``n_pixels`` x
    ``n_out`` of them. Row tap ``ta`` reads window row ``row_slot[ta]`` of
    ``x_rows`` (Cin planes of ``plane`` items). With ``stream`` (float32
    squares into whole aligned lines), whole squares are stored past the
    caches and their lines not prefetched."""
    cdef floating acc[DECONV_NARROW_MAX_GROUP * NARROW_RUN]
    cdef Py_ssize_t run = sizeof(run_width), generic_taps = n_row_taps
    cdef Py_ssize_t ta, tb, c, o, p
    cdef const floating* xp
    cdef const floating* wp
    cdef floating wo

    # The output lines are fetched while the tile is computed (as in the wide
    # tile): the stores at the end would otherwise wait on each miss.
    for p in range(0 if stream else n_pixels):
        deconv_prefetch_for_write(y + p * y_pixel_stride)
        deconv_prefetch_for_write(y + p * y_pixel_stride + (n_out - 1) * y_channel_stride)
    if floating is float and DECONV_SQUARE_LANES == 16:
        # The multiply-adds in vector types (see DECONV_NARROW_TILE).
        if deconv_narrow_tile_f32(group, run, x_rows, plane, padded_width, cin, w_group, kw,
                                  packed_row, n_row_taps, row_kernel, row_slot, n_col_taps,
                                  col_kernel, col_input, first_pixel, &acc[0]):
            generic_taps = 0
    if generic_taps:
        for p in range(group * run):
            acc[p] = 0
    for ta in range(generic_taps):
        for tb in range(n_col_taps):
            xp = x_rows + row_slot[ta] * padded_width + col_input[tb] + first_pixel
            wp = w_group + (row_kernel[ta] * kw + col_kernel[tb]) * cin * packed_row
            for c in range(cin):
                for o in range(group):
                    wo = wp[o]
                    for p in range(run):
                        acc[o * run + p] += wo * xp[p]
                xp += plane
                wp += packed_row
    if floating is float:
        if (DECONV_SQUARE_LANES == group and run == group and n_out == group
                and y_channel_stride == 1 and n_pixels == run):
            # A whole square into channels-last y: each pixel's channels
            # are one full vector, transposed in registers.
            deconv_transpose_square_f32(&acc[0], run, y, y_pixel_stride, stream)
            return
        if (DECONV_SQUARE_LANES == 2 * group and n_out == group and y_channel_stride == 1
                and n_pixels == run):
            # Groups of 8 into channels-last y, whole tiles: transposed in
            # registers, 16 pixels at a time.
            p = 0
            while p < run:
                deconv_store_columns8_f32(&acc[p], run, y + p * y_pixel_stride,
                                          y_pixel_stride)
                p += 16
            return
    if n_out == group and y_channel_stride == 1:
        # Whole groups into channels-last y: a constant count of contiguous
        # stores per pixel, not a loop that tests n_out after each one.
        for p in range(n_pixels):
            for o in range(group):
                y[p * y_pixel_stride + o] = acc[o * run + p]
    else:
        for p in range(n_pixels):
            for o in range(n_out):
                y[p * y_pixel_stride + o * y_channel_stride] = acc[o * run + p]


cdef inline void _load_input_row(const floating[:, :, :, :] x, const Py_ssize_t n,
                                 const Py_ssize_t row, floating* target,
                                 const Py_ssize_t plane) noexcept nogil:
    """Copy input row ``row`` of image ``n`` into the window: channel ``c`` to
    ``target + c * plane`` as a run of consecutive columns."""
    cdef Py_ssize_t width = x.shape[2], cin = x.shape[3], c, j, j0, j1
    cdef Py_ssize_t col_stride = x.strides[2] // sizeof(floating)
    cdef Py_ssize_t channel_stride = x.strides[3] // sizeof(floating)
    cdef const floating* source = &x[n, row, 0, 0]
    if col_stride == 1:
        # Channels-first: each channel's row is already a run of columns.
        for c in range(cin):
            memcpy(target + c * plane, source + c * channel_stride, width * sizeof(floating))
        return
    # LOAD_COLUMNS columns at a time: a channels-last row is then read a few
    # pixels' lines at a time (each line once, from L1 for its other
    # channels), not swept whole once per channel; each plane still gets
    # whole lines.
    j0 = 0
    if floating is float:
        if DECONV_SQUARE_LANES == LOAD_COLUMNS and channel_stride == 1 and cin % LOAD_COLUMNS == 0:
            # Channels-last, whole squares: transposed in registers.
            while j0 + LOAD_COLUMNS <= width:
                c = 0
                while c < cin:
                    deconv_transpose_square_f32(source + j0 * col_stride + c, col_stride,
                                                target + c * plane + j0, plane, False)
                    c += LOAD_COLUMNS
                j0 += LOAD_COLUMNS
    while j0 < width:
        j1 = min(j0 + LOAD_COLUMNS, width)
        for c in range(cin):
            for j in range(j0, j1):
                target[c * plane + j] = source[j * col_stride + c * channel_stride]
        j0 = j1


cdef struct Phases:
    # The narrow kernel's column phases (deconv._direct.ColumnPhases) as raw
    # pointers: phase p covers ``columns[p]`` output columns from
    # ``first_column[p]`` on, with taps ``tap_start[p]:tap_start[p + 1]`` of
    # ``kernel`` (kernel columns) and ``input`` (padded input columns).
    const Py_ssize_t* first_column
    const Py_ssize_t* columns
    const Py_ssize_t* tap_start
    const Py_ssize_t* kernel
    const Py_ssize_t* input
    Py_ssize_t count
    Py_ssize_t stride
    Py_ssize_t pad_left


cdef void _narrow_row_group(
        const floating[:, :, :, :] x, const floating[:, :, :, ::1] packed,
        const Taps* rows, const Phases* phases,
        floating[:, :, ::1] window, Py_ssize_t[::1] window_holds, Py_ssize_t[::1] tap_slot,
        floating[:, :, :, :] y, const Py_ssize_t n, const Py_ssize_t r,
        const Py_ssize_t group, const Py_ssize_t group_size, const bint stream) noexcept nogil:
    """Output row ``r`` of image ``n``, output channels of group ``group`` (of
    ``group_size`` channels), every phase, using one thread's ``window`` (Cin,
    rows, padded width); ``window_holds`` says which (image, input row) each
    window row holds, -1 for none. Squares stored past the caches with
    ``stream`` (see :func:`_narrow_tile`)."""
    cdef Py_ssize_t cout = y.shape[3], cin = x.shape[3], in_height = x.shape[1]
    cdef Py_ssize_t window_rows = window.shape[1], padded_width = window.shape[2]
    cdef Py_ssize_t plane = window_rows * padded_width
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t y_col_stride = y.strides[2] // item, y_channel_stride = y.strides[3] // item
    cdef Py_ssize_t o0 = group * group_size
    cdef Py_ssize_t n_out = min(group_size, cout - o0)
    cdef Py_ssize_t phase, start, columns, t0, ta, row, slot, phase_taps
    cdef Py_ssize_t run
    cdef const floating* w_group = &packed[0, 0, 0, o0]
    cdef Py_ssize_t kw = packed.shape[1], packed_row = packed.shape[3], row_taps = rows.count[r]
    cdef Py_ssize_t y_pixel_stride = phases.stride * y_col_stride
    cdef const Py_ssize_t* row_kernels = rows.kernel + r * rows.width
    cdef const Py_ssize_t* slots = &tap_slot[0]
    cdef const floating* window_start = &window[0, 0, 0]
    cdef floating* tile_y
    cdef Py_ssize_t q, o

    if row_taps == 0:
        # No tap reaches this row (a kernel smaller than its stride): zeros,
        # stored as runs rather than as tiles of zero taps.
        for q in range(y.shape[2]):
            tile_y = &y[n, r, q, o0]
            for o in range(n_out):
                tile_y[o * y_channel_stride] = 0
        return
    for ta in range(row_taps):
        row = rows.input[r * rows.width + ta]
        slot = row % window_rows
        if window_holds[slot] != n * in_height + row:
            _load_input_row(x, n, row, &window[0, slot, phases.pad_left], plane)
            window_holds[slot] = n * in_height + row
        tap_slot[ta] = slot
    for phase in range(phases.count):
        columns = phases.columns[phase]
        start = phases.tap_start[phase]
        t0 = 0
        phase_taps = phases.tap_start[phase + 1] - start
        if phase_taps == 0:  # columns no tap reaches: zeros, without tiles
            for q in range(columns):
                tile_y = &y[n, r, phases.first_column[phase] + q * phases.stride, o0]
                for o in range(n_out):
                    tile_y[o * y_channel_stride] = 0
            continue
        while t0 < columns:
            tile_y = &y[n, r, phases.first_column[phase] + t0 * phases.stride, o0]
            # The same call four times, so that each tile size is a constant.
            if group_size == NARROW_SQUARE:
                run = NARROW_SQUARE
                _narrow_tile(window_start, plane, padded_width, cin, w_group, kw, packed_row,
                             row_taps, row_kernels, slots, phase_taps, phases.kernel + start,
                             phases.input + start, t0, tile_y, y_pixel_stride, y_channel_stride,
                             NARROW_SQUARE, min(run, columns - t0), n_out,
                             <NarrowSquareRun*> NULL, stream)
            elif group_size == DECONV_NARROW_MAX_GROUP:
                run = NARROW_RUN
                _narrow_tile(window_start, plane, padded_width, cin, w_group, kw, packed_row,
                             row_taps, row_kernels, slots, phase_taps, phases.kernel + start,
                             phases.input + start, t0, tile_y, y_pixel_stride, y_channel_stride,
                             DECONV_NARROW_MAX_GROUP, min(run, columns - t0), n_out,
                             <NarrowRun*> NULL, False)
            elif (_narrow_long_run(NARROW_GROUP) == NARROW_LONG_RUN
                    and columns - t0 >= NARROW_LONG_RUN):
                # Twice the accumulators where there are registers for them (as
                # for the larger group): whole long runs only, which read no
                # further than the window's padding to NARROW_RUN allows.
                run = NARROW_LONG_RUN
                _narrow_tile(window_start, plane, padded_width, cin, w_group, kw, packed_row,
                             row_taps, row_kernels, slots, phase_taps, phases.kernel + start,
                             phases.input + start, t0, tile_y, y_pixel_stride, y_channel_stride,
                             NARROW_GROUP, NARROW_LONG_RUN, n_out, <NarrowLongRun*> NULL,
                             False)
            else:
                run = NARROW_RUN
                _narrow_tile(window_start, plane, padded_width, cin, w_group, kw, packed_row,
                             row_taps, row_kernels, slots, phase_taps, phases.kernel + start,
                             phases.input + start, t0, tile_y, y_pixel_stride, y_channel_stride,
                             NARROW_GROUP, min(run, columns - t0), n_out, <NarrowRun*> NULL,
                             False)
            t0 += run
    if stream:
        deconv_store_fence()


def conv2d_transpose_narrow(
        const floating[:, :, :, :] x, const floating[:, :, :, ::1] packed, tables,
        floating[:, :, :, ::1] windows, Py_ssize_t[:, ::1] window_holds,
        Py_ssize_t[:, ::1] tap_slots, floating[:, :, :, :] y, Py_ssize_t group_size,
        Py_ssize_t units_per_check, int num_threads, bint stream=False):
    """Fill ``y`` (N, H, W, Cout) for few output channels; see the comment above.

    ``x`` and ``y`` are indexed NHWC with any strides. ``tables`` is a
    ``deconv._direct.NarrowTables``: the row tap table and the column
    phases (per phase, its kernel columns and the padded input column each
    reads for the phase's first output column). ``group_size`` is one of
    :func:`narrow_groups` for the item size, and ``packed`` the kernel as (kh, kw, Cin,
    groups * group_size), zero-padded. Per thread: ``windows[t]`` (Cin,
    window rows, padded width) zero-filled, ``window_holds[t]`` (window
    rows,) all -1, ``tap_slots[t]`` room for one output row's row taps.
    Signals are looked at after every ``units_per_check`` work units (an
    output row of one image and channel group). ``stream`` asks for stores
    past the caches, as :func:`conv2d_transpose_wide` does: honoured for
    float32 squares of 16 channels where y's pixels are whole aligned lines.
    """
    cdef Py_ssize_t batch = y.shape[0], height = y.shape[1]
    cdef Py_ssize_t groups = packed.shape[3] // group_size
    cdef Py_ssize_t unit, rest, thread, first = 0, last, p, t
    cdef Taps rows = _taps(tables.rows, height)
    column_phases = tables.cols
    cdef const Py_ssize_t[::1] first_column = column_phases.first_column
    cdef const Py_ssize_t[::1] columns = column_phases.columns
    cdef const Py_ssize_t[::1] tap_start = column_phases.tap_start
    cdef const Py_ssize_t[::1] kernel_column = column_phases.kernel_column
    cdef const Py_ssize_t[::1] input_column = column_phases.input_column
    cdef Phases phases
    if group_size not in narrow_groups(sizeof(floating)):
        raise ValueError(f"conv2d_transpose_narrow: groups of {group_size} channels; this "
                         f"build's for {sizeof(floating)}-byte items: "
                         f"{narrow_groups(sizeof(floating))}")
    if (columns.shape[0] != first_column.shape[0]
            or tap_start.shape[0] != columns.shape[0] + 1
            or kernel_column.shape[0] != input_column.shape[0] or group_size < 1
            or packed.shape[3] % group_size != 0 or packed.shape[3] < y.shape[3]
            or packed.shape[2] != x.shape[3]
            or windows.shape[0] < num_threads or window_holds.shape[0] < num_threads
            or tap_slots.shape[0] < num_threads
            or windows.shape[1] != x.shape[3] or windows.shape[2] != tables.window_rows
            or window_holds.shape[1] != tables.window_rows
            or windows.shape[3] != column_phases.padded_width
            or tap_slots.shape[1] < rows.width or units_per_check < 1
            or column_phases.stride < 1 or tap_start[0] != 0
            or tap_start[columns.shape[0]] != kernel_column.shape[0]
            or not _taps_fit(&rows, height, packed.shape[0], x.shape[1])):
        raise ValueError(f"conv2d_transpose_narrow: x {tuple(x.shape)[:4]}, packed "
                         f"{tuple(packed.shape)[:4]}, y {tuple(y.shape)[:4]}, tables and "
                         f"scratch do not agree")
    for p in range(columns.shape[0]):
        if (not 0 <= first_column[p] < y.shape[2] or columns[p] < 0
                or first_column[p] + (columns[p] - 1) * column_phases.stride >= y.shape[2]
                or not 0 <= tap_start[p] <= tap_start[p + 1] <= kernel_column.shape[0]):
            raise ValueError("conv2d_transpose_narrow: the column phases do not fit y")
        for t in range(tap_start[p], tap_start[p + 1]):
            if (not 0 <= kernel_column[t] < packed.shape[1] or input_column[t] < 0
                    or input_column[t] + _padded(columns[p], NARROW_RUN)
                    > column_phases.padded_width):
                raise ValueError("conv2d_transpose_narrow: the column phases reach past the "
                                 "window")
    phases.first_column = &first_column[0]
    phases.columns = &columns[0]
    phases.tap_start = &tap_start[0]
    # No column taps at all (a dilated kernel whose taps all miss the output
    # columns): every phase is zeros, and reads neither table.
    phases.kernel = &kernel_column[0] if kernel_column.shape[0] else NULL
    phases.input = &input_column[0] if input_column.shape[0] else NULL
    phases.count = columns.shape[0]
    phases.stride = column_phases.stride
    phases.pad_left = column_phases.pad_left
    stream = (stream and floating is float and DECONV_STREAM_STORES
              and group_size == NARROW_SQUARE == DECONV_SQUARE_LANES
              and y.strides[3] == sizeof(floating) and _lines_whole(y))
    # Units are ordered row-major: a thread's static chunk is a run of whole
    # output rows (every group), so its window rows serve all groups and the
    # threads write (and on a first call, fault in) different pages.
    while first < groups * batch * height:  # stretches between looks for signals
        last = min(groups * batch * height, first + units_per_check)
        for unit in prange(first, last, nogil=True, schedule="static",
                           num_threads=num_threads):
            thread = threadid()
            rest = unit // groups
            _narrow_row_group(x, packed, &rows, &phases, windows[thread], window_holds[thread],
                              tap_slots[thread], y, rest // height, rest % height,
                              unit % groups, group_size, stream)
        PyErr_CheckSignals()
        first = last


def gather_stacked(const floating[:, :, :, :] source, floating[:, :, :, :, :, ::1] stacked,
                   Py_ssize_t pad_h, Py_ssize_t pad_w, int num_threads):
    """Fill ``stacked`` (N, Lh, Lw, Rh, Rw, C) with ``source`` (N, H, W, C;
    any strides) laid out by residues: element (n, t, u, p, q, c) is
    ``source[n, t * Rh + p - pad_h, u * Rw + q - pad_w, c]``, 0 outside
    source. Written in order, one (n, t) row of elements per task. With
    R = 1 and no pads it is a copy into channels-last order (a transposed or
    strided source made contiguous)."""
    cdef Py_ssize_t batch = stacked.shape[0], length_h = stacked.shape[1]
    cdef Py_ssize_t length_w = stacked.shape[2], residues_h = stacked.shape[3]
    cdef Py_ssize_t residues_w = stacked.shape[4], channels = stacked.shape[5]
    cdef Py_ssize_t height = source.shape[1], width = source.shape[2]
    cdef Py_ssize_t unit, n, t, u, p, q, c, c0, c1, r, s
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t s_image = source.strides[0] // item, s_row = source.strides[1] // item
    cdef Py_ssize_t s_col = source.strides[2] // item, s_channel = source.strides[3] // item
    cdef const floating* origin
    cdef const floating* read
    cdef floating* write
    if source.shape[0] != batch or source.shape[3] != channels:
        raise ValueError(f"gather_stacked: source {tuple(source.shape)[:4]} does not fit "
                         f"{tuple(stacked.shape)[:6]}")
    if batch * length_h * length_w * residues_h * residues_w * channels == 0:
        return
    origin = &source[0, 0, 0, 0] if source.shape[1] * source.shape[2] > 0 else NULL
    for unit in prange(batch * length_h, nogil=True, schedule="static",
                       num_threads=num_threads):
        n = unit // length_h
        t = unit % length_h
        # 16 channels at a time along the row: a channel-strided source (a
        # transposed view) is then read a few lines at a time, not a line
        # per value.
        for c0 in range(0, channels, 16):
            c1 = min(c0 + 16, channels)
            for u in range(length_w):
                for p in range(residues_h):
                    r = t * residues_h + p - pad_h
                    for q in range(residues_w):
                        s = u * residues_w + q - pad_w
                        write = &stacked[n, t, u, p, q, 0]
                        if 0 <= r < height and 0 <= s < width:
                            read = origin + n * s_image + r * s_row + s * s_col
                            for c in range(c0, c1):
                                write[c] = read[c * s_channel]
                        else:
                            for c in range(c0, c1):
                                write[c] = 0


include "_winograd_fused.pxi"
