/* The tensor operations of the LLaVA forward pass, fp32, CPU.
 *
 * Every tensor is a dense row-major float array; "[n][d]" means n rows of d floats.
 * The operations are the whole vocabulary of lib/clip.c and lib/llava_forward.c, so
 * that a CUDA twin (lib/ops.cu) implementing the same contracts runs the same model.
 * Conventions every implementation keeps:
 *   - outputs may alias inputs only where a contract says "in place";
 *   - accumulations that feed a normalisation (mean, variance, softmax sums) are
 *     done in double on the CPU, so results stay within ~1e-6 relative of float64;
 *   - no operation allocates memory: scratch space is a parameter, sized by the caller.
 * Matrix products go through CBLAS (OpenBLAS threads); the rest uses OpenMP where
 * the work is large enough to pay for the threads. */
#ifndef PV_OPS_H
#define PV_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llava_model.h"

/* y[n][out] = x[n][in] W^T, W [out][in] (a linear layer's layout); accumulate:
 * y += instead of y =. n == 1 uses a matrix-vector product. */
void pv_op_matmul_wt(const float *x, int n, int in, const float *w, int out, float *y,
                     bool accumulate);

/* y[n][l->out] = x[n][l->in] W^T + b, plus scale * (x A^T) B^T when the layer has
 * a LoRA adapter (l->r > 0) and use_lora. lora_scratch: [n][l->r] floats (unused
 * without LoRA; may be NULL then). */
void pv_op_linear(const pv_linear *l, const float *x, int n, float *y, bool use_lora,
                  float *lora_scratch);

/* LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) * w + b,
 * var the biased variance. y may be x (in place). */
void pv_op_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps,
                     float *y);

/* LLaMA RMSNorm: y = x / sqrt(mean(x^2) + eps) * w. y may be x (in place). */
void pv_op_rmsnorm(const float *x, int n, int d, const float *w, float eps, float *y);

/* Rotary position tables, computed as transformers computes them:
 *   inv_freq[i] = 1 / theta^(2i / head_dim)          in float32, i < head_dim / 2,
 *                 then rounded to inv_freq_bits significant bits (24: float32 as is;
 *                 11: float16; 8: bfloat16), because transformers keeps inv_freq as a
 *                 buffer that is cast with the model: a model loaded in float16 runs
 *                 with float16 inverse frequencies even when computing in float64;
 *   angle = p * inv_freq[i]                           in float32 (HF: `.float()`);
 *   cos_tab, sin_tab [n_pos][head_dim / 2] = cos, sin of the angle. */
void pv_op_rope_tables(int n_pos, int head_dim, double theta, int inv_freq_bits,
                       float *cos_tab, float *sin_tab);

/* Rotary embedding, rotate-half convention, in place on x [n][n_heads][head_dim]
 * whose row t is at position pos0 + t: with h = head_dim / 2, c, s the table entries,
 *   x'[i]   = x[i] c[i] - x[i+h] s[i],   x'[i+h] = x[i+h] c[i] + x[i] s[i]. */
void pv_op_rope(float *x, int n, int n_heads, int head_dim, int pos0, const float *cos_tab,
                const float *sin_tab);

/* Activations, in place on x [len]:
 *   quick_gelu(x) = x * sigmoid(1.702 x)            (CLIP)
 *   gelu(x)       = x / 2 * (1 + erf(x / sqrt(2)))  (exact; the projector) */
void pv_op_quick_gelu(float *x, size_t len);
void pv_op_gelu(float *x, size_t len);
/* SwiGLU: gate[i] = silu(gate[i]) * up[i], silu(x) = x * sigmoid(x); in place on gate. */
void pv_op_silu_mul(float *gate, const float *up, size_t len);

/* y[i] += x[i] (residual connections). */
void pv_op_add(float *y, const float *x, size_t len);

/* Softmax in place on x [len] (max subtracted first). */
void pv_op_softmax(float *x, int len);
/* log(sum(exp(x))) over x [len], in double. */
double pv_op_logsumexp(const float *x, int len);
/* y[i] = x[i] - logsumexp(x); y may be x. */
void pv_op_log_softmax(const float *x, int len, float *y);
/* Index of the largest value; the first one on ties (as torch.argmax). */
int pv_op_argmax(const float *x, int len);

/* Multi-head / grouped-query attention.
 *   q:   [n][n_heads][head_dim], query row t at absolute position pos0 + t
 *   k,v: n_kv_heads heads of n_keys positions: element (head h, position j, dim c) at
 *        k[h * kv_head_stride + j * kv_pos_stride + c] (the same strides for v), so
 *        that both a [n][heads][dim] projection and a [heads][max_tokens][dim] KV
 *        cache are read in place
 *   out: [n][n_heads][head_dim] (must not alias q, k or v)
 * Query head h reads KV head h / (n_heads / n_kv_heads) (GQA). causal: query t sees
 * positions 0 .. pos0 + t; otherwise all n_keys. Scores are scaled by `scale`
 * (1 / sqrt(head_dim) for both CLIP and LLaMA). scratch: pv_op_attention_scratch(n,
 * n_keys) floats. Many rows (prefill) run as two matrix products per head, a few
 * (decode) as OpenMP loops over (row, head). */
void pv_op_attention(const float *q, int n, int pos0, const float *k, const float *v,
                     int n_keys, size_t kv_head_stride, size_t kv_pos_stride, int n_heads,
                     int n_kv_heads, int head_dim, bool causal, float scale, float *out,
                     float *scratch);

/* NULL, or a one-sentence hint when the BLAS runs slower kernels than the CPU can:
 * OpenBLAS releases older than a CPU model fall back to generic SSE3 ("Prescott")
 * kernels, 3 to 4 times slower (seen with OpenBLAS 0.3.21 on Xeon family 6 model 207).
 * The hint names the OPENBLAS_CORETYPE setting that fixes it; tools print it once. */
const char *pv_op_blas_hint(void);

/* Floats of scratch pv_op_attention needs for n query rows against n_keys keys. */
size_t pv_op_attention_scratch(int n, int n_keys);

/* The OpenMP team size the operations use (fixed at the first call). */
int pv_op_threads(void);

#endif
