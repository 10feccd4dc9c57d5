"""Figure for the Semantics page: how one input pixel scatters through stride,
dilation and the "same" crop. Computed with deconv itself."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_generated")
KERNEL = np.arange(1.0, 10.0).reshape(3, 3, 1, 1)  # taps numbered 1..9, row-major


def panel(axis, strides, dilation, padding, title):
    x = np.zeros((1, 2, 2, 1))
    x[0, 1, 0, 0] = 1.0  # the input pixel at row 1, column 0
    full = deconv.conv2d_transpose(x, KERNEL, strides=strides, dilation_rate=dilation)[0, :, :, 0]
    axis.imshow(np.where(full > 0, full, np.nan), cmap="viridis", vmin=0, vmax=10)
    for (r, q), value in np.ndenumerate(full):
        if value:
            axis.text(q, r, f"{value:.0f}", ha="center", va="center", color="white", fontsize=9)
    rows, cols = full.shape
    if padding == "same":
        out = deconv.conv2d_transpose(x, KERNEL, strides=strides, padding="same",
                                      dilation_rate=dilation)[0, :, :, 0]
        top = (rows - out.shape[0]) // 2
        left = (cols - out.shape[1]) // 2
        axis.add_patch(plt.Rectangle((left - 0.5, top - 0.5), out.shape[1], out.shape[0],
                                     fill=False, edgecolor="red", linewidth=2))
        title += f"\nred: kept {out.shape[0]}x{out.shape[1]} of {rows}x{cols}"
    axis.set_xticks(range(cols))
    axis.set_yticks(range(rows))
    axis.set_xticks(np.arange(-0.5, cols), minor=True)
    axis.set_yticks(np.arange(-0.5, rows), minor=True)
    axis.grid(which="minor", color="0.8")
    axis.tick_params(labelsize=7)
    axis.set_title(title, fontsize=9)


def main():
    os.makedirs(OUT, exist_ok=True)
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.8))
    panel(axes[0], 1, 1, "valid", "stride 1, 'valid'")
    panel(axes[1], 2, 1, "valid", "stride 2, 'valid'")
    panel(axes[2], 2, 2, "valid", "stride 2, dilation 2, 'valid'")
    panel(axes[3], 2, 1, "same", "stride 2, 'same'")
    figure.suptitle("Input 2x2 with a single 1 at (row 1, col 0); kernel taps numbered 1..9 "
                    "(row-major). Each panel shows the full output.", fontsize=10)
    figure.tight_layout()
    figure.savefig(os.path.join(OUT, "scatter.png"), dpi=110)


if __name__ == "__main__":
    main()
