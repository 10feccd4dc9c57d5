"""Sphinx configuration for deconv's documentation.

Figures and tables are generated at build time by ``docs/scripts/*.py`` from
the measurements recorded in ``docs/data/`` (see the Performance page for how
to re-record them); nothing in the built site is pasted by hand.
"""
import os
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
# The examples show the shipped cost model, not a profile tuned on this machine.
os.environ["DECONV_CACHE_DIR"] = os.path.join(HERE, "_build", "no-tuned-profile")

import deconv  # noqa: E402

project = "deconv"
author = "the deconv developers"
copyright = "2026, the deconv developers"
release = deconv.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "generated/*.rst.txt"]
html_theme = "alabaster"
html_static_path = []
templates_path = []

doctest_global_setup = """
import numpy as np
import deconv
try:
    import torch
except ImportError:
    torch = None
try:
    import tensorflow as tf
    import tf_keras
except ImportError:
    tf = tf_keras = None
try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = jnp = None
"""

# Intersphinx without a network: the few numpy/scipy names these pages link
# to, written as local inventories that point at the real online pages.
LINKED = {
    "numpy": ("https://numpy.org/doc/stable/", [
        ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html"),
        ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html"),
        ("numpy.result_type", "py:function", "reference/generated/numpy.result_type.html"),
    ]),
    "scipy": ("https://docs.scipy.org/doc/scipy/", [
        ("scipy.fft.rfft2", "py:function", "reference/generated/scipy.fft.rfft2.html"),
        ("scipy.fft.next_fast_len", "py:function",
         "reference/generated/scipy.fft.next_fast_len.html"),
        ("scipy.signal.choose_conv_method", "py:function",
         "reference/generated/scipy.signal.choose_conv_method.html"),
    ]),
}


def _write_inventory(name, entries, path):
    header = (f"# Sphinx inventory version 2\n# Project: {name}\n# Version: \n"
              "# The remainder of this file is compressed using zlib.\n").encode()
    body = "".join(f"{obj} {role} 1 {uri} -\n" for obj, role, uri in entries).encode()
    with open(path, "wb") as handle:
        handle.write(header + zlib.compress(body))


inventory_dir = os.path.join(HERE, "_build", "inventories")
os.makedirs(inventory_dir, exist_ok=True)
intersphinx_mapping = {}
for _name, (_url, _entries) in LINKED.items():
    _path = os.path.join(inventory_dir, f"{_name}.inv")
    _write_inventory(_name, _entries, _path)
    intersphinx_mapping[_name] = (_url, _path)

# Figures and tables from recorded measurements.
os.makedirs(os.path.join(HERE, "_generated"), exist_ok=True)
for _script in ("plot_scatter.py", "plot_crossover.py", "suite_tables.py",
                "plot_dask_chunks.py", "dask_tables.py"):
    subprocess.run([sys.executable, os.path.join(HERE, "scripts", _script)], check=True)

# The examples of the page "Gradients and adjoints" run at every build; what
# they print (and the Landweber figure) is what the page shows.
for _example in ("digits_autoencoder.py", "landweber_super_resolution.py"):
    _done = subprocess.run([sys.executable, os.path.join(HERE, "examples", _example),
                            os.path.join(HERE, "_generated")], capture_output=True, text=True)
    if _done.returncode:
        raise RuntimeError(f"docs/examples/{_example} failed:\n{_done.stderr}")
    with open(os.path.join(HERE, "_generated", _example.replace(".py", ".txt")), "w") as _out:
        _out.write(_done.stdout)
