#!/bin/sh
# Prepares .device/ (git-ignored) for tests/gpu/run.sh on the lent GPU machine, whose
# Ubuntu has the CUDA libraries but neither cJSON nor TurboJPEG nor OpenBLAS:
#   .device/bin/     test_cuda_ops, test_cuda_llava, test_cuda_7b, pv-caption, built
#                    here for sm_90 with -Werror (nvcc and gcc); TurboJPEG, libpng and
#                    zlib linked statically, the CUDA runtime statically; rpath
#                    $ORIGIN/../lib, then /usr/local/cuda/lib64 for cuBLAS
#   .device/lib/     the shared libraries Debian has no static archive of (cJSON,
#                    OpenBLAS with its libgfortran and libquadmath) and libgomp
#   .device/shared/  what the checks read from ../shared: the fixture,
#                    the 7B config, the PyTorch baseline script
# Then checks with ldd that no binary needs a library outside .device/lib, the CUDA
# libraries and glibc. Usage: tests/gpu/bundle.sh   (then run tests/gpu/run.sh there
# with carry [".device"]).
set -eu
cd "$(dirname "$0")/../.."
SHARED=${PV_SHARED:-../shared}
BUILD=${PV_GPU_BUILD:-/tmp/pv-gpu-build}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$CUDA_HOME/bin/nvcc}
D=.device
[ -x "$NVCC" ] || { echo "bundle: no nvcc at $NVCC" >&2; exit 3; }

rm -rf "$D/bin" "$D/lib" "$D/shared"
mkdir -p "$D/bin" "$D/lib" "$D/shared/fixtures/tiny-llava/adapter" "$D/shared/bench" "$D/shared/data"

# \$$ survives make (-> \$) and the recipe's shell (-> $), reaching the linker as $ORIGIN.
make -j2 WERROR=1 NVCC="$NVCC" BUILD="$BUILD" BIN="$BUILD/bin" \
    NVCCFLAGS="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xcompiler -fPIC,-Wall,-Wextra,-Werror -Werror all-warnings -Ilib" \
    LDFLAGS='-Wl,-rpath,\$$ORIGIN/../lib' \
    LDLIBS_PV="-Wl,-Bstatic -lturbojpeg -lpng16 -lz -Wl,-Bdynamic -lcjson -lopenblas -lm -L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcublasLt -lcublas -lcudart_static -ldl -lrt -lstdc++" \
    "$BUILD/tests/test_cuda_ops" "$BUILD/tests/test_cuda_llava" "$BUILD/tests/test_cuda_7b" \
    "$BUILD/bin/pv-caption"
for b in test_cuda_ops test_cuda_llava test_cuda_7b; do
    strip -o "$D/bin/$b" "$BUILD/tests/$b"
done
strip -o "$D/bin/pv-caption" "$BUILD/bin/pv-caption"

for l in libcjson.so.1 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1; do
    cp -L "/usr/lib/x86_64-linux-gnu/$l" "$D/lib/$l"
done

F="$SHARED/fixtures/tiny-llava"
for f in config.json model.safetensors golden.safetensors golden.json image.png tokenizer.json \
    tokenizer_config.json; do
    cp "$F/$f" "$D/shared/fixtures/tiny-llava/$f"
done
cp "$F"/adapter/* "$D/shared/fixtures/tiny-llava/adapter/"
cp "$SHARED/bench/torch_dpo_baseline.py" "$D/shared/bench/"
cp "$SHARED/data/llava-1.5-7b-hf.config.json" "$D/shared/data/"
chmod -R u+w "$D"

{
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "($(git status --short lib tests tools 2>/dev/null | wc -l) changed files), bundled $(date -u +%FT%TZ)"
    "$NVCC" --version | tail -1
} > "$D/BUILD_INFO"

# Every library a binary needs must be in .device/lib, CUDA's, or the C/C++ runtime.
bad=0
for b in "$D"/bin/*; do
    extra=$(ldd "$b" | awk '{print $1}' | grep -v -E '^(linux-vdso|/lib64/ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libstdc\+\+\.so|libgcc_s\.so|libcublas|libcublasLt)' |
            while read -r l; do [ -e "$D/lib/$l" ] || echo "$l"; done)
    if [ -n "$extra" ]; then
        echo "bundle: $b needs libraries that are not carried: $extra" >&2
        bad=1
    fi
    if ldd "$b" | grep -q -E 'libturbojpeg|libcudart'; then
        echo "bundle: $b links TurboJPEG or cudart dynamically" >&2
        bad=1
    fi
done
[ "$bad" = 0 ] || exit 1
size=$(du -sm "$D" | cut -f1)
echo "bundle: $D is $size MiB (the carry limit is 64 MiB)"
[ "$size" -lt 62 ] || { echo "bundle: too large to carry" >&2; exit 1; }
ls -la "$D/bin" "$D/lib"
