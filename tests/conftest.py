import numpy as np
import pytest

import deconv

BACKENDS = [name for name in deconv.list_backends() if name != "auto"] + ["auto"]


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param
