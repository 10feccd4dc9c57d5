"""The DCGAN generator of the demo and of ``bench --pipeline``, and the pipeline bench."""
import json

import numpy as np
import pytest

from deconv import _pipeline
from deconv._config import processor_name
from deconv._generator import LATENT_SIZE, Generator

from oracle import conv2d_transpose_oracle


def noise(batch, seed=3):
    return np.random.default_rng(seed).standard_normal((batch, LATENT_SIZE), dtype=np.float32)


def oracle_generator(generator, z):
    """The generator written out with the naive oracle, in float64."""
    activations = np.maximum(z.astype(np.float64) @ generator.dense + generator.dense_bias, 0)
    activations = activations.reshape(len(z), 4, 4, -1)
    for index, (kernel, bias) in enumerate(zip(generator.kernels, generator.biases)):
        size = 2 * activations.shape[1]
        activations = conv2d_transpose_oracle(activations, kernel, (size, size), (2, 2), "same",
                                              (1, 1)) + bias
        last = index == len(generator.kernels) - 1
        activations = np.tanh(activations) if last else np.maximum(activations, 0)
    return activations


def test_the_generator_computes_its_model():
    generator = Generator(batch=2, num_threads=2)
    z = noise(2)
    expected = oracle_generator(generator, z)
    images = generator(z)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images, expected, atol=1e-5)
    np.testing.assert_allclose(generator.with_functions(z), expected, atol=1e-5)
    # the stages are the computation, in order, and the operators keep their buffers
    activations = z
    for _, stage in generator.stages():
        activations = stage(activations)
    assert activations is generator.outputs[-1]
    np.testing.assert_array_equal(activations, images)


def test_a_deconv_contender_reports_every_stage_and_layer():
    record = _pipeline.run_contender("deconv", batch=2, runs=2, threads=1)
    stages = [name for name, _ in Generator(2).stages()]
    assert list(record["stages"]) == stages
    assert list(record["isolated"]) == ["layer 1", "layer 2", "layer 3", "layer 4"]
    assert record["total"] >= sum(record["stages"].values()) * 0.5 > 0


def test_the_blas_limit_is_undone():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    _pipeline.run_contender("deconv, BLAS 1 thread", batch=1, runs=1, threads=1)
    assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before


def test_the_torch_twin_computes_the_same_images():
    pytest.importorskip("torch")
    record = _pipeline.run_contender("torch", batch=2, runs=1, threads=1)
    assert record["max_abs_difference_from_deconv"] < 1e-4


def test_the_torch_twin_reports_its_stages_and_layers_alone():
    pytest.importorskip("torch")
    record = _pipeline.run_contender("torch", batch=2, runs=2, threads=1)
    assert list(record["stages"]) == ["dense", "layer 1", "relu 1", "layer 2", "relu 2",
                                      "layer 3", "relu 3", "layer 4", "tanh 4"]
    assert list(record["isolated"]) == ["layer 1", "layer 2", "layer 3", "layer 4"]
    assert min(record["stages"].values()) > 0 and min(record["isolated"].values()) > 0


def test_the_pipeline_bench_runs_each_contender_in_its_own_process(tmp_path, capsys):
    path = tmp_path / "pipeline.json"
    summary = _pipeline.run_pipeline_bench(threads=1, rounds=1, runs=1, batch=1,
                                           json_path=str(path))
    out = capsys.readouterr().out
    assert "deconv" in summary and "DCGAN generator" in out
    assert "layer 1:" in out and "alone" in out
    record = json.loads(path.read_text())
    assert record["contenders"]["deconv"]["total"] > 0 and record["batch"] == 1
    assert record["processor"] == processor_name()


def test_a_failing_child_is_reported():
    with pytest.raises(RuntimeError, match="failed"):
        _pipeline._child("/bin/false", "deconv", 1, 1, 1)
