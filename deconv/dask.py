"""Transposed convolution of Dask arrays: batches too large for one process,
images too large for memory.

Needs the ``dask`` extra (``pip install "deconv[dask]"``: dask[array],
distributed and zarr); ``import deconv`` works without it.

The result is a lazy :class:`dask.array.Array`, one task per output chunk;
:func:`conv2d` (the adjoint) is chunked alike, read backwards.
Each task reads the input its chunk depends on and nothing more -- the
input chunk under it plus a halo of at most ceil((E - 1) / s) rows and
columns, E the effective kernel -- and computes that piece with the in-memory
kernels, so the computed array equals :func:`deconv.conv2d_transpose` of the
whole array: bit for bit on the ``"direct"`` backend, within the Semantics
page's tolerances where a piece takes the FFT.

Chunking rule
-------------
* Batch chunks of the output are x's batch chunks.
* The channel axis of x is made one chunk (x is rechunked along it when it
  is not): every output channel needs every input channel.
* A spatial axis of the output is cut into chunks of ``stride`` times x's
  largest chunk along it, the last one taking the rest (an axis that x holds
  in one chunk stays one chunk); ``output_chunks`` chooses other cuts.
  Regular chunks are what zarr stores need.

The kernel reaches each worker once: the graph holds one
:class:`deconv.Conv2DTranspose` as a key of its own that every task reads,
not a copy of the kernel per task. A task runs on the threads its share of
the machine allows: ``num_threads`` when given, else the threads deconv would
use (OMP_NUM_THREADS, which Dask's workers set to 1, else every usable core)
divided by the tasks that run at once (a distributed worker's thread count,
the threaded scheduler's pool), so that tasks running side by side do not
oversubscribe the cores.
"""
import threading

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.delayed import delayed
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError('deconv.dask needs Dask: pip install "deconv[dask]"') from error

from ._arguments import check_float_dtype, check_rank
from ._adjoint import AdjointPlan
from ._conv2d import Conv2D
from ._operator import Conv2DTranspose
from ._problem import make_adjoint_problem
from ._threads import requested_threads, threads_for

__all__ = ["apply", "conv2d", "conv2d_transpose", "output_chunks_for", "task_threads"]


def conv2d_transpose(x, kernel, output_shape=None, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1), *, backend=None, num_threads=None,
                     output_chunks=None):
    """:func:`deconv.conv2d_transpose` of a Dask array, as a Dask array.

    Parameters
    ----------
    x : dask.array.Array
        (N, h, w, Cin) or (N, Cin, h, w) as ``data_format`` says; float16,
        float32 or float64; any chunks (the channel axis is made one chunk).
    kernel : array_like
        (kh, kw, Cout, Cin), in memory.
    output_shape, strides, padding, data_format, dilation_rate, backend
        As for :func:`deconv.conv2d_transpose`. A backend registered at run
        time must be registered in the worker processes too.
    num_threads : int, optional
        Threads per task; None (the default) shares the cores between the
        tasks that run at once (see the module docstring).
    output_chunks : int or pair, optional
        Chunks of the output's two spatial axes (height, width): for each, an
        int (regular chunks) or a tuple of sizes adding up to the axis. None
        (the default) applies the chunking rule of the module docstring.

    Returns
    -------
    dask.array.Array
        Lazy; in the layout of x; float16 for float16 inputs, else the wider
        of x's and the kernel's dtypes.

    Raises
    ------
    TypeError, ValueError
        As :func:`deconv.conv2d_transpose`, before anything is computed; also
        for an x that is not a Dask array and for bad ``output_chunks``. An
        output larger than the memory available is not an error here.

    See Also
    --------
    apply : the same for a :class:`deconv.Conv2DTranspose` operator.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import deconv, deconv.dask
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 64, 64, 8), dtype=np.float32)
    >>> kernel = rng.standard_normal((4, 4, 8, 8), dtype=np.float32)
    >>> y = deconv.dask.conv2d_transpose(da.from_array(x, chunks=(1, 32, 32, 8)), kernel,
    ...                                  strides=2, padding="same", backend="direct")
    >>> y.chunks
    ((1, 1), (64, 64), (64, 64), (8,))
    >>> whole = deconv.conv2d_transpose(x, kernel, strides=2, padding="same",
    ...                                 backend="direct")
    >>> bool(np.array_equal(y.compute(), whole))
    True
    """
    operator = Conv2DTranspose(kernel, strides, padding, data_format, dilation_rate,
                               backend=backend, num_threads=num_threads)
    return apply(operator, x, output_shape, output_chunks=output_chunks)


