"""Build of deconv's Cython extension; all metadata lives in pyproject.toml.

The kernel source ``deconv/_core.pyx`` is compiled once per x86-64
instruction-set level (baseline, AVX2, AVX-512) so that one wheel runs on any
x86-64 CPU and still uses the widest vectors the CPU has; ``deconv._simd``
chooses at import. There is no ``-march=native``.

OpenMP is used when a compile-and-run probe succeeds. Environment:

``DECONV_OPENMP``
    ``1`` requires OpenMP (the build fails without it), ``0`` builds serially,
    unset (default) probes and falls back to a serial build with a loud message.
``DECONV_SIMD_LEVELS``
    Comma-separated subset of ``avx2,avx512`` to build besides the baseline
    (default: every level the compiler accepts).
``DECONV_SANITIZE``
    Comma-separated GCC/Clang sanitizers to build with (``address,undefined``;
    see ``tools/sanitize.sh``, which also runs the tests under them).
"""
import os
import platform
import subprocess
import sys
import tempfile
import textwrap

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent("""
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int threads = 0;
        #pragma omp parallel
        {
            #pragma omp atomic
            threads += 1;
        }
        printf("%d\\n", threads);
        return threads >= 1 ? 0 : 1;
    }
""")

# Per level: the module name, the flags for GCC-compatible compilers, and the
# register tiles for float32 and float64: (pixels, output channels, pairs).
# They fill the level's register file (16 xmm, 16 ymm, 32 zmm) and were picked
# by reading GCC's output: each compiles to a loop of vector broadcasts and
# FMAs with the tile in registers. A channel block of 16 or fewer elements is
# fully unrolled before vectorization and then comes out scalar or shuffled,
# so every block here is at least 24 elements. ``pairs`` = 1 steps through
# two input channels at a time, which pays where the pixels' offsets spill
# (12 pixels) and there are registers for two sets of weights (32 zmm); on
# 16 registers it spills the tile instead. These are macros, not sources:
# after changing one, rebuild with ``build_ext --force``.
SIMD_LEVELS = {
    "baseline": ("deconv._core", [], (4, 16, 0), (2, 24, 0)),
    "avx2": ("deconv._core_avx2", ["-mavx2", "-mfma"], (4, 24, 0), (2, 24, 0)),
    "avx512": ("deconv._core_avx512",
               ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma",
                "-mprefer-vector-width=512"], (12, 32, 1), (6, 32, 0)),
}

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
}


def announce_loudly(message):
    bar = "*" * 78
    print(f"\n{bar}\n{textwrap.fill(message, 78)}\n{bar}\n", file=sys.stderr, flush=True)


