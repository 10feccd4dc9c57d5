"""``python -m deconv zarr``: a transposed convolution from one zarr array to
another, chunk by chunk, with memory bounded by the chunks in flight rather
than the arrays (the out-of-core recipe of the docs page *Scaling out with
Dask*, as a command)."""
import os
import time

import numpy as np


def run_zarr(source, target, kernel_path, *, strides, padding, dilation, data_format,
             backend, input_chunks, scheduler, num_threads, overwrite, echo=print):
    """Read x from the zarr array ``source``, write y to the zarr array
    ``target`` (chunked as ``deconv.dask`` chunks the result), on
    ``scheduler``: ``"threads"``, ``"sync"`` or the address of a
    dask.distributed scheduler. Returns the output's shape."""
    try:
        import dask
        import dask.array as da

        from . import dask as deconv_dask
    except ImportError as error:
        raise SystemExit(f"python -m deconv zarr: {error}") from None
    if not overwrite and os.path.exists(target):
        raise ValueError(f"{target} exists; pass --overwrite to replace it")
    kernel = np.load(kernel_path)
    x = da.from_zarr(source)
    if input_chunks is not None:
        spatial = (2, 3) if data_format == "channels_first" else (1, 2)
        x = x.rechunk(dict(zip(spatial, input_chunks)))
    y = deconv_dask.conv2d_transpose(x, kernel, strides=strides, padding=padding,
                                     data_format=data_format, dilation_rate=dilation,
                                     backend=backend, num_threads=num_threads)
    echo(f"x {x.shape} {x.dtype} in chunks of {x.chunksize} -> y {y.shape} {y.dtype} in "
         f"chunks of {y.chunksize} ({y.nbytes / 2 ** 30:.2f} GiB, {y.npartitions} tasks)")
    start = time.perf_counter()
    if scheduler in ("threads", "sync"):
        with dask.config.set(scheduler=scheduler):
            y.to_zarr(target, overwrite=overwrite)
    else:
        from distributed import Client
        with Client(scheduler):
            y.to_zarr(target, overwrite=overwrite)
    echo(f"wrote {target} in {time.perf_counter() - start:.1f} s")
    return y.shape
