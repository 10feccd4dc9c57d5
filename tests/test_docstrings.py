"""Every example in the public docstrings runs and prints what it says."""
import doctest
import importlib

import pytest

MODULES = ["deconv", "deconv._api", "deconv._backend", "deconv._caches", "deconv._config",
           "deconv._conv2d", "deconv._cost",
           "deconv._data_format", "deconv._dispatch", "deconv._geometry", "deconv._operator",
           "deconv._problem", "deconv._registry", "deconv._toom_cook", "deconv._tune",
           "deconv._winograd", "deconv._workspace"]
try:
    import dask  # noqa: F401 (deconv.dask needs the dask extra)
    MODULES.append("deconv.dask")
except ImportError:
    pass


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
