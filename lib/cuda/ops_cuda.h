/* The tensor operations of lib/ops.h on an NVIDIA GPU (lib/cuda/ops_cuda.cu).
 *
 * Only for builds with CUDA (PV_HAVE_CUDA); plain C types throughout, so that C code
 * (lib/llava_cuda.c, the unit tests) calls it without the CUDA headers. Every float
 * pointer below is DEVICE memory unless a name ends in _host. All work is queued on
 * the context's stream in order; pv_cuda_sync() waits and reports the first error.
 *
 * Each operation keeps the contract of its CPU twin in lib/ops.h (named in the
 * comment), with these differences, all deliberate:
 *   - activations are fp32; weights of matrix products may be bf16 or fp16, and then
 *     the fp32 input is rounded to that type first and the product accumulates in
 *     fp32 (cuBLAS, CUBLAS_COMPUTE_32F, no TF32: fp32 weights give fp32 products);
 *   - norm reductions accumulate in double, as on the CPU; softmax inside attention
 *     accumulates in fp32 (online, flash style), within ~1e-6 of the CPU's;
 *   - attention reads its query rows' positions (and KV-cache slots, for batched
 *     decoding) from small device arrays instead of one pos0. */
#ifndef PV_OPS_CUDA_H
#define PV_OPS_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llava_cuda.h" /* pv_cuda_dtype */

