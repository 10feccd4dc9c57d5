"""The fixed cost of a call: a tiny layer (1x4x4x8, kernel 3x3x8x8, stride 2,
"same") through conv2d_transpose, through a Conv2DTranspose operator (with
and without out=), and through PyTorch's conv_transpose2d (channels_last,
inference mode), each library in its own process, 2 threads, in alternating
rounds; medians and ratios to PyTorch.

    python tools/call_overhead.py --torch-python /opt/peers/bin/python --rounds 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

DECONV = """
import json, time, gc, numpy as np, deconv
x = np.random.default_rng(0).standard_normal((1, 4, 4, 8)).astype(np.float32)
k = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
op = deconv.Conv2DTranspose(k, 2, "same", num_threads=2)
out = op(x).copy()
calls = {"conv2d_transpose": lambda: deconv.conv2d_transpose(x, k, strides=2, padding="same",
                                                             num_threads=2),
         "operator": lambda: op(x), "operator, out=": lambda: op(x, out=out)}
"""
TORCH = """
import json, time, gc, numpy as np, torch
torch.set_num_threads(2)
x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 8, 4, 4)).astype(
    np.float32)).contiguous(memory_format=torch.channels_last)
w = torch.from_numpy(np.random.default_rng(1).standard_normal((8, 8, 3, 3)).astype(
    np.float32)).contiguous(memory_format=torch.channels_last)
def run():
    with torch.inference_mode():
        return torch.nn.functional.conv_transpose2d(x, w, stride=2, padding=1,
                                                    output_padding=1)
calls = {"torch conv_transpose2d": run}
"""
TIMING = """
gc.disable()
medians = {}
for name, call in calls.items():
    call()
    rounds = []
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(2000):
            call()
        rounds.append((time.perf_counter() - start) / 2000)
    medians[name] = sorted(rounds)[len(rounds) // 2]
print(json.dumps(medians))
"""


def measure(python, setup):
    done = subprocess.run([python, "-c", setup + TIMING], capture_output=True, text=True,
                          check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default=sys.executable,
                        help="an interpreter that has torch (default: this one)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    samples = {}
    for _ in range(args.rounds):  # alternate, so that drifts of the machine hit both
        for python, setup in ((sys.executable, DECONV), (args.torch_python, TORCH)):
            for name, seconds in measure(python, setup).items():
                samples.setdefault(name, []).append(seconds)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    torch_seconds = medians.pop("torch conv_transpose2d")
    print(f"{'torch conv_transpose2d':<24}{torch_seconds * 1e6:8.2f} us")
    for name, seconds in medians.items():
        print(f"{'deconv ' + name:<24}{seconds * 1e6:8.2f} us   {seconds / torch_seconds:.2f}x "
              f"PyTorch's")


if __name__ == "__main__":
    main()
