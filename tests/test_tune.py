"""python -m deconv tune: it measures, checks the candidate on a held-out
grid, stores a profile only when it dispatches no worse (and then uses it),
and refuses nonsense."""
import numpy as np
import pytest

import deconv
from deconv import _cost, _grid, _profile, _simd, _tune

TINY_CALIBRATION = [_cost.CalibrationLayer(*layer) for layer in [
    ("direct_wide_4", "direct", (2, 4, 4, 32), (3, 3, 40, 32), 2, "same", "float32", "wide"),
    ("direct_narrow_4", "direct", (2, 8, 8, 8), (3, 3, 2, 8), 2, "same", "float32", "narrow"),
    ("direct_dot_4", "direct", (2, 8, 8, 40), (3, 3, 1, 40), 2, "same", "float32", "dot"),
    ("fft", "fft", (1, 8, 8, 2), (7, 7, 2, 2), 1, "same", "float32"),
    ("reference", "reference", (1, 4, 4, 4), (3, 3, 4, 4), 1, "same", "float32"),
]]
GOOD = _grid.DispatchScore(within=0.9, worst=1.4, geomean=1.05)
BAD = _grid.DispatchScore(within=0.8, worst=3.0, geomean=1.2)


def scores(shipped, tuned):
    """A stand-in for the held-out grid's measurement."""
    return lambda profiles, *args, **kwargs: {"shipped": shipped, "tuned": tuned}


def test_tune_stores_a_profile_that_dispatches_no_worse(cache, monkeypatch):
    monkeypatch.setattr(_tune, "held_out_scores", scores(BAD, GOOD))
    lines = []
    result = _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION,
                            out=lines.append)
    assert result.path == cache / "profile.json" and result.path.exists()
    assert set(result.ratios) == {layer.path for layer in TINY_CALIBRATION}
    assert all(ratio > 0 for ratio in result.ratios.values())
    assert (result.shipped, result.tuned) == (BAD, GOOD)
    assert _profile.profile_source().startswith("tuned profile")
    assert _profile.current_profile() != _cost.DEFAULT_PROFILE
    assert any("Constants changed" in line for line in lines)
    assert any("tuned constants:   within 15% of the fastest on 90%" in line for line in lines)
    # tuning again starts from the shipped constants, not from the last result
    _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION[:1], out=lines.append)
    tuned = _profile.current_profile()
    assert tuned["fft_flops_per_thread"] == _cost.DEFAULT_PROFILE["fft_flops_per_thread"]
    # "auto" still answers with registered names under the tuned constants
    choice = deconv.choose_backend(np.ones((1, 8, 8, 4)), np.ones((3, 3, 4, 4)))
    assert choice.backend in deconv.list_backends()


def test_calibration_rounds_interleave_the_paths_and_a_slow_spell_does_not_count(
        monkeypatch):
    # Every call takes 1 ms, but the second round is a slow spell (10 ms):
    # each layer's median over its rounds ignores it, so the ratios are
    # those of a machine without the spell. The layers of deconv's paths
    # take their rounds first, in a new order each; the reference path's
    # (BLAS) after them.
    log = []

    def fake_timings(slow_round):
        def timings(call, repeats, warmup=True):
            log.append(call)
            deconv_layers = len(TINY_CALIBRATION) - 1
            spell = slow_round * deconv_layers <= len(log) - 1 < (slow_round + 1) * deconv_layers
            return [0.01 if spell else 0.001] * repeats
        return timings

    monkeypatch.setattr(_tune, "timings", fake_timings(slow_round=99))
    calm = _tune.measure_ratios(2, repeats=5, calibration=TINY_CALIBRATION)
    log.clear()
    monkeypatch.setattr(_tune, "timings", fake_timings(slow_round=1))
    spell = _tune.measure_ratios(2, repeats=5, calibration=TINY_CALIBRATION)
    assert spell == calm
    deconv_rounds = [log[i:i + 4] for i in range(0, 20, 4)]
    assert all(len(set(map(id, one_round))) == 4 for one_round in deconv_rounds)
    assert len({tuple(map(id, one_round)) for one_round in deconv_rounds}) > 1
    reference = log[20:]
    assert len(reference) == 5 and len(set(map(id, reference))) == 1
    assert reference[0] not in deconv_rounds[0]


