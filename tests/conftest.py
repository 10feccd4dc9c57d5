import numpy as np
import pytest

import deconv
from deconv import _cost

BACKENDS = [name for name in deconv.list_backends() if name != "auto"] + ["auto"]


@pytest.fixture(autouse=True, scope="session")
def default_cost_profile(tmp_path_factory):
    """Tests see the shipped cost model, not a profile tuned on this machine."""
    patch = pytest.MonkeyPatch()
    patch.setenv("DECONV_CACHE_DIR", str(tmp_path_factory.mktemp("empty_cache")))
    _cost.reload_profile()
    yield
    patch.undo()
    _cost.reload_profile()


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param
