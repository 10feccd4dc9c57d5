"""A tiny convolutional autoencoder trained on scikit-learn's digits with
deconv alone: conv2d down, conv2d_transpose up, and every gradient from the
adjoint ops -- checked against central finite differences first.

Layers (channels-last, "same" padding, stride 2, 4x4 kernels):
    8x8x1 -conv2d-> 4x4x8 -ReLU-conv2d-> 2x2x4 -conv2d_transpose-> 4x4x8
          -ReLU-conv2d_transpose-> 8x8x1 -sigmoid
For y = conv2d_transpose(x, k):  dL/dx = conv2d(dL/dy, k),
                                 dL/dk = conv2d_transpose_kernel_gradient(x, dL/dy, ...).
For z = conv2d(y, k):            dL/dy = conv2d_transpose(dL/dz, k, y.shape),
                                 dL/dk = conv2d_transpose_kernel_gradient(dL/dz, y, ...).
"""
import numpy as np
from sklearn.datasets import load_digits

import deconv

STEP = dict(strides=2, padding="same")
images = (load_digits().images / 16.0)[:, :, :, None]          # (1797, 8, 8, 1) in [0, 1]
rng = np.random.default_rng(0)
shapes = {"e1": (4, 4, 1, 8), "e2": (4, 4, 8, 4), "d1": (4, 4, 8, 4), "d2": (4, 4, 1, 8)}
weights = {name: rng.standard_normal(shape) * (2.0 / np.prod(shape[:3])) ** 0.5
           for name, shape in shapes.items()}


def forward(w, x):
    a1 = deconv.conv2d(x, w["e1"], **STEP)                     # (N, 4, 4, 8)
    h1 = np.maximum(a1, 0)
    z = deconv.conv2d(h1, w["e2"], **STEP)                     # (N, 2, 2, 4): the code
    a2 = deconv.conv2d_transpose(z, w["d1"], h1.shape, **STEP)  # (N, 4, 4, 8)
    h2 = np.maximum(a2, 0)
    out = 1 / (1 + np.exp(-deconv.conv2d_transpose(h2, w["d2"], x.shape, **STEP)))
    return out, (a1, h1, z, a2, h2)


def loss_and_gradients(w, x):
    out, (a1, h1, z, a2, h2) = forward(w, x)
    loss = np.mean((out - x) ** 2)
    gradient = deconv.conv2d_transpose_kernel_gradient
    d_logits = 2 * (out - x) / out.size * out * (1 - out)
    grads = {"d2": gradient(h2, d_logits, (4, 4), **STEP)}
    d_a2 = deconv.conv2d(d_logits, w["d2"], **STEP) * (a2 > 0)
    grads["d1"] = gradient(z, d_a2, (4, 4), **STEP)
    d_z = deconv.conv2d(d_a2, w["d1"], **STEP)
    grads["e2"] = gradient(d_z, h1, (4, 4), **STEP)
    d_a1 = deconv.conv2d_transpose(d_z, w["e2"], h1.shape, **STEP) * (a1 > 0)
    grads["e1"] = gradient(d_a1, x, (4, 4), **STEP)
    return loss, grads


# 1. The gradients against central finite differences (float64, 64 images).
batch = images[:64]
_, grads = loss_and_gradients(weights, batch)
worst = 0.0
for name, kernel in weights.items():
    for index in map(tuple, rng.integers(0, kernel.shape, size=(5, 4))):
        plus = {**weights, name: kernel.copy()}
        minus = {**weights, name: kernel.copy()}
        plus[name][index] += 1e-6
        minus[name][index] -= 1e-6
        numeric = (loss_and_gradients(plus, batch)[0]
                   - loss_and_gradients(minus, batch)[0]) / 2e-6
        worst = max(worst, abs(numeric - grads[name][index]) / max(abs(numeric), 1e-9))
print(f"gradient check: largest relative error {worst:.1e}")

# 2. Training: Adam on mini-batches of 128, float32.
weights = {name: kernel.astype(np.float32) for name, kernel in weights.items()}
data = images.astype(np.float32)
moments = {name: (np.zeros_like(k), np.zeros_like(k)) for name, k in weights.items()}
first_loss = loss_and_gradients(weights, data)[0]
for step in range(1, 601):
    batch = data[rng.integers(0, len(data), 128)]
    _, grads = loss_and_gradients(weights, batch)
    for name, g in grads.items():
        m, v = moments[name]
        m[...] = 0.9 * m + 0.1 * g
        v[...] = 0.999 * v + 0.001 * g * g
        weights[name] -= 0.01 * (m / (1 - 0.9 ** step)) / (
            np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
last_loss = loss_and_gradients(weights, data)[0]
print(f"reconstruction error (mean squared, all 1797 digits): {first_loss:.4f} before, "
      f"{last_loss:.4f} after 600 steps")
