import numpy as np
import pytest

import deconv
from deconv import _profile, _simd, _threads

BACKENDS = [name for name in deconv.list_backends() if name != "auto"] + ["auto"]


@pytest.fixture(autouse=True, scope="session")
def default_cost_profile(tmp_path_factory):
    """Tests see the shipped cost model, not a profile tuned on this machine."""
    patch = pytest.MonkeyPatch()
    patch.setenv("DECONV_CACHE_DIR", str(tmp_path_factory.mktemp("empty_cache")))
    _profile.reload_profile()
    yield
    patch.undo()
    _profile.reload_profile()


# The thread limit, before the fixture below raises it.
USABLE_THREAD_LIMIT = _threads.thread_limit


@pytest.fixture(autouse=True)
def up_to_eight_threads(monkeypatch):
    """Calls may use up to 8 threads even on a machine with fewer cores: the
    kernels' partitions of the work are what the tests check (deconv caps
    num_threads at the usable cores; tests/test_threads.py checks that)."""
    monkeypatch.setattr(_threads, "thread_limit", lambda: 8)
    monkeypatch.setattr(_threads, "limit", None)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cost-profile directory of the test's own, in force during it."""
    monkeypatch.setenv("DECONV_CACHE_DIR", str(tmp_path))
    _profile.reload_profile()
    yield tmp_path
    monkeypatch.undo()
    _profile.reload_profile()


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


RUNNABLE_LEVELS = [level for level in _simd.built_levels
                   if _simd.LEVELS.index(level) <= _simd.core.cpu_level()]


@pytest.fixture(params=RUNNABLE_LEVELS)
def simd_level(request, monkeypatch):
    """Each SIMD level this CPU runs, in turn, as the compiled module every
    backend uses (each level is its own module, with its own register tiles)."""
    monkeypatch.setattr(_simd, "core", _simd._import(_simd._MODULES[request.param]))
    deconv.clear_caches()  # plans are made for one level's tiles
    yield request.param
    monkeypatch.undo()
    deconv.clear_caches()
