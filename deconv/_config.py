"""``show_config()``: what this installation of deconv is and will do."""
import os
import platform
import sys

import numpy as np
import scipy

from . import _profile, _simd
from ._registry import current_backend, list_backends
from ._threads import resolve_num_threads
from ._version import __version__


def processor_name(cpuinfo="/proc/cpuinfo"):
    """The processor's model, for telling apart the machines a benchmark ran
    on: on Linux its ``model name`` with its family and model numbers (a
    virtual machine's name can be as vague as "AMD EPYC", and the numbers
    tell one generation from the next), elsewhere :func:`platform.processor`,
    "unknown" if neither says.

    Examples
    --------
    >>> from deconv._config import processor_name
    >>> isinstance(processor_name(), str)
    True
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return platform.processor() or "unknown"
    fields = {}
    for line in text.splitlines():
        if not line.strip():  # the first processor's entry is enough
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    name = fields.get("model name") or platform.processor() or "unknown"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def config():
    """The facts :func:`show_config` prints, as a dict."""
    core = _simd.core
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "processor": processor_name(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "extension": ("MISSING: " + _simd.unavailable_reason if core is None else
                      "built" if _simd.loaded_from is None else
                      f"built (loaded from the installed copy in {_simd.loaded_from})"),
        "openmp": bool(core is not None and core.openmp_enabled()),
        "threads": resolve_num_threads(None),
        "simd_level": core.isa_name() if core is not None else None,
        "simd_levels_built": list(_simd.built_levels),
        "simd_cpu_supports": (_simd.LEVELS[core.cpu_level()] if core is not None else None),
        "simd_override": os.environ.get("DECONV_SIMD") or None,
        "backends": list_backends(),
        "default_backend": current_backend(),
        "cost_profile": _profile.profile_source(),
    }


def show_config(file=None):
    """Print the version, build and runtime configuration of deconv.

    Reports whether OpenMP was compiled in, how many threads a call will use,
    the SIMD instruction-set level in use (and the levels built), and the
    registered backends.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Examples
    --------
    >>> import deconv
    >>> deconv.show_config()  # doctest: +ELLIPSIS
    deconv ...
    """
    facts = config()
    out = sys.stdout if file is None else file
    openmp = "yes" if facts["openmp"] else "NO -- serial build, every call uses one thread"
    lines = [
        f"deconv {facts['version']} (Python {facts['python']}, numpy {facts['numpy']}, "
        f"scipy {facts['scipy']}, {facts['platform']})",
        f"  processor          : {facts['processor']}",
        f"  compiled extension : {facts['extension']}",
        f"  OpenMP             : {openmp}",
        f"  threads per call   : {facts['threads']} (num_threads=None; OMP_NUM_THREADS "
        f"{'= ' + os.environ['OMP_NUM_THREADS'] if 'OMP_NUM_THREADS' in os.environ else 'unset'})",
        f"  SIMD level in use  : {facts['simd_level']} (built: "
        f"{', '.join(facts['simd_levels_built']) or 'none'}; CPU supports: "
        f"{facts['simd_cpu_supports']}; DECONV_SIMD={facts['simd_override']})",
        f"  backends           : {', '.join(facts['backends'])} "
        f"(default: {facts['default_backend']})",
        f"  cost model         : {facts['cost_profile']}",
    ]
    print("\n".join(lines), file=out)
