"""``python -m deconv``: configuration and a runnable example; see ``--help``."""
import argparse
import sys

from ._demo import run_demo


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m deconv",
        description="Fast CPU transposed convolution. Without a command: print the "
                    "configuration and run a DCGAN-style generator.")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per call (default: OMP_NUM_THREADS or all cores)")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="the default: configuration + generator example")
    demo.add_argument("--batch", type=int, default=16)
    demo.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        return run_demo(batch=getattr(args, "batch", 16), repeats=getattr(args, "repeats", 5),
                        num_threads=args.threads)
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
