"""``python -m deconv``: configuration and a runnable example; see ``--help``."""
import argparse
import sys

from ._bench import OPS
from ._demo import run_demo
from ._registry import list_backends
from ._threads import resolve_num_threads


def _count(minimum):
    """An argparse type: an int of at least ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}; got {value}")
        return value
    parse.__name__ = f"int >= {minimum}"
    return parse


def _pair(minimum):
    """An argparse type: one int, or two separated by a comma, each at least
    ``minimum``; one int stands for both."""
    count = _count(minimum)

    def parse(text):
        parts = text.split(",")
        if len(parts) not in (1, 2):
            raise argparse.ArgumentTypeError(f"{text!r} is not one int or two separated by "
                                             f"a comma")
        values = tuple(count(part.strip()) for part in parts)
        return values * 2 if len(values) == 1 else values
    parse.__name__ = f"int >= {minimum} or pair"
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m deconv",
        description="Fast CPU transposed convolution. Without a command: print the "
                    "configuration and run a DCGAN-style generator.")
    parser.add_argument("--threads", type=_count(1), default=None,
                        help="threads per call (default: OMP_NUM_THREADS or all cores)")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="the default: configuration + generator example")
    demo.add_argument("--batch", type=_count(1), default=16)
    demo.add_argument("--repeats", type=_count(1), default=5)
    demo.add_argument("--loop", type=_count(0), default=0, metavar="RUNS",
                      help="also time RUNS runs of the whole generator through operators "
                           "and through functions, and trace what the operator loop allocates")
    bench = commands.add_parser("bench", help="time the benchmark suite (optionally vs peers)")
    bench.add_argument("--layers", default="",
                       help="comma-separated layer names (default: the whole suite)")
    bench.add_argument("--extra", action="store_true",
                       help="also time the extra layers beyond the suite")
    bench.add_argument("--backends", default="auto,direct",
                       help="comma-separated deconv backends (default: auto,direct)")
    bench.add_argument("--compare", default="",
                       help="comma-separated peers to time in the same run: torch,tensorflow")
    bench.add_argument("--repeats", type=_count(1), default=15,
                       help="rounds per layer (short layers get up to ten times as many)")
    bench.add_argument("--passes", type=_count(1), default=1,
                       help="time the whole list of layers this many times over, the medians "
                            "pooling every pass's turns (a slow spell of a shared machine "
                            "then touches one pass; default 1)")
    bench.add_argument("--no-gemm", action="store_true", help="skip the GEMM-rate measurement")
    bench.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    bench.add_argument("--op", choices=OPS, default="conv2d_transpose",
                       help="what to time on each layer: the transposed convolution "
                            "(default), its adjoint conv2d, or its kernel gradient")
    bench.add_argument("--grid", type=_count(1), default=None, metavar="SHAPES",
                       help="instead of the layers, time every backend on SHAPES random "
                            "layers (1-3 channel ones among them) and score auto's choices "
                            "against the fastest")
    bench.add_argument("--seed", type=_count(0), default=1, help="the --grid's seed (default 1)")
    bench.add_argument("--pipeline", action="store_true",
                       help="instead of the layers, time a NumPy DCGAN generator end to end "
                            "against the same model in PyTorch, each in its own process "
                            "(--repeats rounds)")
    tune = commands.add_parser("tune", help="fit the cost model of 'auto' to this machine")
    tune.add_argument("--repeats", type=_count(1), default=5,
                      help="interleaved rounds of the calibration layers (default 5)")
    tune.add_argument("--validation-shapes", type=_count(1), default=60, metavar="N",
                      help="random layers of the held-out grid the tuned constants must "
                           "dispatch at least as well as the shipped ones on (default 60)")
    zarr = commands.add_parser(
        "zarr", help="zarr array in, zarr array out, in bounded memory (needs deconv[dask])",
        description="Transposed convolution of the zarr array SOURCE, written to the zarr "
                    "array TARGET chunk by chunk: memory holds the chunks in flight, not the "
                    "arrays.")
    zarr.add_argument("source", help="zarr array holding x")
    zarr.add_argument("target", help="zarr array to write y to")
    zarr.add_argument("--kernel", required=True, metavar="FILE.npy",
                      help="the kernel (kh, kw, Cout, Cin), saved with numpy.save")
    zarr.add_argument("--strides", type=_pair(1), default=(1, 1), metavar="S[,S]")
    zarr.add_argument("--padding", choices=("valid", "same"), default="valid")
    zarr.add_argument("--dilation", type=_pair(1), default=(1, 1), metavar="D[,D]")
    zarr.add_argument("--data-format", choices=("channels_last", "channels_first"),
                      default="channels_last")
    zarr.add_argument("--backend", default=None, help="a backend name (default: auto)")
    zarr.add_argument("--input-chunks", type=_pair(1), default=None, metavar="ROWS[,COLS]",
                      help="rechunk x's spatial axes to this (default: the store's chunks)")
    zarr.add_argument("--scheduler", default="threads",
                      help="'threads' (default), 'sync', or a dask.distributed scheduler "
                           "address such as tcp://10.0.0.1:8786")
    zarr.add_argument("--overwrite", action="store_true", help="replace TARGET if it exists")
    args = parser.parse_args(argv)
    if args.command == "zarr":
        from ._out_of_core import run_zarr
        if args.backend is not None and args.backend not in list_backends():
            parser.error(f"--backend: unknown backend {args.backend!r}; choose from "
                         f"{list_backends()}")
        try:
            run_zarr(args.source, args.target, args.kernel, strides=args.strides,
                     padding=args.padding, dilation=args.dilation,
                     data_format=args.data_format, backend=args.backend,
                     input_chunks=args.input_chunks, scheduler=args.scheduler,
                     num_threads=args.threads, overwrite=args.overwrite)
        except (ValueError, TypeError, OSError) as error:  # bad stores, shapes, kernels
            zarr.exit(2, f"python -m deconv zarr: error: {error}\n")
        return 0
    if args.command == "tune":
        from ._bench import _progress
        from ._tune import run_tune
        run_tune(threads=args.threads, repeats=args.repeats,
                 validation_shapes=args.validation_shapes, progress=_progress)
        return 0
    if args.command == "bench" and args.grid:
        from ._grid import run_grid
        run_grid(args.grid, args.seed, resolve_num_threads(args.threads), json_path=args.json)
        return 0
    if args.command == "bench" and args.pipeline:
        from ._pipeline import run_pipeline_bench
        run_pipeline_bench(threads=args.threads, rounds=args.repeats, json_path=args.json)
        return 0
    if args.command == "bench":
        from ._bench import run_bench

        def names(text):
            return [part.strip() for part in text.split(",") if part.strip()]
        backends = names(args.backends)
        unknown = [name for name in backends if name not in list_backends()]
        if unknown or not backends:
            parser.error(f"--backends: unknown backends {unknown}; choose from "
                         f"{list_backends()}")
        run_bench(layers=names(args.layers), backends=backends,
                  compare=names(args.compare), threads=args.threads, repeats=args.repeats,
                  gemm=not args.no_gemm, json_path=args.json, op=args.op, extra=args.extra,
                  passes=args.passes)
        return 0
    if args.command in (None, "demo"):
        return run_demo(batch=getattr(args, "batch", 16), repeats=getattr(args, "repeats", 5),
                        num_threads=args.threads, loop=getattr(args, "loop", 0))
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
