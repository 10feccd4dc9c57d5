"""deconv.dask against one in-process call, measured in alternating rounds
(medians), for the throughput table of the docs page *Scaling out with Dask*.

    python tools/dask_throughput.py --rounds 7 --json docs/data/dask_throughput.json

batch
    A 512-image dcgan2-shaped batch (8x8x256 -> 16x16x128, k4 s2 "same") on a
    LocalCluster of 2 one-thread worker processes, x made on the workers in
    chunks of ``--batch-chunk`` images and y kept there (``persist``), against
    one 2-thread call on the whole batch in this process.
tiling
    1x4096x4096x16 -> 16, k4 s2 "same", x in 1024x1024 chunks, on the
    threaded scheduler (2 threads): all output chunks computed (``persist``),
    stored into a NumPy array (``da.store``), and gathered into one array
    (``compute``), against one 2-thread in-memory call; then the tiled result
    is compared with the in-memory one, bit for bit.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np

import deconv
import deconv.dask


def timed(function):
    start = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def batch_case(rounds, batch_chunk):
    import dask.array as da
    from distributed import Client, LocalCluster, wait
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((4, 4, 128, 256), dtype=np.float32)
    x = rng.standard_normal((512, 8, 8, 256), dtype=np.float32)
    local = deconv.Conv2DTranspose(kernel, 2, "same", num_threads=2)
    op = deconv.Conv2DTranspose(kernel, 2, "same")
    times = {"in-process, 2 threads": [], f"LocalCluster 2x1, chunks of {batch_chunk}": []}
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        lazy_x = client.persist(da.random.default_rng(0).standard_normal(
            x.shape, dtype=np.float32, chunks=(batch_chunk, 8, 8, 256)))
        wait(lazy_x)
        y = deconv.dask.apply(op, lazy_x)
        wait(client.persist(y))  # warm: workers import deconv and plan
        local(x)
        for _ in range(rounds):
            keys = list(times)
            times[keys[0]].append(timed(lambda: local(x)))
            times[keys[1]].append(timed(lambda: wait(client.persist(y))))
    return report("batch: 512 images, dcgan2 layer", times, 512, "images/s")


def tiling_case(rounds):
    import dask
    import dask.array as da
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4096, 4096, 16), dtype=np.float32)
    kernel = rng.standard_normal((4, 4, 16, 16), dtype=np.float32)
    op = deconv.Conv2DTranspose(kernel, 2, "same", num_threads=2)
    y = deconv.dask.apply(deconv.Conv2DTranspose(kernel, 2, "same"),
                          da.from_array(x, chunks=(1, 1024, 1024, 16)))
    target = np.empty(y.shape, y.dtype)
    cases = {
        "in-memory call, 2 threads": lambda: op(x),
        "tiled: persist (every chunk computed)": lambda: dask.persist(y, scheduler="threads"),
        "tiled: da.store into a NumPy array": lambda: da.store(y, target, lock=False,
                                                                scheduler="threads"),
        "tiled: compute (gathered into one array)": lambda: y.compute(scheduler="threads"),
    }
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            times[name].append(timed(case))
    print(f"tiled result bitwise equal to the in-memory call: "
          f"{np.array_equal(y.compute(scheduler='threads'), op(x))}")
    return report("tiling: 1x4096x4096x16 -> 16, k4 s2 same, 1024x1024 input chunks", times,
                  y.nbytes / 2 ** 30, "GiB of output/s")


def report(title, times, amount, unit):
    """Print the medians; return them as rows for the JSON record."""
    print(f"\n{title}")
    baseline = None
    rows = []
    for name, samples in times.items():
        median = statistics.median(samples)
        baseline = baseline or median
        print(f"  {name:45s} {median * 1e3:8.1f} ms  {amount / median:10.2f} {unit}  "
              f"{median / baseline:5.2f}x the first   (runs: "
              f"{', '.join(f'{sample * 1e3:.0f}' for sample in samples)})")
        rows.append({"case": name, "median_seconds": median, "rate": amount / median,
                     "unit": unit, "ratio": median / baseline, "samples": samples})
    return {"title": title, "rows": rows}


def merge_json(path, key, value):
    """Set ``key`` of the JSON object in ``path`` (created if missing)."""
    record = {}
    if os.path.exists(path):
        with open(path) as handle:
            record = json.load(handle)
    record[key] = value
    with open(path, "w") as handle:
        json.dump(record, handle, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--case", choices=("batch", "tiling", "all"), default="all")
    parser.add_argument("--batch-chunk", type=int, default=64)
    parser.add_argument("--json", help="merge the medians into this JSON file")
    args = parser.parse_args()
    results = {}
    if args.case in ("batch", "all"):
        results["batch"] = batch_case(args.rounds, args.batch_chunk)
    if args.case in ("tiling", "all"):
        results["tiling"] = tiling_case(args.rounds)
    if args.json:
        for key, value in results.items():
            merge_json(args.json, key, {**value, "command": "python tools/dask_throughput.py "
                                        f"--rounds {args.rounds} --case {key}"})


if __name__ == "__main__":
    main()