def conv2d(y, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
           *, backend=None, num_threads=None, output_chunks=None):
    """:func:`deconv.conv2d` (the adjoint) of a Dask array, as a Dask array.

    Parameters
    ----------
    y : dask.array.Array
        (N, H, W, Cout) or (N, Cout, H, W); any chunks (the channel axis is
        made one chunk).
    kernel : array_like
        (kh, kw, Cout, Cin), in memory.
    strides, padding, data_format, dilation_rate, backend, num_threads, output_chunks
        As for :func:`conv2d_transpose`; the default output chunks along a
        spatial axis are y's largest chunk divided by the stride (at least 1).

    Returns
    -------
    dask.array.Array
        Lazy, equal to :func:`deconv.conv2d` of the whole array (bit for bit
        on the ``"direct"`` backend: each chunk is computed the whole call's
        way).

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import deconv, deconv.dask
    >>> rng = np.random.default_rng(0)
    >>> y = rng.standard_normal((2, 64, 64, 8))
    >>> kernel = rng.standard_normal((4, 4, 8, 3))
    >>> x = deconv.dask.conv2d(da.from_array(y, chunks=(1, 32, 32, 8)), kernel, strides=2,
    ...                        padding="same", backend="direct")
    >>> x.chunks
    ((1, 1), (16, 16), (16, 16), (3,))
    >>> bool(np.array_equal(x.compute(), deconv.conv2d(y, kernel, strides=2, padding="same",
    ...                                                backend="direct")))
    True
    """
    operator = Conv2D(kernel, strides, padding, data_format, dilation_rate, backend=backend,
                      num_threads=num_threads)
    return apply(operator, y, output_chunks=output_chunks)


