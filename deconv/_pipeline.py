"""``python -m deconv bench --pipeline``: the DCGAN generator of
``deconv._generator`` end to end, against the same model in PyTorch.

Each contender runs in a process of its own (``python -m deconv._pipeline
CONTENDER``), the processes one after another in a new random order every
round, so that no library's thread pool shares a process with another's:

``deconv``
    The NumPy generator as a user writes it: NumPy's BLAS (OpenBLAS's
    pthreads pool) runs the dense layer, deconv's OpenMP threads the rest.
``deconv, BLAS 1 thread``
    The same under ``threadpoolctl.threadpool_limits(1, user_api="blas")``:
    OpenBLAS's worker threads keep spinning for a while after every
    multi-threaded product (about 2**28 cycles), and a transposed
    convolution sharing the cores with them runs 2-3 times slower; with the
    dense layer on one thread they never wake.
``torch``
    ``torch.nn.Sequential`` of the same layers and weights (Linear,
    ConvTranspose2d with ``padding=1``, which is Keras's "same" for 4x4
    stride 2), channels_last, ``inference_mode``; its output is checked
    against deconv's.

Every contender gets the same thread count. Each child also times each
transposed convolution alone (called again and again on its input, as
``bench`` times layers) after the pipeline runs and a pause, so that no
pool is left spinning: the difference is what the pipeline costs each layer,
for PyTorch's layers as for deconv's.
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np

from ._config import processor_name
from ._generator import FIRST_SIZE, LATENT_SIZE, Generator
from ._threads import resolve_num_threads
from ._timing import timings

CONTENDERS = ("deconv", "deconv, BLAS 1 thread", "torch")
# A pause long enough for OpenBLAS's and OpenMP's idle threads to go to sleep.
QUIET_SECONDS = 0.3


def torch_generator(generator):
    """The ``torch.nn.Sequential`` twin of ``generator`` (the same weights),
    in channels_last memory format."""
    import torch

    layers = [torch.nn.Linear(LATENT_SIZE, generator.dense.shape[1]),
              torch.nn.Unflatten(1, (-1, FIRST_SIZE, FIRST_SIZE)), torch.nn.ReLU()]
    # deconv reshapes the dense output to (N, 4, 4, C), PyTorch to (N, C, 4,
    # 4): PyTorch's output j is deconv's column order[j].
    channels = generator.kernels[0].shape[3]
    order = np.arange(generator.dense.shape[1]).reshape(
        FIRST_SIZE, FIRST_SIZE, channels).transpose(2, 0, 1).reshape(-1)
    with torch.no_grad():
        layers[0].weight.copy_(torch.from_numpy(np.ascontiguousarray(generator.dense[:, order].T)))
        layers[0].bias.copy_(torch.from_numpy(generator.dense_bias[order]))
        for index, (kernel, bias) in enumerate(zip(generator.kernels, generator.biases)):
            cout, cin = kernel.shape[2:]
            layer = torch.nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
            # deconv's (kh, kw, Cout, Cin) is PyTorch's (Cin, Cout, kh, kw)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(
                kernel.transpose(3, 2, 0, 1))))
            layer.bias.copy_(torch.from_numpy(bias))
            last = index == len(generator.kernels) - 1
            layers += [layer, torch.nn.Tanh() if last else torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)


def run_contender(contender, batch, runs, threads, seed=0):
    """Time ``runs`` runs of the generator in this process; return a record
    of the median seconds of the whole pipeline, of each stage and of each
    layer alone."""
    rng = np.random.default_rng(seed + 1)
    z = rng.standard_normal((batch, LATENT_SIZE), dtype=np.float32)
    generator = Generator(batch, seed, num_threads=threads)
    if contender == "torch":
        return _run_torch(generator, z, runs, threads)
    limit = None
    if contender == "deconv, BLAS 1 thread":
        from threadpoolctl import ThreadpoolController
        limit = ThreadpoolController().limit(limits=1, user_api="blas")
    try:
        return _run_deconv(generator, z, runs)
    finally:
        if limit is not None:
            limit.restore_original_limits()


def _run_deconv(generator, z, runs):
    stages = generator.stages()
    inputs = []
    activations = z
    for _, stage in stages:  # warm-up: plans, packed kernels, pages
        inputs.append(activations.copy())
        activations = stage(activations)
    totals, stage_seconds = [], {name: [] for name, _ in stages}
    for _ in range(runs):
        activations = z
        start = time.perf_counter()
        for name, stage in stages:
            begin = time.perf_counter()
            activations = stage(activations)
            stage_seconds[name].append(time.perf_counter() - begin)
        totals.append(time.perf_counter() - start)
    time.sleep(QUIET_SECONDS)
    # Alone: each layer called again and again on its input, as bench times layers.
    isolated = {}
    for (name, stage), stage_input in zip(stages, inputs):
        if name.startswith("layer"):
            isolated[name] = timings(lambda: stage(stage_input), runs)  # noqa: B023
    return {"total": float(np.median(totals)),
            "stages": {name: float(np.median(t)) for name, t in stage_seconds.items()},
            "isolated": {name: float(np.median(t)) for name, t in isolated.items()},
            "checksum": float(np.abs(activations).sum())}


def _run_torch(generator, z, runs, threads):
    import torch

    torch.set_num_threads(threads)
    model = torch_generator(generator)
    stages = _torch_stages(model)
    tz = torch.from_numpy(z)
    with torch.inference_mode():
        for _ in range(3):
            images = model(tz)
        totals = []
        for _ in range(runs):
            start = time.perf_counter()
            images = model(tz)
            totals.append(time.perf_counter() - start)
        # The stages one by one, as deconv's are timed, after the whole-model runs
        # that give the total (their clock reads are not in it).
        inputs, stage_seconds = {}, {name: [] for name, _ in stages}
        for _ in range(runs):
            activations = tz
            for name, stage in stages:
                inputs[name] = activations
                begin = time.perf_counter()
                activations = stage(activations)
                stage_seconds[name].append(time.perf_counter() - begin)
        time.sleep(QUIET_SECONDS)
        isolated = {name: timings(lambda: stage(inputs[name]), runs)  # noqa: B023
                    for name, stage in stages if name.startswith("layer")}
    expected = generator(z)
    error = float(np.abs(images.permute(0, 2, 3, 1).numpy() - expected).max())
    return {"total": float(np.median(totals)),
            "stages": {name: float(np.median(t)) for name, t in stage_seconds.items()},
            "isolated": {name: float(np.median(t)) for name, t in isolated.items()},
            "max_abs_difference_from_deconv": error}


def _torch_stages(model):
    """``model`` (see :func:`torch_generator`) as (name, module) stages named
    as the generator's: the dense layer with its reshape and ReLU, then
    "layer i" (a ConvTranspose2d, its bias included) and "relu i" / "tanh 4"."""
    import torch

    modules = list(model)
    stages = [("dense", torch.nn.Sequential(*modules[:3]))]
    for index in range((len(modules) - 3) // 2):
        layer, activation = modules[3 + 2 * index: 5 + 2 * index]
        stages.append((f"layer {index + 1}", layer))
        stages.append((f"{type(activation).__name__.lower()} {index + 1}", activation))
    return stages


def run_pipeline_bench(threads=None, rounds=5, runs=20, batch=16, out=None, json_path=None,
                       python=None):
    """Run every contender ``rounds`` times, each in its own process
    (interleaved, in a new order every round); print the table to ``out``
    (standard output by default)."""
    out = sys.stdout if out is None else out
    threads = resolve_num_threads(threads)
    python = python or sys.executable
    available = _available_contenders(python)
    for contender in CONTENDERS:
        if contender not in available:
            print(f"note: {contender!r} skipped: {_REQUIREMENTS[contender]} is not importable "
                  f"by {python}", file=out)
    records = {name: [] for name in available}
    order = np.random.default_rng(0)
    for _ in range(rounds):
        for name in order.permutation(available):
            records[name].append(_child(python, name, batch, runs, threads))
    summary = {name: _summarize(runs_of) for name, runs_of in records.items()}
    _print_pipeline(summary, threads, rounds, runs, batch, out)
    if json_path:
        with open(json_path, "w") as handle:
            json.dump({"threads": threads, "processor": processor_name(), "rounds": rounds,
                       "runs": runs, "batch": batch, "contenders": summary}, handle, indent=1)
    return summary


_REQUIREMENTS = {"deconv": "numpy", "deconv, BLAS 1 thread": "threadpoolctl", "torch": "torch"}


def _available_contenders(python):
    available = []
    for name in CONTENDERS:
        probe = subprocess.run([python, "-c", f"import {_REQUIREMENTS[name]}"],
                               capture_output=True)
        if probe.returncode == 0:
            available.append(name)
    return available


def _child(python, contender, batch, runs, threads):
    command = [python, "-m", "deconv._pipeline", contender, "--batch", str(batch),
               "--runs", str(runs), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summarize(records):
    """Medians over the rounds of each round's medians."""
    def median(key, name=None):
        values = [r[key] if name is None else r[key][name] for r in records]
        return float(np.median(values))
    summary = {"total": median("total"),
               "stages": {name: median("stages", name) for name in records[0]["stages"]},
               "isolated": {name: median("isolated", name) for name in records[0]["isolated"]}}
    if "max_abs_difference_from_deconv" in records[0]:
        summary["max_abs_difference_from_deconv"] = max(
            r["max_abs_difference_from_deconv"] for r in records)
    return summary


