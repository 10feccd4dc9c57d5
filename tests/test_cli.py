"""python -m deconv: its subcommands run and print what they say."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def deconv_command(*arguments, cache=None):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    if cache is not None:
        env["DECONV_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "deconv", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_with_a_loop():
    done = deconv_command("demo", "--batch", "2", "--repeats", "1", "--loop", "3")
    assert done.returncode == 0, done.stderr
    assert "OpenMP" in done.stdout and "DCGAN generator, batch 2" in done.stdout
    assert "direct (wide)" in done.stdout
    assert "3 runs of the generator" in done.stdout and "0 bytes kept" in done.stdout


def test_bench_one_layer_to_json(tmp_path):
    path = tmp_path / "bench.json"
    done = deconv_command("bench", "--layers", "tiny", "--repeats", "1", "--no-gemm",
                          "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "tiny" in done.stdout
    record = json.loads(path.read_text())
    assert [layer["name"] for layer in record["layers"]] == ["tiny"]
    assert record["layers"][0]["median_seconds"]["auto"] > 0


def test_bench_refuses_an_unknown_layer():
    done = deconv_command("bench", "--layers", "no_such_layer", "--no-gemm")
    assert done.returncode != 0 and "unknown layers ['no_such_layer']" in done.stderr


def test_bench_refuses_an_unknown_backend():
    done = deconv_command("bench", "--backends", "auto,gpu", "--no-gemm")
    assert done.returncode == 2 and "--backends: unknown backends ['gpu']" in done.stderr
    assert "Traceback" not in done.stderr


def test_tune_stores_a_profile(tmp_path):
    done = deconv_command("tune", "--repeats", "1", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Saved to" in done.stdout and (tmp_path / "profile.json").exists()
    shown = deconv_command(cache=tmp_path)
    assert "tuned profile" in shown.stdout


@pytest.mark.parametrize("repeats", ["0", "-3"])
def test_tune_refuses_nonsense(tmp_path, repeats):
    done = deconv_command("tune", "--repeats", repeats, cache=tmp_path)
    assert done.returncode == 2 and "--repeats: must be an int >= 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "profile.json").exists()
