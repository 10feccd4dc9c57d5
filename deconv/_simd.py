"""Choose, at import, the build of the direct kernels that this CPU runs best.

``_core`` (baseline x86-64, or the only build elsewhere) always exists in a
working install; ``_core_avx2`` and ``_core_avx512`` exist where the compiler
could build them. The environment variable ``DECONV_SIMD`` (``baseline``,
``avx2`` or ``avx512``) caps the level, for testing and for users who want to.
"""
import functools
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np

LEVELS = ("baseline", "avx2", "avx512")
_MODULES = {"baseline": "deconv._core", "avx2": "deconv._core_avx2",
            "avx512": "deconv._core_avx512"}


def _requested_cap():
    value = os.environ.get("DECONV_SIMD", "").strip().lower()
    if not value:
        return len(LEVELS) - 1
    if value not in LEVELS:
        warnings.warn(f"DECONV_SIMD={value!r} is not one of {LEVELS}; ignoring it",
                      RuntimeWarning, stacklevel=3)
        return len(LEVELS) - 1
    return LEVELS.index(value)


_HERE = Path(__file__).resolve().parent
# Where the extension modules were loaded from, if not from this package.
loaded_from = None


def _installed_twin(module_name):
    """Load ``module_name`` from an installed copy of deconv built from this very
    kernel source (same ``_core.pyx``), or return None.

    Running ``python -m deconv`` or ``python -m pytest`` from the root of a
    checkout imports the checkout's ``deconv/``, which has no compiled modules
    after ``pip install .``; the installed ones are exactly what it would build.
    """
    global loaded_from
    source = (_HERE / "_core.pyx").read_bytes() if (_HERE / "_core.pyx").exists() else None
    short = module_name.rsplit(".", 1)[1]
    for entry in sys.path:
        folder = Path(entry or ".").resolve() / "deconv"
        if folder == _HERE or not (folder / "_core.pyx").is_file():
            continue
        if source is None or (folder / "_core.pyx").read_bytes() != source:
            continue
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / (short + suffix)
            if path.is_file():
                spec = importlib.util.spec_from_file_location(module_name, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[module_name] = module
                loaded_from = str(folder)
                return module
    return None


def _import(module_name):
    try:
        return importlib.import_module(module_name)
    except ImportError:
        twin = _installed_twin(module_name)
        if twin is None:
            raise
        return twin


def _load():
    try:
        baseline = _import(_MODULES["baseline"])
    except ImportError as exc:
        return None, [], (f"the compiled extension deconv._core could not be imported "
                          f"({exc}); reinstall with 'pip install .' (or build in place with "
                          f"'python setup.py build_ext --inplace')")
    built = ["baseline"]
    for level in LEVELS[1:]:
        try:
            _import(_MODULES[level])
            built.append(level)
        except ImportError:
            pass
    best = min(baseline.cpu_level(), _requested_cap())
    usable = [level for level in built if LEVELS.index(level) <= best]
    return _import(_MODULES[usable[-1]]), built, None


core, built_levels, unavailable_reason = _load()
if core is None:
    warnings.warn("deconv: " + unavailable_reason + "; only the 'reference' and 'fft' "
                  "backends will work", RuntimeWarning, stacklevel=2)


# An output larger than this share of the last-level cache of one CPU is
# written past the caches (non-temporal stores), where the kernel can: it
# would not stay there anyway, and a cached store that misses first reads
# the line it overwrites. Measured on the reference machine (16 MB per CPU,
# interleaved runs at 2 threads): outputs of 4-8 MB took 0.94-0.99x the time
# written past the caches (unet_up1, 8 MB: 0.95x), outputs of 2-3 MB
# 1.00-1.03x. glibc's memcpy goes past the caches from three quarters of
# the share on, which left those 4-8 MB cached.
STREAM_CACHE_SHARE = 0.2


def last_level_cache_share(cpu_cache=Path("/sys/devices/system/cpu/cpu0/cache")):
    """Bytes of the largest-level cache of CPU 0 per CPU sharing it, as the
    system describes it (Linux sysfs), or None where it does not.

    Examples
    --------
    >>> from deconv._simd import last_level_cache_share
    >>> share = last_level_cache_share()
    >>> share is None or share > 0
    True
    """
    return _cache_share(str(cpu_cache))


@functools.cache
def _cache_share(cpu_cache):
    best = None
    try:
        for index in Path(cpu_cache).glob("index*"):
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
            nbytes = int(size[:-1]) << {"K": 10, "M": 20, "G": 30}[size[-1]] \
                if size[-1] in "KMG" else int(size)
            sharing = _cpu_count((index / "shared_cpu_list").read_text())
            if best is None or level > best[0]:
                best = (level, nbytes // max(1, sharing))
    except (OSError, ValueError, KeyError):
        return None
    return None if best is None else best[1]


def _cpu_count(cpu_list):
    """CPUs in a sysfs list such as ``0-3,8``."""
    count = 0
    for part in cpu_list.strip().split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


def all_finite(array, num_threads=1):
    """Whether every item of ``array`` is finite: one pass of the compiled
    core on up to ``num_threads`` threads for C-contiguous float32 and
    float64 arrays in native byte order, NumPy otherwise."""
    if (core is not None and type(array) is np.ndarray and array.flags.c_contiguous
            and array.dtype.char in "fd" and array.dtype.isnative):
        return core.all_finite(array, num_threads)
    return bool(np.isfinite(array).all())


def streams(nbytes):
    """Whether an output of ``nbytes`` is written past the caches (see
    STREAM_CACHE_SHARE)."""
    share = last_level_cache_share()
    return share is not None and nbytes > STREAM_CACHE_SHARE * share
