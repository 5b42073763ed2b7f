#!/bin/sh
# Runs tests/unit/test_cuda_llava.c (and test_cuda_7b.c on the fixture's shapes) on this machine, GPU or not, against the host
# emulation of the device operations (tests/gpu/host_ops_cuda.c): it checks the CUDA
# backend's code around the kernels (weights, KV-cache slots, batching, generation,
# the safetensors loader) and what bf16 rounding does to the fixture's results. It
# says nothing about the kernels themselves (tests/gpu/run.sh on a GPU does).
set -eu
cd "$(dirname "$0")/../.."
B=${PV_HOST_BUILD:-/tmp/pv-host-cuda}
make -s -j2 WERROR=1 CUDA=0 CPPFLAGS=-DPV_HAVE_CUDA=1 BUILD="$B" BIN="$B/bin" "$B/libpv.a" \
    "$B/obj/tests/unit/test_cuda_llava.o" "$B/obj/tests/unit/test_cuda_7b.o"
W="-std=c17 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Werror"
cc $W -Ilib -D_GNU_SOURCE -DPV_HAVE_CUDA=1 -c tests/gpu/host_ops_cuda.c -o "$B/host_ops_cuda.o"
for t in test_cuda_llava test_cuda_7b; do
    cc -fopenmp -pthread "$B/obj/tests/unit/$t.o" "$B/host_ops_cuda.o" "$B/libpv.a" \
        -lcjson -lturbojpeg -lpng -lz -lopenblas -lm -o "$B/${t}_host"
done
"$B/test_cuda_llava_host"
# The 7B program's steps on the fixture's shapes (its figures mean nothing here).
PV_GPU_7B_CONFIG=${PV_SHARED:-../shared}/fixtures/tiny-llava/config.json "$B/test_cuda_7b_host"
