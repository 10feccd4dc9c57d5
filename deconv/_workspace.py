"""Scratch memory of the compiled kernels, kept between calls.

A kernel's scratch arrays (weight panels, per-thread windows, staging rows)
are small next to its output, but allocating them afresh on every call means
fresh pages from the operating system whenever the C allocator has just
returned memory to it -- page faults that can cost more than the computation
(a 2 MB panel buffer is 512 first-touch faults). So each Python thread keeps
one buffer, grown to the largest request it has seen (up to
``RETAINED_BYTES_MAX``; larger requests are served and then released), and
carves every call's scratch arrays out of it.

The arrays are only valid until the next :func:`scratch_arrays` call in the
same thread (a repeated request may even get the very same array objects):
backends use them within one call and never return them.
Threads do not share buffers, so concurrent calls from several Python
threads are safe.
"""
import math
import threading

import numpy as np

# Largest buffer a thread keeps after a call.
RETAINED_BYTES_MAX = 64 << 20
_ALIGNMENT = 64  # bytes: a cache line, and an AVX-512 vector
# Requests remembered per thread, so a repeated call gets its arrays back at
# once (they are views of the retained buffer, rebuilt if the buffer grows).
_LAYOUTS_KEPT = 32

_local = threading.local()


def scratch_arrays(*specs, slot="kernel"):
    """Uninitialized arrays for ``(shape, dtype)`` pairs, each 64-byte aligned,
    carved from this thread's retained buffer for ``slot``: the backends'
    kernels use ``"kernel"``; code that holds arrays while a kernel runs (the
    adjoints' inputs and parts) uses a slot of its own.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv._workspace import scratch_arrays
    >>> a, b = scratch_arrays(((2, 3), np.float32), ((4,), np.intp))
    >>> a.shape, b.dtype == np.intp, a.ctypes.data % 64
    ((2, 3), True, 0)
    """
    slots = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = {}
    buffer, start, layouts = slots.get(slot, (None, 0, None))
    if layouts is not None and specs in layouts:  # same request as a recent call
        return layouts[specs]
    dtypes = [np.dtype(dtype) for _, dtype in specs]
    nbytes = [math.prod(shape) * dtype.itemsize for (shape, _), dtype in zip(specs, dtypes)]
    total = sum(-(-size // _ALIGNMENT) * _ALIGNMENT for size in nbytes) + _ALIGNMENT
    retained = buffer
    if buffer is None or buffer.nbytes < total:
        buffer = np.empty(total, dtype=np.uint8)
        start = -buffer.ctypes.data % _ALIGNMENT  # to the first aligned byte
        if total <= RETAINED_BYTES_MAX:
            retained, layouts = buffer, {}
            slots[slot] = (buffer, start, layouts)
    arrays = []
    offset = start
    for (shape, _), dtype, size in zip(specs, dtypes, nbytes):
        arrays.append(np.ndarray(shape, dtype, buffer, offset))
        offset += -(-size // _ALIGNMENT) * _ALIGNMENT
    if buffer is retained:
        if len(layouts) >= _LAYOUTS_KEPT:
            layouts.clear()
        layouts[specs] = arrays
    return arrays


def release():
    """Drop this thread's retained buffers (they are rebuilt on the next call)."""
    _local.slots = {}


def aligned_empty(shape, dtype):
    """A new uninitialized array whose data starts on a 64-byte boundary (for
    what is kept across calls, like packed kernels)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % _ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)
