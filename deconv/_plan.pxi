# Planning tables of the direct kernels, one spatial dimension at a time
# (included by _core.pyx). They are pure integer bookkeeping, computed in C so
# that the first call on a new shape costs microseconds, not the ~0.5 ms the
# same work took in NumPy. Every function takes the geometry of one axis:
# input size, output size, kernel size, stride, dilation and ``pad`` (leading
# rows or columns of the full output that are cropped). Output index ``r``
# receives kernel tap ``a`` from input index ``i`` when ``r + pad - a *
# dilation == i * stride`` with ``0 <= i < in_size``.
import numpy as np

cimport numpy as cnp

cnp.import_array()


cdef struct Taps:
    # One axis' tap table (deconv._direct.TapTable) as raw pointers: output
    # index r takes count[r] taps, kernel index kernel[r * width + t] from
    # input index input[r * width + t].
    const Py_ssize_t* count
    const Py_ssize_t* kernel
    const Py_ssize_t* input
    Py_ssize_t width


cdef struct Classes:
    # Column classes (deconv._direct.ColumnClasses) as raw pointers.
    const Py_ssize_t* start
    const Py_ssize_t* columns
    const Py_ssize_t* shift
    Py_ssize_t count


cdef const Py_ssize_t* _index_data(array, Py_ssize_t ndim, str what) except NULL:
    """The data of a C-contiguous intp array of ``ndim`` dimensions, or
    ValueError. Cheaper than a memoryview: the small variant's whole call
    costs a microsecond."""
    if (not isinstance(array, np.ndarray) or (<cnp.ndarray> array).ndim != ndim
            or cnp.PyArray_TYPE(<cnp.ndarray> array) != cnp.NPY_INTP
            or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> array)
            or cnp.PyArray_SIZE(<cnp.ndarray> array) == 0):
        raise ValueError(f"{what} must be a non-empty C-contiguous {ndim}-D intp array")
    return <const Py_ssize_t*> cnp.PyArray_DATA(<cnp.ndarray> array)


cdef Taps _taps(table, Py_ssize_t out_size) except *:
    """The raw view of a TapTable of ``out_size`` indices; its arrays must
    outlive the view."""
    cdef cnp.ndarray count = table.count, kernel = table.kernel_index, inputs = table.input_index
    cdef Taps taps
    taps.count = _index_data(count, 1, "a tap table's count")
    taps.kernel = _index_data(kernel, 2, "a tap table's kernel index")
    taps.input = _index_data(inputs, 2, "a tap table's input index")
    if (count.shape[0] != out_size or kernel.shape[0] != out_size
            or inputs.shape[0] != out_size or kernel.shape[1] != inputs.shape[1]):
        raise ValueError(f"a tap table for {out_size} indices has arrays of shapes "
                         f"{np.shape(count)}, {np.shape(kernel)}, {np.shape(inputs)}")
    taps.width = kernel.shape[1]
    return taps


cdef bint _taps_fit(const Taps* taps, Py_ssize_t out_size, Py_ssize_t kernel_size,
                    Py_ssize_t in_size) noexcept nogil:
    """Whether every tap of a table of ``out_size`` indices indexes inside the
    kernel and the input (the kernels trust them)."""
    cdef Py_ssize_t r, t
    for r in range(out_size):
        if not 0 <= taps.count[r] <= taps.width:
            return False
        for t in range(taps.count[r]):
            if not (0 <= taps.kernel[r * taps.width + t] < kernel_size
                    and 0 <= taps.input[r * taps.width + t] < in_size):
                return False
    return True


cdef inline Py_ssize_t _input_of(Py_ssize_t r, Py_ssize_t a, Py_ssize_t in_size,
                                 Py_ssize_t stride, Py_ssize_t dilation,
                                 Py_ssize_t pad) noexcept nogil:
    """The input index that tap ``a`` brings to output ``r``, or -1 if none."""
    cdef Py_ssize_t offset = r + pad - a * dilation
    if offset < 0 or offset % stride != 0 or offset // stride >= in_size:
        return -1
    return offset // stride


