"""Issue-2 check: the direct kernel on the dcgan2 layer, 1 vs 2 threads (median of 21),
bitwise equality across thread counts, and the reference backend for comparison.

    python tools/dcgan2_threads.py
"""
import time, numpy as np, deconv
rng = np.random.default_rng(0)
x = rng.standard_normal((16, 8, 8, 256), dtype=np.float32)
k = rng.standard_normal((4, 4, 128, 256), dtype=np.float32)
def median_ms(backend, threads):
    f = lambda: deconv.conv2d_transpose(x, k, strides=2, padding="same", backend=backend, num_threads=threads)
    f(); t = []
    for _ in range(21):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return 1e3 * float(np.median(t))
one, two = median_ms("direct", 1), median_ms("direct", 2)
same = np.array_equal(deconv.conv2d_transpose(x, k, strides=2, padding="same", backend="direct", num_threads=1),
                      deconv.conv2d_transpose(x, k, strides=2, padding="same", backend="direct", num_threads=2))
print(f"dcgan2 direct: 1 thread {one:.2f} ms, 2 threads {two:.2f} ms, speed-up {one / two:.2f}x, bitwise identical: {same}")
print(f"dcgan2 reference (2 threads): {median_ms('reference', 2):.2f} ms")
