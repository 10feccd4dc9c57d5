"""How often "auto" picks a backend within 15% of the fastest.

    python tools/auto_grid.py --shapes 50 --seed 1     # seeds 1-4: 200 shapes

Random float32 layers of ``deconv._grid`` (spatial 8-64, kernels 1-33,
strides 1-4, batches 1-64, channels 1-64 or, a third of the time each of
Cin and Cout, 1-3), 2 threads. Every backend is timed (median of 5; one
already 5x slower than the best after one run is not repeated) and compared
with the backend ``choose_backend`` names under the cost constants in force
(show_config's "cost model" line says which). ``tune`` checks its profile on
the same kind of grid with a seed of its own.
"""
import argparse
import json

from deconv import _profile
from deconv._grid import BACKENDS, TOLERANCE, chosen_backend, random_cases, score, time_backends

THREADS = 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write every row to FILE")
    args = parser.parse_args()
    print(f"cost model: {_profile.profile_source()}")
    ratios, rows = [], []
    for index, case in enumerate(random_cases(args.seed, args.shapes)):
        seconds = time_backends(case, THREADS)
        chosen = chosen_backend(case, THREADS)
        ratio = seconds[chosen] / min(seconds.values())
        ratios.append(ratio)
        rows.append({"case": case.describe(), "seconds": seconds, "auto": chosen,
                     "ratio": ratio})
        flag = "" if ratio <= TOLERANCE else "  <-- off by more than 15%"
        print(f"{index:3d} {case.describe()} "
              + " ".join(f"{b} {seconds[b] * 1e3:8.3f}" for b in BACKENDS)
              + f"  auto={chosen:9} ratio {ratio:.2f}{flag}", flush=True)
    result = score(ratios)
    print(f"seed {args.seed}, {len(ratios)} shapes: auto {result}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"seed": args.seed, "score": result._asdict(), "rows": rows}, handle,
                      indent=1)


if __name__ == "__main__":
    main()
