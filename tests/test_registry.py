"""The backend registry, set_backend, and the 'auto' chooser."""
import threading

import numpy as np
import pytest

import deconv

X = np.ones((1, 4, 4, 2), np.float32)
K = np.ones((3, 3, 2, 2), np.float32)


class Recording(deconv.Backend):
    name = "recording"

    def __init__(self):
        self.calls = 0

    def run(self, problem, plan, x, kernel, packed, y):
        self.calls += 1
        y[...] = 7.0


@pytest.fixture
def recording():
    backend = Recording()
    deconv.register_backend(backend)
    yield backend
    deconv.unregister_backend("recording")


def test_builtin_backends_listed():
    assert deconv.list_backends()[:4] == ["auto", "reference", "direct", "fft"]


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'fast'; choose one of "
                                         r"\['auto', 'reference', 'direct', 'fft'"):
        deconv.conv2d_transpose(X, K, backend="fast")
    with pytest.raises(ValueError, match=r"unknown backend 'fast'"):
        deconv.set_backend("fast")
    with pytest.raises(TypeError, match=r"backend must be None or a string; got 3"):
        deconv.conv2d_transpose(X, K, backend=3)


def test_register_use_and_unregister(recording):
    assert "recording" in deconv.list_backends()
    y = deconv.conv2d_transpose(X, K, backend="recording")
    assert recording.calls == 1 and (y == 7).all()
    # without a cost model it never takes part in "auto"
    assert deconv.choose_backend(X, K).backend != "recording"
    with pytest.raises(ValueError, match="already registered; pass replace=True"):
        deconv.register_backend(Recording())
    deconv.register_backend(Recording(), replace=True)


def test_register_rejects_bad_backends():
    class Nameless(deconv.Backend):
        pass

    with pytest.raises(TypeError, match="needs a non-empty string 'name'"):
        deconv.register_backend(Nameless())
    with pytest.raises(ValueError, match="'auto' is reserved"):
        auto = Recording()
        auto.name = "auto"
        deconv.register_backend(auto)
    with pytest.raises(ValueError, match="unknown backend 'nothing'"):
        deconv.unregister_backend("nothing")


def test_set_backend_restores_even_on_error(recording):
    assert deconv.current_backend() == "auto"
    with pytest.raises(RuntimeError):
        with deconv.set_backend("recording"):
            assert deconv.current_backend() == "recording"
            assert (deconv.conv2d_transpose(X, K) == 7).all()
            raise RuntimeError
    assert deconv.current_backend() == "auto"


def test_set_backend_is_local_to_its_thread(recording):
    seen = {}
    entered, release = threading.Event(), threading.Event()

    def other_thread():
        entered.wait()
        seen["other"] = deconv.current_backend()
        release.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with deconv.set_backend("recording"):
        entered.set()
        release.wait()
        seen["inside"] = deconv.current_backend()
    thread.join()
    assert seen == {"other": "auto", "inside": "recording"}


def test_global_backend(recording):
    deconv.set_global_backend("reference")
    try:
        assert deconv.current_backend() == "reference"
        with deconv.set_backend("recording"):
            assert deconv.current_backend() == "recording"
    finally:
        deconv.set_global_backend("auto")


def test_forced_backend_that_cannot_run_says_why():
    x = X.copy()
    x[0, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"backend 'fft' cannot compute this call: x or kernel "
                                         r"holds NaN or inf"):
        deconv.conv2d_transpose(x, K, backend="fft")


def test_get_backend():
    assert deconv.get_backend("reference").name == "reference"
    with pytest.raises(ValueError, match="'auto' is the dispatcher, not a backend object"):
        deconv.get_backend("auto")
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        deconv.get_backend("nope")


def test_a_plain_object_with_a_name_and_run_can_be_registered():
    class Plain:
        name = "plain"

        def run(self, problem, plan, x, kernel, packed, y):
            y[...] = 0

    deconv.register_backend(Plain())
    try:
        assert (deconv.conv2d_transpose(X, K, backend="plain") == 0).all()
        assert deconv.conv2d_transpose(X, K).max() > 0  # auto: it has no estimate
        assert "plain" not in deconv.choose_backend(X, K).estimates
    finally:
        deconv.unregister_backend("plain")
