"""Throughput table for the page *Scaling out with Dask*, from
docs/data/dask_throughput.json (recorded by tools/dask_throughput.py and
tools/out_of_core.py with ``--json``)."""
import csv
import json
import os

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    with open(os.path.join(DOCS, "data", "dask_throughput.json")) as handle:
        record = json.load(handle)
    with open(os.path.join(DOCS, "_generated", "dask_throughput.csv"), "w",
              newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["workload", "how", "median", "throughput", "vs the first row",
                         "command"])
        for key in ("batch", "tiling"):
            case = record[key]
            for row in case["rows"]:
                median = f"{row['median_seconds'] * 1e3:.0f} ms"
                writer.writerow([case["title"], row["case"], median,
                                 f"{row['rate']:.1f} {row['unit']}", f"{row['ratio']:.2f}x",
                                 case["command"]])
        for key in sorted(key for key in record if key.startswith("out_of_core")):
            case = record[key]
            gib = case["output_bytes"] / 2 ** 30
            writer.writerow([f"out of core: y (1, 15360, 15360, 16) float32, {gib:.1f} GiB "
                             f"({case['output_bytes'] / case['memory_bytes']:.0%} of memory)",
                             case["case"], f"{case['seconds']:.0f} s",
                             f"{gib / case['seconds']:.2f} GiB/s; peak RSS "
                             f"{case['peak_rss_bytes'] / 2 ** 30:.2f} GiB", "",
                             case["command"]])


if __name__ == "__main__":
    main()
