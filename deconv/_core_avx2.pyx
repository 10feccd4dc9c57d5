# The avx2 build of the direct kernels: the same source as _core.pyx,
# compiled with avx2 flags and tile sizes by setup.py.
include "_core.pyx"
