"""Super-resolution by Landweber iteration, with conv2d as the forward model
and conv2d_transpose as its exact adjoint.

The camera image of scikit-image (256 x 256 here) is blurred by a Gaussian
and subsampled by 2: ``y = conv2d(u, blur, strides=2, padding="same")``.
Landweber's iteration ``u <- u + tau * A^T (y - A u)`` converges to a
least-squares solution when ``A^T`` is the exact adjoint of ``A`` and
``tau < 2 / ||A||^2``; conv2d_transpose with the same kernel and arguments is
that adjoint. Writes the figure and the PSNR table the docs show.
"""
import os
import sys

import numpy as np
from scipy.ndimage import zoom
from skimage import data

import deconv

truth = data.camera()[::2, ::2].astype(np.float64)[None, :, :, None] / 255.0  # (1, 256, 256, 1)
offsets = np.arange(9) - 4
gaussian = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5 ** 2))
blur = (gaussian / gaussian.sum())[:, :, None, None]                           # (9, 9, 1, 1)


def forward(u):
    return deconv.conv2d(u, blur, strides=2, padding="same")


def adjoint(v):
    return deconv.conv2d_transpose(v, blur, truth.shape, strides=2, padding="same")


observed = forward(truth)                                                       # (1, 128, 128, 1)

# tau = 1 / ||A||^2, ||A||^2 the largest eigenvalue of A^T A (power iteration).
v = np.random.default_rng(0).standard_normal(truth.shape)
for _ in range(30):
    v = adjoint(forward(v))
    v /= np.linalg.norm(v)
tau = 1.0 / np.vdot(v, adjoint(forward(v)))

cubic = zoom(observed[0, :, :, 0], 2, order=3)[None, :, :, None]
u = cubic.copy()
for _ in range(300):
    u += tau * adjoint(observed - forward(u))


def psnr(image):
    return 10 * np.log10(1.0 / np.mean((image - truth) ** 2))


results = {"cubic spline upsampling (the start)": cubic, "Landweber, 300 iterations": u}
for name, image in results.items():
    print(f"{name}: PSNR {psnr(image):.1f} dB")

if len(sys.argv) > 1:  # the docs build: the figure and the table
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = sys.argv[1]
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    panels = [("observed (128 x 128)", observed), ("cubic spline", cubic),
              ("Landweber", u), ("truth", truth)]
    for axis, (title, image) in zip(axes, panels):
        axis.imshow(np.clip(image[0, :, :, 0], 0, 1), cmap="gray", vmin=0, vmax=1)
        axis.set_title(title if image is observed or image is truth else
                       f"{title}, {psnr(image):.1f} dB", fontsize=9)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(os.path.join(out, "landweber.png"), dpi=90)
    with open(os.path.join(out, "landweber.csv"), "w") as handle:
        handle.write("reconstruction,PSNR (dB)\n")
        for name, image in results.items():
            handle.write(f"{name},{psnr(image):.1f}\n")