def _print_pipeline(summary, threads, rounds, runs, batch, out):
    print(f"\nDCGAN generator (dense + 4 transposed convolutions + bias, ReLU/tanh), batch "
          f"{batch}, float32, {threads} threads; each contender in its own process, median "
          f"over {rounds} rounds of the median of {runs} runs.", file=out)
    torch_total = summary.get("torch", {}).get("total")
    for name, record in summary.items():
        line = f"  {name:<24}{record['total'] * 1e3:9.2f} ms"
        if torch_total:
            line += f"  {record['total'] / torch_total:5.2f}x torch"
        print(line, file=out)
        layers = [stage for stage in record["stages"] if stage in record["isolated"]]
        if layers:
            print("    " + "; ".join(
                f"{stage}: {record['stages'][stage] * 1e3:.2f} ms in the pipeline, "
                f"{record['isolated'][stage] * 1e3:.2f} alone "
                f"({record['stages'][stage] / record['isolated'][stage]:.2f}x)"
                for stage in layers), file=out)
            others = [stage for stage in record["stages"] if stage not in record["isolated"]]
            print("    " + "; ".join(f"{stage} {record['stages'][stage] * 1e3:.2f} ms"
                                     for stage in others), file=out)
        if "max_abs_difference_from_deconv" in record:
            print(f"    largest difference from deconv's images: "
                  f"{record['max_abs_difference_from_deconv']:.2e}", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description="One contender of bench --pipeline.")
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    record = run_contender(args.contender, args.batch, args.runs,
                           resolve_num_threads(args.threads))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