def apply(operator, x, output_shape=None, *, output_chunks=None):
    """A :class:`deconv.Conv2DTranspose` or :class:`deconv.Conv2D` operator
    applied to a Dask array, lazily.

    Parameters
    ----------
    operator : deconv.Conv2DTranspose or deconv.Conv2D
        Its kernel, geometry, backend and ``num_threads`` (threads per task)
        apply.
    x : dask.array.Array
    output_shape : sequence of 4 ints, optional
        As for a Conv2DTranspose's call (a Conv2D takes none).
    output_chunks : int or pair, optional
        As for :func:`conv2d_transpose`.

    Returns
    -------
    dask.array.Array

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import deconv, deconv.dask
    >>> up = deconv.Conv2DTranspose(np.ones((3, 3, 4, 2), np.float32), strides=2)
    >>> x = da.ones((10, 16, 16, 2), dtype=np.float32, chunks=(5, 8, 8, 2))
    >>> y = deconv.dask.apply(up, x)
    >>> y.shape, y.chunks[:3]
    ((10, 33, 33, 4), ((5, 5), (16, 16, 1), (16, 16, 1)))
    >>> deconv.dask.apply(up.adjoint, y).chunks[:3]
    ((5, 5), (8, 8), (8, 8))
    """
    if not isinstance(operator, (Conv2DTranspose, Conv2D)):
        raise TypeError(f"operator must be a deconv.Conv2DTranspose or deconv.Conv2D; got "
                        f"{type(operator).__name__}")
    if not isinstance(x, da.Array):
        raise TypeError(f"x must be a dask.array.Array (use the operator itself for "
                        f"in-memory arrays); got {type(x).__name__}")
    planner = operator._planner
    arguments = operator._arguments
    if isinstance(operator, Conv2D):
        if output_shape is not None:
            raise TypeError("a Conv2D operator takes no output_shape")
        check_rank(x.shape, "y")
        check_float_dtype(np.dtype(x.dtype), "y")
        kernel = operator.kernel
        problem = make_adjoint_problem(tuple(x.shape), np.dtype(x.dtype), kernel.shape,
                                       kernel.dtype, arguments.strides,
                                       arguments.dilation_rate, arguments.padding,
                                       arguments.data_format, check_memory=False)
        rows, cols = problem.rows.adjoint_window, problem.cols.adjoint_window
        out_rows, out_cols = problem.rows.in_size, problem.cols.in_size
        channels, task = problem.input_shape[3], _compute_adjoint_tile
        pinned = _adjoint_pins(planner, problem)
    else:
        problem = planner.problem(x, output_shape, check_memory=False)
        rows, cols = problem.rows.window, problem.cols.window
        out_rows, out_cols = problem.rows.out_size, problem.cols.out_size
        channels, task = problem.output_shape[3], _compute_tile
        pinned = _pinned_variant(planner, problem)
    channels_first = problem.data_format == "channels_first"
    row_axis, col_axis, channel_axis = (2, 3, 1) if channels_first else (1, 2, 3)
    if len(x.chunks[channel_axis]) > 1:
        x = x.rechunk({channel_axis: -1})
    row_chunks, col_chunks = (
        _axis_chunks(name, size, input_chunks, stride, chosen, adjoint=task is not _compute_tile)
        for name, size, input_chunks, stride, chosen in zip(
            ("height", "width"), (out_rows, out_cols), (x.chunks[row_axis], x.chunks[col_axis]),
            arguments.strides, _per_axis(output_chunks)))
    # One key for the operator (and its kernel), read by every task.
    operator_key = delayed(operator, pure=True)
    batch_chunks = x.chunks[0]
    dtype = problem.result_dtype
    tiles = []
    for row_window in _windows(rows, row_chunks):
        row_of_tiles = []
        for col_window in _windows(cols, col_chunks):
            chunks = [batch_chunks, (row_window.stop - row_window.start,),
                      (col_window.stop - col_window.start,)]
            chunks.insert(channel_axis, (channels,))
            index = [slice(None)] * 4
            index[row_axis] = slice(row_window.first_input, row_window.stop_input)
            index[col_axis] = slice(col_window.first_input, col_window.stop_input)
            window = x[tuple(index)]
            if 0 in window.shape:  # nothing lands here: zeros, no task reading x
                tile = da.zeros(tuple(map(sum, chunks)), dtype=dtype, chunks=tuple(chunks))
            else:
                window = window.rechunk({row_axis: -1, col_axis: -1})
                tile = da.map_blocks(task, operator_key, window, problem, row_window,
                                     col_window, arguments.threads, pinned,
                                     chunks=tuple(chunks), dtype=dtype,
                                     meta=np.empty((0,) * 4, dtype), token=_TOKENS[task])
            row_of_tiles.append(tile)
        tiles.append(row_of_tiles)
    # da.block nests one list per axis: batch, then channels first or last.
    if channels_first:
        return da.block([[tiles]])
    return da.block([[[[tile] for tile in row] for row in tiles]])


def output_chunks_for(problem, row_input_chunks, col_input_chunks, output_chunks=None):
    """The output's spatial chunks (rows, cols) of a transposed convolution
    ``problem`` (a :class:`deconv.ConvTransposeProblem`) whose x has the
    given chunks along its spatial axes; see the chunking rule in the module
    docstring.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> from deconv.dask import output_chunks_for
    >>> up = deconv.Conv2DTranspose(np.ones((4, 4, 1, 1), np.float32), strides=2,
    ...                             padding="same")
    >>> problem = up.plan_for(np.empty((1, 10, 10, 1), np.float32)).problem
    >>> output_chunks_for(problem, (4, 4, 2), (10,))
    ((8, 8, 4), (20,))
    >>> output_chunks_for(problem, (4, 4, 2), (10,), output_chunks=(5, (15, 5)))
    ((5, 5, 5, 5), (15, 5))
    """
    return tuple(_axis_chunks(axis.name, axis.out_size, input_chunks, axis.stride, chosen)
                 for axis, input_chunks, chosen in zip(
                     (problem.rows, problem.cols), (row_input_chunks, col_input_chunks),
                     _per_axis(output_chunks)))


