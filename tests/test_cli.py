"""python -m deconv: its subcommands run and print what they say."""
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deconv._config import processor_name

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
    # Each layer's backend: what the SIMD level's costs choose.
    assert re.search(r"\(2, 8, 8, 256\) +(direct \(\w+\)|winograd|fft|reference)",
                     done.stdout)
    assert "3 runs of the generator" in done.stdout and "0 bytes kept" in done.stdout


def test_bench_one_layer_to_json(tmp_path):
    path = tmp_path / "bench.json"
    done = deconv_command("bench", "--layers", "tiny", "--repeats", "1", "--passes", "2",
                          "--no-gemm", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "tiny" in done.stdout and "2 passes of 1 turns" in done.stdout
    record = json.loads(path.read_text())
    assert [layer["name"] for layer in record["layers"]] == ["tiny"]
    assert record["layers"][0]["median_seconds"]["auto"] > 0
    assert record["passes"] == 2
    assert record["processor"] == processor_name()


def test_bench_medians_pool_the_turns_of_every_pass(monkeypatch):
    from deconv import _bench

    class Library:
        """Answers a turn with the number of times its layer was loaded: the pass."""
        def __init__(self, library, backends, threads, op):
            self.library, self.available, self.loads = library, True, 0

        def load(self, layer):
            self.loads += 1
            return {"auto": "auto:direct"} if self.library == "deconv" else \
                {self.library: self.library}

        def turn(self, contender):
            return [float(self.loads)]

        def close(self):
            pass

    monkeypatch.setattr(_bench, "LibraryProcess", Library)
    monkeypatch.setitem(_bench.PEERS, "fake", None)
    rows, _ = _bench.run_bench(layers=["tiny"], compare=("fake",), repeats=2, passes=3,
                               gemm=False, out=io.StringIO())
    (layer, labels, medians), = rows
    assert labels == {"auto": "auto:direct"}
    assert medians == {"auto": 2.0, "fake": 2.0}  # the median of 1, 1, 2, 2, 3, 3
    for passes in (0, 1.5, True):
        with pytest.raises(ValueError, match=f"passes must be an int >= 1; got {passes!r}"):
            _bench.run_bench(layers=["tiny"], passes=passes)


@pytest.mark.parametrize("op", ["conv2d", "kernel_gradient"])
def test_bench_the_adjoint_ops(op, tmp_path):
    path = tmp_path / "bench.json"
    done = deconv_command("bench", "--op", op, "--layers", "tiny,odd_k3s2", "--repeats", "1",
                          "--no-gemm", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{op} on each layer's output shape" in done.stdout
    record = json.loads(path.read_text())
    assert record["op"] == op and [layer["name"] for layer in record["layers"]] == [
        "odd_k3s2", "tiny"]
    bad = deconv_command("bench", "--op", "conv3d", "--no-gemm")
    assert bad.returncode == 2 and "invalid choice: 'conv3d'" in bad.stderr


def test_bench_a_dispatch_grid(tmp_path):
    path = tmp_path / "grid.json"
    done = deconv_command("bench", "--grid", "3", "--seed", "7", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "seed 7, 3 shapes, 2 threads: auto within 15% of the fastest on" in done.stdout
    record = json.loads(path.read_text())
    assert record["seed"] == 7 and len(record["rows"]) == 3
    assert record["processor"] == processor_name()
    assert all(row["ratio"] >= 1 and row["auto"] in row["seconds"] for row in record["rows"])
    bad = deconv_command("bench", "--grid", "0")
    assert bad.returncode == 2 and "--grid: must be an int >= 1" in bad.stderr
    bad = deconv_command("bench", "--grid", "2", "--seed", "-1")
    assert bad.returncode == 2 and "--seed: must be an int >= 0" in bad.stderr


def test_bench_an_extra_layer():
    done = deconv_command("bench", "--layers", "tiny_k2s2", "--op", "conv2d", "--repeats", "1",
                          "--no-gemm")
    assert done.returncode == 0, done.stderr
    assert "tiny_k2s2" in done.stdout


def test_bench_refuses_an_unknown_layer():
    done = deconv_command("bench", "--layers", "no_such_layer", "--no-gemm")
    assert done.returncode != 0 and "unknown layers ['no_such_layer']" in done.stderr


def test_bench_refuses_an_unknown_backend():
    done = deconv_command("bench", "--backends", "auto,gpu", "--no-gemm")
    assert done.returncode == 2 and "--backends: unknown backends ['gpu']" in done.stderr
    assert "Traceback" not in done.stderr


def test_tune_stores_a_profile_only_if_it_dispatches_no_worse(tmp_path):
    done = deconv_command("tune", "--repeats", "1", "--validation-shapes", "6", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Held-out grid (6 random layers" in done.stdout
    assert "shipped constants: within 15% of the fastest on" in done.stdout
    shown = deconv_command(cache=tmp_path)
    if "Saved to" in done.stdout:
        assert (tmp_path / "profile.json").exists() and "tuned profile" in shown.stdout
    else:  # which way it goes depends on this machine's timings
        assert "Not saved: the tuned constants dispatch worse" in done.stdout
        assert not (tmp_path / "profile.json").exists()
        assert "built-in defaults" in shown.stdout


@pytest.mark.parametrize("option", ["--repeats", "--validation-shapes"])
@pytest.mark.parametrize("repeats", ["0", "-3"])
def test_tune_refuses_nonsense(tmp_path, option, repeats):
    done = deconv_command("tune", option, repeats, cache=tmp_path)
    assert done.returncode == 2 and f"{option}: must be an int >= 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "profile.json").exists()


def test_zarr_to_zarr(tmp_path):
    pytest.importorskip("dask")
    zarr = pytest.importorskip("zarr")
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 37, 29)).astype(np.float32)
    kernel = rng.standard_normal((3, 4, 5, 3)).astype(np.float32)
    zarr.create_array(str(tmp_path / "x.zarr"), data=x, chunks=(1, 3, 16, 16))
    np.save(tmp_path / "k.npy", kernel)
    arguments = ("zarr", str(tmp_path / "x.zarr"), str(tmp_path / "y.zarr"), "--kernel",
                 str(tmp_path / "k.npy"), "--strides", "2,3", "--padding", "same",
                 "--data-format", "channels_first", "--input-chunks", "8", "--backend",
                 "direct")
    done = deconv_command(*arguments)
    assert done.returncode == 0, done.stderr
    assert "y (1, 5, 74, 87) float32 in chunks of (1, 5, 16, 24)" in done.stdout
    import deconv
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "y.zarr"), mode="r")[...],
        deconv.conv2d_transpose(x, kernel, strides=(2, 3), padding="same",
                                data_format="channels_first", backend="direct"))
    again = deconv_command(*arguments)
    assert again.returncode == 2
    assert "y.zarr exists; pass --overwrite to replace it" in again.stderr
    assert deconv_command(*arguments, "--overwrite").returncode == 0
    np.save(tmp_path / "k.npy", kernel[..., :2])
    wrong = deconv_command(*arguments, "--overwrite")
    assert wrong.returncode == 2 and "x has 3 channels (channels_first) but kernel.shape[3]" \
        in wrong.stderr and "Traceback" not in wrong.stderr
    bad = deconv_command("zarr", "a", "b", "--kernel", "k.npy", "--strides", "1,2,3")
    assert bad.returncode == 2 and "'1,2,3' is not one int or two" in bad.stderr


def test_bench_runs_each_library_in_a_process_of_its_own():
    from types import SimpleNamespace

    from deconv import _bench, _suite

    library = _bench.LibraryProcess("deconv", ("auto", "direct"), 1, "conv2d_transpose")
    try:
        assert library.available and library._process.pid != os.getpid()
        tiny = next(layer for layer in _suite.SUITE + _suite.EXTRA if layer.name == "tiny")
        labels = library.load(tiny)
        assert labels == {"auto": "auto:direct", "direct": "direct"}
        seconds = library.turn("auto")
        assert seconds and all(0 < s < _bench.TURN_SECONDS for s in seconds)
        with pytest.raises(RuntimeError, match="(?s)deconv failed in its process:.*KeyError"):
            library.load(SimpleNamespace(name="no_such_layer"))
        assert library.turn("direct")  # the process survives an error
    finally:
        library.close()
    assert not library._process.is_alive()
    if importlib.util.find_spec("torch") is None:
        torch = _bench.LibraryProcess("torch", (), 1, "conv2d_transpose")
        assert not torch.available and "torch" in torch.reason
