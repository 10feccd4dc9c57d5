"""``python -m deconv bench``: time the suite, optionally next to PyTorch and TensorFlow.

Each library runs in a process of its own (:class:`LibraryProcess`: deconv's
backends in one, each peer in another), so that no library's thread pools,
allocator state or BLAS threads live in another's process. The contenders
take turns on the same layer with the same thread count, in a new random
order every round, so that a noisy neighbour slows them all alike; the table
reports medians. With ``passes`` the whole list of layers is timed that many
times over, one pass after another, and each median is over the turns of
every pass: a slow spell of this shared machine (a minute or two in which
the layers that stream memory, Winograd's and the FFT's, ran up to twice
their usual time while PyTorch's barely moved) then touches one pass of a
layer rather than all its turns.

A turn is a burst of calls, back to back, of at least ``TURN_SECONDS``: an
OpenMP pool keeps spinning for about 8 ms after its last parallel region
(libgomp's default; PyTorch's and deconv's alike) and would take a core from
whichever library runs next, so the calls that start within
``SETTLE_SECONDS`` of a turn's start are not counted (the last call of a
turn always is). Each library is then timed with its own pools awake and
the others' asleep, as in a program that uses one of them. Peers are
imported only when asked for with ``--compare``, only in their processes,
and only if installed.
"""
import json
import multiprocessing
import platform
import signal
import sys
import time
import traceback

import numpy as np

from ._api import choose_backend, conv2d, conv2d_transpose, conv2d_transpose_kernel_gradient
from ._arguments import check_count
from ._config import processor_name
from ._suite import EXTRA, SUITE
from ._threads import resolve_num_threads

# What ``--op`` times on each layer: the transposed convolution, its adjoint
# conv2d (on the layer's output shape), or its kernel gradient.
OPS = ("conv2d_transpose", "conv2d", "kernel_gradient")


