"""The "auto" dispatcher: guards first, then the cost model; the public
chooser says why, and can measure instead."""
import numpy as np
import pytest

import deconv

X = np.ones((1, 4, 4, 2), np.float32)
K = np.ones((3, 3, 2, 2), np.float32)


def test_auto_never_takes_fft_for_non_finite_input():
    x = np.ones((1, 32, 32, 16), np.float32)
    kernel = np.ones((31, 31, 64, 16), np.float32)
    assert deconv.choose_backend(x, kernel).backend == "fft"
    x[0, 0, 0, 0] = np.inf
    choice = deconv.choose_backend(x, kernel)
    assert choice.backend != "fft"
    assert "NaN or inf" in choice.rejected["fft"] and "not usable: fft" in choice.reason


def test_choice_explains_itself():
    choice = deconv.choose_backend(X, K, strides=2)
    assert choice.backend in deconv.list_backends()
    assert set(choice.estimates) == {"reference", "direct", "fft", "winograd"}
    assert choice.backend in choice.reason and "estimated" in choice.reason
    assert choice.measured is None


def test_measure_times_every_candidate():
    choice = deconv.choose_backend(X, K, strides=2, measure=True)
    assert set(choice.measured) == set(choice.estimates)
    assert all(seconds > 0 for seconds in choice.measured.values())
    assert choice.backend == min(choice.measured, key=choice.measured.get)
    assert "measured fastest" in choice.reason


def test_chooser_validates_like_the_main_function():
    with pytest.raises(ValueError, match="output height 3 is not reachable"):
        deconv.choose_backend(X, K, (1, 3, 6, 2))


class Bounded(deconv.Backend):
    """A backend whose lower bound and estimate are fixed, counting estimates."""

    def __init__(self, name, bound, estimate):
        self.name, self.bound, self.estimate, self.estimated = name, bound, estimate, 0

    def minimum_seconds(self, problem, num_threads):
        return self.bound

    def estimate_seconds(self, problem, num_threads):
        self.estimated += 1
        return self.estimate

    def run(self, problem, plan, x, kernel, packed, y):
        y[...] = float(self.name[-1])


def test_auto_skips_estimates_that_cannot_win():
    fast, slow = Bounded("bounded1", 0.0, 1e-9), Bounded("bounded2", 10.0, 20.0)
    for backend in (fast, slow):
        deconv.register_backend(backend)
    try:
        y = deconv.conv2d_transpose(X[:, :3], K)  # a shape no other test uses
        assert (y == 1).all()
        assert (fast.estimated, slow.estimated) == (1, 0)
        # choose_backend still estimates every candidate.
        assert set(deconv.choose_backend(X[:, :3], K).estimates) >= {"bounded1", "bounded2"}
    finally:
        for backend in (fast, slow):
            deconv.unregister_backend(backend.name)


@pytest.mark.parametrize("shape,kernel,strides", [
    ((1, 4, 4, 8), (3, 3, 8, 8), 2), ((2, 64, 64, 8), (31, 31, 8, 8), 1),
    ((1, 16, 16, 21), (64, 64, 21, 21), 32), ((4, 8, 8, 64), (4, 4, 32, 64), 2)])
def test_auto_takes_what_choose_backend_ranks_first(shape, kernel, strides):
    x, k = np.ones(shape, np.float32), np.ones(kernel, np.float32)
    plan = deconv.Conv2DTranspose(k, strides, "same", num_threads=2).plan_for(x)
    assert plan.backend == deconv.choose_backend(x, k, strides=strides, padding="same",
                                                 num_threads=2).backend
