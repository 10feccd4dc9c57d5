"""Table and chart for the Performance page, from docs/data/suite_results.json
(recorded by ``python -m deconv bench --compare torch,tensorflow --json ...``)."""
import csv
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deconv._bench import turns_description  # noqa: E402

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    with open(os.path.join(DOCS, "data", "suite_results.json")) as handle:
        record = json.load(handle)
    backend, peers = record["backends"][0], record["peers"]
    names, ratios = [], []
    with open(os.path.join(DOCS, "_generated", "suite_table.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["layer", "dtype", "layout", "deconv backend", "deconv ms",
                         *[f"{peer} ms" for peer in peers], "ratio to best peer"])
        for layer in record["layers"]:
            seconds = layer["median_seconds"]
            best = min(seconds[peer] for peer in peers)
            ratio = seconds[backend] / best
            names.append(layer["name"])
            ratios.append(ratio)
            writer.writerow([layer["name"], layer["dtype"],
                             "NHWC" if layer["data_format"] == "channels_last" else "NCHW",
                             layer["chosen"][backend], f"{seconds[backend] * 1e3:.3f}",
                             *[f"{seconds[peer] * 1e3:.3f}" for peer in peers], f"{ratio:.2f}"])
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    turns = turns_description(record["repeats"], record["passes"])
    with open(os.path.join(DOCS, "_generated", "suite_summary.txt"), "w") as handle:
        handle.write(f"Geometric-mean ratio (deconv ``{backend}`` time / best of "
                     f"{' and '.join(peers)}): **{geomean:.2f}**; worst layer "
                     f"{max(ratios):.2f}; {record['threads']} threads each, each library in "
                     f"its own process, medians over {turns} of each "
                     f"contender ({record['turn_seconds'] * 1e3:.0f} ms of calls or more, the "
                     f"first {record['settle_seconds'] * 1e3:.0f} ms of each not counted); "
                     f"NumPy float32 GEMM in the same run: "
                     f"{record['gemm_gflops']:.0f} GFLOP/s.\n")
    figure, axis = plt.subplots(figsize=(8, 5))
    colors = ["tab:green" if r <= 1 else "tab:red" for r in ratios]
    axis.barh(names[::-1], ratios[::-1], color=colors[::-1])
    axis.axvline(1.0, color="black", linewidth=1)
    axis.set_xscale("log")
    axis.set_xlabel(f"deconv ({backend}) time / best of {', '.join(peers)}  (< 1: deconv faster)")
    axis.set_title(f"Suite layers, {record['threads']} threads each, medians", fontsize=10)
    figure.tight_layout()
    figure.savefig(os.path.join(DOCS, "_generated", "suite_ratios.png"), dpi=110)


if __name__ == "__main__":
    main()
