# The only file that touches omp.h. When the extension is built without
# OpenMP, the same names exist as serial no-ops, so the kernels never need an
# #ifdef of their own (Cython already turns prange into a plain loop then).

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define DECONV_OPENMP_ENABLED 1
    #else
    #define DECONV_OPENMP_ENABLED 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_thread_num(void) { return 0; }
    #endif
    """
    bint DECONV_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
