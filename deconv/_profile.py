"""Where the cost model's constants come from: the shipped defaults, or a
profile that ``python -m deconv tune`` stored for this machine.

A stored profile is used automatically unless it is unreadable, incomplete,
holds anything but finite positive numbers, or was written by another version
of deconv or for another SIMD level; then the defaults are used and
:func:`profile_source` says why. Every change of the constants in force makes
the kept plans stale (``deconv._caches.invalidate_plans``).
"""
import contextlib
import copy
import json
import math
import os
import sys
from pathlib import Path

from . import _caches
from ._cost import DEFAULT_PROFILE

PROFILE_FILE = "profile.json"
# A profile is a few kB; anything much larger is not one of ours.
MAX_PROFILE_BYTES = 1 << 20

_profile = None
_source = None


def cache_dir():
    """Where ``python -m deconv tune`` stores the profile: ``DECONV_CACHE_DIR``
    if set, else the platform's user cache directory, in a ``deconv`` folder."""
    if os.environ.get("DECONV_CACHE_DIR"):
        return Path(os.environ["DECONV_CACHE_DIR"])
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deconv"


def _same_shape(candidate, reference):
    """Same nested keys as the defaults, and finite positive numbers where
    they have numbers."""
    if isinstance(reference, dict):
        return (isinstance(candidate, dict) and candidate.keys() == reference.keys()
                and all(_same_shape(candidate[k], reference[k]) for k in reference))
    if isinstance(candidate, bool) or not isinstance(candidate, (int, float)):
        return False
    try:
        value = float(candidate)
    except OverflowError:
        return False
    return math.isfinite(value) and value > 0


def _identity():
    from . import _simd
    from ._version import __version__
    return __version__, (_simd.core.isa_name() if _simd.core is not None else None)


def load_profile():
    """Read the stored profile; return (profile, source description)."""
    path = cache_dir() / PROFILE_FILE
    try:
        if not path.exists() and not path.is_symlink():
            return copy.deepcopy(DEFAULT_PROFILE), "built-in defaults (no tuned profile)"
        if not path.is_file() or path.stat().st_size > MAX_PROFILE_BYTES:
            raise ValueError("not a file of at most 1 MiB")
        record = json.loads(path.read_text())
        version, level = _identity()
        if not isinstance(record, dict):
            reason = "it is not a JSON object"
        elif record.get("deconv_version") != version:
            reason = f"written by deconv {record.get('deconv_version')}, this is {version}"
        elif record.get("simd_level") != level:
            reason = f"tuned for SIMD level {record.get('simd_level')}, running {level}"
        elif not _same_shape(record.get("profile"), DEFAULT_PROFILE):
            reason = "its constants are incomplete, malformed or not finite positive numbers"
        else:
            return _as_floats(record["profile"]), f"tuned profile {path}"
    except (OSError, ValueError, RecursionError, UnicodeDecodeError) as exc:
        reason = f"unreadable ({exc.__class__.__name__})"
    return copy.deepcopy(DEFAULT_PROFILE), f"built-in defaults (ignored {path}: {reason})"


def _as_floats(profile):
    if isinstance(profile, dict):
        return {key: _as_floats(value) for key, value in profile.items()}
    return float(profile)


def current_profile():
    """The constants in force (loaded once; see :func:`reload_profile`)."""
    if _profile is None:
        reload_profile()
    return _profile


def profile_source():
    """Where the constants in force came from, and why."""
    current_profile()
    return _source


def _put_in_force(profile, source):
    global _profile, _source
    _profile, _source = profile, source
    _caches.invalidate_plans()
    return profile


def reload_profile():
    """Read the stored profile again (after ``tune``, or a change of DECONV_CACHE_DIR)."""
    return _put_in_force(*load_profile())


@contextlib.contextmanager
def profile_in_force(profile, source):
    """Put ``profile`` in force for the ``with`` block, then the constants
    that were in force before (``tune`` scores candidates this way)."""
    saved = (current_profile(), _source)
    _put_in_force(profile, source)
    try:
        yield profile
    finally:
        _put_in_force(*saved)


def use_defaults(reason):
    """Put the built-in constants in force (``tune`` measures against them)."""
    return _put_in_force(copy.deepcopy(DEFAULT_PROFILE), f"built-in defaults ({reason})")


def save_profile(profile):
    """Store ``profile`` for this version and SIMD level; return the file's path."""
    version, level = _identity()
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROFILE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"deconv_version": version, "simd_level": level,
                                     "profile": profile}, indent=1))
    temporary.replace(path)
    reload_profile()
    return path
