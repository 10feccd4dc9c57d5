"""Out of core, measured: a transposed convolution whose float32 output is
larger than half this machine's memory, zarr to zarr through
``python -m deconv zarr``, with the peak resident memory of every process
involved (the command, and the dask workers with ``--workers``).

    python tools/out_of_core.py --store /tmp/ooc --size 7680 --chunk 512 \
        --json docs/data/dask_throughput.json
    python tools/out_of_core.py --store /tmp/ooc --size 7680 --chunk 512 --workers 2 \
        --json docs/data/dask_throughput.json

x is (1, size, size, 16) float32 (written first, chunk by chunk), the layer
k4 s2 "same" 16 -> 16, so y is (1, 2 size, 2 size, 16). Afterwards a few
output chunks are checked against the in-memory call on the input they read.
"""
import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(process):
    """Resident bytes of ``process`` and all its descendants."""
    import psutil
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakSampler(threading.Thread):
    """Samples the resident memory of a process tree every 50 ms."""

    def __init__(self, pid):
        import psutil
        super().__init__(daemon=True)
        self.process, self.peak, self.running = psutil.Process(pid), 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, tree_rss(self.process))
            time.sleep(0.05)


def write_input(path, size, channels, chunk):
    import dask.array as da
    x = da.random.default_rng(0).standard_normal((1, size, size, channels), dtype=np.float32,
                                                  chunks=(1, chunk, chunk, channels))
    x.to_zarr(str(path), overwrite=True)


def spot_check(store, kernel, chunk, checks=3):
    """Compare ``checks`` random output chunks with the in-memory call on the
    input they read; return the largest error relative to max|y|."""
    import zarr

    import deconv
    x = zarr.open_array(str(store / "x.zarr"), mode="r")
    y = zarr.open_array(str(store / "y.zarr"), mode="r")
    op = deconv.Conv2DTranspose(kernel, strides=2, padding="same")
    problem = op._planner.problem(x, None, check_memory=False)
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(checks):
        r0, c0 = (int(rng.integers(0, -(-y.shape[axis] // (2 * chunk)))) * 2 * chunk
                  for axis in (1, 2))
        rows = problem.rows.window(r0, min(r0 + 2 * chunk, y.shape[1]))
        cols = problem.cols.window(c0, min(c0 + 2 * chunk, y.shape[2]))
        window = x[:, rows.first_input:rows.stop_input, cols.first_input:cols.stop_input]
        expected = op._run_window(np.ascontiguousarray(window), problem, rows, cols, 2)
        stored = y[:, rows.start:rows.stop, cols.start:cols.stop]
        worst = max(worst, float(np.abs(stored - expected).max() / np.abs(expected).max()))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path, help="directory for the stores")
    parser.add_argument("--size", type=int, default=7680, help="input height and width")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=512, help="input chunk height and width")
    parser.add_argument("--workers", type=int, default=0,
                        help="run on a LocalCluster of this many one-thread worker processes "
                             "(default: the threaded scheduler in the command's process)")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--json", help="merge the figures into this JSON file")
    args = parser.parse_args()
    args.store.mkdir(parents=True, exist_ok=True)
    channels = args.channels
    print(f"writing x (1, {args.size}, {args.size}, {channels}) float32 to "
          f"{args.store / 'x.zarr'}", flush=True)
    write_input(args.store / "x.zarr", args.size, channels, args.chunk)
    kernel = np.random.default_rng(2).standard_normal((4, 4, channels, channels)).astype(
        np.float32) / np.float32(4 * channels ** 0.5)
    np.save(args.store / "k.npy", kernel)
    out_bytes = 4 * (2 * args.size) ** 2 * channels
    available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    print(f"y: {out_bytes / 1e9:.2f} GB ({out_bytes / 2 ** 30:.2f} GiB); this machine has "
          f"{available / 2 ** 30:.1f} GiB of memory", flush=True)
    command = [sys.executable, "-m", "deconv", "zarr", str(args.store / "x.zarr"),
               str(args.store / "y.zarr"), "--kernel", str(args.store / "k.npy"),
               "--strides", "2", "--padding", "same", "--overwrite"]
    cluster = None
    sampler = PeakSampler(os.getpid())  # this process and all it starts
    if args.workers:
        from distributed import LocalCluster
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               dashboard_address=None, silence_logs=40)
        command += ["--scheduler", cluster.scheduler_address]
    sampler.start()
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    elapsed = time.perf_counter() - start
    sampler.running = False
    sampler.join()
    if cluster is not None:
        cluster.close()
    print(f"peak resident memory of the process tree: {sampler.peak / 2 ** 30:.2f} GiB; "
          f"{elapsed:.1f} s ({out_bytes / elapsed / 2 ** 30:.2f} GiB/s written)")
    error = spot_check(args.store, kernel, args.chunk)
    print(f"spot check of 3 output chunks: largest error {error:.1e} of max|y|")
    if args.json:
        sys.path.insert(0, str(ROOT / "tools"))
        from dask_throughput import merge_json
        where = f"LocalCluster {args.workers}x1" if args.workers else "threaded scheduler"
        merge_json(args.json, f"out_of_core_{args.workers}", {
            "case": f"zarr to zarr, {where}", "output_bytes": out_bytes,
            "seconds": elapsed, "peak_rss_bytes": sampler.peak, "memory_bytes": available,
            "error": error, "command": "python tools/out_of_core.py --store DIR --size "
            f"{args.size} --chunk {args.chunk}" + (f" --workers {args.workers}"
                                                   if args.workers else "")})
    if not args.keep:
        import shutil
        for name in ("x.zarr", "y.zarr"):
            shutil.rmtree(args.store / name, ignore_errors=True)


if __name__ == "__main__":
    main()
