/* Device versions of the lib/ops.h operations (contracts in lib/cuda/ops_cuda.h).
 * Kept simple on purpose: one thread per element for element-wise work, one block
 * per row for reductions, cuBLAS for matrix products, flash-style kernels for
 * attention. Every launch is followed by a check of the launch error, which is kept
 * in the context until pv_cuda_sync() reports it. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ops_cuda.h"

struct pv_cuda_ctx {
    cudaStream_t stream;
    cublasHandle_t blas;
    void *scratch;          /* inputs rounded to a weight's type */
    size_t scratch_bytes;
    unsigned scratch_generation; /* +1 each time scratch moves */
    void *blas_workspace;   /* cuBLAS's, set explicitly: nothing allocated while capturing */
    void *staging;          /* pinned host buffer for conversions on upload */
    size_t staging_bytes;
    char err[256];          /* first error since the last pv_cuda_sync */
};

#define STAGING_BYTES ((size_t)64 << 20)
#define BLAS_WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLAS's advice for Hopper */

static void ctx_fail(pv_cuda_ctx *c, const char *what, const char *why)
{
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "%s: %s", what, why);
}

static bool cuda_ok(pv_cuda_ctx *c, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return true;
    ctx_fail(c, what, cudaGetErrorString(e));
    return false;
}

static bool blas_ok(pv_cuda_ctx *c, cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return true;
    char why[64];
    snprintf(why, sizeof why, "cuBLAS status %d", (int)st);
    ctx_fail(c, what, why);
    return false;
}

#define LAUNCHED(c, name) cuda_ok((c), cudaGetLastError(), (name))

static unsigned blocks_for(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 2147483647u ? 2147483647u : b);
}

extern "C" {

int pv_cuda_device_count(char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (err && errlen)
            snprintf(err, errlen, "no usable CUDA device: %s", cudaGetErrorString(e));
        cudaGetLastError(); /* clear */
        return 0;
    }
    if (n == 0 && err && errlen)
        snprintf(err, errlen, "no CUDA device found");
    return n;
}

void pv_cuda_device_name(char *out, size_t outlen)
{
    cudaDeviceProp p;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
        snprintf(out, outlen, "unknown CUDA device");
        return;
    }
    snprintf(out, outlen, "%s, %d SMs, %.1f GiB, compute %d.%d", p.name, p.multiProcessorCount,
             (double)p.totalGlobalMem / (1u << 30), p.major, p.minor);
}

pv_cuda_ctx *pv_cuda_ctx_new(char *err, size_t errlen)
{
    pv_cuda_ctx *c = (pv_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cudaError_t e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaStreamCreate: %s", cudaGetErrorString(e));
        free(c);
        return NULL;
    }
    cublasStatus_t st = cublasCreate(&c->blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cublasCreate: status %d", (int)st);
        cudaStreamDestroy(c->stream);
        free(c);
        return NULL;
    }
    cublasSetStream(c->blas, c->stream); /* (resets the workspace: set it after) */
    if (cudaMalloc(&c->blas_workspace, BLAS_WORKSPACE_BYTES) == cudaSuccess)
        cublasSetWorkspace(c->blas, c->blas_workspace, BLAS_WORKSPACE_BYTES);
    else
        cudaGetLastError(); /* cuBLAS keeps its own pool */
    /* fp32 products stay fp32: TF32 would cost ~1e-3 relative. */
    cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    return c;
}

void pv_cuda_ctx_free(pv_cuda_ctx *c)
{
    if (!c)
        return;
    cudaStreamSynchronize(c->stream);
    cudaFree(c->scratch);
    cudaFreeHost(c->staging);
    cublasDestroy(c->blas);
    cudaFree(c->blas_workspace);
    cudaStreamDestroy(c->stream);
    free(c);
}

int pv_cuda_sync(pv_cuda_ctx *c, char *err, size_t errlen)
{
    cuda_ok(c, cudaStreamSynchronize(c->stream), "cudaStreamSynchronize");
    if (!c->err[0])
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "%s", c->err);
    c->err[0] = '\0';
    return -1;
}

void *pv_cuda_malloc(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}

void pv_cuda_free(void *p)
{
    if (p)
        cudaFree(p);
}

int pv_cuda_upload(pv_cuda_ctx *c, void *dst, const void *src_host, size_t bytes)
{
    if (!cuda_ok(c, cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, c->stream),
                 "upload"))
        return -1;
    return cuda_ok(c, cudaStreamSynchronize(c->stream), "upload") ? 0 : -1;
}

int pv_cuda_download(pv_cuda_ctx *c, void *dst_host, const void *src, size_t bytes)
{
    if (!cuda_ok(c, cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, c->stream),
                 "download"))
        return -1;
    return cuda_ok(c, cudaStreamSynchronize(c->stream), "download") ? 0 : -1;
}

void pv_cuda_copy(pv_cuda_ctx *c, void *dst, const void *src, size_t bytes)
{
    cuda_ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream), "copy");
}

size_t pv_cuda_dtype_size(pv_cuda_dtype t)
{
    return t == PV_CUDA_F32 ? 4 : 2;
}

} /* extern "C" */

/* ---- type conversions ---------------------------------------------------------- */

__device__ static inline float load_as_f32(const void *p, pv_cuda_dtype t, size_t i)
{
    if (t == PV_CUDA_BF16)
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    if (t == PV_CUDA_F16)
        return __half2float(((const __half *)p)[i]);
    return ((const float *)p)[i];
}

__device__ static inline void store_from_f32(void *p, pv_cuda_dtype t, size_t i, float v)
{
    if (t == PV_CUDA_BF16)
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else if (t == PV_CUDA_F16)
        ((__half *)p)[i] = __float2half_rn(v);
    else
        ((float *)p)[i] = v;
}

__global__ static void convert_kernel(const void *src, pv_cuda_dtype st, void *dst,
                                      pv_cuda_dtype dt, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        store_from_f32(dst, dt, i, load_as_f32(src, st, i));
}

static void convert(pv_cuda_ctx *c, const void *src, pv_cuda_dtype st, void *dst,
                    pv_cuda_dtype dt, size_t n)
{
    unsigned blocks = blocks_for(n, 256);
    if (blocks > 65536)
        blocks = 65536;
    convert_kernel<<<blocks, 256, 0, c->stream>>>(src, st, dst, dt, n);
    LAUNCHED(c, "convert");
}

/* Staging: pinned host memory (allocated on first use) and a device area behind the
 * context's scratch for the raw values before conversion. */
static bool ensure_staging(pv_cuda_ctx *c)
{
    if (c->staging)
        return true;
    if (!cuda_ok(c, cudaMallocHost(&c->staging, STAGING_BYTES), "cudaMallocHost"))
        return false;
    c->staging_bytes = STAGING_BYTES;
    return true;
}

static void *ensure_scratch(pv_cuda_ctx *c, size_t bytes)
{
    if (bytes <= c->scratch_bytes)
        return c->scratch;
    /* Growing waits for queued work that may still read the old buffer. */
    cudaStreamSynchronize(c->stream);
    cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_bytes = 0;
    c->scratch_generation++;
    if (!cuda_ok(c, cudaMalloc(&c->scratch, bytes), "scratch"))
        return NULL;
    c->scratch_bytes = bytes;
    return c->scratch;
}

extern "C" {

unsigned pv_cuda_scratch_generation(const pv_cuda_ctx *c)
{
    return c->scratch_generation;
}

int pv_cuda_reserve_scratch(pv_cuda_ctx *c, size_t bytes)
{
    return ensure_scratch(c, bytes) ? 0 : -1;
}

int pv_cuda_capture_begin(pv_cuda_ctx *c)
{
    return cuda_ok(c, cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed),
                   "cudaStreamBeginCapture") ? 0 : -1;
}

void *pv_cuda_capture_end(pv_cuda_ctx *c)
{
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    bool ok = e == cudaSuccess && graph && !c->err[0];
    if (ok && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) {
        exec = NULL;
        ok = false;
    }
    if (graph)
        cudaGraphDestroy(graph);
    if (!ok) {
        /* Nothing ran while capturing: the caller runs the operations directly. */
        cudaGetLastError();
        c->err[0] = '\0';
        return NULL;
    }
    return (void *)exec;
}

int pv_cuda_graph_launch(pv_cuda_ctx *c, void *graph)
{
    return cuda_ok(c, cudaGraphLaunch((cudaGraphExec_t)graph, c->stream), "cudaGraphLaunch") ? 0
                                                                                            : -1;
}

void pv_cuda_graph_free(void *graph)
{
    if (graph)
        cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

} /* extern "C" */

/* Uploads n elements of src_bytes_each from the host through the staging buffer in
 * chunks, converting each chunk from src_type to t at dst. */
static int upload_converting(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const void *src_host,
                             pv_cuda_dtype src_type, size_t n)
{
    size_t es = pv_cuda_dtype_size(src_type), ds = pv_cuda_dtype_size(t);
    if (src_type == t)
        return pv_cuda_upload(c, dst, src_host, n * es);
    if (!ensure_staging(c))
        return -1;
    size_t per = c->staging_bytes / es;
    void *raw = ensure_scratch(c, per * es);
    if (!raw)
        return -1;
    for (size_t i0 = 0; i0 < n; i0 += per) {
        size_t k = n - i0 < per ? n - i0 : per;
        memcpy(c->staging, (const char *)src_host + i0 * es, k * es);
        if (!cuda_ok(c, cudaMemcpyAsync(raw, c->staging, k * es, cudaMemcpyHostToDevice,
                                        c->stream), "upload"))
            return -1;
        convert(c, raw, src_type, (char *)dst + i0 * ds, t, k);
        /* The staging buffer is refilled next: wait for the copy out of it. */
        if (!cuda_ok(c, cudaStreamSynchronize(c->stream), "upload"))
            return -1;
    }
    return c->err[0] ? -1 : 0;
}

extern "C" {

int pv_cuda_upload_f32_as(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const float *src_host,
                          size_t n)
{
    return upload_converting(c, dst, t, src_host, PV_CUDA_F32, n);
}

int pv_cuda_upload_16_as(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const uint16_t *src_host,
                         pv_cuda_dtype src_type, size_t n)
{
    return upload_converting(c, dst, t, src_host, src_type, n);
}

int pv_cuda_download_as_f32(pv_cuda_ctx *c, float *dst_host, const void *src, pv_cuda_dtype t,
                            size_t n)
{
    if (t == PV_CUDA_F32)
        return pv_cuda_download(c, dst_host, src, n * 4);
    size_t per = STAGING_BYTES / 4;
    float *wide = (float *)ensure_scratch(c, per * 4);
    if (!wide)
        return -1;
    for (size_t i0 = 0; i0 < n; i0 += per) {
        size_t k = n - i0 < per ? n - i0 : per;
        convert(c, (const char *)src + i0 * 2, t, wide, PV_CUDA_F32, k);
        if (pv_cuda_download(c, dst_host + i0, wide, k * 4) < 0)
            return -1;
    }
    return 0;
}

} /* extern "C" */

/* A 64-bit mix (splitmix64's finaliser) of (seed, i): independent per element, so
 * the values do not depend on the launch shape. */
__device__ static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__global__ static void fill_random_kernel(void *dst, pv_cuda_dtype t, size_t n, uint64_t seed,
                                          float scale, float shift)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = mix64(seed * 0x9e3779b97f4a7c15ull + i);
        float u = (float)(z >> 40) * (1.0f / 8388608.0f) - 1.0f; /* [-1, 1), 24 bits */
        store_from_f32(dst, t, i, scale * u + shift);
    }
}

extern "C" void pv_cu_fill_random(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, size_t n,
                                  uint64_t seed, float scale, float shift)
{
    unsigned blocks = blocks_for(n, 256);
    if (blocks > 65536)
        blocks = 65536;
    fill_random_kernel<<<blocks, 256, 0, c->stream>>>(dst, t, n, seed, scale, shift);
    LAUNCHED(c, "fill_random");
}

/* ---- matrix products ------------------------------------------------------------- */

static cudaDataType_t cuda_type(pv_cuda_dtype t)
{
    return t == PV_CUDA_BF16 ? CUDA_R_16BF : t == PV_CUDA_F16 ? CUDA_R_16F : CUDA_R_32F;
}

extern "C" void pv_cu_matmul_wt(pv_cuda_ctx *c, const float *x, int n, int in, const void *w,
                                pv_cuda_dtype wt, int out, float *y, bool accumulate,
                                float alpha)
{
    const void *xin = x;
    if (wt != PV_CUDA_F32) {
        /* cuBLAS wants both operands in one type: round the activations. */
        void *xs = ensure_scratch(c, (size_t)n * in * 2);
        if (!xs)
            return;
        convert(c, x, PV_CUDA_F32, xs, wt, (size_t)n * in);
        xin = xs;
    }
    float beta = accumulate ? 1.0f : 0.0f;
    /* Column-major view: y^T [out][n] = W [out][in] (stored as W^T col-major, hence
     * OP_T) times x^T [in][n]. */
    blas_ok(c,
            cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &alpha, w, cuda_type(wt),
                         in, xin, cuda_type(wt), in, &beta, y, CUDA_R_32F, out,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx");
}

/* ---- element-wise ---------------------------------------------------------------- */

#define GRID_STRIDE(i, n)                                                           \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);        \
         i += (size_t)gridDim.x * blockDim.x)

static unsigned elementwise_blocks(size_t n)
{
    unsigned b = blocks_for(n, 256);
    return b > 65536 ? 65536 : b;
}

__global__ static void add_bias_kernel(float *y, const float *b, size_t n, int out)
{
    GRID_STRIDE(i, n) y[i] += b[i % out];
}

__global__ static void quick_gelu_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

__global__ static void gelu_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

__global__ static void silu_mul_kernel(float *gate, const float *up, size_t n)
{
    GRID_STRIDE(i, n) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

__global__ static void add_kernel(float *y, const float *x, size_t n)
{
    GRID_STRIDE(i, n) y[i] += x[i];
}

extern "C" {

void pv_cu_add_bias(pv_cuda_ctx *c, float *y, const float *b, int n, int out)
{
    size_t len = (size_t)n * out;
    add_bias_kernel<<<elementwise_blocks(len), 256, 0, c->stream>>>(y, b, len, out);
    LAUNCHED(c, "add_bias");
}

void pv_cu_quick_gelu(pv_cuda_ctx *c, float *x, size_t len)
{
    quick_gelu_kernel<<<elementwise_blocks(len), 256, 0, c->stream>>>(x, len);
    LAUNCHED(c, "quick_gelu");
}

void pv_cu_gelu(pv_cuda_ctx *c, float *x, size_t len)
{
    gelu_kernel<<<elementwise_blocks(len), 256, 0, c->stream>>>(x, len);
    LAUNCHED(c, "gelu");
}

void pv_cu_silu_mul(pv_cuda_ctx *c, float *gate, const float *up, size_t len)
{
    silu_mul_kernel<<<elementwise_blocks(len), 256, 0, c->stream>>>(gate, up, len);
    LAUNCHED(c, "silu_mul");
}

void pv_cu_add(pv_cuda_ctx *c, float *y, const float *x, size_t len)
{
    add_kernel<<<elementwise_blocks(len), 256, 0, c->stream>>>(y, x, len);
    LAUNCHED(c, "add");
}

} /* extern "C" */

/* ---- row reductions: one block of 256 threads per row ----------------------------- */

#define ROW_THREADS 256

/* Sum of v over the block (every thread gets it). shared: ROW_THREADS / 32 doubles. */
__device__ static double block_sum(double v, double *shared)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads(); /* shared may still be read from a previous call */
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    double s = 0;
    for (int w = 0; w < ROW_THREADS / 32; w++)
        s += shared[w];
    return s;
}

__global__ static void layernorm_kernel(const float *x, int d, const float *w, const float *b,
                                        float eps, float *y)
{
    __shared__ double shared[ROW_THREADS / 32];
    const float *xr = x + (size_t)blockIdx.x * d;
    float *yr = y + (size_t)blockIdx.x * d;
    double s = 0;
    for (int i = threadIdx.x; i < d; i += ROW_THREADS)
        s += xr[i];
    double mean = block_sum(s, shared) / d, v = 0;
    for (int i = threadIdx.x; i < d; i += ROW_THREADS)
        v += (xr[i] - mean) * (xr[i] - mean);
    double inv = 1.0 / sqrt(block_sum(v, shared) / d + eps);
    for (int i = threadIdx.x; i < d; i += ROW_THREADS)
        yr[i] = (float)((xr[i] - mean) * inv) * w[i] + b[i];
}

__global__ static void rmsnorm_kernel(const float *x, int d, const float *w, float eps, float *y)
{
    __shared__ double shared[ROW_THREADS / 32];
    const float *xr = x + (size_t)blockIdx.x * d;
    float *yr = y + (size_t)blockIdx.x * d;
    double ss = 0;
    for (int i = threadIdx.x; i < d; i += ROW_THREADS)
        ss += (double)xr[i] * xr[i];
    double inv = 1.0 / sqrt(block_sum(ss, shared) / d + eps);
    for (int i = threadIdx.x; i < d; i += ROW_THREADS)
        yr[i] = w[i] * (float)(xr[i] * inv);
}

/* argmax with the lowest index on ties, as torch.argmax and pv_op_argmax. */
__device__ static inline void better(float &bv, int &bi, float v, int i)
{
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

__global__ static void argmax_kernel(const float *x, int len, int32_t *out)
{
    __shared__ float sv[ROW_THREADS];
    __shared__ int si[ROW_THREADS];
    const float *xr = x + (size_t)blockIdx.x * len;
    float bv = -INFINITY;
    int bi = len; /* NaN rows end at index len and are clamped below */
    for (int i = threadIdx.x; i < len; i += ROW_THREADS)
        better(bv, bi, xr[i], i);
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int s = ROW_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            better(sv[threadIdx.x], si[threadIdx.x], sv[threadIdx.x + s], si[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0)
        out[blockIdx.x] = si[0] < len ? si[0] : 0;
}

__global__ static void logsumexp_kernel(const float *x, int len, double *out)
{
    __shared__ double shared[ROW_THREADS / 32];
    __shared__ float smax[ROW_THREADS];
    const float *xr = x + (size_t)blockIdx.x * len;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < len; i += ROW_THREADS)
        m = fmaxf(m, xr[i]);
    smax[threadIdx.x] = m;
    __syncthreads();
    for (int s = ROW_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            smax[threadIdx.x] = fmaxf(smax[threadIdx.x], smax[threadIdx.x + s]);
        __syncthreads();
    }
    double mx = smax[0], sum = 0;
    for (int i = threadIdx.x; i < len; i += ROW_THREADS)
        sum += exp(xr[i] - mx);
    double total = block_sum(sum, shared);
    if (threadIdx.x == 0)
        out[blockIdx.x] = mx + log(total);
}

extern "C" {

void pv_cu_layernorm(pv_cuda_ctx *c, const float *x, int n, int d, const float *w,
                     const float *b, float eps, float *y)
{
    layernorm_kernel<<<n, ROW_THREADS, 0, c->stream>>>(x, d, w, b, eps, y);
    LAUNCHED(c, "layernorm");
}

void pv_cu_rmsnorm(pv_cuda_ctx *c, const float *x, int n, int d, const float *w, float eps,
                   float *y)
{
    rmsnorm_kernel<<<n, ROW_THREADS, 0, c->stream>>>(x, d, w, eps, y);
    LAUNCHED(c, "rmsnorm");
}

void pv_cu_argmax_rows(pv_cuda_ctx *c, const float *x, int rows, int len, int32_t *out)
{
    argmax_kernel<<<rows, ROW_THREADS, 0, c->stream>>>(x, len, out);
    LAUNCHED(c, "argmax");
}

void pv_cu_logsumexp_rows(pv_cuda_ctx *c, const float *x, int rows, int len, double *out)
{
    logsumexp_kernel<<<rows, ROW_THREADS, 0, c->stream>>>(x, len, out);
    LAUNCHED(c, "logsumexp");
}

} /* extern "C" */

/* ---- gathers and scatters ------------------------------------------------------------ */

__global__ static void rope_kernel(float *x, int n, int n_heads, int head_dim, int pos0,
                                   const int *positions, const float *cos_tab,
                                   const float *sin_tab)
{
    int half = head_dim / 2;
    size_t total = (size_t)n * n_heads * half;
    GRID_STRIDE(e, total)
    {
        int i = (int)(e % half);
        size_t th = e / half; /* t * n_heads + h */
        int t = (int)(th / n_heads);
        int p = positions ? positions[t] : pos0 + t;
        float cs = cos_tab[(size_t)p * half + i], sn = sin_tab[(size_t)p * half + i];
        float *xh = x + th * head_dim;
        float a = xh[i], b = xh[i + half];
        xh[i] = a * cs - b * sn;
        xh[i + half] = b * cs + a * sn;
    }
}

__global__ static void embed_kernel(const void *table, pv_cuda_dtype tt, int d,
                                    const int32_t *ids, const int *feature_row,
                                    const float *features, int n, float *out)
{
    size_t total = (size_t)n * d;
    GRID_STRIDE(e, total)
    {
        int t = (int)(e / d), i = (int)(e % d);
        int fr = feature_row ? feature_row[t] : -1;
        out[e] = fr >= 0 ? features[(size_t)fr * d + i]
                         : load_as_f32(table, tt, (size_t)ids[t] * d + i);
    }
}

__global__ static void kv_store_kernel(const float *k, const float *v, int n, int kv_heads,
                                       int head_dim, float *k_cache, float *v_cache,
                                       size_t slot_stride, int max_tokens, int pos0,
                                       const int *slots, const int *positions)
{
    size_t total = (size_t)n * kv_heads * head_dim;
    GRID_STRIDE(e, total)
    {
        int ch = (int)(e % head_dim);
        size_t th = e / head_dim;
        int h = (int)(th % kv_heads), t = (int)(th / kv_heads);
        int s = slots ? slots[t] : 0, p = positions ? positions[t] : pos0 + t;
        size_t dst = (size_t)s * slot_stride + ((size_t)h * max_tokens + p) * head_dim + ch;
        k_cache[dst] = k[e];
        v_cache[dst] = v[e];
    }
}

extern "C" {

void pv_cu_rope(pv_cuda_ctx *c, float *x, int n, int n_heads, int head_dim, int pos0,
                const int *positions, const float *cos_tab, const float *sin_tab)
{
    size_t total = (size_t)n * n_heads * (head_dim / 2);
    rope_kernel<<<elementwise_blocks(total), 256, 0, c->stream>>>(x, n, n_heads, head_dim, pos0,
                                                                  positions, cos_tab, sin_tab);
    LAUNCHED(c, "rope");
}

void pv_cu_embed(pv_cuda_ctx *c, const void *table, pv_cuda_dtype tt, int d, const int32_t *ids,
                 const int *feature_row, const float *features, int n, float *out)
{
    size_t total = (size_t)n * d;
    embed_kernel<<<elementwise_blocks(total), 256, 0, c->stream>>>(table, tt, d, ids,
                                                                   feature_row, features, n, out);
    LAUNCHED(c, "embed");
}

void pv_cu_kv_store(pv_cuda_ctx *c, const float *k, const float *v, int n, int kv_heads,
                    int head_dim, float *k_cache, float *v_cache, size_t slot_stride,
                    int max_tokens, int pos0, const int *slots, const int *positions)
{
    size_t total = (size_t)n * kv_heads * head_dim;
    kv_store_kernel<<<elementwise_blocks(total), 256, 0, c->stream>>>(
        k, v, n, kv_heads, head_dim, k_cache, v_cache, slot_stride, max_tokens, pos0, slots,
        positions);
    LAUNCHED(c, "kv_store");
}

} /* extern "C" */

/* ---- attention ------------------------------------------------------------------------- */

#define ATT_WARPS 8
#define ATT_MAX_HD 256
#define ATT_DIMS_PER_LANE (ATT_MAX_HD / 32)

/* One block of ATT_WARPS warps handles rows_per_block query rows of one head; each
 * row gets G = ATT_WARPS / rows_per_block warps, which split its keys in tiles of 32
 * (warp g of a row takes tiles g, g + G, ...). Within a tile, lane j scores key j
 * (a dot product over head_dim with the query in shared memory); the tile's softmax
 * terms are folded into the warp's running max m, sum l and output accumulator
 * (lane owns dims lane, lane + 32, ...), the standard online-softmax update:
 *   m' = max(m, max_j s_j),  l' = l e^(m - m') + sum_j e^(s_j - m'),
 *   acc' = acc e^(m - m') + sum_j e^(s_j - m') v_j.
 * At the end the G partial (m, l, acc) of a row are merged the same way through
 * shared memory and out = acc / l. */
__global__ static void __launch_bounds__(ATT_WARPS * 32)
attention_kernel(const float *q, int n, int pos0, const int *positions, const int *slots,
                 const float *k, const float *v, int n_keys, size_t slot_stride,
                 size_t kv_head_stride, size_t kv_pos_stride, int n_heads, int n_kv_heads,
                 int head_dim, bool causal, float scale, float *out, int rows_per_block)
{
    __shared__ float q_sh[ATT_WARPS][ATT_MAX_HD];
    __shared__ float part_acc[ATT_WARPS][ATT_MAX_HD];
    __shared__ float part_m[ATT_WARPS], part_l[ATT_WARPS];

    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int G = ATT_WARPS / rows_per_block;
    int row_in_block = warp / G, g = warp % G;
    int t = blockIdx.x * rows_per_block + row_in_block;
    int h = blockIdx.y;
    int kvh = h / (n_heads / n_kv_heads);
    bool active = t < n;

    int last_key = -1; /* last key index this row sees */
    const float *kb = NULL, *vb = NULL;
    if (active) {
        last_key = causal ? (positions ? positions[t] : pos0 + t) : n_keys - 1;
        if (last_key > n_keys - 1)
            last_key = n_keys - 1;
        size_t base = (size_t)(slots ? slots[t] : 0) * slot_stride + (size_t)kvh * kv_head_stride;
        kb = k + base;
        vb = v + base;
        const float *qr = q + ((size_t)t * n_heads + h) * head_dim;
        /* The G warps of a row each keep their own copy: no cross-warp sync needed. */
        for (int c = lane; c < head_dim; c += 32)
            q_sh[warp][c] = qr[c] * scale;
    }
    __syncwarp();

    float m = -INFINITY, l = 0.0f, acc[ATT_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < ATT_DIMS_PER_LANE; i++)
        acc[i] = 0.0f;

    for (int tile = g * 32; tile <= last_key; tile += G * 32) {
        int j = tile + lane;
        float s = -INFINITY;
        if (j <= last_key) {
            const float *kr = kb + (size_t)j * kv_pos_stride;
            float dot = 0.0f;
            for (int c = 0; c < head_dim; c++)
                dot += q_sh[warp][c] * kr[c];
            s = dot;
        }
        float tile_max = s;
        for (int o = 16; o > 0; o >>= 1)
            tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
        float m_new = fmaxf(m, tile_max); /* finite: key `tile` is always visible */
        float correction = expf(m - m_new); /* 0 on the first tile (m = -inf) */
        float p = j <= last_key ? expf(s - m_new) : 0.0f;
        float p_sum = p;
        for (int o = 16; o > 0; o >>= 1)
            p_sum += __shfl_xor_sync(0xffffffffu, p_sum, o);
        l = l * correction + p_sum;
#pragma unroll
        for (int i = 0; i < ATT_DIMS_PER_LANE; i++)
            acc[i] *= correction;
        int keys_here = last_key - tile + 1 < 32 ? last_key - tile + 1 : 32;
        for (int jj = 0; jj < keys_here; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            const float *vr = vb + (size_t)(tile + jj) * kv_pos_stride;
#pragma unroll
            for (int i = 0; i < ATT_DIMS_PER_LANE; i++) {
                int c = lane + 32 * i;
                if (c < head_dim)
                    acc[i] += pj * vr[c];
            }
        }
        m = m_new;
    }

    /* Merge the G partial results of each row. */
#pragma unroll
    for (int i = 0; i < ATT_DIMS_PER_LANE; i++) {
        int c = lane + 32 * i;
        if (c < head_dim)
            part_acc[warp][c] = acc[i];
    }
    if (lane == 0) {
        part_m[warp] = m;
        part_l[warp] = l;
    }
    __syncthreads();
    if (active && g == 0) {
        int w0 = row_in_block * G;
        float mt = -INFINITY;
        for (int w = w0; w < w0 + G; w++)
            mt = fmaxf(mt, part_m[w]);
        float lt = 0.0f;
        for (int w = w0; w < w0 + G; w++)
            if (part_m[w] > -INFINITY)
                lt += part_l[w] * expf(part_m[w] - mt);
        float *orow = out + ((size_t)t * n_heads + h) * head_dim;
        for (int c = lane; c < head_dim; c += 32) {
            float a = 0.0f;
            for (int w = w0; w < w0 + G; w++)
                if (part_m[w] > -INFINITY)
                    a += part_acc[w][c] * expf(part_m[w] - mt);
            orow[c] = a / lt;
        }
    }
}

/* Prefill (8 query rows per block, one warp each, all of one slot): the same online
 * softmax as above, but the block loads each tile of 32 keys and values into shared
 * memory once, coalesced, for its 8 rows; lane j then reads key j from shared memory
 * (rows padded by one float: lane j's word c sits in bank (j + c) mod 32). */
__global__ static void __launch_bounds__(ATT_WARPS * 32)
attention_tiled_kernel(const float *q, int n, int pos0, const int *positions, const int *slots,
                       const float *k, const float *v, int n_keys, size_t slot_stride,
                       size_t kv_head_stride, size_t kv_pos_stride, int n_heads, int n_kv_heads,
                       int head_dim, bool causal, float scale, float *out)
{
    extern __shared__ float smem[];
    int kstride = head_dim + 1;
    float *k_sh = smem;                        /* [32][head_dim + 1] */
    float *v_sh = k_sh + 32 * kstride;         /* [32][head_dim] */
    float *q_sh = v_sh + 32 * head_dim;        /* [ATT_WARPS][head_dim] */
    __shared__ int block_last;

    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int t0 = blockIdx.x * ATT_WARPS, t = t0 + warp, h = blockIdx.y;
    int kvh = h / (n_heads / n_kv_heads);
    bool active = t < n;
    size_t base = (size_t)(slots ? slots[t0] : 0) * slot_stride + (size_t)kvh * kv_head_stride;
    const float *kb = k + base, *vb = v + base;

    int last_key = -1;
    if (active) {
        last_key = causal ? (positions ? positions[t] : pos0 + t) : n_keys - 1;
        if (last_key > n_keys - 1)
            last_key = n_keys - 1;
        const float *qr = q + ((size_t)t * n_heads + h) * head_dim;
        for (int c = lane; c < head_dim; c += 32)
            q_sh[warp * head_dim + c] = qr[c] * scale;
    }
    if (threadIdx.x == 0)
        block_last = -1;
    __syncthreads();
    if (lane == 0 && last_key >= 0)
        atomicMax(&block_last, last_key);
    __syncthreads();
    int last_all = block_last;

    float m = -INFINITY, l = 0.0f, acc[ATT_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < ATT_DIMS_PER_LANE; i++)
        acc[i] = 0.0f;

    for (int tile = 0; tile <= last_all; tile += 32) {
        __syncthreads(); /* the previous tile is consumed */
        for (int e = threadIdx.x; e < 32 * head_dim; e += ATT_WARPS * 32) {
            int j = e / head_dim, ch = e % head_dim, key = tile + j;
            bool in_range = key <= last_all;
            k_sh[j * kstride + ch] = in_range ? kb[(size_t)key * kv_pos_stride + ch] : 0.0f;
            v_sh[j * head_dim + ch] = in_range ? vb[(size_t)key * kv_pos_stride + ch] : 0.0f;
        }
        __syncthreads();
        if (tile > last_key)
            continue; /* this row's keys ended (warp-uniform) */
        int j = tile + lane;
        float s = -INFINITY;
        if (j <= last_key) {
            const float *kr = k_sh + lane * kstride, *qw = q_sh + warp * head_dim;
            float dot = 0.0f;
            for (int ch = 0; ch < head_dim; ch++)
                dot += qw[ch] * kr[ch];
            s = dot;
        }
        float tile_max = s;
        for (int o = 16; o > 0; o >>= 1)
            tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
        float m_new = fmaxf(m, tile_max);
        float correction = expf(m - m_new);
        float p = j <= last_key ? expf(s - m_new) : 0.0f;
        float p_sum = p;
        for (int o = 16; o > 0; o >>= 1)
            p_sum += __shfl_xor_sync(0xffffffffu, p_sum, o);
        l = l * correction + p_sum;
#pragma unroll
        for (int i = 0; i < ATT_DIMS_PER_LANE; i++)
            acc[i] *= correction;
        int keys_here = last_key - tile + 1 < 32 ? last_key - tile + 1 : 32;
        for (int jj = 0; jj < keys_here; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            const float *vr = v_sh + jj * head_dim;
#pragma unroll
            for (int i = 0; i < ATT_DIMS_PER_LANE; i++) {
                int ch = lane + 32 * i;
                if (ch < head_dim)
                    acc[i] += pj * vr[ch];
            }
        }
        m = m_new;
    }
    if (active) {
        float *orow = out + ((size_t)t * n_heads + h) * head_dim;
#pragma unroll
        for (int i = 0; i < ATT_DIMS_PER_LANE; i++) {
            int ch = lane + 32 * i;
            if (ch < head_dim)
                orow[ch] = acc[i] / l;
        }
    }
}

extern "C" void pv_cu_attention(pv_cuda_ctx *c, const float *q, int n, int pos0,
                                const int *positions, const int *slots, const float *k,
                                const float *v, int n_keys, size_t slot_stride,
                                size_t kv_head_stride, size_t kv_pos_stride, int n_heads,
                                int n_kv_heads, int head_dim, bool causal, float scale,
                                float *out, int rows_per_block)
{
    if (head_dim > ATT_MAX_HD || head_dim < 1) {
        ctx_fail(c, "attention", "head_dim outside 1..256");
        return;
    }
    if (rows_per_block < 1 || rows_per_block > ATT_WARPS || ATT_WARPS % rows_per_block)
        rows_per_block = ATT_WARPS;
    if (rows_per_block == ATT_WARPS) {
        size_t bytes = (32 * (size_t)(head_dim + 1) + 32 * (size_t)head_dim +
                        ATT_WARPS * (size_t)head_dim) * sizeof(float);
        if (bytes > 48 * 1024)
            cudaFuncSetAttribute(attention_tiled_kernel,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
        dim3 grid((unsigned)((n + ATT_WARPS - 1) / ATT_WARPS), (unsigned)n_heads);
        attention_tiled_kernel<<<grid, ATT_WARPS * 32, bytes, c->stream>>>(
            q, n, pos0, positions, slots, k, v, n_keys, slot_stride, kv_head_stride,
            kv_pos_stride, n_heads, n_kv_heads, head_dim, causal, scale, out);
        LAUNCHED(c, "attention (tiled)");
        return;
    }
    dim3 grid((unsigned)((n + rows_per_block - 1) / rows_per_block), (unsigned)n_heads);
    attention_kernel<<<grid, ATT_WARPS * 32, 0, c->stream>>>(
        q, n, pos0, positions, slots, k, v, n_keys, slot_stride, kv_head_stride, kv_pos_stride,
        n_heads, n_kv_heads, head_dim, causal, scale, out, rows_per_block);
    LAUNCHED(c, "attention");
}

/* ---- attention on tensor cores (prefill of 16-bit models) ---------------------------- */

/* A block takes 64 query rows of one head (4 warps, 16 rows each) and walks the keys in
 * tiles of 64: K and V tiles are loaded once per block into shared memory as fp16; each
 * warp computes its 16 x 64 scores S = Q K^T with wmma (fp16 operands, fp32 sums),
 * folds them into the online softmax (two lanes per row, 32 columns each), writes the
 * tile's probabilities as fp16 and adds P V to its output rows, which live in shared
 * memory in fp32 (wmma's accumulator layout is opaque, so rows are rescaled there
 * before being loaded as the accumulator). fp16 rather than bf16: 3 more bits for the
 * same speed; attention inputs of LLaMA/CLIP sit far inside fp16's range. */
#define TC_ROWS 64
#define TC_KEYS 64
#define TC_WARPS (TC_ROWS / 16)

struct tc_layout {
    int ldh, lds, ldp, ldo; /* leading dimensions (elements), padded against bank conflicts */
    size_t q, k, v, s, p, o, bytes; /* byte offsets in dynamic shared memory */
};

__host__ __device__ static size_t round128(size_t b)
{
    return (b + 127) & ~(size_t)127; /* wmma wants 32-byte aligned tiles */
}

__host__ __device__ static tc_layout tc_layout_for(int head_dim)
{
    tc_layout L;
    L.ldh = head_dim + 8;
    L.lds = TC_KEYS + 4;
    L.ldp = TC_KEYS + 8;
    L.ldo = head_dim + 4;
    size_t off = 0;
    L.q = off, off += round128((size_t)TC_ROWS * L.ldh * sizeof(__half));
    L.k = off, off += round128((size_t)TC_KEYS * L.ldh * sizeof(__half));
    L.v = off, off += round128((size_t)TC_KEYS * L.ldh * sizeof(__half));
    L.s = off, off += round128((size_t)TC_ROWS * L.lds * sizeof(float));
    L.p = off, off += round128((size_t)TC_ROWS * L.ldp * sizeof(__half));
    L.o = off, off += round128((size_t)TC_ROWS * L.ldo * sizeof(float));
    L.bytes = off;
    return L;
}

/* The last key query row t sees (-1 for rows past n). */
__device__ static int row_last_key(int t, int n, int pos0, const int *positions, bool causal,
                                   int n_keys)
{
    if (t >= n)
        return -1;
    int last = causal ? (positions ? positions[t] : pos0 + t) : n_keys - 1;
    return last < n_keys - 1 ? last : n_keys - 1;
}

__global__ static void __launch_bounds__(TC_WARPS * 32, 2)
attention_tc_kernel(const float *q, int n, int pos0, const int *positions, const int *slots,
                    const float *k, const float *v, int n_keys, size_t slot_stride,
                    size_t kv_head_stride, size_t kv_pos_stride, int n_heads, int n_kv_heads,
                    int head_dim, bool causal, float scale, float *out)
{
    using namespace nvcuda;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    __shared__ int block_last;
    const tc_layout L = tc_layout_for(head_dim);
    __half *q_sh = (__half *)(tc_smem + L.q), *k_sh = (__half *)(tc_smem + L.k);
    __half *v_sh = (__half *)(tc_smem + L.v), *p_sh = (__half *)(tc_smem + L.p);
    float *s_sh = (float *)(tc_smem + L.s), *o_sh = (float *)(tc_smem + L.o);

    const unsigned full = 0xffffffffu;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int t0 = blockIdx.x * TC_ROWS, h = blockIdx.y;
    int kvh = h / (n_heads / n_kv_heads);
    size_t base = (size_t)(slots ? slots[t0] : 0) * slot_stride + (size_t)kvh * kv_head_stride;
    const float *kb = k + base, *vb = v + base;

    for (int e = threadIdx.x; e < TC_ROWS * head_dim; e += TC_WARPS * 32) {
        int r = e / head_dim, ch = e % head_dim, t = t0 + r;
        float x = t < n ? q[((size_t)t * n_heads + h) * head_dim + ch] * scale : 0.0f;
        q_sh[r * L.ldh + ch] = __float2half_rn(x);
        o_sh[r * L.ldo + ch] = 0.0f;
    }
    if (threadIdx.x == 0)
        block_last = -1;
    __syncthreads();
    if (threadIdx.x < TC_ROWS) {
        int last = row_last_key(t0 + threadIdx.x, n, pos0, positions, causal, n_keys);
        if (last >= 0)
            atomicMax(&block_last, last);
    }
    __syncthreads();
    int last_all = block_last;

    /* Softmax duty: lane pair (2r, 2r + 1) owns row r of the warp's 16, columns
     * 32 * (lane % 2) .. + 31 of each tile; both lanes keep the row's m and l. */
    int r_local = lane / 2, col0 = (lane % 2) * 32;
    int row = warp * 16 + r_local;
    int my_last = row_last_key(t0 + row, n, pos0, positions, causal, n_keys);
    int warp_last = my_last;
    for (int o = 16; o > 0; o >>= 1)
        warp_last = max(warp_last, __shfl_xor_sync(full, warp_last, o));
    float m = -INFINITY, l = 0.0f;
    const __half *qw = q_sh + warp * 16 * L.ldh, *pw = p_sh + warp * 16 * L.ldp;
    float *sw = s_sh + warp * 16 * L.lds, *ow = o_sh + warp * 16 * L.ldo;

    for (int tile = 0; tile <= last_all; tile += TC_KEYS) {
        __syncthreads(); /* every warp is done with the previous tile */
        /* 8 loads of K and of V in flight per thread before the first use (coalesced:
         * consecutive threads, consecutive dims); zeros past the last key, since
         * 0 * garbage could be NaN. 64 * head_dim is a multiple of the 128 threads. */
        for (int e0 = threadIdx.x; e0 < TC_KEYS * head_dim; e0 += 8 * TC_WARPS * 32) {
            float kr[8], vr[8];
#pragma unroll
            for (int u = 0; u < 8; u++) {
                int e = e0 + u * TC_WARPS * 32, j = e / head_dim, ch = e % head_dim;
                kr[u] = vr[u] = 0.0f;
                if (e < TC_KEYS * head_dim && tile + j <= last_all) {
                    size_t off = (size_t)(tile + j) * kv_pos_stride + ch;
                    kr[u] = kb[off];
                    vr[u] = vb[off];
                }
            }
#pragma unroll
            for (int u = 0; u < 8; u++) {
                int e = e0 + u * TC_WARPS * 32, j = e / head_dim, ch = e % head_dim;
                if (e < TC_KEYS * head_dim) {
                    k_sh[j * L.ldh + ch] = __float2half_rn(kr[u]);
                    v_sh[j * L.ldh + ch] = __float2half_rn(vr[u]);
                }
            }
        }
        __syncthreads();
        if (tile > warp_last)
            continue; /* none of this warp's rows sees these keys (warp-uniform) */

        for (int jb = 0; jb < TC_KEYS; jb += 16) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int d0 = 0; d0 < head_dim; d0 += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
                wmma::load_matrix_sync(a, qw + d0, L.ldh);
                wmma::load_matrix_sync(b, k_sh + jb * L.ldh + d0, L.ldh); /* K^T */
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(sw + jb, acc, L.lds, wmma::mem_row_major);
        }
        __syncwarp();

        const float *srow = sw + r_local * L.lds + col0;
        __half *prow = p_sh + row * L.ldp + col0;
        int visible = my_last - (tile + col0) + 1; /* columns 0 .. visible-1 are keys it sees */
        float tile_max = -INFINITY;
        for (int c = 0; c < 32; c++)
            if (c < visible)
                tile_max = fmaxf(tile_max, srow[c]);
        tile_max = fmaxf(tile_max, __shfl_xor_sync(full, tile_max, 1));
        float m_new = fmaxf(m, tile_max);
        /* m_new = -inf only for a row that has seen no key yet (or never will) */
        float correction = m_new == -INFINITY ? 1.0f : expf(m - m_new);
        float p_sum = 0.0f;
        for (int c = 0; c < 32; c++) {
            __half p = __float2half_rn(c < visible ? expf(srow[c] - m_new) : 0.0f);
            prow[c] = p;
            p_sum += __half2float(p); /* the rounded terms: numerator and l agree */
        }
        p_sum += __shfl_xor_sync(full, p_sum, 1);
        l = l * correction + p_sum;
        m = m_new;
        float *orow = ow + r_local * L.ldo;
        for (int c = lane % 2; c < head_dim; c += 2)
            orow[c] *= correction;
        __syncwarp();

        for (int d0 = 0; d0 < head_dim; d0 += 16) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, ow + d0, L.ldo, wmma::mem_row_major);
            for (int j0 = 0; j0 < TC_KEYS; j0 += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
                wmma::load_matrix_sync(a, pw + j0, L.ldp);
                wmma::load_matrix_sync(b, v_sh + j0 * L.ldh + d0, L.ldh);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(ow + d0, acc, L.ldo, wmma::mem_row_major);
        }
    }
    __syncwarp();
    for (int r = 0; r < 16; r++) {
        float lr = __shfl_sync(full, l, 2 * r);
        int t = t0 + warp * 16 + r;
        if (t >= n)
            break; /* warp-uniform */
        float *orow = out + ((size_t)t * n_heads + h) * head_dim;
        for (int c = lane; c < head_dim; c += 32)
            orow[c] = ow[r * L.ldo + c] / lr;
    }
}

extern "C" void pv_cu_attention_f16(pv_cuda_ctx *c, const float *q, int n, int pos0,
                                    const int *positions, const int *slots, const float *k,
                                    const float *v, int n_keys, size_t slot_stride,
                                    size_t kv_head_stride, size_t kv_pos_stride, int n_heads,
                                    int n_kv_heads, int head_dim, bool causal, float scale,
                                    float *out)
{
    if (head_dim % 16 || head_dim < 16 || head_dim > ATT_MAX_HD) {
        pv_cu_attention(c, q, n, pos0, positions, slots, k, v, n_keys, slot_stride,
                        kv_head_stride, kv_pos_stride, n_heads, n_kv_heads, head_dim, causal,
                        scale, out, ATT_WARPS);
        return;
    }
    if (n < 1)
        return;
    tc_layout L = tc_layout_for(head_dim);
    static size_t allowed = 48 * 1024; /* the dynamic shared memory a launch may ask for */
    if (L.bytes > allowed) {
        if (!cuda_ok(c, cudaFuncSetAttribute(attention_tc_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)L.bytes),
                     "attention (tensor cores): shared memory"))
            return;
        allowed = L.bytes;
    }
    dim3 grid((unsigned)((n + TC_ROWS - 1) / TC_ROWS), (unsigned)n_heads);
    attention_tc_kernel<<<grid, TC_WARPS * 32, L.bytes, c->stream>>>(
        q, n, pos0, positions, slots, k, v, n_keys, slot_stride, kv_head_stride, kv_pos_stride,
        n_heads, n_kv_heads, head_dim, causal, scale, out);
    LAUNCHED(c, "attention (tensor cores)");
}
