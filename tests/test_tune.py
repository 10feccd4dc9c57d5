"""python -m deconv tune: it measures, stores a profile that is then used, and
refuses nonsense."""
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


@pytest.mark.parametrize("repeats", [0, -1, 1.5])
def test_tune_refuses_nonsense_repeats(cache, repeats):
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        _tune.run_tune(threads=2, repeats=repeats, calibration=TINY_CALIBRATION)
    assert not (cache / "profile.json").exists()
