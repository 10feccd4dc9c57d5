"""Figure for the page *Scaling out with Dask*: one spatial axis pair of a
tiled call (k4, stride 2, "same"), the input chunks with the window one
output chunk reads (its chunk and halo), and the output chunks -- drawn from
the geometry deconv.dask itself uses (``Axis.window``)."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from deconv._geometry import Axis  # noqa: E402

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, CHUNK, KERNEL, STRIDE = 12, 4, 4, 2


def main():
    axis = Axis.from_padding("height", SIZE, SIZE * STRIDE, KERNEL, STRIDE, 1, "same")
    out_chunk = CHUNK * STRIDE
    window = axis.window(out_chunk, 2 * out_chunk)  # the middle output chunk, both axes
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4.6),
                                         gridspec_kw={"width_ratios": [1, 1.6]})
    for ax, size, chunk, title in ((left, SIZE, CHUNK, "x: 12 x 12, chunks of 4"),
                                   (right, SIZE * STRIDE, out_chunk,
                                    "y: 24 x 24, chunks of 2 x 4 = 8")):
        for start in range(0, size, chunk):
            for col in range(0, size, chunk):
                ax.add_patch(Rectangle((col, start), chunk, chunk, fill=False, lw=1.5,
                                       ec="0.3"))
        ax.set_xlim(-0.5, size + 0.5)
        ax.set_ylim(size + 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(0, size + 1, chunk))
        ax.set_yticks(range(0, size + 1, chunk))
    first, stop = window.first_input, window.stop_input
    left.add_patch(Rectangle((first, first), stop - first, stop - first, color="tab:orange",
                             alpha=0.35, label=f"input read: rows and columns {first}..{stop - 1}"))
    left.add_patch(Rectangle((CHUNK, CHUNK), CHUNK, CHUNK, fill=False, lw=2.5, ec="tab:blue",
                             label="the input chunk under it"))
    right.add_patch(Rectangle((out_chunk, out_chunk), out_chunk, out_chunk,
                              color="tab:orange", alpha=0.35,
                              label=f"output chunk rows and columns {out_chunk}.."
                                    f"{2 * out_chunk - 1}"))
    before, after = CHUNK - first, stop - 2 * CHUNK
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8)
    figure.suptitle(f"kernel {KERNEL}, stride {STRIDE}, 'same' (pad {axis.pad}): an output "
                    f"chunk reads its input chunk plus {before} row(s) before and {after} "
                    f"after (halo {before + after} <= ceil((E - 1) / s) = "
                    f"{-(-(axis.effective_kernel - 1) // STRIDE)})", fontsize=9)
    figure.tight_layout()
    figure.savefig(os.path.join(DOCS, "_generated", "dask_chunks.png"), dpi=110)


if __name__ == "__main__":
    main()