def test_path_scales_keep_the_machine_speed_and_shrink_the_paths_against_each_other():
    # a machine uniformly 20% faster: every path scaled alike, no choice moves
    uniform = {"direct_wide_4": 0.8, "direct_narrow_4": 0.8, "fft": 0.8, "reference": 0.8}
    assert _tune.path_scales(uniform) == pytest.approx({**uniform, "common": 0.8})
    # paths within the band of the common (median) ratio take it ...
    near = _tune.path_scales({"direct_wide_4": 0.85, "direct_narrow_4": 0.8, "fft": 0.9})
    assert near == pytest.approx({"direct_wide_4": 0.85, "direct_narrow_4": 0.85,
                                  "fft": 0.85, "common": 0.85})
    # ... and one past it moves by what exceeds the band, both ways
    far = _tune.path_scales({"direct_wide_4": 1.0, "direct_narrow_4": 1.0, "fft": 0.5,
                             "reference": 3.0}, band=1.2)
    assert far == pytest.approx({"direct_wide_4": 1.0, "direct_narrow_4": 1.0,
                                 "fft": 0.6, "reference": 2.5, "common": 1.0})


def test_tune_scales_the_constants_by_the_path_scales(cache, monkeypatch):
    monkeypatch.setattr(_tune, "held_out_scores", scores(BAD, GOOD))
    monkeypatch.setattr(_tune, "measure_ratios", lambda *args, **kwargs: {
        "direct_wide_4": 0.9, "direct_narrow_4": 0.8, "fft": 0.4})
    result = _tune.run_tune(threads=2, repeats=1, out=print)
    assert result.scales == pytest.approx({"direct_wide_4": 0.8, "direct_narrow_4": 0.8,
                                           "fft": 0.4 * _tune.RELATIVE_BAND, "common": 0.8})
    level = _simd.core.isa_name()
    assert _profile.current_profile() == _cost.scaled_profile(_cost.DEFAULT_PROFILE,
                                                              result.scales, level)


def test_tune_never_saves_a_profile_that_dispatches_worse(cache, monkeypatch):
    monkeypatch.setattr(_tune, "held_out_scores", scores(GOOD, BAD))
    lines = []
    result = _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION,
                            out=lines.append)
    assert result.path is None and not (cache / "profile.json").exists()
    assert any(line.startswith("Not saved: the tuned constants dispatch worse") for line in lines)
    assert _profile.profile_source().startswith("built-in defaults")
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE


def test_a_worse_candidate_leaves_the_stored_profile_alone(cache, monkeypatch):
    monkeypatch.setattr(_tune, "held_out_scores", scores(BAD, GOOD))
    first = _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION, out=print)
    stored = first.path.read_text()
    monkeypatch.setattr(_tune, "held_out_scores", scores(GOOD, BAD))
    lines = []
    second = _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION,
                            out=lines.append)
    assert second.path is None and first.path.read_text() == stored
    assert any("Still in force: tuned profile" in line for line in lines)
    assert _profile.profile_source().startswith("tuned profile")


def test_the_held_out_grid_scores_each_profile_on_the_same_timings(monkeypatch):
    timed = []

    def fake_times(case, threads):
        timed.append(case)
        return {"direct": 1.0, "fft": 2.0, "winograd": 3.0, "reference": 4.0}
    monkeypatch.setattr(_grid, "time_backends", fake_times)
    # a profile whose direct rates are absurdly low sends everything elsewhere
    slow_direct = _cost.scaled_profile(_cost.DEFAULT_PROFILE, {
        path: 1e6 for path in _cost.TUNED_CONSTANTS if path.startswith("direct")},
        _simd.core.isa_name())
    result = _tune.held_out_scores({"shipped": _cost.DEFAULT_PROFILE, "slow": slow_direct},
                                   threads=2, shapes=8)
    assert len(timed) == 8
    assert result["slow"].within < result["shipped"].within or result["slow"].within == 0
    assert result["slow"].worst >= 2.0
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE  # put back


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
@pytest.mark.parametrize("name", ["repeats", "validation_shapes"])
def test_tune_refuses_nonsense_counts(cache, name, value):
    with pytest.raises(ValueError, match=f"{name} must be an int >= 1"):
        _tune.run_tune(threads=2, calibration=TINY_CALIBRATION, **{name: value})
    assert not (cache / "profile.json").exists()


