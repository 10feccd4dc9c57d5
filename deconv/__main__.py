"""``python -m deconv``: configuration and a runnable example; see ``--help``."""
import argparse
import sys

from ._demo import run_demo
from ._registry import list_backends


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
    bench.add_argument("--layers", default="", help="comma-separated layer names (default: all)")
    bench.add_argument("--backends", default="auto,direct",
                       help="comma-separated deconv backends (default: auto,direct)")
    bench.add_argument("--compare", default="",
                       help="comma-separated peers to time in the same run: torch,tensorflow")
    bench.add_argument("--repeats", type=_count(1), default=15,
                       help="rounds per layer (short layers get up to ten times as many)")
    bench.add_argument("--no-gemm", action="store_true", help="skip the GEMM-rate measurement")
    bench.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    tune = commands.add_parser("tune", help="fit the cost model of 'auto' to this machine")
    tune.add_argument("--repeats", type=_count(1), default=7)
    args = parser.parse_args(argv)
    if args.command == "tune":
        from ._bench import _progress
        from ._tune import run_tune
        run_tune(threads=args.threads, repeats=args.repeats, progress=_progress)
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
                  gemm=not args.no_gemm, json_path=args.json)
        return 0
    if args.command in (None, "demo"):
        return run_demo(batch=getattr(args, "batch", 16), repeats=getattr(args, "repeats", 5),
                        num_threads=args.threads, loop=getattr(args, "loop", 0))
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