def _inputs(layer, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(layer.x).astype(layer.dtype)
    kernel = rng.standard_normal(layer.kernel).astype(layer.dtype)
    if layer.data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x, kernel


def output_hw(layer):
    """The layer's output height and width (output_shape=None)."""
    return [in_size * s if layer.padding == "same" else
            (in_size - 1) * s + max((k - 1) * d + 1, s)
            for in_size, k, s, d in zip(layer.x[1:3], layer.kernel[:2], layer.strides,
                                        layer.dilation)]


def _output_gradient(layer, seed=1):
    """An array of the layer's output shape and layout (y for conv2d, dy for
    the kernel gradient)."""
    n, cout = layer.x[0], layer.kernel[2]
    dy = np.random.default_rng(seed).standard_normal((n, *output_hw(layer), cout)).astype(
        layer.dtype)
    if layer.data_format == "channels_first":
        dy = np.ascontiguousarray(dy.transpose(0, 3, 1, 2))
    return dy


def deconv_runner(layer, backend, threads, op="conv2d_transpose"):
    x, kernel = _inputs(layer)
    # The calls are written out with keywords, as a user writes them and as
    # the peers' runners are: calling with **kwargs costs about 0.3 us more
    # in CPython, a tenth of a small layer's time.
    strides, padding, data_format, dilation = (layer.strides, layer.padding,
                                               layer.data_format, layer.dilation)
    if op == "conv2d":
        y = _output_gradient(layer)

        def run():
            return conv2d(y, kernel, strides=strides, padding=padding, data_format=data_format,
                          dilation_rate=dilation, backend=backend, num_threads=threads)
    elif op == "kernel_gradient":
        dy = _output_gradient(layer)
        kernel_size = kernel.shape[:2]

        def run():
            return conv2d_transpose_kernel_gradient(
                x, dy, kernel_size, strides=strides, padding=padding, data_format=data_format,
                dilation_rate=dilation, backend=backend, num_threads=threads)
    else:
        def run():
            return conv2d_transpose(x, kernel, strides=strides, padding=padding,
                                    data_format=data_format, dilation_rate=dilation,
                                    backend=backend, num_threads=threads)
    chosen = backend
    if backend == "auto" and op == "conv2d_transpose":
        chosen = "auto:" + choose_backend(x, kernel, strides=strides, padding=padding,
                                          data_format=data_format, dilation_rate=dilation,
                                          num_threads=threads).backend
    return chosen, run


def torch_runner(layer, threads, op="conv2d_transpose"):
    """torch.nn.functional.conv_transpose2d, channels_last memory format; for
    ``op="conv2d"`` torch.nn.functional.conv2d on the layer's output shape;
    for ``op="kernel_gradient"`` the weight gradient autograd computes
    (aten.convolution_backward with only the weight asked for).

    Keras's "same" crop (extra row at the bottom) is expressed as symmetric
    ``padding`` plus ``output_padding``; the work is the same as Keras's."""
    import torch

    torch.set_num_threads(threads)
    x, kernel = _inputs(layer)
    if layer.data_format == "channels_last":
        x = x.transpose(0, 3, 1, 2)
    n, h, w, _ = layer.x
    pads, extras = [], []
    for axis, in_size in enumerate((h, w)):
        stride, dilation = layer.strides[axis], layer.dilation[axis]
        full = (in_size - 1) * stride + (layer.kernel[axis] - 1) * dilation + 1
        out = in_size * stride if layer.padding == "same" else max(
            full, (in_size - 1) * stride + stride)
        crop = full - out
        pad = max(0, -(-crop // 2))
        pads.append(pad)
        extras.append(out - (full - 2 * pad))

    def channels_last(array):
        return torch.from_numpy(np.ascontiguousarray(array)).contiguous(
            memory_format=torch.channels_last)
    tx = channels_last(x)
    tw = channels_last(kernel.transpose(3, 2, 0, 1))
    if op == "conv2d_transpose":
        def run():
            with torch.inference_mode():
                return torch.nn.functional.conv_transpose2d(
                    tx, tw, stride=layer.strides, padding=tuple(pads),
                    output_padding=tuple(extras), dilation=layer.dilation)
        return run
    dy = _output_gradient(layer)
    ty = channels_last(dy.transpose(0, 3, 1, 2) if layer.data_format == "channels_last" else dy)
    if op == "kernel_gradient":
        def run():
            with torch.inference_mode():
                return torch.ops.aten.convolution_backward(
                    ty, tx, tw, None, list(layer.strides), list(pads), list(layer.dilation),
                    True, list(extras), 1, [False, True, False])[1]
        return run
    # conv2d: TensorFlow's crop, pad_top = total // 2, the odd row at the
    # bottom; PyTorch pads symmetrically, so an odd total is padded first.
    crops = [(full_pad // 2, full_pad - full_pad // 2) for full_pad in (
        max(0, (small - 1) * s + (k - 1) * d + 1 - big) if layer.padding == "same" else 0
        for small, big, k, s, d in zip((h, w), output_hw(layer), layer.kernel[:2],
                                       layer.strides, layer.dilation))]
    symmetric = all(top == bottom for top, bottom in crops)

    def run():
        with torch.inference_mode():
            if symmetric:
                return torch.nn.functional.conv2d(ty, tw, stride=layer.strides,
                                                  padding=[top for top, _ in crops],
                                                  dilation=layer.dilation)
            padded = torch.nn.functional.pad(ty, (*crops[1], *crops[0]))
            return torch.nn.functional.conv2d(padded, tw, stride=layer.strides,
                                              dilation=layer.dilation)
    return run


def tensorflow_runner(layer, threads, op="conv2d_transpose"):
    """tf_keras.backend.conv2d_transpose (stride 1 when dilated, as Keras 2
    requires); for ``op="conv2d"`` tf.nn.conv2d on the layer's output shape;
    for ``op="kernel_gradient"`` Conv2DBackpropFilter, the op a GradientTape
    of conv2d_transpose runs for the kernel."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized by an earlier layer
        pass
    x, kernel = _inputs(layer)
    n, h, w, _ = layer.x
    out_hw = [in_size * s if layer.padding == "same" else
              (in_size - 1) * s + max((k - 1) * d + 1, s)
              for in_size, k, s, d in zip((h, w), layer.kernel[:2], layer.strides,
                                          layer.dilation)]
    cout = layer.kernel[2]
    shape = ([n, *out_hw, cout] if layer.data_format == "channels_last" else [n, cout, *out_hw])
    tx, tk = tf.constant(x), tf.constant(kernel)
    if op == "conv2d_transpose":
        return lambda: tf_keras.backend.conv2d_transpose(
            tx, tk, shape, layer.strides, layer.padding, layer.data_format, layer.dilation)
    ty = tf.constant(_output_gradient(layer))
    tf_format = "NHWC" if layer.data_format == "channels_last" else "NCHW"
    strides = [1, 1, *layer.strides] if tf_format == "NCHW" else [1, *layer.strides, 1]
    dilations = [1, 1, *layer.dilation] if tf_format == "NCHW" else [1, *layer.dilation, 1]
    padding = layer.padding.upper()
    if op == "conv2d":
        return lambda: tf.nn.conv2d(ty, tk, strides, padding, tf_format, dilations)
    return lambda: tf.raw_ops.Conv2DBackpropFilter(
        input=ty, filter_sizes=list(layer.kernel), out_backprop=tx, strides=strides,
        padding=padding, data_format=tf_format, dilations=dilations)


PEERS = {"torch": torch_runner, "tensorflow": tensorflow_runner}


def gemm_gflops(size=4096, repeats=5):
    """Single-precision matrix-product rate of NumPy's BLAS on this machine."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / np.median(times) / 1e9


def _progress(done, total, label, stream=sys.stderr):
    width = 30
    filled = int(width * done / total)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<24}")
    if done == total:
        stream.write("\n")
    stream.flush()


# A turn of one contender: calls back to back for at least this long, those
# starting in its first SETTLE_SECONDS not counted (see the module's text).
TURN_SECONDS = 0.04
SETTLE_SECONDS = 0.012
# The module each peer is imported from: a peer whose module does not
# import is skipped with a note.
PEER_MODULES = {"torch": "torch", "tensorflow": "tf_keras"}


def _library_runners(library, layer, backends, threads, op):
    """(labels, runs) of ``library`` on ``layer``: per contender, the label
    of the table and a function making one call."""
    if library != "deconv":
        return {library: library}, {library: PEERS[library](layer, threads, op)}
    labels, runs = {}, {}
    for backend in backends:
        labels[backend], runs[backend] = deconv_runner(layer, backend, threads, op)
    return labels, runs


def _serve_library(connection, library, backends, threads, op):
    """The loop of a library's process (see :class:`LibraryProcess`): answer
    each request on ``connection`` until told to stop, errors included (as
    their traceback). Ctrl-C is the driver's to handle: it stops the
    processes when it stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if library != "deconv":
            __import__(PEER_MODULES[library])
    except ImportError as error:
        connection.send(("unavailable", str(error)))
        return
    connection.send(("ready", None))
    layers = {layer.name: layer for layer in SUITE + EXTRA}
    runs = {}
    while True:
        request, argument = connection.recv()
        try:
            if request == "stop":
                return
            if request == "layer":
                labels, runs = _library_runners(library, layers[argument], backends, threads,
                                                op)
                for run in runs.values():  # warm-up: plans, primitives, caches
                    run()
                connection.send(("labels", labels))
            else:  # "turn": a turn of contender ``argument``
                connection.send(("seconds", _turn(runs[argument])))
        except Exception:  # noqa: BLE001 -- any failure goes back to the driver, which raises it
            connection.send(("error", traceback.format_exc()))


def _turn(run):
    """The counted seconds of one turn of calls of ``run`` (see the module's text)."""
    counted = []
    turn_start = time.perf_counter()
    while True:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        if start - turn_start >= SETTLE_SECONDS:
            counted.append(seconds)
        if start + seconds - turn_start >= TURN_SECONDS:
            return counted or [seconds]


class LibraryProcess:
    """A process of its own (spawned: nothing inherited from this one) that
    runs one library's contenders: ``"deconv"`` (its ``backends``) or a peer
    of :data:`PEERS`. ``available`` is False, and ``reason`` says why, when
    the library does not import there."""

    def __init__(self, library, backends, threads, op):
        context = multiprocessing.get_context("spawn")
        self.library = library
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve_library,
                                        args=(child, library, tuple(backends), threads, op),
                                        daemon=True, name=f"deconv bench: {library}")
        self._process.start()
        child.close()
        state, self.reason = self._connection.recv()
        self.available = state == "ready"
        if not self.available:
            self._process.join()

    def _ask(self, request, argument=None):
        self._connection.send((request, argument))
        kind, answer = self._connection.recv()
        if kind == "error":
            raise RuntimeError(f"{self.library} failed in its process:\n{answer}")
        return answer

    def load(self, layer):
        """Build and warm up the contenders on ``layer``; their labels."""
        return self._ask("layer", layer.name)

    def turn(self, contender):
        """The counted seconds of a turn of ``contender``, timed in the library's process."""
        return self._ask("turn", contender)

    def close(self):
        """Stop the process (after the call it is making, if any)."""
        try:
            if self._process.is_alive():
                self._connection.send(("stop", None))
        except OSError:  # it has gone already
            pass
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._connection.close()


def run_bench(layers=None, backends=("auto",), compare=(), threads=None, repeats=15,
              gemm=True, out=sys.stdout, json_path=None, op="conv2d_transpose", extra=False,
              passes=1):
    """Time ``op`` (one of ``OPS``) on ``layers`` (names from the suite or
    its extra layers; by default the suite, and with ``extra`` the extra
    layers too), each library in its own :class:`LibraryProcess`, in
    ``passes`` passes over the layers of ``repeats`` rounds of turns each;
    print the table."""
    check_count("passes", passes, 1)
    threads = resolve_num_threads(threads)
    known = SUITE + EXTRA
    if layers:
        selected = [layer for layer in known if layer.name in layers]
    else:
        selected = SUITE + (EXTRA if extra else [])
    unknown = set(layers or ()) - {layer.name for layer in known}
    if unknown:
        raise SystemExit(f"unknown layers {sorted(unknown)}; choose from "
                         f"{[layer.name for layer in known]}")
    for name in compare:
        if name not in PEERS:
            raise SystemExit(f"unknown peer {name!r}; choose from {sorted(PEERS)}")
    libraries = [LibraryProcess("deconv", backends, threads, op)]
    try:
        for name in compare:
            library = LibraryProcess(name, (), threads, op)
            if library.available:
                libraries.append(library)
            else:
                print(f"note: {name} is not importable here; skipping it", file=out)
        labels, times = {}, {layer.name: {} for layer in selected}
        for turn_pass in range(passes):
            for index, layer in enumerate(selected):
                _progress(turn_pass * len(selected) + index, passes * len(selected), layer.name)
                labels[layer.name], turns = _time_layer(layer, [index, turn_pass], libraries,
                                                        repeats)
                for name, seconds in turns.items():
                    times[layer.name].setdefault(name, []).extend(seconds)
    finally:
        for library in libraries:
            library.close()
    _progress(passes * len(selected), passes * len(selected), "done")
    rows = [(layer, {backend: labels[layer.name][backend] for backend in backends},
             {name: float(np.median(seconds)) for name, seconds in times[layer.name].items()})
            for layer in selected]
    peers = [library.library for library in libraries[1:]]
    gemm_rate = gemm_gflops() if gemm else None
    _print_table(rows, backends, peers, threads, repeats, passes, gemm_rate, out, op)
    if json_path:
        _write_json(json_path, rows, backends, peers, threads, repeats, passes, gemm_rate, op)
    return rows, gemm_rate


def _time_layer(layer, seed, libraries, repeats):
    """(label per contender, counted seconds per contender) of ``layer`` over
    ``repeats`` rounds of turns, in an order drawn from ``seed``."""
    owner, labels = {}, {}
    for library in libraries:
        for name, label in library.load(layer).items():
            owner[name] = library
            labels[name] = label
    times = {name: [] for name in owner}
    shuffler = np.random.default_rng(seed)
    for _ in range(repeats):
        for name in shuffler.permutation(list(owner)):
            times[name] += owner[name].turn(name)
    return labels, times


def _write_json(path, rows, backends, peers, threads, repeats, passes, gemm_rate, op):
    from . import __version__
    record = {
        "op": op, "deconv": __version__, "machine": platform.machine(),
        "processor": processor_name(),
        "threads": threads, "repeats": repeats, "passes": passes, "gemm_gflops": gemm_rate,
        "turn_seconds": TURN_SECONDS, "settle_seconds": SETTLE_SECONDS,
        "backends": list(backends), "peers": peers,
        "layers": [{"name": layer.name, "dtype": layer.dtype, "data_format": layer.data_format,
                    "x": layer.x, "kernel": layer.kernel, "strides": layer.strides,
                    "padding": layer.padding, "dilation": layer.dilation,
                    "nominal_flops": layer.nominal_flops, "chosen": labels,
                    "median_seconds": medians} for layer, labels, medians in rows],
    }
    with open(path, "w") as handle:
        json.dump(record, handle, indent=1)


def turns_description(repeats, passes):
    """What a median is taken over, in words: "15 turns", "3 passes of 15 turns"."""
    return f"{repeats} turns" if passes == 1 else f"{passes} passes of {repeats} turns"


def _print_table(rows, backends, peers, threads, repeats, passes, gemm_rate, out, op):
    what = "each layer" if op == "conv2d_transpose" else "each layer's output shape"
    print(f"\n{op} on {what}. Each library in its own process, {threads} threads each; "
          f"medians over {turns_description(repeats, passes)} of each contender (at least "
          f"{TURN_SECONDS * 1e3:.0f} ms of calls each, those of its first "
          f"{SETTLE_SECONDS * 1e3:.0f} ms not counted); "
          f"GFLOP/s are nominal "
          f"(2*N*h*w*Cin*Cout*kh*kw); ratio = deconv time / best peer time (< 1: deconv faster).",
          file=out)
    header = f"{'layer':<15}{'dtype':<8}{'layout':<7}"
    for backend in backends:
        header += f"{backend:>16}{'ms':>9}{'GF/s':>7}"
    for peer in peers:
        header += f"{peer + ' ms':>15}"
    if peers:
        header += f"{'ratio':>8}"
    print(header, file=out)
    ratios = []
    for layer, labels, medians in rows:
        layout = "NHWC" if layer.data_format == "channels_last" else "NCHW"
        line = f"{layer.name:<15}{layer.dtype:<8}{layout:<7}"
        for backend in backends:
            seconds = medians[backend]
            line += (f"{labels[backend]:>16}{seconds * 1e3:>9.3f}"
                     f"{layer.nominal_flops / seconds / 1e9:>7.0f}")
        for peer in peers:
            line += f"{medians[peer] * 1e3:>15.3f}"
        if peers:
            best_peer = min(medians[peer] for peer in peers)
            ratio = medians[backends[0]] / best_peer
            ratios.append(ratio)
            line += f"{ratio:>8.2f}"
        print(line, file=out)
    if ratios:
        geomean = float(np.exp(np.mean(np.log(ratios))))
        print(f"geometric-mean ratio {geomean:.3f}, worst {max(ratios):.2f} "
              f"({backends[0]} vs best of {', '.join(peers)})", file=out)
    if gemm_rate is not None:
        print(f"NumPy float32 GEMM (4096^2, {threads} threads available): {gemm_rate:.0f} GFLOP/s "
              f"on {processor_name()}", file=out)