def compile_and_run(compiler, source, extra_args, run=True):
    """Whether ``source`` compiles with ``extra_args`` (and, if ``run``, runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as handle:
            handle.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=extra_args)
            if not run:
                return True
            exe = os.path.join(tmp, "probe")
            compiler.link_executable(objects, exe, extra_postargs=extra_args)
            subprocess.run([exe], check=True, capture_output=True, timeout=60)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    """Chooses OpenMP and SIMD flags from what the compiler really supports."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        openmp_flags = ["/openmp"] if msvc else ["-fopenmp"]
        optimize = ["/O2"] if msvc else ["-O3"]
        # GCC's default limit stops it from unrolling a paired-channel tile
        # (see SIMD_LEVELS) into registers; other compilers decide alone.
        unroll = ["--param", "max-completely-peeled-insns=1000"]
        if not msvc and compile_and_run(self.compiler, "int main(void) { return 0; }\n",
                                        unroll, run=False):
            optimize += unroll

        wanted = os.environ.get("DECONV_OPENMP", "").strip()
        if wanted == "0":
            use_openmp = False
            announce_loudly("deconv: DECONV_OPENMP=0, building WITHOUT OpenMP: "
                            "every call will run on one thread.")
        else:
            use_openmp = compile_and_run(self.compiler, OPENMP_PROBE, openmp_flags)
            if not use_openmp and wanted == "1":
                raise RuntimeError("deconv: DECONV_OPENMP=1 but the compiler cannot build and "
                                   "run an OpenMP program; install an OpenMP runtime "
                                   "(e.g. libgomp or libomp) or unset DECONV_OPENMP.")
            if not use_openmp:
                announce_loudly("deconv: WARNING: this compiler cannot build an OpenMP "
                                "program, so deconv is being built SERIALLY (one thread). "
                                "Install an OpenMP runtime (libgomp with gcc, libomp with "
                                "clang) and reinstall; set DECONV_OPENMP=1 to make this "
                                "an error.")

        sanitizers = os.environ.get("DECONV_SANITIZE", "").strip()
        sanitize = [] if not sanitizers or msvc else [
            f"-fsanitize={sanitizers}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
        if sanitize:
            announce_loudly(f"deconv: building with sanitizers {sanitizers} (for testing only)")
        kept = []
        for ext in self.extensions:
            level = ext.deconv_level
            isa_flags = [] if msvc else SIMD_LEVELS[level][1]
            if level != "baseline" and not compile_and_run(
                    self.compiler, "int main(void) { return 0; }\n", isa_flags, run=False):
                announce_loudly(f"deconv: the compiler rejects {' '.join(isa_flags)}; "
                                f"skipping the {level} kernels.")
                continue
            ext.extra_compile_args += optimize + isa_flags + sanitize
            ext.extra_link_args += sanitize
            if use_openmp:
                ext.extra_compile_args += openmp_flags
                ext.extra_link_args += [] if msvc else openmp_flags
            kept.append(ext)
        self.extensions = kept
        print(f"deconv: building levels {[e.deconv_level for e in kept]}, "
              f"OpenMP {'on' if use_openmp else 'OFF'}", file=sys.stderr)
        super().build_extensions()


def simd_levels_to_build():
    """Baseline always; wider levels on x86-64 with a GCC-compatible compiler."""
    levels = ["baseline"]
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64") and sys.platform != "win32":
        requested = os.environ.get("DECONV_SIMD_LEVELS")
        extra = ["avx2", "avx512"] if requested is None else [
            name.strip() for name in requested.split(",") if name.strip()]
        unknown = set(extra) - {"avx2", "avx512"}
        if unknown:
            raise ValueError(f"DECONV_SIMD_LEVELS: unknown levels {sorted(unknown)}; "
                             "choose from avx2, avx512")
        levels += [name for name in ("avx2", "avx512") if name in extra]
    return levels


def extension(level):
    name, _, (f32_pixels, f32_channels, f32_pairs), (f64_pixels, f64_channels, f64_pairs) = \
        SIMD_LEVELS[level]
    source = "deconv/" + name.split(".")[-1] + ".pyx"
    ext = Extension(
        name,
        sources=[source],
        include_dirs=[numpy.get_include()],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("DECONV_F32_PIXELS", str(f32_pixels)),
            ("DECONV_F32_CHANNELS", str(f32_channels)),
            ("DECONV_F32_PAIRS", str(f32_pairs)),
            ("DECONV_F64_PIXELS", str(f64_pixels)),
            ("DECONV_F64_CHANNELS", str(f64_channels)),
            ("DECONV_F64_PAIRS", str(f64_pairs)),
            ("DECONV_ISA_NAME", f'"{level}"'),
            ("DECONV_NARROW_MAX_GROUP", "8" if level == "avx512" else "4"),
            ("DECONV_VECTOR_BYTES", {"avx512": "64", "avx2": "32"}.get(level, "16")),
        ],
    )
    ext.deconv_level = level
    return ext


extensions = cythonize([extension(level) for level in simd_levels_to_build()],
                       compiler_directives=COMPILER_DIRECTIVES)
for ext in extensions:
    ext.deconv_level = next(level for level, spec in SIMD_LEVELS.items() if spec[0] == ext.name)

setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
