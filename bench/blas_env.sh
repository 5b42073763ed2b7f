# Sourced by the benches that compare pv with PyTorch on the CPU.
# OpenBLAS 0.3.21 does not know recent CPUs and falls back to its generic "Prescott"
# kernels (pv_op_blas_hint() in lib/ops.h); pv and PyTorch load the same libopenblas,
# so the same setting is exported for both, and said.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    core=$(/usr/bin/python3 -c 'import ctypes; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())' 2>/dev/null || echo unknown)
    if [ "$core" = Prescott ] && grep -qw avx512f /proc/cpuinfo; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif [ "$core" = Prescott ] && grep -qw avx2 /proc/cpuinfo; then
        export OPENBLAS_CORETYPE=Haswell
    fi
fi
# The OpenMP wait policy too: pv's tools choose "passive" themselves (lib/omp_env.h);
# PyTorch's OpenMP meets the same contention with OpenBLAS, so both get it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