def test_the_grid_draws_narrow_layers_and_scores_them():
    cases = _grid.random_cases(3, 60)
    assert any(min(case.kernel_shape[2:]) <= 3 for case in cases)
    assert all(1 <= case.strides <= 4 and 1 <= case.x_shape[0] <= 64 for case in cases)
    assert all(np.prod(case.x_shape) * np.prod(case.kernel_shape[:3]) <= 2e8 for case in cases)
    assert _grid.random_cases(3, 5) == cases[:5]  # seeded
    score = _grid.score([1.0, 1.1, 1.5, 1.0])
    assert score.within == 0.75 and score.worst == 1.5
    assert str(score).startswith("within 15% of the fastest on 75%, worst 1.50x")
    assert GOOD.no_worse_than(BAD) and not BAD.no_worse_than(GOOD)


def _fake_grid_clock(monkeypatch, durations):
    """The grid's calls, pauses and timings replaced by a log of them: each
    backend's call appends its name ("untimed" after a warm-up call, "pause"
    for a pause) and takes ``durations[name]`` seconds. Returns the log."""
    calls = []
    monkeypatch.setattr(_grid, "conv2d_transpose",
                        lambda *args, backend, **kwargs: calls.append(backend))
    monkeypatch.setattr(_grid.time, "sleep", lambda seconds: calls.append("pause"))

    def fake_timings(call, repeats, warmup=True):
        if warmup:
            call()
            calls.append("untimed")
        times = []
        for _ in range(repeats):
            call()
            times.append(durations[calls[-1]])
        return times
    monkeypatch.setattr(_grid, "timings", fake_timings)
    return calls


def test_the_grid_times_the_backends_in_interleaved_rounds(monkeypatch):
    durations = {"direct": 1.0, "fft": 2.0, "reference": 3.0, "winograd": 6.0}
    calls = _fake_grid_clock(monkeypatch, durations)
    case = _grid.GridCase((1, 8, 8, 4), (4, 4, 4, 4), 2, "same", 0)
    x, kernel = case.arrays()
    considered = [name for name, seconds in deconv.choose_backend(
        x, kernel, strides=2, padding="same", num_threads=2).estimates.items()
        if seconds is not None]
    assert sorted(considered) == sorted(durations)
    seconds = _grid.time_backends(case, 2, repeats=3)
    assert seconds == durations
    # Each backend alone first, after a pause (untimed, then twice timed);
    # then rounds of every one not five times slower than the best; then the
    # reference backend, after a pause, all at once, and a last pause.
    first = [step for name in ("direct", "fft", "winograd")
             for step in ("pause", name, "untimed", name, name)]
    reference = ["pause", "reference", "untimed", "reference", "reference", "reference",
                 "pause"]
    assert calls == first + ["direct", "fft"] + reference


def test_the_grid_times_fast_calls_in_bursts(monkeypatch):
    # A call of 0.1 ms runs 20 times a round (BURST_SECONDS, 2 ms), each
    # call timed (a call of 2 ms or more runs once: the test above).
    durations = {"direct": 1e-4, "fft": 4e-4, "reference": 2e-4, "winograd": 5e-4}
    calls = _fake_grid_clock(monkeypatch, durations)
    case = _grid.GridCase((1, 8, 8, 4), (4, 4, 4, 4), 2, "same", 0)
    assert _grid.time_backends(case, 2, repeats=5) == durations
    # Untimed, twice timed, then 3 rounds of a burst (the reference's all at once).
    assert {name: calls.count(name) for name in durations} == {
        "direct": 3 + 3 * 20, "fft": 3 + 3 * 5, "reference": 3 + 3 * 10, "winograd": 3 + 3 * 4}
