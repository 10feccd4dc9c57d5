"""Check deconv against TensorFlow's own ``tf_keras.backend.conv2d_transpose``
(and, with ``--op``, ``tf_keras.backend.conv2d`` and the kernel gradient a
``tf.GradientTape`` computes for conv2d_transpose).

Run in an environment that has deconv, tensorflow-cpu and tf_keras installed:

    python tools/compare_tensorflow.py --cases 400
    python tools/compare_tensorflow.py --cases 400 --op conv2d
    python tools/compare_tensorflow.py --cases 400 --op kernel_gradient

Random cases cover both layouts, float16/32/64, a None batch, list output
shapes, strided (non-contiguous) views, every valid output size, and dilation
with stride 1 (Keras 2 ignores strides when dilating, see the docs' Semantics page, and
requires equal row and column dilation). Every
backend must agree with TensorFlow to the Semantics page's accuracy tolerances.
For conv2d and the kernel gradient TensorFlow computes in float64 (its
float16 kernels are not more accurate than deconv's, which compute float16
in float32), on the same random geometry; conv2d cases keep TensorFlow's
limits (no stride with dilation, no "valid" input smaller than the kernel).
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import deconv  # noqa: E402

TOLERANCE = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-2}
BACKENDS = ["reference", "direct", "fft", "auto"]


def random_case(rng):
    dilated = rng.random() < 0.25
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    s = (1, 1) if dilated else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    d = (int(rng.integers(2, 4)),) * 2 if dilated else (1, 1)  # Keras 2: equal, stride 1
    padding = str(rng.choice(["same", "valid"]))
    n, h, w = int(rng.integers(1, 4)), int(rng.integers(1, 8)), int(rng.integers(1, 8))
    cin, cout = int(rng.integers(1, 9)), int(rng.integers(1, 40))
    sizes = []
    for in_size, kk, ss, dd in ((h, k[0], s[0], d[0]), (w, k[1], s[1], d[1])):
        low, high = deconv.valid_output_sizes(in_size, kk, ss, dd, padding)
        sizes.append(int(rng.integers(low, high + 1)))
    return dict(n=n, hw=(h, w), cin=cin, cout=cout, k=k, s=s, d=d, padding=padding,
                out=tuple(sizes), dtype=str(rng.choice(["float16", "float32", "float64"])),
                data_format=str(rng.choice(["channels_last", "channels_first"])),
                none_batch=bool(rng.random() < 0.3), strided=bool(rng.random() < 0.3))


def run_case(case, rng):
    n, (h, w), cin, cout = case["n"], case["hw"], case["cin"], case["cout"]
    last = case["data_format"] == "channels_last"
    shape = (n, h, w, cin) if last else (n, cin, h, w)
    x = rng.standard_normal(shape).astype(case["dtype"])
    kernel = rng.standard_normal((*case["k"], cout, cin)).astype(case["dtype"])
    out_h, out_w = case["out"]
    out_shape = [n, out_h, out_w, cout] if last else [n, cout, out_h, out_w]
    expected = tf_keras.backend.conv2d_transpose(
        tf.constant(x), tf.constant(kernel), out_shape, case["s"], case["padding"],
        case["data_format"], case["d"]).numpy().astype(np.float64)
    if case["strided"]:
        wide = np.zeros(tuple(2 * v for v in x.shape), x.dtype)
        wide[::2, ::2, ::2, ::2] = x
        x = wide[::2, ::2, ::2, ::2]
    if case["none_batch"]:
        out_shape[0] = None
    errors = {}
    scale = max(1.0, float(np.abs(expected).max()))
    for backend in BACKENDS:
        y = deconv.conv2d_transpose(x, kernel, out_shape, case["s"], case["padding"],
                                    case["data_format"], case["d"], backend=backend)
        assert y.shape == expected.shape and y.dtype == x.dtype, (backend, y.shape, y.dtype)
        errors[backend] = float(np.abs(y.astype(np.float64) - expected).max()) / scale
    return errors


def run_conv2d_case(case, rng):
    """conv2d of y (the transposed convolution's output shape) against
    tf_keras.backend.conv2d."""
    n, cout, cin = case["n"], case["cout"], case["cin"]
    last = case["data_format"] == "channels_last"
    out_h, out_w = case["out"]
    effective = [(k - 1) * d + 1 for k, d in zip(case["k"], case["d"])]
    if case["padding"] == "valid" and (out_h < effective[0] or out_w < effective[1]):
        return None  # TensorFlow raises; deconv returns an empty result
    shape = (n, out_h, out_w, cout) if last else (n, cout, out_h, out_w)
    y = rng.standard_normal(shape).astype(case["dtype"])
    kernel = rng.standard_normal((*case["k"], cout, cin)).astype(case["dtype"])
    expected = tf_keras.backend.conv2d(
        tf.constant(y.astype(np.float64)), tf.constant(kernel.astype(np.float64)), case["s"],
        case["padding"], case["data_format"], case["d"]).numpy()
    if case["strided"]:
        wide = np.zeros(tuple(2 * v for v in y.shape), y.dtype)
        wide[::2, ::2, ::2, ::2] = y
        y = wide[::2, ::2, ::2, ::2]
    errors = {}
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    for backend in BACKENDS:
        x = deconv.conv2d(y, kernel, case["s"], case["padding"], case["data_format"],
                          case["d"], backend=backend)
        assert x.shape == expected.shape and x.dtype == y.dtype, (backend, x.shape, x.dtype)
        errors[backend] = float(np.abs(x.astype(np.float64) - expected).max(initial=0)) / scale
    return errors


def run_gradient_case(case, rng):
    """The kernel gradient of <dy, conv2d_transpose(x, kernel)> against
    tf.GradientTape."""
    n, (h, w), cin, cout = case["n"], case["hw"], case["cin"], case["cout"]
    last = case["data_format"] == "channels_last"
    x = rng.standard_normal((n, h, w, cin) if last else (n, cin, h, w)).astype(case["dtype"])
    out_h, out_w = case["out"]
    out_shape = [n, out_h, out_w, cout] if last else [n, cout, out_h, out_w]
    dy = rng.standard_normal(out_shape).astype(case["dtype"])
    kernel = tf.Variable(np.zeros((*case["k"], cout, cin)))
    with tf.GradientTape() as tape:
        y = tf_keras.backend.conv2d_transpose(tf.constant(x.astype(np.float64)), kernel,
                                              out_shape, case["s"], case["padding"],
                                              case["data_format"], case["d"])
        value = tf.reduce_sum(y * dy.astype(np.float64))
    expected = tape.gradient(value, kernel).numpy()
    errors = {}
    scale = max(1.0, float(np.abs(expected).max()))
    for backend in BACKENDS:
        gradient = deconv.conv2d_transpose_kernel_gradient(
            x, dy, case["k"], case["s"], case["padding"], case["data_format"], case["d"],
            backend=backend)
        assert gradient.shape == expected.shape and gradient.dtype == x.dtype
        errors[backend] = float(np.abs(gradient.astype(np.float64) - expected).max()) / scale
    return errors


RUNS = {"conv2d_transpose": run_case, "conv2d": run_conv2d_case,
        "kernel_gradient": run_gradient_case}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--op", choices=sorted(RUNS), default="conv2d_transpose")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    rng = np.random.default_rng(args.seed)
    worst = {(b, dt): 0.0 for b in BACKENDS for dt in TOLERANCE}
    failures = checked = 0
    while checked < args.cases:
        case = random_case(rng)
        errors = RUNS[args.op](case, rng)
        if errors is None:
            continue
        index, checked = checked, checked + 1
        for backend, error in errors.items():
            worst[backend, case["dtype"]] = max(worst[backend, case["dtype"]], error)
            if error > TOLERANCE[case["dtype"]]:
                failures += 1
                print(f"FAIL case {index} backend {backend}: relative error {error:.3g}: {case}")
    print(f"{args.cases} random cases x {len(BACKENDS)} backends, {args.op}, against "
          f"TensorFlow {tf.__version__}:")
    for (backend, dtype), error in sorted(worst.items()):
        print(f"  {backend:<10} {dtype:<8} worst error / max|y| = {error:.2e} "
              f"(limit {TOLERANCE[dtype]:.0e})")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
