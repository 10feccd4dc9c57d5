"""The compiled extension: OpenMP really compiled in, SIMD level chosen sensibly.

Set DECONV_ALLOW_SERIAL_BUILD=1 to skip the OpenMP assertion for a build made
on purpose without it (DECONV_OPENMP=0)."""
import io
import os
import subprocess
import sys

import pytest

import deconv
from deconv import _config, _simd


def test_extension_is_built():
    assert _simd.core is not None, _simd.unavailable_reason


@pytest.mark.skipif(os.environ.get("DECONV_ALLOW_SERIAL_BUILD") == "1",
                    reason="serial build allowed by DECONV_ALLOW_SERIAL_BUILD=1")
def test_openmp_is_compiled_in():
    assert _simd.core.openmp_enabled()
    for level in _simd.built_levels:
        assert __import__(_simd._MODULES[level], fromlist=["x"]).openmp_enabled(), level


def test_best_supported_level_is_used():
    supported = _simd.LEVELS[_simd.core.cpu_level()]
    best_built = [lvl for lvl in _simd.built_levels
                  if _simd.LEVELS.index(lvl) <= _simd.LEVELS.index(supported)][-1]
    if not os.environ.get("DECONV_SIMD"):
        assert _simd.core.isa_name() == best_built


@pytest.mark.parametrize("level", ["baseline", "avx2"])
def test_simd_level_can_be_capped(level):
    if level not in _simd.built_levels:
        pytest.skip(f"{level} not built")
    code = ("import deconv._simd as s, numpy as np, deconv; print(s.core.isa_name()); "
            "print(deconv.conv2d_transpose(np.ones((1,3,3,2)), np.ones((2,2,3,2)), "
            "backend='direct').sum())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "DECONV_SIMD": level}).stdout.split()
    assert out == [level, "216.0"]  # 9 pixels * 4 taps * 3 out * 2 in


def test_show_config_reports_build():
    buffer = io.StringIO()
    deconv.show_config(file=buffer)
    text = buffer.getvalue()
    assert "OpenMP" in text and "SIMD level in use" in text and "threads per call" in text
    assert deconv.__version__ in text and "direct" in text
    assert f"processor          : {_config.processor_name()}" in text


def test_processor_name_comes_from_the_first_cpuinfo_entry(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
                       "model\t\t: 17\nmodel name\t: AMD EPYC\n\n"
                       "processor\t: 1\nmodel name\t: Other\n")
    assert _config.processor_name(str(cpuinfo)) == "AMD EPYC (family 25, model 17)"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\n")
    assert _config.processor_name(str(cpuinfo)) == "Some CPU"


def test_processor_name_without_cpuinfo(tmp_path, monkeypatch):
    monkeypatch.setattr(_config.platform, "processor", lambda: "")
    assert _config.processor_name(str(tmp_path / "missing")) == "unknown"
    monkeypatch.setattr(_config.platform, "processor", lambda: "arm")
    assert _config.processor_name(str(tmp_path / "missing")) == "arm"
