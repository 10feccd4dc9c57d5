"""How well "auto" dispatches: its choices against the measured-fastest
backend on a seeded grid of random layers (``python -m deconv bench --grid``),
two threads. Tracked as numbers, not times: the share of layers within 15%
of the fastest, the worst and the geometric-mean ratio."""
from deconv._grid import run_grid

SHAPES = 40


class Dispatch:
    params = ([1, 2],)
    param_names = ["seed"]
    timeout = 600

    def setup_cache(self):
        return {seed: run_grid(SHAPES, seed, threads=2, out=lambda line: None)
                for seed in self.params[0]}

    def track_within_15_percent(self, scores, seed):
        return scores[seed].within

    track_within_15_percent.unit = "share of layers"

    def track_worst_ratio(self, scores, seed):
        return scores[seed].worst

    track_worst_ratio.unit = "auto / fastest"

    def track_geomean_ratio(self, scores, seed):
        return scores[seed].geomean

    track_geomean_ratio.unit = "auto / fastest"
