"""An independent oracle: the operation of the docs' Semantics page as deliberately naive loops.

It shares no code with deconv. Everything is computed in float64 from
channels-last copies; the channel sums use ``@`` on tiny matrices, every
index, bound and crop is spelled out exactly as in the spec.
"""
import numpy as np


def _geometry(in_size, out_size, k, s, d, padding):
    effective = (k - 1) * d + 1
    full = (in_size - 1) * s + effective
    pad = max(0, full - out_size) // 2 if padding == "same" else 0
    return pad


def landing_pairs(in_hw, out_hw, kernel_hw, strides, padding, dilation):
    """Every (i, j, a, b, r, q) of the operation whose output (r, q) is in range."""
    (h, w), (out_h, out_w), (kh, kw) = in_hw, out_hw, kernel_hw
    (sh, sw), (dh, dw) = strides, dilation
    pad_top = _geometry(h, out_h, kh, sh, dh, padding)
    pad_left = _geometry(w, out_w, kw, sw, dw, padding)
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    r = i * sh + a * dh - pad_top
                    q = j * sw + b * dw - pad_left
                    if 0 <= r < out_h and 0 <= q < out_w:
                        yield i, j, a, b, r, q


def conv2d_transpose_oracle(x, kernel, out_hw, strides, padding, dilation):
    """x (N, h, w, Cin), kernel (kh, kw, Cout, Cin) -> y (N, H, W, Cout), float64."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    y = np.zeros((x.shape[0], *out_hw, kernel.shape[2]))
    for i, j, a, b, r, q in landing_pairs(x.shape[1:3], out_hw, kernel.shape[:2], strides,
                                          padding, dilation):
        y[:, r, q, :] += x[:, i, j, :] @ kernel[a, b].T
    return y


def conv2d_oracle(y, kernel, in_hw, strides, padding, dilation):
    """The forward convolution whose adjoint is conv2d_transpose:
    y (N, H, W, Cout) -> z (N, h, w, Cin), float64, same index map."""
    y = np.asarray(y, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    z = np.zeros((y.shape[0], *in_hw, kernel.shape[3]))
    for i, j, a, b, r, q in landing_pairs(in_hw, y.shape[1:3], kernel.shape[:2], strides,
                                          padding, dilation):
        z[:, i, j, :] += y[:, r, q, :] @ kernel[a, b]
    return z


def valid_sizes(in_size, k, s, d, padding):
    """Every reachable output size, by brute force over the output-size rule."""
    effective = (k - 1) * d + 1
    sizes = []
    for out in range(0, (in_size + 1) * s + effective + 2):
        if padding == "same":
            ok = -(-out // s) == in_size
        else:
            numerator = out - effective + s
            ok = int(numerator / s) == in_size  # C-style truncation toward zero
        if ok:
            sizes.append(out)
    return sizes


TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5,
             np.dtype(np.float16): 1e-2}


def assert_close(actual, expected, dtype):
    """The accuracy rule (Semantics page): error relative to max|expected|."""
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    error = float(np.abs(np.asarray(actual, dtype=np.float64) - expected).max(initial=0.0))
    assert error <= TOLERANCE[np.dtype(dtype)] * scale, (error, scale)


def assert_same_non_finite(actual, expected):
    """NaN and inf exactly where the oracle has them; the rest close."""
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(actual), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], atol=1e-12)
