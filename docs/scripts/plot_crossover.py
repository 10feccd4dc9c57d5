"""Figure for the Backends page: measured direct and FFT times against kernel
size, with the cost model's estimates and the backend "auto" chose, from
docs/data/crossover.json (recorded by measure_crossover.py)."""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    with open(os.path.join(DOCS, "data", "crossover.json")) as handle:
        record = json.load(handle)
    sizes = [row["kernel"] for row in record["rows"]]
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for backend, color in (("direct", "tab:blue"), ("fft", "tab:orange")):
        axis.plot(sizes, [row["seconds"][backend] * 1e3 for row in record["rows"]], "o-",
                  color=color, label=f"{backend}, measured")
        axis.plot(sizes, [row["estimates"][backend] * 1e3 for row in record["rows"]], "--",
                  color=color, alpha=0.6, label=f"{backend}, cost model")
    for row in record["rows"]:
        axis.annotate(row["auto"], (row["kernel"], row["seconds"][row["auto"]] * 1e3),
                      textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7)
    n, h, w, c = record["x"]
    axis.set_xlabel("kernel size k (k x k, stride 1, 'same')")
    axis.set_ylabel("time (ms, median)")
    axis.set_yscale("log")
    axis.set_title(f"x ({n}, {h}, {w}, {c}) -> {c} channels, {record['dtype']}, "
                   f"{record['threads']} threads; labels: backend 'auto' chose", fontsize=9)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(os.path.join(DOCS, "_generated", "crossover.png"), dpi=110)


if __name__ == "__main__":
    main()
