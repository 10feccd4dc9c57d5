"""Machine constants of the cost model that ``"auto"`` uses to rank backends.

Each backend estimates its run time as work divided by a rate plus fixed
costs; the defaults below are what ``python -m deconv tune`` measured on the
project's reference machine kind (2 cores, AVX-512), starting from least-squares
fits of the same formulas; the AVX2 and baseline rates are rougher. ``python -m deconv tune`` measures the machine at hand
and stores a profile in the user's cache directory, which is then used
automatically -- unless it is unreadable, incomplete, or was written by
another version of deconv or for another SIMD level, in which case the
defaults are used and :func:`profile_source` says why.
"""
import copy
import json
import os
import sys
from pathlib import Path

DEFAULT_PROFILE = {
    # direct: multiply-adds per second per thread when every lane of the
    # register tile is useful, by SIMD level and item size.
    "direct_madds_per_thread": {
        "avx512": {"4": 160e9, "8": 66e9},
        "avx2": {"4": 60e9, "8": 18e9},
        "baseline": {"4": 14e9, "8": 9e9},
    },
    # direct, narrow-output kernel (Cout <= 8): multiply-adds per second per
    # thread, counting the zero-padded channels of the last group of 4.
    "direct_narrow_madds_per_thread": {
        "avx512": {"4": 144e9, "8": 53e9},
        "avx2": {"4": 20e9, "8": 10e9},
        "baseline": {"4": 15e9, "8": 6e9},
    },
    # direct, narrow kernel: how much faster each (padded) multiply-add runs
    # in tiles of 8 channels (AVX-512) than in tiles of 4.
    "direct_narrow_group8_speedup": 1.3,
    # direct: cost of visiting one kernel tap for one register tile (address
    # arithmetic, loop entry) -- dominant when Cin is small and kernels large.
    "direct_tile_tap_s": 11e-9,
    # direct: fixed cost of a planned call. 30 us, not the 60 us fitted before
    # the FFT path got faster: the planned kernel's small calls take 30-60 us
    # (1x10x10x10, 5x5, Cout 57: 58 us; 1x11x11x2, 12x12: 30 us), and 60 us
    # sent some to the FFT. Grid (tools/auto_grid.py --shapes 80, seeds 1-4):
    # within 15% on 98/96/96/94% (worst 1.51x) against 99/90/95/91% (2.64x).
    "direct_overhead_s": 30e-6,
    # direct, calls under TRIVIAL_MADDS (one thread, no planning): a fixed
    # cost and nominal multiply-adds per second, measured from 1x4x4x2 (2x2)
    # to 1x8x8x8 (3x3): 9.6 to 23 us.
    "direct_small_overhead_s": 9e-6,
    "direct_small_madds_per_s": 3e9,
    # reference, per kernel tap: a fixed cost, one small matrix product per
    # image row, and the multiply-adds (slower when there are few output
    # channels, see ReferenceBackend.estimate_seconds).
    "reference_overhead_s": 38e-6,
    "reference_row_product_s": 37e-9,
    "reference_madds_per_s": 39e9,
    # fft: transform flops per second per thread; complex multiply-adds per
    # second per thread of the channel contraction and the kernels' direct
    # DFTs (four real multiply-adds each); fixed costs. Least-squares fit
    # (relative error) over 96 random large-kernel layers, strides 1-4, on
    # this machine kind: ``python tools/fit_fft_cost.py --layers 96 --seed 3``.
    "fft_flops_per_thread": 14.3e9,
    "fft_contraction_per_thread": 6.07e9,
    "fft_overhead_s": 4.5e-6,
    "fft_phase_overhead_s": 38e-6,
}

PROFILE_FILE = "profile.json"

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
    """Same nested keys, numbers where the defaults have numbers."""
    if isinstance(reference, dict):
        return (isinstance(candidate, dict) and candidate.keys() == reference.keys()
                and all(_same_shape(candidate[k], reference[k]) for k in reference))
    return isinstance(candidate, (int, float)) and not isinstance(candidate, bool) \
        and candidate > 0


def _identity():
    from . import _simd
    from ._version import __version__
    return __version__, (_simd.core.isa_name() if _simd.core is not None else None)


def load_profile():
    """Read the stored profile; return (profile, source description)."""
    path = cache_dir() / PROFILE_FILE
    if not path.exists():
        return copy.deepcopy(DEFAULT_PROFILE), "built-in defaults (no tuned profile)"
    try:
        record = json.loads(path.read_text())
        version, level = _identity()
        if record.get("deconv_version") != version:
            reason = f"written by deconv {record.get('deconv_version')}, this is {version}"
        elif record.get("simd_level") != level:
            reason = f"tuned for SIMD level {record.get('simd_level')}, running {level}"
        elif not _same_shape(record.get("profile"), DEFAULT_PROFILE):
            reason = "its constants are incomplete or malformed"
        else:
            return record["profile"], f"tuned profile {path}"
    except (OSError, ValueError, AttributeError) as exc:
        reason = f"unreadable ({exc.__class__.__name__})"
    return copy.deepcopy(DEFAULT_PROFILE), f"built-in defaults (ignored {path}: {reason})"


def current_profile():
    """The constants in force (loaded once; see :func:`reload_profile`)."""
    if _profile is None:
        reload_profile()
    return _profile


def profile_source():
    """Where the constants in force came from, and why."""
    current_profile()
    return _source


def reload_profile():
    """Read the stored profile again (after ``tune``, or a change of DECONV_CACHE_DIR)."""
    global _profile, _source
    _profile, _source = load_profile()
    return _profile


def use_defaults(reason):
    """Put the built-in constants in force (``tune`` measures against them)."""
    global _profile, _source
    _profile, _source = copy.deepcopy(DEFAULT_PROFILE), f"built-in defaults ({reason})"
    return _profile


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
