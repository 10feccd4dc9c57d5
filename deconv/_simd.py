"""Choose, at import, the build of the direct kernels that this CPU runs best.

``_core`` (baseline x86-64, or the only build elsewhere) always exists in a
working install; ``_core_avx2`` and ``_core_avx512`` exist where the compiler
could build them. The environment variable ``DECONV_SIMD`` (``baseline``,
``avx2`` or ``avx512``) caps the level, for testing and for users who want to.
"""
import importlib
import os
import warnings

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


def _load():
    try:
        baseline = importlib.import_module(_MODULES["baseline"])
    except ImportError as exc:
        return None, [], (f"the compiled extension deconv._core could not be imported "
                          f"({exc}); reinstall with 'pip install .' (or build in place with "
                          f"'python setup.py build_ext --inplace')")
    built = ["baseline"]
    for level in LEVELS[1:]:
        try:
            importlib.import_module(_MODULES[level])
            built.append(level)
        except ImportError:
            pass
    best = min(baseline.cpu_level(), _requested_cap())
    usable = [level for level in built if LEVELS.index(level) <= best]
    return importlib.import_module(_MODULES[usable[-1]]), built, None


core, built_levels, unavailable_reason = _load()
if core is None:
    warnings.warn("deconv: " + unavailable_reason + "; only the 'reference' and 'fft' "
                  "backends will work", RuntimeWarning, stacklevel=2)
