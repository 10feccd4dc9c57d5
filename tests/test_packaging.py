"""The sdist a user downloads: it holds every file the build and the tests
read, holds no generated C, and building it warns about nothing.

Run from a git checkout (the tracked files are the reference); an unpacked
sdist skips this module."""
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("build")
if not (ROOT / ".git").exists():
    pytest.skip("not a git checkout", allow_module_level=True)


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("sdist")
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(outdir),
                            str(ROOT)], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    (archive,) = outdir.glob("deconv-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    return built.stdout + built.stderr, names


def test_sdist_holds_every_source_the_build_and_the_tests_read(sdist):
    _, names = sdist
    tracked = subprocess.run(["git", "ls-files", "deconv", "tests", "setup.py",
                              "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert {"deconv/_plan.pxi", "deconv/_spectral.pxi", "tests/conftest.py"} <= set(tracked)
    assert set(tracked) - names == set()
    assert [name for name in names if name.endswith((".c", ".so"))] == []


def test_building_the_sdist_warns_about_nothing(sdist):
    log, _ = sdist
    warnings = [line for line in log.splitlines()
                if "warn" in line.lower() or "deprecat" in line.lower()]
    assert warnings == []