#ifdef __cplusplus
extern "C" {
#endif

/* A stream, a cuBLAS handle and one growable scratch buffer (for inputs rounded to
 * a weight's type). One context per thread. */
typedef struct pv_cuda_ctx pv_cuda_ctx;
pv_cuda_ctx *pv_cuda_ctx_new(char *err, size_t errlen);
void pv_cuda_ctx_free(pv_cuda_ctx *c);
/* Waits for the queued work. 0, or -1 with the first CUDA/cuBLAS error in err
 * (errors of launches are sticky until reported here). */
int pv_cuda_sync(pv_cuda_ctx *c, char *err, size_t errlen);
/* CUDA graphs of a sequence of the operations below (decoding steps, whose launches
 * cost more than their work at batch 1): between capture_begin and capture_end the
 * operations are recorded, not run; capture_end returns an executable graph, or NULL
 * when capturing failed (the operations must then run directly; the error is
 * cleared). A graph keeps the pointers it was recorded with, the context's scratch
 * buffer included: pv_cuda_scratch_generation() changes whenever that buffer moves,
 * and graphs recorded before must then be recorded again. */
int pv_cuda_capture_begin(pv_cuda_ctx *c);
void *pv_cuda_capture_end(pv_cuda_ctx *c);
int pv_cuda_graph_launch(pv_cuda_ctx *c, void *graph);
void pv_cuda_graph_free(void *graph);
unsigned pv_cuda_scratch_generation(const pv_cuda_ctx *c);
/* Grows the scratch buffer to at least bytes now (so that later operations do not). */
int pv_cuda_reserve_scratch(pv_cuda_ctx *c, size_t bytes);

/* Number of CUDA devices (0 when none or the driver is missing); err says why when 0. */
int pv_cuda_device_count(char *err, size_t errlen);
/* "NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB" (for logs). */
void pv_cuda_device_name(char *out, size_t outlen);

/* Device memory. NULL / -1 on failure. Copies are synchronous with the stream. */
void *pv_cuda_malloc(size_t bytes);
void pv_cuda_free(void *p);
int pv_cuda_upload(pv_cuda_ctx *c, void *dst, const void *src_host, size_t bytes);
int pv_cuda_download(pv_cuda_ctx *c, void *dst_host, const void *src, size_t bytes);
/* dst = src, both device memory, queued on the stream. */
void pv_cuda_copy(pv_cuda_ctx *c, void *dst, const void *src, size_t bytes);
size_t pv_cuda_dtype_size(pv_cuda_dtype t);
/* dst[0..n) (device, type t) = src_host[0..n) rounded to t (nearest even), through a
 * bounded pinned staging buffer: no host copy of the whole array. */
int pv_cuda_upload_f32_as(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const float *src_host,
                          size_t n);
/* The same from 16-bit host data of type src_type (PV_CUDA_BF16 or PV_CUDA_F16, the
 * raw bits of a safetensors tensor), converted on the device. */
int pv_cuda_upload_16_as(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, const uint16_t *src_host,
                         pv_cuda_dtype src_type, size_t n);
/* dst_host[0..n) = src (device, type t) widened to fp32. */
int pv_cuda_download_as_f32(pv_cuda_ctx *c, float *dst_host, const void *src, pv_cuda_dtype t,
                            size_t n);
/* dst[i] = scale * u_i + shift, u_i uniform in [-1, 1) from a hash of (seed, i),
 * rounded to t: the random weights of the benchmark model. */
void pv_cu_fill_random(pv_cuda_ctx *c, void *dst, pv_cuda_dtype t, size_t n, uint64_t seed,
                       float scale, float shift);

/* ops.h pv_op_matmul_wt: y[n][out] (=|+=) alpha * x[n][in] W^T, W [out][in] of type wt. */
void pv_cu_matmul_wt(pv_cuda_ctx *c, const float *x, int n, int in, const void *w,
                     pv_cuda_dtype wt, int out, float *y, bool accumulate, float alpha);
/* y[t][j] += b[j] for t < n, j < out. */
void pv_cu_add_bias(pv_cuda_ctx *c, float *y, const float *b, int n, int out);
/* ops.h pv_op_layernorm / pv_op_rmsnorm (y may be x). */
void pv_cu_layernorm(pv_cuda_ctx *c, const float *x, int n, int d, const float *w,
                     const float *b, float eps, float *y);
void pv_cu_rmsnorm(pv_cuda_ctx *c, const float *x, int n, int d, const float *w, float eps,
                   float *y);
/* ops.h pv_op_rope, in place on x [n][n_heads][head_dim]; row t's position is
 * positions[t] (device int array) when positions is not NULL, else pos0 + t.
 * cos_tab, sin_tab [positions][head_dim / 2] as pv_op_rope_tables makes them. */
void pv_cu_rope(pv_cuda_ctx *c, float *x, int n, int n_heads, int head_dim, int pos0,
                const int *positions, const float *cos_tab, const float *sin_tab);
/* ops.h activations, in place. */
void pv_cu_quick_gelu(pv_cuda_ctx *c, float *x, size_t len);
void pv_cu_gelu(pv_cuda_ctx *c, float *x, size_t len);
void pv_cu_silu_mul(pv_cuda_ctx *c, float *gate, const float *up, size_t len);
void pv_cu_add(pv_cuda_ctx *c, float *y, const float *x, size_t len);
/* Embedding gather and image-feature scatter: out row t [d] = features[feature_row[t]]
 * when feature_row is not NULL and feature_row[t] >= 0, else table[ids[t]] (type tt).
 * ids, feature_row: device int arrays of n. */
void pv_cu_embed(pv_cuda_ctx *c, const void *table, pv_cuda_dtype tt, int d, const int32_t *ids,
                 const int *feature_row, const float *features, int n, float *out);
/* Copies new keys and values k, v [n][kv_heads][head_dim] into the caches at slot
 * slots[t] (NULL: slot 0), position positions[t] (NULL: pos0 + t); a cache holds
 * element (slot s, head h, position p, dim c) at s * slot_stride + (h * max_tokens
 * + p) * head_dim + c. */
void pv_cu_kv_store(pv_cuda_ctx *c, const float *k, const float *v, int n, int kv_heads,
                    int head_dim, float *k_cache, float *v_cache, size_t slot_stride,
                    int max_tokens, int pos0, const int *slots, const int *positions);

/* ops.h pv_op_attention, fused (flash style: online softmax, no [n][n_keys] scores
 * in device memory). Key/value element (slot s, head h, position j, dim c) at
 * s * slot_stride + h * kv_head_stride + j * kv_pos_stride + c. Query row t reads
 * slot slots[t] (NULL: 0). causal: row t sees keys 0 .. p_t, p_t = positions[t]
 * (NULL: pos0 + t); otherwise all n_keys. head_dim <= 256.
 * rows_per_block: 8 for prefill (the rows of a block must share a slot: callers pass
 * one slot's rows), 1 for decoding, where a row's keys are split over 8 warps and
 * the partial softmaxes merged. */
void pv_cu_attention(pv_cuda_ctx *c, const float *q, int n, int pos0, const int *positions,
                     const int *slots, const float *k, const float *v, int n_keys,
                     size_t slot_stride, size_t kv_head_stride, size_t kv_pos_stride,
                     int n_heads, int n_kv_heads, int head_dim, bool causal, float scale,
                     float *out, int rows_per_block);

/* pv_cu_attention's prefill (rows of one slot) for 16-bit models, on tensor cores:
 * q * scale, keys, values and the softmax terms are rounded to fp16, products summed
 * in fp32 (about 5e-4 relative per term, under the bf16 rounding of the weights).
 * head_dim a multiple of 16 up to 256; other head_dims take pv_cu_attention (fp32). */
void pv_cu_attention_f16(pv_cuda_ctx *c, const float *q, int n, int pos0, const int *positions,
                         const int *slots, const float *k, const float *v, int n_keys,
                         size_t slot_stride, size_t kv_head_stride, size_t kv_pos_stride,
                         int n_heads, int n_kv_heads, int head_dim, bool causal, float scale,
                         float *out);

/* ops.h pv_op_argmax per row: out[r] = argmax of x[r][0..len) (first on ties). */
void pv_cu_argmax_rows(pv_cuda_ctx *c, const float *x, int rows, int len, int32_t *out);
/* ops.h pv_op_logsumexp per row (double accumulation), out [rows] (device double). */
void pv_cu_logsumexp_rows(pv_cuda_ctx *c, const float *x, int rows, int len, double *out);

#ifdef __cplusplus
}
#endif

#endif