def _per_axis(output_chunks):
    if output_chunks is None:
        return None, None
    if isinstance(output_chunks, (tuple, list)) and len(output_chunks) == 2:
        return tuple(output_chunks)
    if isinstance(output_chunks, (int, np.integer)) and not isinstance(output_chunks, bool):
        return output_chunks, output_chunks
    raise TypeError(f"output_chunks must be None, an int or a pair (height, width) of "
                    f"ints or tuples of ints; got {output_chunks!r}")


def _axis_chunks(name, size, input_chunks, stride, chosen, adjoint=False):
    """One spatial axis' output chunks: ``chosen`` as the caller gave them,
    or the rule: x's largest chunk times the stride (divided by it for the
    adjoint, at least 1), one chunk where x has one."""
    if chosen is None:
        largest = max(input_chunks, default=0)
        step = max(1, largest // stride) if adjoint else stride * largest
        if len(input_chunks) <= 1 or largest == 0 or step >= size:
            return (size,)
        return (step,) * (size // step) + ((size % step,) if size % step else ())
    if isinstance(chosen, (int, np.integer)) and not isinstance(chosen, bool):
        if chosen < 1:
            raise ValueError(f"output_chunks for the {name} must be >= 1; got {chosen}")
        if size == 0:
            return (0,)
        step = int(chosen)
        return (step,) * (size // step) + ((size % step,) if size % step else ())
    try:
        sizes = tuple(int(entry) for entry in chosen)
    except (TypeError, ValueError):
        raise TypeError(f"output_chunks for the {name} must be an int or a tuple of "
                        f"ints; got {chosen!r}") from None
    if any(entry < 0 for entry in sizes) or sum(sizes) != size:
        raise ValueError(f"output_chunks for the {name} must be sizes >= 0 adding up "
                         f"to the output {name} {size}; got {sizes}")
    return sizes


def _windows(window_of, chunks):
    """The windows (``Axis.window`` or ``Axis.adjoint_window``) of
    consecutive chunks of these sizes."""
    start = 0
    for size in chunks:
        yield window_of(start, start + size)
        start += size


def _pinned_variant(planner, problem):
    """(backend, variant) of the whole call when it runs on a backend with
    variants: its pieces then run that variant too (see
    ``DirectBackend.plan_variant``)."""
    if problem.is_empty:
        return None
    plan = planner.plan_problem(problem, planner.current_backend(),
                                threads_for(planner.arguments.threads))
    if plan.backend_plan is None or not hasattr(plan.backend_object, "plan_variant"):
        return None
    return plan.backend, plan.variant


def _adjoint_pins(planner, problem):
    """How the whole conv2d call computes (``AdjointPlan.pins``: its way and
    its runs' variants): its pieces are computed the same way, so they add
    up their terms as it does."""
    if problem.is_empty:
        return None
    batch, _, _, channels = problem.input_shape
    runs = planner.runs(problem.rows, problem.cols, batch, problem.output_shape[3], channels,
                        problem.dtype, threads_for(planner.arguments.threads))
    return AdjointPlan(problem, runs, problem.input_shape, 1).pins


def _compute_tile(operator, window, problem, rows, cols, num_threads, pinned):
    return operator._run_window(window, problem, rows, cols, task_threads(num_threads),
                                pinned)


def _compute_adjoint_tile(operator, window, problem, rows, cols, num_threads, pins):
    return operator._run_window(window, problem, rows, cols, task_threads(num_threads), pins)


_TOKENS = {_compute_tile: "deconv-conv2d-transpose", _compute_adjoint_tile: "deconv-conv2d"}


def task_threads(num_threads=None):
    """Threads one task runs on: ``num_threads`` if given (at most the
    usable cores), else the process's default shared between the tasks that
    run at once here (module docstring).

    Examples
    --------
    >>> from deconv.dask import task_threads
    >>> task_threads(1)
    1
    """
    if num_threads is not None:
        return threads_for(requested_threads(num_threads))
    return max(1, threads_for(None) // _tasks_at_once())


def _tasks_at_once():
    try:
        from distributed import get_worker
        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        pass
    if threading.current_thread() is threading.main_thread():
        return 1  # the synchronous scheduler: one task at a time
    return max(1, dask.config.get("num_workers", None) or dask.system.CPU_COUNT)
