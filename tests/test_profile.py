"""Stored cost profiles: used when they fit, ignored (with the reason) when
they do not, and every change makes kept plans stale."""
import json
import os

import numpy as np
import pytest

import deconv
from deconv import _caches, _cost, _profile


def stored(profile):
    version, level = _profile._identity()
    return json.dumps({"deconv_version": version, "simd_level": level, "profile": profile})


def test_defaults_without_a_profile(cache):
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE
    assert _profile.profile_source() == "built-in defaults (no tuned profile)"


def test_a_fitting_profile_is_used(cache):
    tuned = _cost.scaled_profile(_cost.DEFAULT_PROFILE, {"fft": 2.0}, "avx512")
    path = _profile.save_profile(tuned)
    assert path == cache / "profile.json"
    assert _profile.current_profile() == tuned
    assert _profile.profile_source() == f"tuned profile {path}"


def corrupted(name):
    """(file content, reason shown) of one corruption."""
    defaults = _cost.DEFAULT_PROFILE
    with_value = lambda value: stored({**defaults, "fft_overhead_s": value})  # noqa: E731
    return {
        "garbage": ("\x00\xff not json at all", "unreadable"),
        "not json": ("{not json", "unreadable"),
        "a list": ("[1, 2]", "not a JSON object"),
        "empty": ("", "unreadable"),
        "foreign version": (json.dumps({"deconv_version": "0.0.1", "simd_level": "avx512",
                                        "profile": defaults}), "written by deconv 0.0.1"),
        "no profile": (stored(None), "incomplete, malformed"),
        "missing key": (stored({k: v for k, v in defaults.items() if k != "fft_overhead_s"}),
                        "incomplete, malformed"),
        "extra key": (stored({**defaults, "surprise": 1.0}), "incomplete, malformed"),
        "string": (with_value("1e-6"), "incomplete, malformed"),
        "bool": (with_value(True), "incomplete, malformed"),
        "null": (with_value(None), "incomplete, malformed"),
        "list": (with_value([1e-6]), "incomplete, malformed"),
        "NaN": (with_value(float("nan")), "not finite positive"),
        "Infinity": (with_value(float("inf")), "not finite positive"),
        "huge int": (with_value(10 ** 400), "not finite positive"),
        "negative": (with_value(-1.0), "not finite positive"),
        "zero": (with_value(0), "not finite positive"),
        "deep nesting": ("[" * 100000 + "]" * 100000, "unreadable"),
        "nested level table": (stored({**defaults, "direct_madds_per_thread": {"avx512": 1}}),
                               "incomplete, malformed"),
        "huge file": (" " * (_profile.MAX_PROFILE_BYTES + 1) + "{}", "unreadable"),
        "1e309": (stored(defaults).replace('"direct_overhead_s": 3e-05',
                                           '"direct_overhead_s": 1e309'), "not finite positive"),
        "long digits": (stored(defaults).replace('"direct_overhead_s": 3e-05',
                                                 '"direct_overhead_s": ' + "7" * 5000),
                        "unreadable"),
        "truncated": (stored(defaults)[:200], "unreadable"),
        "version a dict": (json.dumps({"deconv_version": {}, "simd_level": "avx512",
                                       "profile": defaults}), "written by deconv {}"),
        "level a list": (json.dumps({"deconv_version": _profile._identity()[0],
                                     "simd_level": ["avx512"], "profile": defaults}),
                         "tuned for SIMD level ['avx512']"),
        "profile a list": (stored([1, 2, 3]), "incomplete, malformed"),
        "nested NaN": (stored({**defaults, "direct_madds_per_thread": {
            **defaults["direct_madds_per_thread"], "avx2": {"4": float("nan"), "8": 1.0}}}),
            "not finite positive"),
        "nested negative": (stored({**defaults, "direct_madds_per_thread": {
            **defaults["direct_madds_per_thread"], "baseline": {"4": -5.0, "8": 1.0}}}),
            "not finite positive"),
    }[name]


CORRUPTIONS = ["garbage", "not json", "a list", "empty", "foreign version", "no profile",
               "missing key", "extra key", "string", "bool", "null", "list", "NaN", "Infinity",
               "huge int", "negative", "zero", "deep nesting", "nested level table", "huge file",
               "1e309", "long digits", "truncated", "version a dict", "level a list",
               "profile a list", "nested NaN", "nested negative"]


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corrupt_profiles_are_ignored_and_auto_still_answers(cache, name):
    content, reason = corrupted(name)
    (cache / "profile.json").write_text(content, errors="surrogateescape")
    _profile.reload_profile()
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE
    assert reason in _profile.profile_source()
    x, kernel = np.ones((1, 6, 6, 3)), np.ones((3, 3, 2, 3))
    expected = deconv.conv2d_transpose(x, kernel, backend="reference")
    np.testing.assert_allclose(deconv.conv2d_transpose(x, kernel), expected, atol=1e-12)
    assert reason in deconv._config.config()["cost_profile"]


def test_a_directory_in_the_profiles_place_is_ignored(cache):
    os.mkdir(cache / "profile.json")
    _profile.reload_profile()
    assert "unreadable" in _profile.profile_source()
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE


def test_a_link_to_itself_is_ignored(cache):
    os.symlink(cache / "profile.json", cache / "profile.json")
    _profile.reload_profile()
    assert "unreadable" in _profile.profile_source()
    assert _profile.current_profile() == _cost.DEFAULT_PROFILE


def test_another_simd_level_is_ignored(cache):
    version, _ = _profile._identity()
    (cache / "profile.json").write_text(json.dumps(
        {"deconv_version": version, "simd_level": "some-other-level",
         "profile": _cost.DEFAULT_PROFILE}))
    _profile.reload_profile()
    assert "tuned for SIMD level some-other-level" in _profile.profile_source()


def test_every_change_of_the_constants_makes_kept_plans_stale(cache):
    operator = deconv.Conv2DTranspose(np.ones((3, 3, 2, 2)))
    x = np.ones((1, 5, 5, 2))
    first = operator.plan_for(x)
    assert operator.plan_for(x) is first
    generation = _caches.generation
    _profile.save_profile(_cost.scaled_profile(_cost.DEFAULT_PROFILE, {"fft": 3.0}, "avx512"))
    assert _caches.generation > generation
    assert operator.plan_for(x) is not first