def tap_table(Py_ssize_t in_size, Py_ssize_t out_size, Py_ssize_t kernel_size,
              Py_ssize_t stride, Py_ssize_t dilation, Py_ssize_t pad):
    """For each output index, the kernel taps that reach it and their input index.

    Returns
    -------
    count : ndarray of intp, shape (out_size,)
    kernel_index, input_index : ndarray of intp, shape (out_size, max(1, max(count)))
        Row ``r`` lists ``count[r]`` pairs in increasing kernel order (zeros after).
    """
    _check_axis(in_size, out_size, kernel_size, stride, dilation, "tap_table")
    count = np.zeros(out_size, dtype=np.intp)
    cdef Py_ssize_t[::1] n_taps = count
    cdef Py_ssize_t r, a, i, width = 1
    for r in range(out_size):
        for a in range(kernel_size):
            if _input_of(r, a, in_size, stride, dilation, pad) >= 0:
                n_taps[r] += 1
        width = max(width, n_taps[r])
    kernel_index = np.zeros((out_size, width), dtype=np.intp)
    input_index = np.zeros((out_size, width), dtype=np.intp)
    cdef Py_ssize_t[:, ::1] taps = kernel_index, inputs = input_index
    cdef Py_ssize_t slot
    for r in range(out_size):
        slot = 0
        for a in range(kernel_size):
            i = _input_of(r, a, in_size, stride, dilation, pad)
            if i >= 0:
                taps[r, slot] = a
                inputs[r, slot] = i
                slot += 1
    return count, kernel_index, input_index


def column_classes(table, Py_ssize_t stride, Py_ssize_t pad):
    """Group output columns that use the same kernel columns.

    Columns of one phase (``(q + pad) % stride``) use a run of the same
    arithmetic progression of taps, whose two ends only move forward as q
    grows, so a phase's columns with equal (first tap, count) are consecutive:
    each such run is a class.

    Returns
    -------
    class_start : ndarray of intp, shape (n_classes + 1,)
        Class ``k`` is ``class_columns[class_start[k]:class_start[k + 1]]``;
        its first column is the representative whose taps the kernel uses.
    class_columns : ndarray of intp, shape (out_size,)
    column_shift : ndarray of intp, shape (out_size,)
        How many input columns each column is shifted from its representative.
    """
    cdef const Py_ssize_t[::1] count = table.count
    cdef const Py_ssize_t[:, ::1] kernel_index = table.kernel_index
    cdef const Py_ssize_t[:, ::1] input_index = table.input_index
    cdef Py_ssize_t out_size = count.shape[0]
    if (kernel_index.shape[0] != out_size or input_index.shape[0] != out_size
            or kernel_index.shape[1] < 1 or input_index.shape[1] < 1 or stride < 1):
        raise ValueError(f"column_classes: a tap table of {out_size} columns with arrays "
                         f"{tuple(kernel_index.shape)[:2]} and {tuple(input_index.shape)[:2]}, "
                         f"stride {stride}")
    starts = np.zeros(out_size + 1, dtype=np.intp)
    columns = np.empty(out_size, dtype=np.intp)
    shifts = np.zeros(out_size, dtype=np.intp)
    cdef Py_ssize_t[::1] class_start = starts, class_columns = columns, column_shift = shifts
    cdef Py_ssize_t first_q, q, rep = 0, filled = 0, n_classes = 0
    # Phases in the order of their first columns: only the first
    # min(stride, out_size) have columns, whatever the stride.
    for first_q in range(min(stride, out_size)):
        q = first_q
        while q < out_size:
            if (q == first_q or count[q] != count[rep]
                    or kernel_index[q, 0] != kernel_index[rep, 0]):
                rep = q
                class_start[n_classes] = filled
                n_classes += 1
            class_columns[filled] = q
            column_shift[q] = input_index[q, 0] - input_index[rep, 0]
            filled += 1
            q += stride
    class_start[n_classes] = filled
    return starts[:n_classes + 1].copy(), columns, shifts


