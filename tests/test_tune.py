"""The tuned cost profile: stored, used, and ignored when it should be."""
import json

import numpy as np
import pytest

import deconv
from deconv import _cost, _profile, _tune

TINY_CALIBRATION = [_cost.CalibrationLayer(*layer) for layer in [
    ("direct_wide_4", "direct", (2, 4, 4, 32), (3, 3, 40, 32), 2, "same", "float32"),
    ("direct_narrow_4", "direct", (2, 8, 8, 8), (3, 3, 2, 8), 2, "same", "float32"),
    ("fft", "fft", (1, 8, 8, 2), (7, 7, 2, 2), 1, "same", "float32"),
    ("reference", "reference", (1, 4, 4, 4), (3, 3, 4, 4), 1, "same", "float32"),
]]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DECONV_CACHE_DIR", str(tmp_path))
    _profile.reload_profile()
    yield tmp_path
    monkeypatch.undo()
    _profile.reload_profile()


def test_defaults_without_a_profile(cache):
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE
    assert _profile.profile_source() == "built-in defaults (no tuned profile)"


def test_tune_stores_a_profile_that_is_then_used(cache):
    lines = []
    ratios, path = _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION,
                                  out=lines.append)
    assert path == cache / "profile.json" and path.exists()
    assert set(ratios) == {"direct_wide_4", "direct_narrow_4", "fft", "reference"}
    assert all(ratio > 0 for ratio in ratios.values())
    assert _profile.profile_source().startswith("tuned profile")
    assert _profile.current_profile() != _cost.DEFAULT_PROFILE
    assert any("Constants changed" in line for line in lines)
    # tuning again starts from the shipped constants, not from the last result
    again, _ = _tune.run_tune(threads=2, repeats=1, calibration=TINY_CALIBRATION[:1],
                              out=lines.append)
    tuned = _profile.current_profile()
    assert tuned["fft_flops_per_thread"] == _cost.DEFAULT_PROFILE["fft_flops_per_thread"]
    # "auto" still answers with registered names under the tuned constants
    choice = deconv.choose_backend(np.ones((1, 8, 8, 4)), np.ones((3, 3, 4, 4)))
    assert choice.backend in deconv.list_backends()


def test_scaling_divides_rates_and_multiplies_costs():
    tuned = _cost.scaled_profile(_cost.DEFAULT_PROFILE, {"fft": 2.0, "direct_wide_8": 4.0},
                                 "avx512")
    assert tuned["fft_flops_per_thread"] == _cost.DEFAULT_PROFILE["fft_flops_per_thread"] / 2
    assert tuned["fft_overhead_s"] == _cost.DEFAULT_PROFILE["fft_overhead_s"] * 2
    assert tuned["direct_madds_per_thread"]["avx512"]["8"] == \
        _cost.DEFAULT_PROFILE["direct_madds_per_thread"]["avx512"]["8"] / 4
    assert tuned["direct_madds_per_thread"]["avx512"]["4"] == \
        _cost.DEFAULT_PROFILE["direct_madds_per_thread"]["avx512"]["4"]


@pytest.mark.parametrize("content,reason", [
    ("{not json", "unreadable"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"deconv_version": "0.0.1", "simd_level": "avx512", "profile": {}}),
     "written by deconv 0.0.1"),
])
def test_corrupt_or_foreign_profiles_are_ignored(cache, content, reason):
    (cache / "profile.json").write_text(content)
    _profile.reload_profile()
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE
    assert reason in _profile.profile_source()


def test_profile_for_another_simd_level_or_malformed_is_ignored(cache):
    version, level = _profile._identity()
    record = {"deconv_version": version, "simd_level": "some-other-level",
              "profile": _cost.DEFAULT_PROFILE}
    (cache / "profile.json").write_text(json.dumps(record))
    _profile.reload_profile()
    assert "tuned for SIMD level some-other-level" in _profile.profile_source()
    record.update(simd_level=level, profile={**_cost.DEFAULT_PROFILE, "fft_overhead_s": -1})
    (cache / "profile.json").write_text(json.dumps(record))
    _profile.reload_profile()
    assert "incomplete, malformed" in _profile.profile_source()
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE
