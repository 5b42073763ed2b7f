/* A host emulation of lib/cuda/ops_cuda.h: every operation on ordinary memory, written
 * from the contracts in that header with the CPU ops of lib/ops.h, so that the GPU
 * code around the kernels (lib/cuda/llava_cuda_*.c: weight layout, KV-cache slots and
 * strides, batching, generation) can be tested on a machine without a GPU
 * (tests/gpu/host-check.sh). bf16/fp16 weights are stored as 16-bit values and the
 * inputs of products rounded to that type, as on the GPU, so the emulation also
 * predicts the bf16 mode's errors; products accumulate in double. Not linked into
 * the library. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ops_cuda.h"
#include "ops.h"
#include "safetensors.h"

struct pv_cuda_ctx {
    int unused;
};

/* No graphs on the host: capturing fails, and the session runs each step directly. */
int pv_cuda_capture_begin(pv_cuda_ctx *c)
{
    return -1;
}

void *pv_cuda_capture_end(pv_cuda_ctx *c)
{
    return NULL;
}

int pv_cuda_graph_launch(pv_cuda_ctx *c, void *graph)
{
    return -1;
}

void pv_cuda_graph_free(void *graph)
{
}

unsigned pv_cuda_scratch_generation(const pv_cuda_ctx *c)
{
    return 0;
}

int pv_cuda_reserve_scratch(pv_cuda_ctx *c, size_t bytes)
{
    return 0;
}

int pv_cuda_device_count(char *err, size_t errlen)
{
    return 1;
}

void pv_cuda_device_name(char *out, size_t outlen)
{
    snprintf(out, outlen, "host emulation of the CUDA operations (tests/gpu/host_ops_cuda.c)");
}

pv_cuda_ctx *pv_cuda_ctx_new(char *err, size_t errlen)
{
    return calloc(1, sizeof(pv_cuda_ctx));
}

void pv_cuda_ctx_free(pv_cuda_ctx *c)
{
    free(c);
}

int pv_cuda_sync(pv_cuda_ctx *c, char *err, size_t errlen)
{
    return 0;
}

void *pv_cuda_malloc(size_t bytes)
{
    /* Poisoned (NaN bytes) so that reads of unwritten memory show. */
    void *p = malloc(bytes ? bytes : 1);
    if (p)
        memset(p, 0xff, bytes);
    return p;
}

void pv_cuda_free(void *p)
{
    free(p);
}

int pv_cuda_upload(pv_cuda_ctx *c, void *dst, const void *src_host, size_t bytes)
{
    memcpy(dst, src_host, bytes);
    return 0;
}

int pv_cuda_download(pv_cuda_ctx *c, void *dst_host, const void *src, size_t bytes)
{
    memcpy(dst_host, src, bytes);
    return 0;
}

void pv_cuda_copy(pv_cuda_ctx *c, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

size_t pv_cuda_dtype_size(pv_cuda_dtype t)
{
    return t == PV_CUDA_F32 ? 4 : 2;
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f))
        return 0x7fc0;
    u += 0x7fff + ((u >> 16) & 1); /* nearest even */
    return (uint16_t)(u >> 16);
}

static uint16_t to_f16(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

static float load(const void *p, pv_cuda_dtype t, size_t i)
{
    if (t == PV_CUDA_BF16)
        return pv_bf16_to_float(((const uint16_t *)p)[i]);
    if (t == PV_CUDA_F16)
        return pv_half_to_float(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

static void store(void *p, pv_cuda_dtype t, size_t i, float v)
{
    if (t == PV_CUDA_BF16)
        ((uint16_t *)p)[i] = to_bf16(v);
    else if (t == PV_CUDA_F16)
        ((uint16_t *)p)[i] = to_f16(v);
    else
        ((float *)p)[i] = v;
}

static float rounded(float v, pv_cuda_dtype t)
{
    uint16_t h;
    if (t == PV_CUDA_BF16) {
        h = to_bf16(v);
        return pv_bf16_to_float(h);
    }
    if (t == PV_CUDA_F16) {
        h = to_f16(v);
        return pv_half_to_float(h);
    }
    return v;
}

int pv_cuda_upload_f32_as(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const float *src_host,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, (const char *)src_host + 4 * i, 4); /* file data may be unaligned */
        store(dst, t, i, v);
    }
    return 0;
}

int pv_cuda_upload_16_as(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const uint16_t *src_host,
                         pv_cuda_dtype src_type, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, (const char *)src_host + 2 * i, 2);
        store(dst, t, i, src_type == PV_CUDA_BF16 ? pv_bf16_to_float(h) : pv_half_to_float(h));
    }
    return 0;
}

int pv_cuda_download_as_f32(pv_cuda_ctx *c, float *dst_host, const void *src, pv_cuda_dtype t,
                            size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst_host[i] = load(src, t, i);
    return 0;
}

void pv_cu_fill_random(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, size_t n, uint64_t seed,
                       float scale, float shift)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t z = seed * 0x9e3779b97f4a7c15ull + i;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        float u = (float)(z >> 40) * (1.0f / 8388608.0f) - 1.0f;
        store(dst, t, i, scale * u + shift);
    }
}

void pv_cu_matmul_wt(pv_cuda_ctx *c, const float *x, int n, int in, const void *w,
                     pv_cuda_dtype wt, int out, float *y, bool accumulate, float alpha)
{
    float *xr = malloc((size_t)in * sizeof *xr);
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < in; i++)
            xr[i] = rounded(x[(size_t)r * in + i], wt);
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < in; i++)
                s += (double)xr[i] * load(w, wt, (size_t)o * in + i);
            float *yo = &y[(size_t)r * out + o];
            *yo = (float)(alpha * s + (accumulate ? *yo : 0));
        }
    }
    free(xr);
}

void pv_cu_add_bias(pv_cuda_ctx *c, float *y, const float *b, int n, int out)
{
    for (size_t i = 0; i < (size_t)n * out; i++)
        y[i] += b[i % out];
}

void pv_cu_layernorm(pv_cuda_ctx *c, const float *x, int n, int d, const float *w,
                     const float *b, float eps, float *y)
{
    pv_op_layernorm(x, n, d, w, b, eps, y);
}

void pv_cu_rmsnorm(pv_cuda_ctx *c, const float *x, int n, int d, const float *w, float eps,
                   float *y)
{
    pv_op_rmsnorm(x, n, d, w, eps, y);
}

void pv_cu_rope(pv_cuda_ctx *c, float *x, int n, int n_heads, int head_dim, int pos0,
                const int *positions, const float *cos_tab, const float *sin_tab)
{
    for (int t = 0; t < n; t++)
        pv_op_rope(x + (size_t)t * n_heads * head_dim, 1, n_heads, head_dim,
                   positions ? positions[t] : pos0 + t, cos_tab, sin_tab);
}

void pv_cu_quick_gelu(pv_cuda_ctx *c, float *x, size_t len)
{
    pv_op_quick_gelu(x, len);
}

void pv_cu_gelu(pv_cuda_ctx *c, float *x, size_t len)
{
    pv_op_gelu(x, len);
}

void pv_cu_silu_mul(pv_cuda_ctx *c, float *gate, const float *up, size_t len)
{
    pv_op_silu_mul(gate, up, len);
}

void pv_cu_add(pv_cuda_ctx *c, float *y, const float *x, size_t len)
{
    pv_op_add(y, x, len);
}

void pv_cu_embed(pv_cuda_ctx *c, const void *table, pv_cuda_dtype tt, int d, const int32_t *ids,
                 const int *feature_row, const float *features, int n, float *out)
{
    for (int t = 0; t < n; t++)
        for (int i = 0; i < d; i++) {
            int fr = feature_row ? feature_row[t] : -1;
            out[(size_t)t * d + i] = fr >= 0 ? features[(size_t)fr * d + i]
                                             : load(table, tt, (size_t)ids[t] * d + i);
        }
}

void pv_cu_kv_store(pv_cuda_ctx *c, const float *k, const float *v, int n, int kv_heads,
                    int head_dim, float *k_cache, float *v_cache, size_t slot_stride,
                    int max_tokens, int pos0, const int *slots, const int *positions)
{
    for (int t = 0; t < n; t++)
        for (int h = 0; h < kv_heads; h++) {
            int s = slots ? slots[t] : 0, p = positions ? positions[t] : pos0 + t;
            size_t dst = (size_t)s * slot_stride + ((size_t)h * max_tokens + p) * head_dim;
            size_t src = ((size_t)t * kv_heads + h) * head_dim;
            memcpy(k_cache + dst, k + src, (size_t)head_dim * sizeof(float));
            memcpy(v_cache + dst, v + src, (size_t)head_dim * sizeof(float));
        }
}

void pv_cu_attention(pv_cuda_ctx *c, const float *q, int n, int pos0, const int *positions,
                     const int *slots, const float *k, const float *v, int n_keys,
                     size_t slot_stride, size_t kv_head_stride, size_t kv_pos_stride,
                     int n_heads, int n_kv_heads, int head_dim, bool causal, float scale,
                     float *out, int rows_per_block)
{
    float *scratch = malloc(pv_op_attention_scratch(1, n_keys) * sizeof(float));
    size_t row = (size_t)n_heads * head_dim;
    for (int t = 0; t < n; t++) {
        size_t base = (size_t)(slots ? slots[t] : 0) * slot_stride;
        int p = positions ? positions[t] : pos0 + t;
        int keys = causal ? p + 1 : n_keys;
        if (keys > n_keys)
            keys = n_keys;
        /* one row at position p sees keys 0..p: pos0 = p with causal masking */
        pv_op_attention(q + t * row, 1, causal ? p : 0, k + base, v + base, keys, kv_head_stride,
                        kv_pos_stride, n_heads, n_kv_heads, head_dim, causal, scale,
                        out + t * row, scratch);
    }
    free(scratch);
}

void pv_cu_argmax_rows(pv_cuda_ctx *c, const float *x, int rows, int len, int32_t *out)
{
    for (int r = 0; r < rows; r++)
        out[r] = pv_op_argmax(x + (size_t)r * len, len);
}

void pv_cu_logsumexp_rows(pv_cuda_ctx *c, const float *x, int rows, int len, double *out)
{
    for (int r = 0; r < rows; r++)
        out[r] = pv_op_logsumexp(x + (size_t)r * len, len);
}

/* The tensor-core prefill: q * scale, keys and values rounded to fp16 (one slot's rows,
 * as on the GPU), then the fp32 attention above. The GPU also rounds each softmax term
 * to fp16 (relative 2^-11); that last rounding is not emulated. */
void pv_cu_attention_f16(pv_cuda_ctx *c, const float *q, int n, int pos0, const int *positions,
                         const int *slots, const float *k, const float *v, int n_keys,
                         size_t slot_stride, size_t kv_head_stride, size_t kv_pos_stride,
                         int n_heads, int n_kv_heads, int head_dim, bool causal, float scale,
                         float *out)
{
    if (head_dim % 16 || head_dim > 256) {
        pv_cu_attention(c, q, n, pos0, positions, slots, k, v, n_keys, slot_stride,
                        kv_head_stride, kv_pos_stride, n_heads, n_kv_heads, head_dim, causal,
                        scale, out, 8);
        return;
    }
    size_t qlen = (size_t)n * n_heads * head_dim, kvlen = (size_t)n_kv_heads * n_keys * head_dim;
    float *qr = malloc(qlen * sizeof(float)), *kr = malloc(kvlen * sizeof(float));
    float *vr = malloc(kvlen * sizeof(float));
    for (size_t i = 0; i < qlen; i++)
        qr[i] = rounded(q[i] * scale, PV_CUDA_F16);
    size_t base = (size_t)(slots ? slots[0] : 0) * slot_stride;
    for (int h = 0; h < n_kv_heads; h++)
        for (int j = 0; j < n_keys; j++)
            for (int ch = 0; ch < head_dim; ch++) {
                size_t src = base + h * kv_head_stride + j * kv_pos_stride + ch;
                size_t dst = ((size_t)h * n_keys + j) * head_dim + ch;
                kr[dst] = rounded(k[src], PV_CUDA_F16);
                vr[dst] = rounded(v[src], PV_CUDA_F16);
            }
    pv_cu_attention(c, qr, n, pos0, positions, NULL, kr, vr, n_keys, 0,
                    (size_t)n_keys * head_dim, (size_t)head_dim, n_heads, n_kv_heads, head_dim,
                    causal, 1.0f, out, 8);
    free(qr), free(kr), free(vr);
}