def column_phases(Py_ssize_t in_size, Py_ssize_t out_size, Py_ssize_t kernel_size,
                  Py_ssize_t stride, Py_ssize_t dilation, Py_ssize_t pad, Py_ssize_t run):
    """Column tables of the narrow kernel, one entry per column phase that
    has columns (the first min(stride, out_size) output columns start one
    each), in the order of their first columns.

    Returns
    -------
    first_column, columns : ndarray of intp, shape (phases,)
        The phase's first output column and how many columns it has.
    tap_start : ndarray of intp, shape (phases + 1,)
        Phase ``p`` uses taps ``tap_start[p]:tap_start[p + 1]`` of:
    kernel_column, input_column : ndarray of intp
        The kernel columns of each phase and the padded input column each one
        reads for the phase's first output column (later columns read the next ones).
    pad_left, padded_width : int
        Zero columns before x, and the padded width (room for a whole last run
        of ``run`` columns).
    """
    _check_axis(in_size, out_size, kernel_size, stride, dilation, "column_phases")
    if run < 1:
        raise ValueError(f"column_phases: runs of {run} columns")
    cdef Py_ssize_t phases = min(stride, out_size)
    first = np.empty(phases, dtype=np.intp)
    columns = np.empty(phases, dtype=np.intp)
    start = np.zeros(phases + 1, dtype=np.intp)
    # A tap belongs to one phase, so there are at most kernel_size of them
    # (a column phase lists the taps of its phase, none twice).
    kernel_column = np.empty(kernel_size, dtype=np.intp)
    input_column = np.empty(kernel_size, dtype=np.intp)
    cdef Py_ssize_t[::1] first_v = first, columns_v = columns, start_v = start
    cdef Py_ssize_t[::1] kernel_v = kernel_column, input_v = input_column
    cdef Py_ssize_t p, phase, q0, n_columns, b, j0, taps = 0
    cdef Py_ssize_t lowest = 0, end = in_size, pad_left
    for p in range(phases):
        q0 = p
        phase = (q0 + pad) % stride
        if phase < 0:
            phase += stride
        n_columns = (out_size - q0 + stride - 1) // stride
        first_v[p] = q0
        columns_v[p] = n_columns
        for b in range(kernel_size):
            if (b * dilation) % stride == phase:
                # Exact: q0 + pad - b * dilation is a multiple of stride here.
                j0 = (q0 + pad - b * dilation) // stride
                kernel_v[taps] = b
                input_v[taps] = j0
                lowest = min(lowest, j0)
                end = max(end, j0 + (n_columns + run - 1) // run * run)
                taps += 1
        start_v[p + 1] = taps
    pad_left = -lowest
    for b in range(taps):
        input_v[b] += pad_left
    return (first, columns, start, kernel_column[:taps].copy(), input_column[:taps].copy(),
            pad_left, pad_left + end)


cdef int _check_axis(Py_ssize_t in_size, Py_ssize_t out_size, Py_ssize_t kernel_size,
                     Py_ssize_t stride, Py_ssize_t dilation, str where) except -1:
    """ValueError unless one axis' geometry makes sense (the tables divide by
    the stride and size arrays by the others)."""
    if in_size < 0 or out_size < 0 or kernel_size < 1 or stride < 1 or dilation < 1:
        raise ValueError(f"{where}: input size {in_size}, output size {out_size}, kernel "
                         f"{kernel_size}, stride {stride}, dilation {dilation}")
    return 0


def input_rows_per_output_row(table):
    """The most distinct input rows any one output row of a tap table
    (``deconv._direct.TapTable``) reads, at least 1: the narrow kernel's
    window height. Taps are listed in increasing kernel order, so a row's
    inputs run from its first to its last tap."""
    cdef Py_ssize_t r, span = 1, out_size = len(table.count)
    cdef Taps taps = _taps(table, out_size)
    for r in range(out_size):
        if taps.count[r] > 0:
            span = max(span, taps.input[r * taps.width]
                       - taps.input[r * taps.width + taps.count[r] - 1] + 1)
    return span


def wide_tile_taps(tables, Py_ssize_t batch, sizes):
    """(register tile, kernel tap) visits of the wide kernel for one block of
    output channels, and the pixel slots they compute, given its
    ``deconv._direct.WideTables``: per output row, each column class's pixels
    of every image in tiles of ``sizes[0]`` pixels, the last one partial
    (the smallest tile of ``sizes``, largest first, that holds it), times
    the taps. Returns (tile taps, pixel-slot taps)."""
    cdef const Py_ssize_t[::1] row_count = tables.rows.count
    cdef const Py_ssize_t[::1] col_count = tables.cols.count
    cdef const Py_ssize_t[::1] class_start = tables.classes.start
    cdef const Py_ssize_t[::1] class_columns = tables.classes.columns
    cdef Py_ssize_t r, cls, row_taps = 0, size, rest, taps, first
    cdef Py_ssize_t tile_taps = 0, slot_taps = 0, pixels, last
    sizes = tuple(sizes)
    if not sizes or sizes != tuple(sorted(set(sizes), reverse=True)) or min(sizes) < 1 \
            or batch < 0:
        raise ValueError(f"wide_tile_taps: tiles of {sizes} pixels (distinct, largest first, "
                         f"at least 1), batch {batch}")
    pixels = sizes[0]
    for r in range(row_count.shape[0]):
        row_taps += row_count[r]
    for cls in range(class_start.shape[0] - 1):
        first = class_start[cls]
        if not 0 <= first < class_start[cls + 1] <= class_columns.shape[0] \
                or not 0 <= class_columns[first] < col_count.shape[0]:
            raise ValueError("wide_tile_taps: column classes do not fit the column table")
        size = batch * (class_start[cls + 1] - first)
        taps = col_count[class_columns[first]]
        rest = size % pixels
        last = min([tile for tile in sizes if tile >= rest]) if rest else 0
        tile_taps += ((size + pixels - 1) // pixels) * taps
        slot_taps += (size - rest + last) * taps
    return row_taps * tile_taps, row_taps * slot_taps


def narrow_tile_taps(row_table, Py_ssize_t out_size, Py_ssize_t kernel_size,
                     Py_ssize_t stride, Py_ssize_t dilation, Py_ssize_t pad, Py_ssize_t run,
                     Py_ssize_t long_run):
    """(tile, kernel tap) visits of the narrow kernel for one image and one
    group of output channels, and the pixel slots they compute: every
    column phase in tiles of ``long_run`` pixels while it has that many
    columns left, then of ``run`` (the last one partial), for each of its
    column taps (the column geometry is given, as in :func:`column_phases`)
    and each row tap of ``row_table``. Returns (tile taps, pixel-slot taps)."""
    cdef const Py_ssize_t[::1] row_count = row_table.count
    cdef Py_ssize_t r, phase, b, q0, taps, columns, rest, tiles, row_taps = 0
    cdef Py_ssize_t tile_taps = 0, slot_taps = 0
    _check_axis(0, out_size, kernel_size, stride, dilation, "narrow_tile_taps")
    if run < 1 or long_run < run:
        raise ValueError(f"narrow_tile_taps: runs of {run} and {long_run} columns")
    for r in range(row_count.shape[0]):
        row_taps += row_count[r]
    for q0 in range(min(stride, out_size)):
        phase = (q0 + pad) % stride
        if phase < 0:
            phase += stride
        taps = 0
        for b in range(kernel_size):
            if (b * dilation) % stride == phase:
                taps += 1
        columns = max(0, (out_size - q0 + stride - 1) // stride)
        rest = columns % long_run
        tiles = (rest + run - 1) // run
        tile_taps += (columns // long_run + tiles) * taps
        slot_taps += (columns - rest + tiles * run) * taps
    return row_taps * tile_taps, row_taps * slot_taps
